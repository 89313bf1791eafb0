package failover

// Candidates appends to buf the tokens that may serve a request at time
// now (usable, and accepted by mayServe; nil accepts all) and returns it.
// The caller picks one of them; taking buf from the caller keeps the list
// on the caller's stack (no allocation per request).
//
// A token marked slow (RateWindow.Slow) is a candidate only when no other
// is.
func (p Pool) Candidates(now int64, mayServe func(int) bool, buf []int) []int {
	start, slow := len(buf), false
	for i, t := range p.Tokens {
		if t.Usable(now) && (mayServe == nil || mayServe(i)) {
			if t.Window.Slow {
				slow = true
				continue
			}
			buf = append(buf, i)
		}
	}
	if slow && len(buf) == start {
		for i, t := range p.Tokens {
			if t.Usable(now) && (mayServe == nil || mayServe(i)) {
				buf = append(buf, i)
			}
		}
	}
	return buf
}

// Fallback is the token to use when none is usable (Candidates is empty):
// among those mayServe accepts, the cooling one with the earliest Until,
// else the unhealthy one demoted longest ago; backAt is when it is expected
// back (0 = unknown). token is -1 when mayServe accepts none.
func (p Pool) Fallback(mayServe func(int) bool) (token int, backAt int64) {
	token = -1
	for i, t := range p.Tokens {
		if t.Manual() || (mayServe != nil && !mayServe(i)) {
			continue // an operator's demotion holds even when all are down
		}
		if token < 0 || soonerBack(t, p.Tokens[token]) {
			token = i
		}
	}
	if token < 0 {
		return -1, 0
	}
	t := p.Tokens[token]
	switch {
	case t.Until > 0:
		backAt = t.Until
	case t.Status == Unhealthy:
		backAt = t.NextProbe
	}
	return token, backAt
}

// AllAvailable tells whether every token is available (then no clock is
// needed to tell which may serve).
func (p Pool) AllAvailable() bool {
	for _, t := range p.Tokens {
		if t.Status != Available {
			return false
		}
	}
	return true
}

// soonerBack orders down tokens by how likely they are to serve: cooling
// ones first (by Until), then unhealthy ones by reason — upstream failures
// (often transient) before rate limits, quota and, last, auth (a revoked
// key never comes back by itself) — and within a reason the one demoted
// longest ago.
func soonerBack(a, b Token) bool {
	ac, bc := a.Status == Cooling || a.Until > 0, b.Status == Cooling || b.Until > 0
	if ac != bc {
		return ac
	}
	if ac {
		return a.Until < b.Until
	}
	if ra, rb := recoveryRank(a.Reason), recoveryRank(b.Reason); ra != rb {
		return ra < rb
	}
	return a.DemotedAt < b.DemotedAt
}

func recoveryRank(r Reason) int {
	switch r {
	case ReasonUpstream:
		return 0
	case ReasonRateLimit:
		return 1
	case ReasonQuota:
		return 2
	}
	return 3
}
