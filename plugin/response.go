package plugin

import (
	"strconv"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
)

// response is what the stream knows of its answer until it is judged.
type response struct {
	status int
	// details is Envoy's response.code_details, read for answers that are
	// not a plain success.
	details string
	headers []abi.HeaderPair // kept for error answers (rate-limit headers)
	body    []byte           // the start of an error answer's body
	// judged is set once the outcome was recorded: at the end of the
	// answer, or in OnDone for a stream that ended without one.
	judged bool
	// started is set once response headers arrived from upstream.
	started bool
}

// OnResponseHeaders notes the status. A failed answer is held for a retry
// when one is possible; the outcome itself is judged when the answer ends
// (a stream that dies after its 200 is not a success, and an error body
// can say whose fault it is).
func (s *stream) OnResponseHeaders(_ int, endOfStream bool) abi.Action {
	if s.guarded && !s.ownReply && s.checkRoute() {
		// Not the route the token was picked for: nobody is charged and
		// nothing is retried.
		s.retry, s.resp = nil, response{judged: true, started: true}
		return abi.ActionContinue
	}
	if s.block == nil || s.token < 0 || s.ownReply {
		return abi.ActionContinue
	}
	host := s.root.host
	status, _ := host.GetHeader(abi.MapResponseHeaders, ":status")
	code, _ := strconv.Atoi(status)
	s.resp = response{status: code, started: true}
	if s.startMs > 0 {
		ms := host.ProcessMs() - s.startMs
		p := s.block.pool
		p.metrics.observe(s.token, ms)
		if p.rateOn() && code >= 200 && code < 300 && ms >= 0 {
			p.counts[s.token].LatencySumMs += uint64(ms)
			p.counts[s.token].LatencyN++
		}
	}
	if code >= 200 && code < 300 {
		s.retry = nil // no retry will happen: drop what it kept
		if endOfStream {
			s.judge()
		}
		return abi.ActionContinue
	}
	s.resp.details, _ = host.GetProperty(propCodeDetails)
	if s.resp.details == "" || s.resp.details == "via_upstream" {
		s.resp.headers, _ = host.GetHeaders(abi.MapResponseHeaders)
	}
	if s.retry != nil && s.retry.wanted(endOfStream) && s.retry.start() {
		return abi.ActionPause // hold the failed answer until a retry releases it
	}
	s.retry = nil
	if endOfStream {
		s.judge()
	}
	return abi.ActionContinue
}

// OnResponseBody keeps the start of an error answer's body, swaps in a
// retry's answer, and judges the answer at its end.
func (s *stream) OnResponseBody(size int, endOfStream bool) abi.Action {
	if s.retry != nil && s.retry.replaced {
		return s.retry.replaceBody(size, endOfStream)
	}
	if s.block == nil || s.resp.judged || !s.resp.started {
		return abi.ActionContinue
	}
	if s.resp.status >= 400 && len(s.resp.body) < failover.MaxErrorBody && size > 0 {
		if b, err := s.root.host.GetBuffer(abi.BufferResponseBody, 0, min(size, failover.MaxErrorBody-len(s.resp.body))); err == nil {
			s.resp.body = append(s.resp.body, b...)
		}
	}
	if endOfStream {
		s.judge()
	}
	return abi.ActionContinue
}

// OnResponseTrailers ends the answer.
func (s *stream) OnResponseTrailers(int) abi.Action {
	if s.retry != nil && s.retry.replaced {
		return s.retry.replaceTrailers()
	}
	if s.block != nil && s.resp.started && !s.resp.judged {
		s.judge()
	}
	return abi.ActionContinue
}

// OnDone implements abi.HTTPContext: the stream's end. It judges a stream
// that ended without the end of its answer: Envoy's final details say
// whether the provider reset it mid-stream (a failure) or the client went
// away (nobody's fault); in mode: upstream it is a router attempt's end.
func (s *stream) OnDone() {
	s.judgeAtEnd()
	s.done = true
	if s.retry != nil && !s.retry.inFlight() {
		s.retry = nil
	}
}

