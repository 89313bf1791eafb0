package failover

// Pick chooses a token for a request at time now.
//
// usable(i) narrows candidates further (e.g. tokens that already failed this
// request); nil accepts all. choose(n) picks one of n usable candidates
// (random, round-robin, sticky...). When no token is usable, Pick falls back
// to the token back soonest: the cooling one with the earliest Until, else
// the unhealthy one demoted longest ago; allDown is then true and backAt is
// when that token is expected back (0 = unknown).
func (p Pool) Pick(now int64, usable func(int) bool, choose func(candidates []int) int) (token int, allDown bool, backAt int64) {
	var buf [16]int
	candidates := buf[:0]
	for i, t := range p.Tokens {
		if t.Usable(now) && (usable == nil || usable(i)) {
			candidates = append(candidates, i)
		}
	}
	if len(candidates) > 0 {
		return candidates[choose(candidates)], false, 0
	}
	token = -1
	for i, t := range p.Tokens {
		if usable != nil && !usable(i) {
			continue
		}
		if token < 0 || soonerBack(t, p.Tokens[token]) {
			token = i
		}
	}
	if token < 0 {
		return -1, true, 0
	}
	t := p.Tokens[token]
	switch {
	case t.Until > 0:
		backAt = t.Until
	case t.Status == Unhealthy:
		backAt = t.NextProbe
	}
	return token, true, backAt
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
