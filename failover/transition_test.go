package failover

import (
	"testing"

	"github.com/stretchr/testify/require"
)

var testSettings = Settings{FailureThreshold: 3, SuccessThreshold: 2, HealthCheckInterval: 1000}

func TestRecord_Transitions(t *testing.T) {
	tgt := Target{Cluster: "c", Authority: "a", Path: "/p"}
	tests := []struct {
		name     string
		before   Token
		outcome  Outcome
		want     Status
		failures uint32
		changed  bool
		until    int64
	}{
		{"success on clean token writes nothing", Token{}, Outcome{Class: ClassSuccess}, Available, 0, false, 0},
		{"success resets failures", Token{Failures: 2}, Outcome{Class: ClassSuccess}, Available, 0, true, 0},
		{"client error changes nothing", Token{Failures: 2}, Outcome{Class: ClassIgnore}, Available, 2, false, 0},
		{"upstream below threshold counts", Token{Failures: 1}, Outcome{Class: ClassUpstream}, Available, 2, true, 0},
		{"upstream at threshold demotes", Token{Failures: 2}, Outcome{Class: ClassUpstream}, Unhealthy, 0, true, 0},
		{"auth demotes at once", Token{}, Outcome{Class: ClassAuth}, Unhealthy, 0, true, 0},
		{"quota demotes at once", Token{}, Outcome{Class: ClassQuota}, Unhealthy, 0, true, 0},
		{"ratelimit cools with hint", Token{}, Outcome{Class: ClassRateLimit, RetryAfterMs: 2000, HasRetryAfter: true}, Cooling, 0, true, 12000},
		{"ratelimit cools by default", Token{}, Outcome{Class: ClassRateLimit}, Cooling, 0, true, 10000 + DefaultRateLimitCooldownMs},
		{"in-flight failure on unhealthy token is ignored", Token{Status: Unhealthy}, Outcome{Class: ClassUpstream}, Unhealthy, 0, false, 0},
		{"in-flight success does not restore", Token{Status: Unhealthy}, Outcome{Class: ClassSuccess}, Unhealthy, 0, false, 0},
		{"auth while cooling demotes", Token{Status: Cooling, Until: 20000}, Outcome{Class: ClassAuth}, Unhealthy, 0, true, 0},
		{"ratelimit while cooling extends", Token{Status: Cooling, Until: 11000}, Outcome{Class: ClassRateLimit, RetryAfterMs: 5000, HasRetryAfter: true}, Cooling, 0, true, 15000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Pool{Tokens: []Token{tc.before}}
			c := p.Record(0, tc.outcome, tgt, testSettings, 10000)
			require.Equal(t, tc.changed, c.Changed)
			got := p.Tokens[0]
			require.Equal(t, tc.want, got.Status)
			require.Equal(t, tc.failures, got.Failures)
			require.Equal(t, tc.until, got.Until)
			if c.Demoted {
				require.Equal(t, tgt, got.Target)
				require.Equal(t, int64(11000), got.NextProbe)
			}
		})
	}
}

func TestRecordProbe_NeedsConsecutiveSuccesses(t *testing.T) {
	p := NewPool(1)
	p.Record(0, Outcome{Class: ClassAuth}, Target{}, testSettings, 0)
	require.False(t, p.RecordProbe(0, true, testSettings, 1000).Restored)
	p.RecordProbe(0, false, testSettings, 2000) // breaks the run
	require.Equal(t, uint32(0), p.Tokens[0].ProbeSuccesses)
	require.InDelta(t, 2000+2000, p.Tokens[0].NextProbe, 200, "doubled back-off with ±10%% jitter")
	require.False(t, p.RecordProbe(0, true, testSettings, 4000).Restored)
	c := p.RecordProbe(0, true, testSettings, 5000)
	require.True(t, c.Restored)
	require.Equal(t, Token{Status: Available, Demotions: 1, Restorations: 1,
		Fleet: FleetMark{Gen: 1, Pending: true}, LastProbeAt: 5000, LastProbeOK: true}, p.Tokens[0],
		"the probe's restoration waits to reach the fleet; the last probe is kept")
	require.False(t, p.RecordProbe(0, true, testSettings, 6000).Changed, "probe of an available token is stale")
}