func (s *stream) judgeAtEnd() {
	if s.block == nil || s.token < 0 || s.ownReply || s.resp.judged {
		return
	}
	if s.retry != nil && s.retry.inFlight() {
		// The client went away while a retry was out: the answer that
		// started it is judged by its headers (its body never comes), as
		// they were read (Envoy's details now speak of the client).
		s.judge()
		return
	}
	s.resp.details, _ = s.root.host.GetProperty(propCodeDetails)
	if !s.resp.started && s.resp.details == "" {
		s.resp.judged = true
		if s.root.cfg.Upstream {
			// A router attempt that ended with no answer and no word from
			// Envoy: the router reset it after a refused connection, a
			// reset or a per-try timeout (docs/envoy-routing.md). The
			// client leaving, the route's timeout or Envoy's own refusals
			// all come with details.
			why := "attempt ended without an answer"
			if v, _ := s.root.host.GetProperty(propTransportFailure); v != "" {
				why += " (" + v + ")"
			}
			s.record(s.token, failover.Outcome{Class: failover.ClassUpstream, Why: why})
		}
		return // downstream: nothing came back and Envoy says nothing: not judged
	}
	s.judge()
}

// judge classifies the answer and records the outcome against the token.
func (s *stream) judge() {
	s.resp.judged = true
	resp := failover.Response{Status: s.resp.status, CodeDetails: s.resp.details, Body: s.resp.body,
		Dialect: s.block.cfg.Provider.Type(), Header: headerLookup(s.resp.headers)}
	var wall int64 // only a retry-after date needs the wall clock: a hostcall
	if s.resp.status < 200 || s.resp.status >= 300 || s.resp.details != "" {
		wall = s.root.host.WallMs()
	}
	o := failover.Classify(resp, s.block.cfg.Failover.Patterns, wall)
	s.record(s.token, o)
	s.resp.headers, s.resp.body = nil, nil
}

// The Envoy attributes the plugin reads, as the ABI spells their paths.
var (
	propRouteName        = abi.Prop("xds", "route_name")
	propClusterName      = abi.Prop("xds", "cluster_name")
	propCodeDetails      = abi.Prop("response", "code_details")
	propTransportFailure = abi.Prop("upstream", "transport_failure_reason")
	propAttemptCount     = abi.Prop("upstream", "request_attempt_count")
)

// off is the value of Higress's clear_route_cache property that keeps a
// stream's route (route.go).
var off = []byte("off")

// headerLookup finds a header in pairs ("" when absent).
func headerLookup(pairs []abi.HeaderPair) func(string) string {
	if pairs == nil {
		return nil
	}
	return func(k string) string {
		for _, h := range pairs {
			if strings.EqualFold(h[0], k) {
				return h[1]
			}
		}
		return ""
	}
}

// RouteName implements config.Route: xds.route_name, read once.
func (s *stream) RouteName() string {
	if !s.routeRead {
		s.route, _ = s.root.host.GetProperty(propRouteName)
		s.routeRead = true
	}
	return s.route
}

// ClusterName implements config.Route.
func (s *stream) ClusterName() string { return s.routeCluster() }

// routeCluster returns the route's cluster, reading it once in the stream's
// context.
func (s *stream) routeCluster() string {
	if s.cluster == "" {
		s.cluster, _ = s.root.host.GetProperty(propClusterName)
	}
	return s.cluster
}

// clusterCheckEvery is how many successes of a pool, per VM, pass between
// checks of the route's cluster against the pool's last good cluster.
const clusterCheckEvery = 1024

// record applies an outcome of token i through one CAS transition. A
// success re-reads the state (decoded only if it changed) and writes
// nothing when the token is clean, so the common case costs one read and
// no write.
func (s *stream) record(i int, o failover.Outcome) {
	r, b := s.root, s.block
	p := b.pool
	if tel := r.cfg.Telemetry; tel != nil && tel.AccessLog {
		s.logOutcome(i, o)
	}
	if p.rateOn() && (o.Class == failover.ClassSuccess || o.Class == failover.ClassUpstream) {
		p.counts[i].Requests++
		if o.Class == failover.ClassUpstream {
			p.counts[i].Failures++
		}
	}
	if o.Class.Failing() {
		p.failedAt[i] = r.host.ProcessMs()
	}
	if o.Class == failover.ClassIgnore || !b.cfg.Failover.Enabled {
		if o.Class == failover.ClassIgnore && o.Why != "" && r.vm.debug {
			r.logf(abi.LogDebug, "pool %s: token %s not charged (%s)", p.name, p.tokens[i], o.Why)
		}
		return
	}
	if o.Class == failover.ClassSuccess {
		cur := p.read(r)
		p.successes++
		// The pool's last good cluster (a probe's fallback) is checked on the
		// first success and every clusterCheckEvery-th after, so a renamed
		// cluster is noticed without a property read per request.
		recheck := cur.Cluster == "" || p.successes%clusterCheckEvery == 0
		if t := cur.Tokens[i]; t.Status == failover.Available && t.Failures == 0 && (!recheck || s.routeCluster() == cur.Cluster) {
			return
		}
	}
	target := failover.Target{Cluster: s.routeCluster(), Authority: s.sent.Authority, Path: s.sent.Path, Model: s.model}
	now := r.host.ProcessMs()
	var c failover.Change
	state, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(st *failover.Pool) bool {
		c = st.Record(i, o, target, b.cfg.Failover.Settings, now)
		if o.Class == failover.ClassSuccess && target.Cluster != "" && st.Cluster != target.Cluster {
			st.Cluster = target.Cluster // the pool's last good cluster: a probe's fallback
			return true
		}
		return c.Changed
	})
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: outcome of token %s dropped: %v", p.name, p.tokens[i], err)
		return
	}
	if state.Tokens[i].Fleet.Pending {
		r.publish(p, i, 0) // to every other replica, without waiting
	}
	s.report(i, o, c, state, now)
}

