package failover

import (
	"fmt"
)

// Status is where a token stands.
type Status uint8

// Token statuses. Every token is in exactly one of them.
const (
	// Available tokens serve traffic.
	Available Status = iota
	// Cooling tokens were rate limited; they serve again once Until passes.
	Cooling
	// Unhealthy tokens failed; a probe (or a configured cooldown) restores them.
	Unhealthy
)

func (s Status) String() string {
	switch s {
	case Available:
		return "available"
	case Cooling:
		return "cooling"
	case Unhealthy:
		return "unhealthy"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Target is where a token's probes go and what they ask: the cluster,
// authority, path and model of the request that demoted it, so a probe
// tries exactly what failed (a quota or model-access failure is not hidden
// by a free model list that still answers 200).
type Target struct {
	Cluster   string
	Authority string
	Path      string
	// Model is the model as sent upstream (after mapping); empty when the
	// request had none.
	Model string
}

// Token is one token's shared state. Times are milliseconds on the
// process clock (a clock every VM of the Envoy process shares and that
// never goes back; see the plugin's clock).
type Token struct {
	Status Status
	// Reason is why it last left Available.
	Reason Reason
	// Failures counts consecutive upstream failures (reset by a success).
	Failures uint32
	// ProbeSuccesses counts consecutive successful probes while unhealthy.
	ProbeSuccesses uint32
	// ProbeFailures counts consecutive failed probes; it drives the back-off.
	ProbeFailures uint32
	// Until is when a cooling token serves again, or (cooldownDuration > 0)
	// when an unhealthy one is restored without a probe; 0 = never.
	Until int64
	// NextProbe is when an unhealthy token is probed next. Sending a probe
	// moves it past the probe's timeout (ClaimProbe), so no other VM probes
	// the same token while that probe is in flight.
	NextProbe int64
	// DemotedAt is when the token last left Available.
	DemotedAt int64
	// Demotions and Restorations count transitions over the pool's life.
	Demotions    uint32
	Restorations uint32
	// Target is where probes for it go.
	Target Target
	// Account is the organization or project the provider named in the
	// answer that cooled or demoted the token (providers count rate limits
	// per account, not per key, so keys of one account cool together).
	Account string
	// Fleet is what this process knows of the token's fleet record (a
	// replica shares only transitions with the others; package fleet).
	Fleet FleetMark
	// HTTPStatus and Why describe the answer that last demoted or cooled
	// the token (HTTPStatus 0: none came, e.g. a reset; Why as in
	// Outcome, at most MaxWhyLen bytes), for the status page.
	HTTPStatus uint16
	Why        string
	// LastProbeAt is when the token was last probed (0: never) and
	// LastProbeOK whether that probe succeeded; kept across restorations.
	LastProbeAt int64
	LastProbeOK bool
	// Window counts recent outcomes for the failure-rate trip and the
	// slowness mark (Settings.FailureRatePercent, SlowFactor).
	Window RateWindow
}

// RateWindow is a token's outcomes in the window that started at Start
// (process ms) and in the one before it, and whether it is slow.
type RateWindow struct {
	Start                        int64
	Req, Fail, PrevReq, PrevFail uint32
	LatSum, PrevLatSum           uint64
	LatN, PrevLatN               uint32
	Slow                         bool
}

// MaxWhyLen bounds Token.Why in the shared state.
const MaxWhyLen = 160

// Manual tells whether an operator took the token out by hand.
func (t Token) Manual() bool { return t.Status == Unhealthy && t.Reason == ReasonManual }

// NeverProbed is the NextProbe of a token no probe may bring back.
const NeverProbed = int64(1<<63 - 1)

// FleetMark is a token's place in the fleet's history: the generation and
// kind of its latest transition this process knows of (Gen counts the
// token's demotions fleet-wide; Down: the latest is a demotion or cooling,
// not a restoration), whether a transition made here is not yet in the
// store (Pending), and the store's revision of the record as last seen.
type FleetMark struct {
	Gen     uint32
	Down    bool
	Pending bool
	Rev     int64
}

// demoted marks a local demotion or cooling: a new generation unless the
// token is already down fleet-wide (then the same demotion, rested longer).
func (m *FleetMark) demoted() {
	if !m.Down {
		m.Gen++
		m.Down = true
	}
	m.Pending = true
}

// restored marks a restoration by a probe, which ends the generation.
func (m *FleetMark) restored() {
	if m.Down {
		m.Down = false
		m.Pending = true
	}
}

// Pool is the whole state of one pool: one shared-data value, so that a
// token can never be in two states or in none.
type Pool struct {
	Tokens []Token
	// Cluster is the last cluster a request of this pool was sent to: the
	// fallback for a probe whose recorded cluster is empty or gone.
	Cluster string
}

// NewPool is the initial state: n tokens, all available.
func NewPool(n int) Pool {
	return Pool{Tokens: make([]Token, n)}
}
