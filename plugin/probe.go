package plugin

import (
	"strconv"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// OnTick implements abi.PluginContext. Every VM tries to take or renew each
// pool's lease; only the holder expires cooled tokens and probes.
func (r *Root) OnTick() {
	now := nowMs()
	for _, p := range r.pools {
		p.metrics.flush()
		if p.cfg.Failover.Enabled {
			r.tickPool(p, now)
		}
	}
}

func (r *Root) tickPool(p *poolRuntime, now int64) {
	held, changed, err := failover.AcquireLease(r.store, p.leaseKey, r.vm.ID, now, LeaseTTLTicks*r.tickMs)
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: %v", p.cfg.Name, err)
		return
	}
	if held != p.leader {
		if held {
			r.logf(abi.LogInfo, "pool %s: this VM (%s) now holds the probe lease", p.cfg.Name, r.vm.ID[:8])
		} else {
			r.logf(abi.LogInfo, "pool %s: this VM (%s) lost the probe lease", p.cfg.Name, r.vm.ID[:8])
		}
		p.leader = held
	}
	if changed {
		p.metrics.inc(p.metrics.leaseChanges)
	}
	if !held {
		return
	}
	var restored []int
	state, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.cfg.Tokens), func(s *failover.Pool) bool {
		restored = s.Expire(now)
		return len(restored) > 0
	})
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: cannot expire cooldowns: %v", p.cfg.Name, err)
		return
	}
	for _, i := range restored {
		r.logf(abi.LogInfo, "pool %s: token %s restored: cooldown over", p.cfg.Name, p.cfg.Tokens[i])
		p.metrics.inc(p.metrics.tokens[i].restorations)
	}
	p.metrics.publish(state, now)
	for _, i := range state.ProbeDue(now) {
		if !p.probing[i] {
			r.sendProbe(p, i, state.Tokens[i].Target)
		}
	}
}

// sendProbe asks the provider whether token i works again, through the
// cluster, authority and path recorded when it was demoted.
func (r *Root) sendProbe(p *poolRuntime, i int, t failover.Target) {
	tok := p.cfg.Tokens[i]
	if t.Cluster == "" {
		r.logf(abi.LogWarn, "pool %s: token %s has no recorded cluster; cannot probe", p.cfg.Name, tok)
		r.applyProbe(p, i, false, "no cluster")
		return
	}
	model := p.cfg.Failover.HealthCheckModel
	if model != "" {
		model = p.cfg.Mapping.Map(model)
	}
	pr := p.cfg.Provider.Probe(provider.Head{Authority: t.Authority, Path: t.Path}, tok.Secret(), model)
	headers := make([]abi.HeaderPair, 0, 3+len(pr.Headers))
	headers = append(headers, abi.HeaderPair{":method", pr.Method}, abi.HeaderPair{":path", pr.Path}, abi.HeaderPair{":authority", pr.Authority})
	headers = append(headers, pr.Headers...)
	id, err := r.host.HTTPCall(t.Cluster, headers, pr.Body, nil, uint32(p.cfg.Failover.HealthCheckTimeout))
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: probe of token %s via cluster %s not sent: %v", p.cfg.Name, tok, t.Cluster, err)
		r.applyProbe(p, i, false, "not sent")
		return
	}
	p.probing[i] = true
	r.probes[id] = probeCall{pool: p, token: i}
	r.logf(abi.LogDebug, "pool %s: probing token %s: %s %s%s via %s", p.cfg.Name, tok, pr.Method, pr.Authority, pr.Path, t.Cluster)
}

// OnHTTPCallResponse implements abi.PluginContext: a retry's or a probe's
// answer.
func (r *Root) OnHTTPCallResponse(callID uint32, numHeaders, bodySize, _ int) {
	if s, ok := r.retries[callID]; ok {
		delete(r.retries, callID)
		s.onRetryResponse(numHeaders, bodySize)
		return
	}
	call, ok := r.probes[callID]
	if !ok {
		return
	}
	delete(r.probes, callID)
	delete(call.pool.probing, call.token)
	if numHeaders == 0 {
		code, _, _ := r.host.GetStatus()
		r.applyProbe(call.pool, call.token, false, "call failed, status "+strconv.Itoa(int(code)))
		return
	}
	status, _ := r.host.GetHeader(abi.MapHTTPCallResponseHeaders, ":status")
	code, _ := strconv.Atoi(status)
	r.applyProbe(call.pool, call.token, code >= 200 && code < 300, "status "+status)
}

func (r *Root) applyProbe(p *poolRuntime, i int, ok bool, detail string) {
	now := nowMs()
	var c failover.Change
	state, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.cfg.Tokens), func(s *failover.Pool) bool {
		c = s.RecordProbe(i, ok, p.cfg.Failover.Settings, now)
		return c.Changed
	})
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: probe result for token %s dropped: %v", p.cfg.Name, p.cfg.Tokens[i], err)
		return
	}
	tok := p.cfg.Tokens[i]
	if ok {
		p.metrics.inc(p.metrics.tokens[i].probesOK)
	} else {
		p.metrics.inc(p.metrics.tokens[i].probesFailed)
	}
	switch {
	case c.Restored:
		r.logf(abi.LogInfo, "pool %s: token %s restored: probe succeeded (%s)", p.cfg.Name, tok, detail)
		p.metrics.inc(p.metrics.tokens[i].restorations)
		p.metrics.publish(state, now)
	case c.Changed && ok:
		r.logf(abi.LogInfo, "pool %s: token %s probe succeeded (%s), %d/%d", p.cfg.Name, tok, detail,
			state.Tokens[i].ProbeSuccesses, p.cfg.Failover.Settings.SuccessThreshold)
	case c.Changed:
		r.logf(abi.LogInfo, "pool %s: token %s probe failed (%s); next in %dms", p.cfg.Name, tok, detail, state.Tokens[i].NextProbe-now)
	}
}
