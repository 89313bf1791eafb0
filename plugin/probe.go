package plugin

import (
	"strconv"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// OnTick implements abi.PluginContext. Every root flushes its request
// counts; a root works only on the pools it owns in its VM (VM.owners):
// each VM tries to take or renew such a pool's lease, and only the
// holder expires cooled tokens and probes.
func (r *Root) OnTick() {
	for _, p := range r.pools {
		p.metrics.flush()
	}
	r.vm.refreshLogLevel()
	r.vm.refreshSecret()
	if !r.cfg.Upstream {
		r.loadMovedRoutes()
	}
	now := r.host.ProcessMs()
	for _, p := range r.pools {
		r.flushCounts(p, now)
		if p.failover() != nil && r.owns(p) {
			r.tickPool(p, now)
		}
	}
	if r.fleet != nil {
		r.fleetTick(now)
	}
	r.refreshRegistration()
}

func (r *Root) tickPool(p *pool, now int64) {
	held, changed, err := failover.AcquireLease(r.store, p.leaseKey, r.vm.ID, now, LeaseTTLTicks*r.tickMs)
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: %v", p.name, err)
		return
	}
	if held != p.leader {
		verb := "now holds"
		if !held {
			verb = "lost"
		}
		r.logf(abi.LogInfo, "pool %s: this VM (%s, root %d) %s the probe lease", p.name, r.vm.ID[:8], r.id, verb)
		p.leader = held
	}
	if changed {
		p.metrics.inc(p.metrics.leaseChanges)
	}
	if !held {
		return
	}
	var restored []int
	state, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(s *failover.Pool) bool {
		restored = s.Expire(now)
		return len(restored) > 0
	})
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: cannot expire cooldowns: %v", p.name, err)
		return
	}
	for _, i := range restored {
		r.logf(abi.LogInfo, "pool %s: token %s restored: cooldown over", p.name, p.tokens[i])
		p.metrics.inc(p.metrics.tokens[i].restorations)
	}
	p.metrics.publish(state, now)
	if due := state.ProbeDue(now); len(due) > 0 && r.fleetProbes(p, now) {
		for _, i := range due {
			r.probe(p, i, now)
		}
	} else if r.fleet != nil {
		r.fleetProbes(p, now) // keep standing for election while nothing is due
	}
}

// probe claims token i's due probe in the shared state (so no other VM
// probes it meanwhile, even after a lease hand-over) and sends it through
// the cluster recorded when the token was demoted, falling back to the
// pool's last good cluster when that one is unknown or gone.
func (r *Root) probe(p *pool, i int, now int64) {
	f := p.failover()
	var target failover.Target
	var fallback string
	claimed := false
	_, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(s *failover.Pool) bool {
		claimed = s.ClaimProbe(i, now, f.HealthCheckTimeout)
		target, fallback = s.Tokens[i].Target, s.Cluster
		return claimed
	})
	if err != nil || !claimed {
		return
	}
	tok := p.tokens[i]
	b := p.primary()
	pt, ok := probeTarget(b, target, p.read(r).Tokens[i].Reason)
	if !ok {
		// Nothing can show that the limit is gone: the free model list
		// answers 200 for a key out of quota. A failed probe backs off.
		p.metrics.inc(p.metrics.probesNotSent)
		r.logf(abi.LogInfo, "pool %s: token %s not probed: it was demoted for %s and no model is known to ask "+
			"(set failover.healthCheckModel)", p.name, tok, p.read(r).Tokens[i].Reason)
		r.applyProbe(p, i, false, "no model to probe with")
		return
	}
	if pt.Authority == "" {
		// No request recorded one: the provider's own. An empty path is
		// the provider's chat path (Provider.Probe).
		head := provider.Head{Method: "POST", Path: "/v1/chat/completions"}
		b.cfg.Provider.Rewrite(&head)
		pt.Authority = head.Authority
	}
	pr := b.cfg.Provider.Probe(pt, tok.Secret())
	pr.Headers = append(pr.Headers, r.probeCredential(b, i, pr)...) // an access token or a signature (credentials.go)
	headers := make([]abi.HeaderPair, 0, 3+len(pr.Headers))
	headers = append(headers, abi.HeaderPair{":method", pr.Method}, abi.HeaderPair{":path", pr.Path}, abi.HeaderPair{":authority", pr.Authority})
	headers = append(headers, pr.Headers...)
	if r.cfg.Upstream {
		// The probe passes through this plugin again as the cluster's
		// upstream filter, which must leave its token alone.
		headers = append(headers, abi.HeaderPair{probeHeader, r.vm.probeMark()})
	}
	var id uint32
	sent := ""
	for _, cluster := range [...]string{target.Cluster, fallback} {
		if cluster == "" || cluster == sent {
			continue
		}
		if id, err = r.host.HTTPCall(cluster, headers, pr.Body, nil, uint32(f.HealthCheckTimeout)); err == nil {
			sent = cluster
			break
		}
		r.logf(abi.LogWarn, "pool %s: probe of token %s via cluster %q not sent: %v", p.name, tok, cluster, err)
	}
	if sent == "" {
		// Not a failed probe: nothing was asked. The claim expires after the
		// probe timeout and the next tick tries again.
		p.metrics.inc(p.metrics.probesNotSent)
		r.logf(abi.LogWarn, "pool %s: token %s has no cluster to probe through (recorded %q, pool's last %q); retrying in %dms",
			p.name, tok, target.Cluster, fallback, f.HealthCheckTimeout)
		return
	}
	r.calls[id] = call{pool: p, token: i}
	r.logf(abi.LogDebug, "pool %s: probing token %s: %s %s%s via %s", p.name, tok, pr.Method, pr.Authority, pr.Path, sent)
}