func TestProbeBackoff_DoublesAndCaps(t *testing.T) {
	tests := []struct {
		failures uint32
		jitter   float64
		want     int64
	}{
		{0, 0.5, 1000}, {1, 0.5, 2000}, {2, 0.5, 4000}, {3, 0.5, 8000}, {4, 0.5, 10000}, {30, 0.5, 10000},
		{1, 0, 1800}, {1, 0.999, 2199},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, ProbeBackoff(1000, tc.failures, tc.jitter), "failures %d jitter %v", tc.failures, tc.jitter)
	}
}

func TestRecord_SettlesAnExpiredCooldownFirst(t *testing.T) {
	p := NewPool(1)
	p.Record(0, Outcome{Class: ClassRateLimit, RetryAfterMs: 1000, HasRetryAfter: true}, Target{}, testSettings, 0)
	c := p.Record(0, Outcome{Class: ClassUpstream}, Target{}, testSettings, 1500)
	require.True(t, c.Restored, "the cooled token came back")
	require.Equal(t, Available, p.Tokens[0].Status)
	require.Equal(t, uint32(1), p.Tokens[0].Failures, "and its failure counts")
	require.Equal(t, uint32(1), p.Tokens[0].Restorations)
}

func TestProbeJitter_SpreadsTokens(t *testing.T) {
	a, b := Token{DemotedAt: 5, ProbeFailures: 1}, Token{DemotedAt: 5, ProbeFailures: 1}
	require.NotEqual(t, jitter(0, &a), jitter(1, &b))
	require.Equal(t, jitter(0, &a), jitter(0, &b))
	for i := 0; i < 100; i++ {
		j := jitter(i, &a)
		require.True(t, j >= 0 && j < 1)
	}
}

func TestExpire_RestoresCooledAndCooldownTokens(t *testing.T) {
	s := testSettings
	s.CooldownDuration = 5000
	p := NewPool(3)
	p.Record(0, Outcome{Class: ClassRateLimit, RetryAfterMs: 2000, HasRetryAfter: true}, Target{}, s, 0)
	p.Record(1, Outcome{Class: ClassAuth}, Target{}, s, 0)
	require.Equal(t, 1, p.UsableCount(1999))
	require.Equal(t, 2, p.UsableCount(2000), "cooled token is usable before any write")
	require.Equal(t, []int{0}, p.Expire(2000))
	require.Equal(t, []int{1}, p.Expire(5000))
	require.Equal(t, 3, p.UsableCount(5000))
}

func TestPick_CandidatesAndTheSoonestBack(t *testing.T) {
	p := NewPool(3)
	p.Tokens[0] = Token{Status: Unhealthy, DemotedAt: 5, NextProbe: 900}
	p.Tokens[1] = Token{Status: Cooling, Until: 3000}
	p.Tokens[2] = Token{Status: Cooling, Until: 2000}
	require.Empty(t, p.Candidates(1000, nil, nil))
	require.Equal(t, []int{2}, p.Candidates(2500, nil, nil), "a cooldown that ran out serves again")
	tok, back := p.Fallback(nil)
	require.Equal(t, 2, tok)
	require.Equal(t, int64(2000), back)

	p.Tokens[1] = Token{Status: Unhealthy, DemotedAt: 1}
	p.Tokens[2] = Token{Status: Unhealthy, DemotedAt: 9}
	tok, _ = p.Fallback(nil)
	require.Equal(t, 1, tok, "least recently demoted")

	p.Tokens[2] = Token{}
	require.Empty(t, p.Candidates(1000, func(i int) bool { return i != 2 }, nil), "excluded tokens are not candidates")
	tok, _ = p.Fallback(func(i int) bool { return i != 2 })
	require.Equal(t, 1, tok)
	tok, _ = p.Fallback(func(int) bool { return false })
	require.Equal(t, -1, tok)
	require.False(t, p.AllAvailable())
	require.True(t, NewPool(2).AllAvailable())
}

