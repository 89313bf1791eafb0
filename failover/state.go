package failover

import (
	"encoding/json"
	"errors"
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

// Target is where a token's probes go: the cluster, authority and path of the
// request that demoted it.
type Target struct {
	Cluster   string `json:"c,omitempty"`
	Authority string `json:"a,omitempty"`
	Path      string `json:"p,omitempty"`
}

// Token is one token's shared state. Times are unix milliseconds.
type Token struct {
	Status Status `json:"s"`
	// Failures counts consecutive upstream failures (reset by a success).
	Failures uint32 `json:"f,omitempty"`
	// ProbeSuccesses counts consecutive successful probes while unhealthy.
	ProbeSuccesses uint32 `json:"ps,omitempty"`
	// ProbeFailures counts consecutive failed probes; it drives the back-off.
	ProbeFailures uint32 `json:"pf,omitempty"`
	// Until is when a cooling token serves again, or (cooldownDuration > 0)
	// when an unhealthy one is restored without a probe; 0 = never.
	Until int64 `json:"u,omitempty"`
	// NextProbe is when an unhealthy token is probed next.
	NextProbe int64 `json:"np,omitempty"`
	// DemotedAt is when the token last left Available.
	DemotedAt int64 `json:"d,omitempty"`
	// Reason is why it last left Available.
	Reason Reason `json:"r,omitempty"`
	// Target is where probes for it go.
	Target Target `json:"t,omitempty"`
	// Demotions and Restorations count transitions over the pool's life.
	Demotions    uint32 `json:"dm,omitempty"`
	Restorations uint32 `json:"rs,omitempty"`
}

// Pool is the whole state of one pool: one shared-data value, so that a
// token can never be in two states or in none.
type Pool struct {
	Tokens []Token `json:"tokens"`
}

// NewPool is the initial state: n tokens, all available.
func NewPool(n int) Pool {
	return Pool{Tokens: make([]Token, n)}
}

// ErrCorrupt is returned by Decode for a value that is not a pool of the
// expected size.
var ErrCorrupt = errors.New("failover: corrupt pool state")

// Encode serialises the pool for shared data.
func (p Pool) Encode() []byte {
	b, err := json.Marshal(p)
	if err != nil { // only possible for unsupported types; Pool has none
		panic(err)
	}
	return b
}

// Decode parses a shared-data value for a pool of n tokens.
func Decode(b []byte, n int) (Pool, error) {
	var p Pool
	if err := json.Unmarshal(b, &p); err != nil {
		return Pool{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if len(p.Tokens) != n {
		return Pool{}, fmt.Errorf("%w: %d tokens, want %d", ErrCorrupt, len(p.Tokens), n)
	}
	for i, t := range p.Tokens {
		if t.Status > Unhealthy {
			return Pool{}, fmt.Errorf("%w: token %d has status %d", ErrCorrupt, i, t.Status)
		}
	}
	return p, nil
}

// Clone returns a deep copy, so a transition never mutates a cached value.
func (p Pool) Clone() Pool {
	return Pool{Tokens: append([]Token(nil), p.Tokens...)}
}
