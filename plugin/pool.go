package plugin

import (
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
}

func (r *Root) newPool(first *block) *pool {
	cfg := first.cfg
	p := &pool{id: cfg.PoolID, name: cfg.Name, tokens: cfg.Tokens, blocks: []*block{first},
		stateKey: stateKey(cfg.PoolID), leaseKey: leaseKey(cfg.PoolID), static: failover.NewPool(len(cfg.Tokens)),
		failedAt: make([]int64, len(cfg.Tokens))}
	p.metrics = newPoolMetrics(r.host, p.name, len(p.tokens), r.cfg.Telemetry != nil && r.cfg.Telemetry.Latency)
	if p.failover() == nil {
		r.logf(abi.LogInfo, "pool %s: %s, %d tokens, failover off", p.name, cfg.Provider.Type(), len(p.tokens))
		return p
	}
	state, corrupt, err := failover.EnsurePool(r.store, p.stateKey, len(p.tokens))
	switch {
	case err != nil:
		r.logf(abi.LogError, "pool %s: cannot create shared state: %v", p.name, err)
	case corrupt != nil:
		r.logf(abi.LogError, "pool %s: shared state was unreadable (%v); rewritten as all available", p.name, corrupt)
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
		failover.EnsurePool(r.store, p.stateKey, len(p.tokens))
	default:
		r.logf(abi.LogError, "pool %s: shared state unreadable (%v); rewriting it as all available", p.name, err)
		if _, _, werr := failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(*failover.Pool) bool { return false }); werr != nil {
			r.logf(abi.LogError, "pool %s: cannot rewrite shared state: %v", p.name, werr)
		}
	}
	return state
}