func TestDecode_RejectsCorruptValues(t *testing.T) {
	p := NewPool(2)
	p.Cluster = "llm"
	p.Tokens[1] = Token{Status: Cooling, Reason: ReasonRateLimit, Until: 7, Failures: 2, ProbeFailures: 3, NextProbe: -5,
		Target: Target{Cluster: "x", Authority: "api", Path: "/v1/chat/completions", Model: "m"}, Account: "org-1"}
	good := p.Encode()
	got, err := Decode(good, 2)
	require.NoError(t, err)
	require.Equal(t, p, got)
	badStatus := append([]byte(nil), good...)
	badStatus[len(NewPool(0).Encode())+len("llm")] = 9 // token 0's status byte
	tests := []struct {
		name string
		in   []byte
	}{
		{"old json value", []byte(`{"tokens":[{"s":0},{"s":0}]}`)},
		{"garbage", []byte("garbage")},
		{"empty", nil},
		{"wrong size", NewPool(3).Encode()},
		{"bad status", badStatus},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"huge string length", append([]byte{'T', 'F', 1, 2}, 0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in, 2)
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func TestClaimProbe_OneProbeInFlightPerToken(t *testing.T) {
	p := NewPool(2)
	p.Record(0, Outcome{Class: ClassAuth}, Target{}, testSettings, 0) // next probe at 1000
	require.False(t, p.ClaimProbe(0, 999, 5000), "not due yet")
	require.True(t, p.ClaimProbe(0, 1000, 5000))
	require.Equal(t, int64(6000), p.Tokens[0].NextProbe, "moved past the probe's timeout")
	require.False(t, p.ClaimProbe(0, 1001, 5000), "a second VM (after a lease hand-over) does not probe it again")
	require.False(t, p.ClaimProbe(1, 1000, 5000), "an available token needs no probe")
	require.True(t, p.ClaimProbe(0, 6000, 5000), "a probe whose answer never came is sent again after its timeout")
}

func TestRecord_RetryAfterOn5xxCoolsAndStillCounts(t *testing.T) {
	p := NewPool(1)
	o := Outcome{Class: ClassUpstream, RetryAfterMs: 1000, HasRetryAfter: true}
	c := p.Record(0, o, Target{}, testSettings, 0)
	require.True(t, c.Cooled)
	require.Equal(t, Cooling, p.Tokens[0].Status)
	require.Equal(t, ReasonUpstream, p.Tokens[0].Reason)
	require.Equal(t, uint32(1), p.Tokens[0].Failures)
	c = p.Record(0, o, Target{}, testSettings, 1500) // back from its rest: the failures are not forgiven
	require.True(t, c.Restored)
	require.Equal(t, uint32(2), p.Tokens[0].Failures)
	c = p.Record(0, o, Target{}, testSettings, 3000)
	require.True(t, c.Demoted, "the third failure reaches failureThreshold")
	require.Equal(t, Unhealthy, p.Tokens[0].Status)
}

func TestPick_AllDownPrefersATokenThatMayRecover(t *testing.T) {
	p := NewPool(4)
	p.Tokens[0] = Token{Status: Unhealthy, Reason: ReasonAuth, DemotedAt: 1}
	p.Tokens[1] = Token{Status: Unhealthy, Reason: ReasonQuota, DemotedAt: 2}
	p.Tokens[2] = Token{Status: Unhealthy, Reason: ReasonUpstream, DemotedAt: 9}
	p.Tokens[3] = Token{Status: Unhealthy, Reason: ReasonRateLimit, DemotedAt: 3}
	tok, _ := p.Fallback(nil)
	require.Equal(t, 2, tok, "upstream failures first, however recent; the revoked key last")
	p.Tokens[2].Reason = ReasonAuth
	tok, _ = p.Fallback(nil)
	require.Equal(t, 3, tok)
	p.Tokens[1] = Token{Status: Cooling, Until: 5000, Reason: ReasonRateLimit}
	tok, back := p.Fallback(nil)
	require.Equal(t, 1, tok, "a cooling token before any unhealthy one")
	require.Equal(t, int64(5000), back)
}

// TestFleetMark_GenerationsAndPending: a demotion or cooling of an
// available token starts a fleet generation; a longer rest or a second
// demotion within it does not; a probe's restoration ends it; a cooldown
// that merely runs out publishes nothing (every replica sees it run out).
func TestFleetMark_GenerationsAndPending(t *testing.T) {
	p := NewPool(1)
	p.Record(0, Outcome{Class: ClassRateLimit, RetryAfterMs: 1000, HasRetryAfter: true}, Target{}, testSettings, 0)
	require.Equal(t, FleetMark{Gen: 1, Down: true, Pending: true}, p.Tokens[0].Fleet)
	p.Tokens[0].Fleet.Pending = false // published
	p.Record(0, Outcome{Class: ClassRateLimit, RetryAfterMs: 5000, HasRetryAfter: true}, Target{}, testSettings, 10)
	require.Equal(t, FleetMark{Gen: 1, Down: true, Pending: true}, p.Tokens[0].Fleet, "a longer rest of the same generation")
	p.Tokens[0].Fleet.Pending = false
	require.Equal(t, []int{0}, p.Expire(6000))
	require.Equal(t, FleetMark{Gen: 1, Down: true}, p.Tokens[0].Fleet, "a cooldown running out is not published")
	p.Record(0, Outcome{Class: ClassAuth}, Target{}, testSettings, 7000)
	require.Equal(t, FleetMark{Gen: 1, Down: true, Pending: true}, p.Tokens[0].Fleet,
		"down again before any restoration: the same generation, written again")
	p.Tokens[0].Fleet.Pending = false
	p.RecordProbe(0, true, testSettings, 8500)
	require.True(t, p.RecordProbe(0, true, testSettings, 9000).Restored)
	require.Equal(t, FleetMark{Gen: 1, Pending: true}, p.Tokens[0].Fleet)
	p.Record(0, Outcome{Class: ClassAuth}, Target{}, testSettings, 10000)
	require.Equal(t, FleetMark{Gen: 2, Down: true, Pending: true}, p.Tokens[0].Fleet, "a new generation")
}

// TestDemoteAndRestore_ByHand: a token taken out by hand serves nothing,
// not even as the last resort, no outcome, probe or cooldown changes it,
// and only Restore brings it back; the new fields survive encoding.
func TestDemoteAndRestore_ByHand(t *testing.T) {
	s := Settings{FailureThreshold: 1, SuccessThreshold: 1, HealthCheckInterval: 1000, CooldownDuration: 5000}
	p := NewPool(2)
	c := p.Demote(1, 100)
	require.True(t, c.Changed && c.Demoted)
	require.True(t, p.Tokens[1].Manual())
	require.False(t, p.Demote(1, 200).Changed, "already out")
	require.Equal(t, []int{0}, p.Candidates(1e12, nil, nil))
	for _, o := range []Outcome{{Class: ClassSuccess}, {Class: ClassAuth}, {Class: ClassRateLimit}, {Class: ClassUpstream}} {
		require.False(t, p.Record(1, o, Target{}, s, 300).Changed)
	}
	require.Empty(t, p.ProbeDue(1e15))
	require.False(t, p.ClaimProbe(1, 1e15, 1000))
	require.False(t, p.RecordProbe(1, true, s, 1e15).Changed)
	require.Empty(t, p.Expire(1e15))
	p.Record(0, Outcome{Class: ClassAuth, Status: 401, Why: "status 401, invalid_api_key"}, Target{}, s, 400)
	tok, _ := p.Fallback(nil)
	require.Equal(t, 0, tok, "all down: the fallback is never the token taken out by hand")
	q, err := Decode(p.Encode(), 2)
	require.NoError(t, err)
	require.Equal(t, p, q)
	require.Equal(t, uint16(401), q.Tokens[0].HTTPStatus)
	require.Equal(t, "status 401, invalid_api_key", q.Tokens[0].Why)
	c = p.Restore(1)
	require.True(t, c.Restored)
	require.Equal(t, Available, p.Tokens[1].Status)
	require.False(t, p.Restore(1).Changed, "already available")
	require.True(t, p.Restore(0).Restored, "an automatic demotion is restored by hand too")
	p.Tokens[0].Status, p.Tokens[0].Reason = Unhealthy, ReasonManual
	only, _ := p.Fallback(func(i int) bool { return i == 0 })
	require.Equal(t, -1, only)
}

// TestAddCounts_FailureRateTrip: the trip needs minRequests in the window
// and a share of failures above the threshold; counts older than two
// windows are forgotten; a demotion starts a new count.
func TestAddCounts_FailureRateTrip(t *testing.T) {
	s := Settings{FailureThreshold: 3, SuccessThreshold: 1, HealthCheckInterval: 1000,
		FailureRatePercent: 5, RateMinRequests: 20, RateWindowMs: 60_000}
	tests := []struct {
		name    string
		batches []Counts // one per second
		demoted bool
	}{
		{"10% over 40 requests", repeat(Counts{Requests: 10, Failures: 1}, 4), true},
		{"10% but fewer than minRequests", repeat(Counts{Requests: 9, Failures: 1}, 2), false},
		{"exactly 5% is not above it", repeat(Counts{Requests: 20, Failures: 1}, 3), false},
		{"healthy", repeat(Counts{Requests: 50}, 10), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPool(1)
			var c Change
			for k, b := range tc.batches {
				if c = p.AddCounts(0, b, s, int64(1000*(k+1))); c.Demoted {
					break
				}
			}
			require.Equal(t, tc.demoted, c.Demoted)
			if tc.demoted {
				require.Equal(t, Unhealthy, p.Tokens[0].Status)
				require.Equal(t, ReasonUpstream, p.Tokens[0].Reason)
				require.Contains(t, p.Tokens[0].Why, "failure rate")
				require.Zero(t, p.Tokens[0].Window.Req, "a new count starts")
			}
		})
	}
	// Failures two windows old no longer count.
	p := NewPool(1)
	p.AddCounts(0, Counts{Requests: 10, Failures: 1}, s, 1000)
	p.AddCounts(0, Counts{Requests: 10}, s, 200_000)
	require.Equal(t, RateWindow{Start: 200_000, Req: 10}, p.Tokens[0].Window)
	// One window old: kept as the previous window.
	p.AddCounts(0, Counts{Requests: 5, Failures: 1}, s, 261_000)
	require.Equal(t, uint32(10), p.Tokens[0].Window.PrevReq)
	require.Equal(t, uint32(1), p.Tokens[0].Window.Fail)
}

func repeat(c Counts, n int) []Counts {
	out := make([]Counts, n)
	for i := range out {
		out[i] = c
	}
	return out
}

// TestJudgeSlow_MarksTheKeyFarSlowerThanItsSiblings and Candidates skip it
// while another may serve.
func TestJudgeSlow_MarksTheKeyFarSlowerThanItsSiblings(t *testing.T) {
	s := Settings{SlowFactor: 3, RateMinRequests: 10, RateWindowMs: 60_000}
	p := NewPool(3)
	for i, ms := range []uint64{100, 120, 900} {
		p.AddCounts(i, Counts{Requests: 10, LatencySumMs: 10 * ms, LatencyN: 10}, s, 1000)
	}
	require.True(t, p.JudgeSlow(s))
	require.Equal(t, []bool{false, false, true}, []bool{p.Tokens[0].Window.Slow, p.Tokens[1].Window.Slow, p.Tokens[2].Window.Slow})
	require.Equal(t, []int{0, 1}, p.Candidates(2000, nil, nil))
	require.Equal(t, []int{2}, p.Candidates(2000, func(i int) bool { return i == 2 }, nil), "the slow key serves when none other may")
	require.False(t, p.JudgeSlow(s), "no change")
	q, err := Decode(p.Encode(), 3)
	require.NoError(t, err)
	require.Equal(t, p, q, "the window survives encoding")
	// Too few samples: never slow.
	p = NewPool(2)
	p.AddCounts(0, Counts{Requests: 5, LatencySumMs: 5000, LatencyN: 5}, s, 1000)
	p.AddCounts(1, Counts{Requests: 20, LatencySumMs: 2000, LatencyN: 20}, s, 1000)
	require.False(t, p.JudgeSlow(s))
}
