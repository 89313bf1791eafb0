package plugin

import (
	"fmt"
	"strings"
	"time"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/config"
	"github.com/token-failover/token-failover/failover"
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

// Root is the plugin (root) context: configuration, pools, ticks, lease and
// probes.
type Root struct {
	vm      *VM
	host    abi.Host
	id      uint32
	store   sharedData
	cfg     *config.Config
	pools   []*poolRuntime
	global  *poolRuntime
	rules   []ruleRuntime
	tickMs  int64
	probes  map[uint32]probeCall
	retries map[uint32]*stream
	useRule bool // some rule matches on route name
}

type ruleRuntime struct {
	routes  []string
	domains []string
	pool    *poolRuntime
}

type probeCall struct {
	pool  *poolRuntime
	token int
}

// poolRuntime is a pool's per-VM companion of its shared state.
type poolRuntime struct {
	cfg      *config.ProviderBlock
	stateKey string
	leaseKey string
	cache    failover.Cache
	metrics  *poolMetrics
	rr       uint32
	leader   bool
	probing  map[int]bool
	static   failover.Pool // all-available state when failover is off
}

func newRoot(vm *VM, id uint32) *Root {
	return &Root{vm: vm, host: vm.host, id: id, store: sharedData{vm.host}, probes: map[uint32]probeCall{},
		retries: map[uint32]*stream{}}
}

func nowMs() int64 { return time.Now().UnixMilli() }

func (r *Root) logf(level abi.LogLevel, format string, args ...any) {
	r.host.Log(level, fmt.Sprintf(format, args...))
}

// OnConfigure implements abi.PluginContext: parse, refuse with one error
// line per problem, create each pool's shared state if missing (a reload
// keeps it), define metrics and arm the tick.
func (r *Root) OnConfigure(size int) bool {
	raw, err := r.host.GetBuffer(abi.BufferPluginConfig, 0, size)
	if err != nil && size > 0 {
		r.logf(abi.LogError, "cannot read plugin configuration: %v", err)
		return false
	}
	cfg, err := config.Parse(raw)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			r.logf(abi.LogError, "invalid configuration: %s", line)
		}
		return false
	}
	for _, w := range cfg.Warnings {
		r.logf(abi.LogWarn, "configuration: %s", w)
	}
	r.cfg, r.pools, r.rules, r.global = cfg, nil, nil, nil
	tick := int64(MaxTickMs)
	if cfg.Global != nil {
		r.global = r.addPool(cfg.Global)
	}
	for _, rule := range cfg.Rules {
		r.rules = append(r.rules, ruleRuntime{routes: rule.Routes, domains: rule.Domains, pool: r.addPool(rule.Block)})
		if len(rule.Routes) > 0 {
			r.useRule = true
		}
	}
	for _, p := range r.pools {
		if p.cfg.Failover.Enabled && p.cfg.Failover.Settings.HealthCheckInterval < tick {
			tick = max(p.cfg.Failover.Settings.HealthCheckInterval, MinTickMs)
		}
	}
	r.tickMs = tick // also flushes request counts (metrics.go)
	if err := r.host.SetTickPeriod(uint32(tick)); err != nil {
		r.logf(abi.LogError, "cannot set tick period: %v", err)
	}
	return true
}

func (r *Root) addPool(cfg *config.ProviderBlock) *poolRuntime {
	for _, p := range r.pools { // two rules may share one provider block's pool
		if p.cfg.ID == cfg.ID {
			return p
		}
	}
	p := &poolRuntime{cfg: cfg, stateKey: stateKey(cfg.ID), leaseKey: leaseKey(cfg.ID),
		probing: map[int]bool{}, static: failover.NewPool(len(cfg.Tokens))}
	p.metrics = newPoolMetrics(r.host, cfg.Name, len(cfg.Tokens))
	r.pools = append(r.pools, p)
	if !cfg.Failover.Enabled {
		r.logf(abi.LogInfo, "pool %s: %s, %d tokens, failover off", cfg.Name, cfg.Provider.Type(), len(cfg.Tokens))
		return p
	}
	state, corrupt, err := failover.EnsurePool(r.store, p.stateKey, len(cfg.Tokens))
	switch {
	case err != nil:
		r.logf(abi.LogError, "pool %s: cannot create shared state: %v", cfg.Name, err)
	case corrupt != nil:
		r.logf(abi.LogError, "pool %s: shared state was unreadable (%v); rewritten as all available", cfg.Name, corrupt)
	}
	now := nowMs()
	r.logf(abi.LogInfo, "pool %s: %s, %d tokens, %d available, failover on (state %s)",
		cfg.Name, cfg.Provider.Type(), len(cfg.Tokens), state.UsableCount(now), p.stateKey)
	p.metrics.publish(state, now)
	return p
}

// match finds the pool serving a request: the first rule whose route or
// domain matches, else the global pool (nil: pass through).
func (r *Root) match(route func() string, authority string) *poolRuntime {
	if len(r.rules) == 0 {
		return r.global
	}
	var routeName string
	if r.useRule {
		routeName = route()
	}
	host := authority
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	for _, rule := range r.rules {
		for _, rt := range rule.routes {
			if rt == routeName {
				return rule.pool
			}
		}
		for _, d := range rule.domains {
			if domainMatch(d, host) {
				return rule.pool
			}
		}
	}
	return r.global
}

// domainMatch supports "*.example.com" (suffix), "api.*" (prefix) and exact.
func domainMatch(pattern, host string) bool {
	switch {
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(host, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(host, pattern[:len(pattern)-1])
	}
	return strings.EqualFold(pattern, host)
}

// OnDone implements abi.PluginContext: pending request counts are flushed
// before the root goes away (e.g. on a config reload).
func (r *Root) OnDone() bool {
	for _, p := range r.pools {
		p.metrics.flush()
	}
	return true
}

// NewHTTPContext implements abi.PluginContext.
func (r *Root) NewHTTPContext(id uint32) abi.HTTPContext {
	return &stream{root: r, id: id, token: -1}
}
