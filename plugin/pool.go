package plugin

import (
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/config"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// pool is one root's handle on a shared token pool: the shared-data keys of
// its state and lease, the cached decoded state, whether this root holds
// the lease, the probes it has in flight and the pool's metrics. Every
// block listing the same tokens uses the same pool.
type pool struct {
	id       string
	name     string
	tokens   []provider.Token
	blocks   []*block
	stateKey string
	leaseKey string
	cache    failover.Cache
	metrics  *poolMetrics
	leader   bool
	// successes counts this VM's successful answers (see clusterCheckEvery).
	successes uint32
	// failedAt is when each token last failed a request on this VM
	// (process ms; 0 never), for router retries (stream.mayServe).
	failedAt []int64
	// static is the all-available state used when failover is off.
	static failover.Pool
	// counts are this VM's outcomes per token since the last tick, for
	// failover.failureRate and slowToken (nil when neither is on): the
	// hot path adds to them, the tick adds them to the shared state.
	counts []failover.Counts
}

// rateOn tells whether the pool counts outcomes for the failure-rate trip
// or the slowness mark.
func (p *pool) rateOn() bool { return p.counts != nil }

func (r *Root) newPool(first *block) *pool {
	cfg := first.cfg
	p := &pool{id: cfg.PoolID, name: cfg.Name, tokens: cfg.Tokens, blocks: []*block{first},
		stateKey: stateKey(cfg.PoolID), leaseKey: leaseKey(cfg.PoolID), static: failover.NewPool(len(cfg.Tokens)),
		failedAt: make([]int64, len(cfg.Tokens))}
	if f := cfg.Failover; f.Enabled && (f.Settings.FailureRatePercent > 0 || f.Settings.SlowFactor > 0) {
		p.counts = make([]failover.Counts, len(cfg.Tokens))
	}
	p.metrics = newPoolMetrics(r.host, p.name, len(p.tokens), r.cfg.Telemetry != nil && r.cfg.Telemetry.Latency)
	if p.failover() == nil {
		r.logf(abi.LogInfo, "pool %s: %s, %d tokens, failover off", p.name, cfg.Provider.Type(), len(p.tokens))
		return p
	}
	state, corrupt, err := r.ensureState(p)
	switch {
	case err != nil:
		r.logf(abi.LogError, "pool %s: cannot create shared state: %v", p.name, err)
	case corrupt != nil:
		r.logf(abi.LogError, "pool %s: shared state was unreadable (%v); rewritten", p.name, corrupt)
	}
	now := r.host.ProcessMs()
	r.logf(abi.LogInfo, "pool %s: %s, %d tokens, %d available, failover on (state %s)",
		p.name, cfg.Provider.Type(), len(p.tokens), state.UsableCount(now), p.stateKey)
	p.metrics.publish(state, now)
	return p
}

// primary is the first block of the pool with failover on: its settings
// drive what the pool does by itself (cooldown expiry, probes).
func (p *pool) primary() *block {
	for _, b := range p.blocks {
		if b.cfg.Failover.Enabled {
			return b
		}
	}
	return nil
}

// failover is the primary block's failover configuration (nil: off).
func (p *pool) failover() *config.FailoverConfig {
	if b := p.primary(); b != nil {
		return &b.cfg.Failover
	}
	return nil
}

// read returns the pool's current state through the per-VM cache (no
// parse when unchanged). A missing or corrupt value reads as all available;
// a corrupt one is logged at error and rewritten, as at start.
func (p *pool) read(r *Root) failover.Pool {
	state, err := p.cache.Read(r.store, p.stateKey, len(p.tokens))
	switch {
	case err == nil:
	case err == failover.ErrNotFound:
		_, _, _ = r.ensureState(p)
	default:
		r.logf(abi.LogError, "pool %s: shared state unreadable (%v); rewriting it as all available", p.name, err)
		if _, _, werr := failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(*failover.Pool) bool { return false }); werr != nil {
			r.logf(abi.LogError, "pool %s: cannot rewrite shared state: %v", p.name, werr)
		}
	}
	return state
}

