package failover

import (
	"fmt"
	"sort"
)

// Settings are the failover knobs a transition needs (config section
// provider.failover). Durations are milliseconds.
type Settings struct {
	FailureThreshold    uint32
	SuccessThreshold    uint32
	HealthCheckInterval int64
	// CooldownDuration > 0 restores an unhealthy token after that long even
	// without a successful probe, and is the rest of a 429 without retry time.
	CooldownDuration int64
	// FailureRatePercent > 0 demotes an available token whose upstream
	// failures exceed that share of its judged requests over the last one
	// to two windows of RateWindowMs, once there were RateMinRequests of
	// them: the key that fails often, though never FailureThreshold times
	// in a row.
	FailureRatePercent uint32
	RateMinRequests    uint32
	RateWindowMs       int64
	// SlowFactor > 0 marks a token slow while its mean time to a 2xx's
	// headers over the same windows (RateMinRequests answers at least)
	// exceeds SlowFactor times the median of its siblings' means; a slow
	// token serves only when no other may.
	SlowFactor float64
}

// Counts are one VM's outcomes of a token since its last flush: requests
// judged (successes and upstream failures), the upstream failures among
// them, and the time to headers of its 2xx answers.
type Counts struct {
	Requests, Failures uint32
	LatencySumMs       uint64
	LatencyN           uint32
}

// Empty tells whether there is nothing to add.
func (c Counts) Empty() bool { return c.Requests == 0 && c.LatencyN == 0 }

// AddCounts adds a VM's counts of token i to its window (rolling it over
// when RateWindowMs passed) and applies the failure-rate trip; JudgeSlow
// then compares the tokens' latencies.
func (p *Pool) AddCounts(i int, c Counts, s Settings, now int64) Change {
	t := &p.Tokens[i]
	ch := Change{From: t.Status, To: t.Status}
	w := &t.Window
	window := max(s.RateWindowMs, 1)
	switch {
	case w.Start == 0:
		w.Start = now
	case now-w.Start >= 2*window:
		*w = RateWindow{Start: now, Slow: w.Slow}
	case now-w.Start >= window:
		*w = RateWindow{Start: w.Start + window, PrevReq: w.Req, PrevFail: w.Fail, PrevLatSum: w.LatSum, PrevLatN: w.LatN, Slow: w.Slow}
	}
	w.Req += c.Requests
	w.Fail += c.Failures
	w.LatSum += c.LatencySumMs
	w.LatN += c.LatencyN
	ch.Changed = !c.Empty()
	req, fail := w.Req+w.PrevReq, w.Fail+w.PrevFail
	if s.FailureRatePercent > 0 && t.Status == Available && req >= max(s.RateMinRequests, 1) &&
		uint64(fail)*100 > uint64(s.FailureRatePercent)*uint64(req) {
		why := fmt.Sprintf("failure rate %d of %d requests over %ds", fail, req, (now-w.Start+window)/1000)
		p.demote(i, ReasonUpstream, Outcome{Class: ClassUpstream, Why: why}, t.Target, s, now, &ch)
		p.Tokens[i].Window = RateWindow{Start: now} // a restored key starts a new count
	}
	return ch
}

// JudgeSlow marks each token slow or not (Settings.SlowFactor) from the
// latencies in the windows; false when no mark changed.
func (p *Pool) JudgeSlow(s Settings) bool {
	if s.SlowFactor <= 0 {
		return false
	}
	means := make([]float64, len(p.Tokens))
	var known []float64
	for i, t := range p.Tokens {
		n := t.Window.LatN + t.Window.PrevLatN
		means[i] = -1
		if n >= max(s.RateMinRequests, 1) {
			means[i] = float64(t.Window.LatSum+t.Window.PrevLatSum) / float64(n)
			known = append(known, means[i])
		}
	}
	changed := false
	for i := range p.Tokens {
		slow := false
		if means[i] >= 0 && len(known) >= 2 {
			slow = means[i] > s.SlowFactor*medianOfOthers(known, means[i])
		}
		if p.Tokens[i].Window.Slow != slow {
			p.Tokens[i].Window.Slow, changed = slow, true
		}
	}
	return changed
}

// medianOfOthers is the median of xs without one occurrence of x.
func medianOfOthers(xs []float64, x float64) float64 {
	rest := make([]float64, 0, len(xs))
	skipped := false
	for _, v := range xs {
		if v == x && !skipped {
			skipped = true
			continue
		}
		rest = append(rest, v)
	}
	sort.Float64s(rest)
	if n := len(rest); n%2 == 1 {
		return rest[n/2]
	} else {
		return (rest[n/2-1] + rest[n/2]) / 2
	}
}

// MaxBackoffFactor caps probe back-off at this many health-check intervals.
const MaxBackoffFactor = 10

// Change says what a transition did, for logs and metrics.
type Change struct {
	// Changed is false when the state is byte-for-byte the same (no write).
	Changed  bool
	Demoted  bool
	Cooled   bool
	Restored bool
	From, To Status
	Reason   Reason
}