// probeTarget is what a probe of a token demoted for reason asks: the
// configured healthCheckModel (mapped) when there is one, else the model of
// the request that demoted it (on the API that failed). Without a model only an auth or upstream
// demotion can be probed, by the provider's free model list (it shows the
// key is accepted and the provider answers); a quota or rate-limit
// demotion cannot (ok false): the list answers 200 while the limit lasts.
func probeTarget(b *block, target failover.Target, reason failover.Reason) (pt provider.ProbeTarget, ok bool) {
	pt = provider.ProbeTarget{Authority: target.Authority, Path: target.Path, Model: target.Model}
	if m := b.cfg.Failover.HealthCheckModel; m != "" {
		// A chat model: the probe is a chat completion on the provider's
		// chat path, whatever API the failed request used.
		pt.Model, pt.Path = b.cfg.Mapping.Map(m), ""
	}
	if pt.Model != "" {
		return pt, true
	}
	pt.Free = true
	return pt, reason == failover.ReasonAuth || reason == failover.ReasonUpstream
}

// OnHTTPCallResponse implements abi.PluginContext: a retry's or a probe's
// answer.
func (r *Root) OnHTTPCallResponse(callID uint32, numHeaders, bodySize, _ int) {
	c, ok := r.calls[callID]
	if !ok {
		r.vm.onTokenAnswer(r, callID, numHeaders, bodySize) // a token exchange's (credentials.go)
		return
	}
	delete(r.calls, callID)
	if c.retry != nil {
		c.retry.onAnswer(numHeaders, bodySize)
		return
	}
	if numHeaders == 0 {
		code, _, _ := r.host.GetStatus()
		r.applyProbe(c.pool, c.token, false, "call failed, status "+strconv.Itoa(int(code)))
		return
	}
	status, _ := r.host.GetHeader(abi.MapHTTPCallResponseHeaders, ":status")
	code, _ := strconv.Atoi(status)
	resp := failover.Response{Status: code, Dialect: c.pool.primary().cfg.Provider.Type()}
	if code >= 400 {
		resp.Body, _ = r.host.GetBuffer(abi.BufferHTTPCallResponse, 0, min(bodySize, failover.MaxErrorBody))
	}
	o := failover.Classify(resp, c.pool.failover().Patterns, r.host.WallMs())
	// A probe succeeds on a 2xx. An answer that only blames the probe
	// request (a 400 for a parameter that model does not take) also shows
	// the key is accepted again, except for a quota demotion, which only a
	// real answer lifts.
	ok = o.Class == failover.ClassSuccess
	if o.Class == failover.ClassIgnore && c.pool.read(r).Tokens[c.token].Reason != failover.ReasonQuota {
		ok = true
	}
	detail := o.Why
	if detail == "" {
		detail = "status " + status // a success carries no reason of its own
	}
	r.applyProbe(c.pool, c.token, ok, detail)
}

func (r *Root) applyProbe(p *pool, i int, ok bool, detail string) {
	now := r.host.ProcessMs()
	f := p.failover()
	var c failover.Change
	state, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(s *failover.Pool) bool {
		c = s.RecordProbe(i, ok, f.Settings, now)
		return c.Changed
	})
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: probe result for token %s dropped: %v", p.name, p.tokens[i], err)
		return
	}
	tok := p.tokens[i]
	if c.Restored {
		r.publish(p, i, 0)
	}
	if ok {
		p.metrics.inc(p.metrics.tokens[i].probesOK)
	} else {
		p.metrics.inc(p.metrics.tokens[i].probesFailed)
	}
	switch {
	case c.Restored:
		r.logf(abi.LogInfo, "pool %s: token %s restored: probe succeeded (%s)", p.name, tok, detail)
		p.metrics.inc(p.metrics.tokens[i].restorations)
		if r.owns(p) {
			p.metrics.publish(state, now)
		}
	case c.Changed && ok:
		r.logf(abi.LogInfo, "pool %s: token %s probe succeeded (%s), %d/%d", p.name, tok, detail,
			state.Tokens[i].ProbeSuccesses, f.Settings.SuccessThreshold)
	case c.Changed:
		r.logf(abi.LogInfo, "pool %s: token %s probe failed (%s); next in %dms", p.name, tok, detail, state.Tokens[i].NextProbe-now)
	}
}
