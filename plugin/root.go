package plugin

import (
	"fmt"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/config"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// Tick and lease timing.
const (
	// MaxTickMs is the longest tick period: leases renew and cooled tokens
	// return at least this often even with long health-check intervals.
	MaxTickMs = 1000
	// MinTickMs keeps very short intervals from busy-ticking.
	MinTickMs = 100
	// LeaseTTLTicks is the lease time-to-live in tick periods (design: 3x).
	LeaseTTLTicks = 3
)

// Root is the plugin (root) context: configuration, blocks, pools, ticks,
// lease and probes.
type Root struct {
	vm     *VM
	host   abi.Host
	id     uint32
	store  failover.Store
	cfg    *config.Config
	global *block
	rules  []rule
	pools  []*pool
	tickMs int64
	// calls are the http calls in flight: probes and retries.
	calls map[uint32]call
	// guard keeps downstream-mode requests on their route (route.go).
	guard routeGuard
	// fleet shares token health with the other replicas (fleet.go); nil
	// without a fleet configuration.
	fleet *fleetLink
	// registeredAt is when this root last listed its pools in the
	// process's registry (wall ms; status.go).
	registeredAt int64
}

// rule sends the requests it matches (see config.Rule.Matches) to its
// block; a nil block passes them through untouched.
type rule struct {
	cfg   *config.Rule
	block *block
}

// block is the runtime of one provider block of the configuration: its
// rewrite, mapping, selection and retry settings, and the token pool it
// draws from (shared with every other block that lists the same tokens).
type block struct {
	cfg  *config.ProviderBlock
	pool *pool
	// rr is the round-robin position of this block in this VM.
	rr uint32
	// auth holds each token's credential headers, built once, when the
	// provider's do not depend on the request (provider.AuthIgnoresHead).
	auth [][]abi.HeaderPair
	// seen and sent are the last request head this block rewrote and
	// where target sent it: most requests of a route repeat both.
	seen, sent provider.Head
}

func cloneHead(h provider.Head) provider.Head {
	return provider.Head{Method: strings.Clone(h.Method), Authority: strings.Clone(h.Authority), Path: strings.Clone(h.Path)}
}

// credential is the headers that carry token tok to the provider for a
// request sent to sent.
func (b *block) credential(tok int, sent provider.Head) []abi.HeaderPair {
	if b.auth != nil {
		return b.auth[tok]
	}
	return b.cfg.Provider.Auth(sent, b.cfg.Tokens[tok].Secret())
}

// target is where the block sends a request: the provider's authority and
// path, with a model in the path mapped; the last answer is kept.
func (b *block) target(head provider.Head) provider.Head {
	if head == b.seen && head != (provider.Head{}) {
		return b.sent
	}
	sent := head
	b.cfg.Provider.Rewrite(&sent)
	if b.cfg.Provider.ModelInPath(sent.Path) {
		sent.Path, _ = provider.RewritePathModel(sent.Path, b.cfg.Mapping)
	}
	// Copies, so the block keeps no client header block alive.
	b.seen, b.sent = cloneHead(head), cloneHead(sent)
	return sent
}

// call is an http call in flight: a probe (retry nil) or a retry.
type call struct {
	pool  *pool
	token int
	retry *retry
}

func newRoot(vm *VM, id uint32) *Root {
	return &Root{vm: vm, host: vm.host, id: id, store: sharedData{vm.host}, calls: map[uint32]call{}}
}

func (r *Root) logf(level abi.LogLevel, format string, args ...any) {
	if level <= abi.LogDebug && !r.vm.debug {
		return
	}
	r.host.Log(level, fmt.Sprintf(format, args...))
}

// OnConfigure implements abi.PluginContext: parse, refuse with one error
// line per problem (after every warning), create each pool's shared state
// if missing (a reload keeps it), define metrics and arm the tick.
func (r *Root) OnConfigure(size int) bool {
	r.vm.refreshLogLevel()
	raw, err := r.host.GetBuffer(abi.BufferPluginConfig, 0, size)
	if err != nil && size > 0 {
		r.logf(abi.LogError, "cannot read plugin configuration: %v", err)
		return false
	}
	cfg, err := config.Parse(raw)
	for _, w := range cfg.Warnings {
		r.logf(abi.LogWarn, "configuration: %s", w)
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			r.logf(abi.LogError, "invalid configuration: %s", line)
		}
		return false
	}
	r.cfg, r.pools, r.rules, r.global = cfg, nil, nil, nil
	r.guard = newRouteGuard(raw)
	r.fleet = nil
	if cfg.Fleet != nil {
		r.fleet = newFleetLink(cfg.Fleet)
	}
	if cfg.Global != nil {
		r.global = r.addBlock(cfg.Global)
	}
	for i := range cfg.Rules {
		ru := rule{cfg: &cfg.Rules[i]}
		if ru.cfg.Block != nil {
			ru.block = r.addBlock(ru.cfg.Block)
		}
		r.rules = append(r.rules, ru)
	}
	tick := int64(MaxTickMs)
	for _, p := range r.pools {
		if f := p.failover(); f != nil && f.Settings.HealthCheckInterval < tick {
			tick = max(f.Settings.HealthCheckInterval, MinTickMs)
		}
	}
	r.tickMs = tick // also flushes request counts (metrics.go)
	if err := r.host.SetTickPeriod(uint32(tick)); err != nil {
		r.logf(abi.LogError, "cannot set tick period: %v", err)
	}
	r.vm.refreshSecret()
	r.vm.addRoot(r)
	r.register()
	return true
}

// addBlock makes the runtime of a provider block; blocks that list the same
// tokens share one pool (its state, lease and metrics), and nothing else.
// A block without tokens (PassClientAuth) gets a pool of its own, for its
// request counters only.
func (r *Root) addBlock(cfg *config.ProviderBlock) *block {
	b := &block{cfg: cfg}
	if cfg.Provider != nil && provider.AuthIgnoresHead(cfg.Provider) {
		b.auth = make([][]abi.HeaderPair, len(cfg.Tokens))
		for i, t := range cfg.Tokens {
			b.auth[i] = cfg.Provider.Auth(provider.Head{}, t.Secret())
		}
	}
	for _, p := range r.pools {
		if cfg.PassClientAuth {
			break
		}
		if p.id == cfg.PoolID {
			b.pool = p
			p.blocks = append(p.blocks, b)
			return b
		}
	}
	b.pool = r.newPool(b)
	r.pools = append(r.pools, b.pool)
	return b
}

// match finds the block serving a request: the first rule that matches
// (its block, nil for a pass-through rule), else the global block (nil:
// pass through). route reads the request's properties, each at most once
// and only when a rule needs it.
func (r *Root) match(authority string, route config.Route) *block {
	for _, ru := range r.rules {
		if ru.cfg.Matches(authority, route) {
			return ru.block
		}
	}
	return r.global
}

// OnDone implements abi.PluginContext: pending request counts are flushed
// before the root goes away (e.g. after a config reload).
func (r *Root) OnDone() bool {
	for _, p := range r.pools {
		p.metrics.flush()
	}
	r.vm.removeRoot(r)
	return true
}

// NewHTTPContext implements abi.PluginContext.
func (r *Root) NewHTTPContext(id uint32) abi.HTTPContext {
	return &stream{root: r, id: id, token: -1}
}