// Usable tells whether token t may serve at time now: available, or cooling
// or cooled-down unhealthy whose Until has passed.
func (t Token) Usable(now int64) bool {
	switch t.Status {
	case Available:
		return true
	case Cooling:
		return t.Until <= now
	default:
		return t.Until > 0 && t.Until <= now
	}
}

// settle restores token i first if its Until has passed, so an outcome on a
// cooled-down token that no tick has normalised yet counts like any other.
func (p *Pool) settle(i int, now int64, c *Change) {
	t := p.Tokens[i]
	if t.Status != Available && t.Until > 0 && t.Until <= now {
		p.restore(i, c)
	}
}

// Record applies the outcome of a live request served by token i. target is
// where probes go if this demotes the token.
func (p *Pool) Record(i int, o Outcome, target Target, s Settings, now int64) Change {
	c := Change{From: p.Tokens[i].Status, To: p.Tokens[i].Status}
	p.settle(i, now, &c)
	t := &p.Tokens[i]
	switch o.Class {
	case ClassSuccess:
		if t.Status != Unhealthy && t.Failures > 0 {
			t.Failures = 0
			c.Changed = true
		}
	case ClassAuth, ClassQuota:
		if t.Status != Unhealthy {
			p.demote(i, o.Class.Reason(), o, target, s, now, &c)
		}
	case ClassRateLimit:
		p.cool(i, ReasonRateLimit, o, target, s, now, &c)
	case ClassUpstream:
		if t.Status == Unhealthy {
			break
		}
		t.Failures++
		c.Changed = true
		switch {
		case t.Failures >= s.FailureThreshold:
			p.demote(i, ReasonUpstream, o, target, s, now, &c)
		case o.HasRetryAfter:
			// A 503/529 that says when to come back: rest that long, and
			// keep counting towards the threshold.
			p.cool(i, ReasonUpstream, o, target, s, now, &c)
		}
	}
	return c
}

// cool rests token i for the outcome's retry time (else cooldownDuration,
// else DefaultRateLimitCooldownMs); a cooling token's rest only grows.
func (p *Pool) cool(i int, r Reason, o Outcome, target Target, s Settings, now int64, c *Change) {
	rest := o.RetryAfterMs
	if !o.HasRetryAfter {
		rest = s.CooldownDuration
		if rest <= 0 {
			rest = DefaultRateLimitCooldownMs
		}
	}
	t := &p.Tokens[i]
	switch t.Status {
	case Available:
		*t = Token{Status: Cooling, Until: now + rest, DemotedAt: now, Reason: r, Failures: t.Failures,
			Target: target, Account: o.Account, Demotions: t.Demotions + 1, Restorations: t.Restorations, Fleet: t.Fleet,
			HTTPStatus: httpStatus(o.Status), Why: why(o.Why), LastProbeAt: t.LastProbeAt, LastProbeOK: t.LastProbeOK}
		t.Fleet.demoted()
		c.Changed, c.Cooled, c.To, c.Reason = true, true, Cooling, r
	case Cooling:
		if now+rest > t.Until {
			t.Until = now + rest
			t.Fleet.demoted() // the longer rest goes to the fleet too
			c.Changed = true
		}
	}
}

func (p *Pool) demote(i int, r Reason, o Outcome, target Target, s Settings, now int64, c *Change) {
	t := &p.Tokens[i]
	next := Token{Status: Unhealthy, DemotedAt: now, Reason: r, Target: target, Account: o.Account,
		NextProbe: now + s.HealthCheckInterval, Demotions: t.Demotions + 1, Restorations: t.Restorations, Fleet: t.Fleet,
		HTTPStatus: httpStatus(o.Status), Why: why(o.Why), LastProbeAt: t.LastProbeAt, LastProbeOK: t.LastProbeOK}
	if s.CooldownDuration > 0 {
		next.Until = now + s.CooldownDuration
	}
	*t = next
	t.Fleet.demoted()
	c.Changed, c.Demoted, c.To, c.Reason = true, true, Unhealthy, r
}

func (p *Pool) restore(i int, c *Change) {
	t := &p.Tokens[i]
	c.From = t.Status
	next := Token{Status: Available, Demotions: t.Demotions, Restorations: t.Restorations + 1, Fleet: t.Fleet,
		LastProbeAt: t.LastProbeAt, LastProbeOK: t.LastProbeOK}
	if t.Status == Cooling {
		// A rest the provider asked for does not forgive earlier failures:
		// a token whose every 503 says Retry-After still reaches the threshold.
		next.Failures = t.Failures
	}
	*t = next
	c.Changed, c.Restored, c.To = true, true, Available
}