// ensureState creates the pool's shared state when it is missing (or
// corrupt) and keeps an existing valid one: a reload never wipes it. A new
// state starts from what other pools of the process know of the same keys
// (carryOver), so adding a key to apiTokens or removing one, which makes a
// new pool, does not bring a demoted key back or end a cooldown.
func (r *Root) ensureState(p *pool) (state failover.Pool, corrupt, err error) {
	n := len(p.tokens)
	carried, from := 0, ""
	err = failover.Update(r.store, p.stateKey, func(old []byte, found bool) ([]byte, bool) {
		corrupt = nil
		if found {
			s, derr := failover.Decode(old, n)
			if derr == nil {
				state = s
				return nil, false
			}
			corrupt = derr
		}
		state, carried, from = r.carryOver(p)
		return state.Encode(), true
	})
	if err == nil && carried > 0 {
		r.logf(abi.LogInfo, "pool %s: %d of its %d tokens keep the state they had in pool %s (same keys)", p.name, carried, n, from)
	}
	return state, corrupt, err
}

// carryOver builds a new pool's state: each token that a pool in the
// registry also lists (by Token.ID, newest registration first) keeps that
// pool's state of it; the rest start available. from names the pools
// drawn on.
func (r *Root) carryOver(p *pool) (state failover.Pool, carried int, from string) {
	state = failover.NewPool(len(p.tokens))
	want := map[string]int{}
	for i, t := range p.tokens {
		want[t.ID] = i
	}
	var names []string
	for _, e := range decodeRegistry(r.registry()) {
		if e.ID == p.id || !e.Failover || len(want) == 0 {
			continue
		}
		var other *failover.Pool
		for j, id := range e.IDs {
			i, ok := want[id]
			if !ok {
				continue
			}
			if other == nil {
				b, _, err := r.store.Get(stateKey(e.ID))
				if err != nil {
					break
				}
				o, err := failover.Decode(b, len(e.Tokens))
				if err != nil || len(e.IDs) != len(e.Tokens) {
					break
				}
				other = &o
			}
			state.Tokens[i] = other.Tokens[j]
			delete(want, id)
			carried++
		}
		if other != nil {
			names = append(names, e.Name)
		}
	}
	return state, carried, strings.Join(names, ", ")
}

// flushCounts adds this VM's counts to the pool's shared state (one
// read-modify-write per tick, only when there are any) and applies the
// failure-rate trip and the slowness marks.
func (r *Root) flushCounts(p *pool, now int64) {
	f := p.failover()
	if !p.rateOn() || f == nil {
		return
	}
	pending := false
	for _, c := range p.counts {
		pending = pending || !c.Empty()
	}
	if !pending {
		return
	}
	changes := make([]failover.Change, len(p.counts))
	state, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(s *failover.Pool) bool {
		changed := false
		for i, c := range p.counts {
			if !c.Empty() {
				changes[i] = s.AddCounts(i, c, f.Settings, now)
				changed = changed || changes[i].Changed
			}
		}
		return s.JudgeSlow(f.Settings) || changed
	})
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: request counts dropped: %v", p.name, err)
		return
	}
	clear(p.counts)
	for i, c := range changes {
		if c.Demoted {
			t := state.Tokens[i]
			r.logf(abi.LogWarn, "pool %s: token %s demoted to unhealthy (%s); probes via cluster %s every %dms",
				p.name, p.tokens[i], t.Why, t.Target.Cluster, f.Settings.HealthCheckInterval)
			p.metrics.inc(p.metrics.tokens[i].demotions)
			p.metrics.failure(i, failover.ReasonUpstream)
			if t.Fleet.Pending {
				r.publish(p, i, 0)
			}
		}
	}
	if r.owns(p) {
		p.metrics.publish(state, now)
	}
}