// report logs a transition and moves the metrics.
func (s *stream) report(i int, o failover.Outcome, c failover.Change, state failover.Pool, now int64) {
	r, p := s.root, s.block.pool
	tok := p.tokens[i]
	if c.Restored {
		r.logf(abi.LogInfo, "pool %s: token %s restored: cooldown over", p.name, tok)
		p.metrics.inc(p.metrics.tokens[i].restorations)
	}
	account := ""
	if o.Account != "" {
		account = ", account " + o.Account
	}
	if o.Class != failover.ClassSuccess {
		reason := o.Class.Reason()
		p.metrics.failure(i, reason)
		switch {
		case c.Demoted:
			p.metrics.inc(p.metrics.tokens[i].demotions)
			r.logf(abi.LogWarn, "pool %s: token %s demoted to unhealthy (%s, %s%s); probes via cluster %s every %dms",
				p.name, tok, reason, o.Why, account, state.Tokens[i].Target.Cluster, s.block.cfg.Failover.Settings.HealthCheckInterval)
		case c.Cooled:
			p.metrics.inc(p.metrics.tokens[i].demotions)
			r.logf(abi.LogInfo, "pool %s: token %s cooling for %dms (%s, %s%s)", p.name, tok, state.Tokens[i].Until-now, reason, o.Why, account)
		case c.Changed && o.Class == failover.ClassUpstream:
			r.logf(abi.LogDebug, "pool %s: token %s failure %d/%d (%s)", p.name, tok,
				state.Tokens[i].Failures, s.block.cfg.Failover.Settings.FailureThreshold, o.Why)
		}
	}
	if (c.Demoted || c.Cooled || c.Restored) && r.owns(p) {
		p.metrics.publish(state, now)
	}
}

// logField sets filter state wasm.<name> for Envoy's access log
// (telemetry.accessLog); a refusal is only logged at debug: the request
// goes on.
func (s *stream) logField(name, value string) {
	if err := s.root.host.SetProperty(name, []byte(value)); err != nil && s.root.vm.debug {
		s.root.logf(abi.LogDebug, "cannot set filter state wasm.%s: %v", name, err)
	}
}

// logOutcome tells the access log the outcome of one attempt of this
// request: the token whose answer the client got and its class, the model
// as sent, how many attempts were judged and which tokens failed.
func (s *stream) logOutcome(i int, o failover.Outcome) {
	if s.done {
		return // the stream, and its access log line, are gone
	}
	if s.onRoot {
		// Filter state belongs to the stream: act on it, then give the
		// root callback its own context back.
		if s.root.host.SetEffectiveContext(s.id) != nil {
			return
		}
		defer func() { _ = s.root.host.SetEffectiveContext(s.root.id) }()
	}
	tok := s.block.pool.tokens[i].String()
	s.attempts++
	if o.Class.Failing() {
		if s.failed != "" {
			s.failed += ","
		}
		s.failed += tok + ":" + o.Class.String()
		s.logField("tf_failed", s.failed)
	}
	// The token and outcome named are the answer the client got: a
	// retry's success is judged before the failure it replaced.
	if !o.Class.Failing() || !s.servedLogged {
		s.logField("tf_token", tok)
		s.logField("tf_outcome", o.Class.String())
		s.servedLogged = s.servedLogged || !o.Class.Failing()
	}
	s.logField("tf_attempts", strconv.Itoa(s.attempts))
	if s.model != "" {
		s.logField("tf_model", s.model)
	}
}