// RecordProbe applies a probe result for token i. A failed probe backs off
// (ProbeBackoff) with a jitter derived from the token's own state, so probes
// of different tokens spread out and a run replays exactly.
func (p *Pool) RecordProbe(i int, ok bool, s Settings, now int64) Change {
	c := Change{From: p.Tokens[i].Status, To: p.Tokens[i].Status}
	p.settle(i, now, &c)
	t := &p.Tokens[i]
	if t.Status != Unhealthy || t.Manual() {
		return c
	}
	c.Changed = true
	t.LastProbeAt, t.LastProbeOK = now, ok
	if ok {
		t.ProbeSuccesses++
		t.ProbeFailures = 0
		if t.ProbeSuccesses >= s.SuccessThreshold {
			p.restore(i, &c)
			p.Tokens[i].Fleet.restored() // a probe's restoration goes to the fleet
			return c
		}
		t.NextProbe = now + s.HealthCheckInterval
		return c
	}
	t.ProbeSuccesses = 0
	if t.ProbeFailures < 31 {
		t.ProbeFailures++
	}
	t.NextProbe = now + ProbeBackoff(s.HealthCheckInterval, t.ProbeFailures, jitter(i, t))
	return c
}

// jitter maps a token's index, demotion time and failed-probe count to
// [0,1) (FNV-1a), deterministic yet different across tokens and attempts.
func jitter(i int, t *Token) float64 {
	h := uint64(14695981039346656037)
	for _, v := range []uint64{uint64(i), uint64(t.DemotedAt), uint64(t.ProbeFailures)} {
		for k := 0; k < 8; k++ {
			h ^= v >> (8 * k) & 0xff
			h *= 1099511628211
		}
	}
	return float64(h>>11) / float64(1<<53)
}

// ProbeBackoff is the wait before the next probe after failures consecutive
// failed probes: the interval doubled per failure, capped at
// MaxBackoffFactor intervals, times 0.9..1.1 by jitter.
func ProbeBackoff(interval int64, failures uint32, jitter float64) int64 {
	d := interval
	for k := uint32(0); k < failures && d < MaxBackoffFactor*interval; k++ {
		d *= 2
	}
	if d > MaxBackoffFactor*interval {
		d = MaxBackoffFactor * interval
	}
	return int64(float64(d) * (0.9 + 0.2*jitter))
}

// Demote takes token i out by hand (an operator's action): it serves no
// request, not even as a last resort, until Restore. A token already
// taken out by hand is left as it is (Changed false).
func (p *Pool) Demote(i int, now int64) Change {
	t := &p.Tokens[i]
	c := Change{From: t.Status, To: Unhealthy, Reason: ReasonManual}
	if t.Manual() {
		c.To = t.Status
		return c
	}
	*t = Token{Status: Unhealthy, Reason: ReasonManual, DemotedAt: now, NextProbe: NeverProbed, Target: t.Target,
		Demotions: t.Demotions + 1, Restorations: t.Restorations, Fleet: t.Fleet, Why: "taken out by hand",
		LastProbeAt: t.LastProbeAt, LastProbeOK: t.LastProbeOK}
	c.Changed, c.Demoted = true, true
	return c
}

// Restore puts token i back by hand: available at once, whatever took it
// out; a restoration that ends a fleet-wide demotion goes to the fleet as
// a probe's would. An available token is left as it is.
func (p *Pool) Restore(i int) Change {
	c := Change{From: p.Tokens[i].Status, To: p.Tokens[i].Status}
	if p.Tokens[i].Status == Available {
		return c
	}
	p.restore(i, &c)
	p.Tokens[i].Fleet.restored()
	return c
}

func httpStatus(s int) uint16 {
	if s < 0 || s > 999 {
		return 0
	}
	return uint16(s)
}

func why(s string) string {
	if len(s) > MaxWhyLen {
		return s[:MaxWhyLen]
	}
	return s
}

// ClaimProbe marks that a probe of token i was sent at now and may take
// up to timeoutMs: its next probe moves past that, so a VM that takes the
// lease over meanwhile does not probe the same token again (two probes'
// successes must not add up to successThreshold). False when the token no
// longer needs a probe (another VM restored it or claimed it first).
func (p *Pool) ClaimProbe(i int, now, timeoutMs int64) bool {
	t := &p.Tokens[i]
	if t.Status != Unhealthy || t.NextProbe > now || t.Usable(now) {
		return false
	}
	t.NextProbe = now + timeoutMs
	return true
}

// Expire turns every token whose Until has passed back to Available.
func (p *Pool) Expire(now int64) []int {
	var restored []int
	for i := range p.Tokens {
		t := p.Tokens[i]
		if t.Status != Available && t.Until > 0 && t.Until <= now {
			var c Change
			p.restore(i, &c)
			restored = append(restored, i)
		}
	}
	return restored
}

// ProbeDue lists the unhealthy tokens whose next probe is due at now.
func (p Pool) ProbeDue(now int64) []int {
	var due []int
	for i, t := range p.Tokens {
		if t.Status == Unhealthy && t.NextProbe <= now && !t.Usable(now) {
			due = append(due, i)
		}
	}
	return due
}

// UsableCount counts the tokens that may serve at now.
func (p Pool) UsableCount(now int64) int {
	n := 0
	for _, t := range p.Tokens {
		if t.Usable(now) {
			n++
		}
	}
	return n
}
