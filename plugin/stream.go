package plugin

import (
	"hash/fnv"
	"math"
	"strconv"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// stream is the HTTP context of one request.
type stream struct {
	root        *Root
	id          uint32
	pool        *poolRuntime
	token       int
	head        provider.Head // the request as sent to the provider
	rewriteBody bool
	ownReply    bool
	retry       *retryState // non-nil when retryOnFailure is on
	done        bool
}

// OnRequestHeaders picks a token (one shared-data read) and rewrites auth,
// authority and path. When a JSON body's model must be mapped, it drops
// content-length (the body's length will change; Envoy then frames the body
// itself) and lets the headers go: in Envoy a Pause here would also withhold
// the body from this filter until continue_stream.
func (s *stream) OnRequestHeaders(_ int, endOfStream bool) abi.Action {
	r := s.root
	if r.cfg == nil {
		return abi.ActionContinue
	}
	host := r.host
	headers, err := host.GetHeaders(abi.MapRequestHeaders)
	if err != nil {
		return abi.ActionContinue
	}
	var head provider.Head
	var contentType, sticky string
	var creds []string
	hasContentLength := false
	for _, h := range headers {
		switch h[0] {
		case ":authority":
			head.Authority = h[1]
		case ":path":
			head.Path = h[1]
		case ":method":
			head.Method = h[1]
		case "content-type":
			contentType = h[1]
		case "content-length":
			hasContentLength = true
		case "authorization", "x-api-key", "api-key", "x-goog-api-key":
			creds = append(creds, h[0])
		}
	}
	p := r.match(func() string {
		b, _ := host.GetProperty("xds", "route_name")
		return string(b)
	}, head.Authority)
	if p == nil {
		return abi.ActionContinue
	}
	s.pool = p
	if p.cfg.Selection == "sticky" {
		for _, h := range headers {
			if h[0] == p.cfg.StickyHeader {
				sticky = h[1]
				break
			}
		}
	}
	tok, ok := s.pick(sticky)
	if !ok {
		return abi.ActionPause
	}
	s.token = tok
	cfg := p.cfg
	secret := cfg.Tokens[tok].Secret()
	sent := head
	cfg.Provider.Rewrite(&sent)
	if cfg.Provider.ModelInPath(sent.Path) {
		sent.Path, _ = provider.RewritePathModel(sent.Path, cfg.Mapping)
	}
	auth := cfg.Provider.Auth(sent, secret)
	for _, c := range creds {
		if !setsHeader(auth, c) {
			_ = host.RemoveHeader(abi.MapRequestHeaders, c)
		}
	}
	for _, a := range auth {
		_ = host.ReplaceHeader(abi.MapRequestHeaders, a[0], a[1])
	}
	if sent.Authority != head.Authority {
		_ = host.ReplaceHeader(abi.MapRequestHeaders, ":authority", sent.Authority)
	}
	if sent.Path != head.Path {
		_ = host.ReplaceHeader(abi.MapRequestHeaders, ":path", sent.Path)
	}
	s.head = sent
	p.metrics.request(tok)
	if !endOfStream && !cfg.Mapping.Empty() && !cfg.Provider.ModelInPath(sent.Path) && jsonish(contentType) {
		s.rewriteBody = true
		if hasContentLength {
			_ = host.RemoveHeader(abi.MapRequestHeaders, "content-length")
		}
	}
	if cfg.Retry.Enabled {
		s.retry = newRetryState(headers, creds, auth, sent, head)
	}
	return abi.ActionContinue
}

func setsHeader(pairs []abi.HeaderPair, name string) bool {
	for _, p := range pairs {
		if p[0] == name {
			return true
		}
	}
	return false
}

// jsonish accepts JSON content types and a missing one (many clients omit it).
func jsonish(contentType string) bool {
	return contentType == "" || strings.Contains(contentType, "json")
}

// pick chooses the request's token; false means a local reply was sent.
func (s *stream) pick(sticky string) (int, bool) {
	r, p := s.root, s.pool
	now := nowMs()
	state := p.static
	if p.cfg.Failover.Enabled {
		var err error
		state, err = p.cache.Read(r.store, p.stateKey, len(p.cfg.Tokens))
		if err != nil && err != failover.ErrNotFound {
			r.logf(abi.LogDebug, "pool %s: state unreadable (%v); treating all tokens as available", p.cfg.Name, err)
		}
	}
	choose := s.chooser(sticky)
	tok, allDown, backAt := state.Pick(now, nil, choose)
	if !allDown {
		return tok, true
	}
	p.metrics.inc(p.metrics.allDown)
	if p.cfg.Failover.RejectWhenAllDown {
		retry := int64(1)
		if backAt > now {
			retry = (backAt - now + 999) / 1000
		}
		s.ownReply = true
		_ = r.host.SendLocalResponse(503, "token_failover_all_tokens_down",
			[]byte(`{"error":{"message":"all API tokens are unavailable","type":"token_failover_all_tokens_down"}}`),
			[]abi.HeaderPair{{"content-type", "application/json"}, {"retry-after", strconv.FormatInt(retry, 10)}}, -1)
		return 0, false
	}
	r.logf(abi.LogDebug, "pool %s: all tokens down; using soonest back %s", p.cfg.Name, p.cfg.Tokens[tok])
	return tok, true
}

// chooser returns the selection policy over usable candidates.
func (s *stream) chooser(sticky string) func([]int) int {
	p, rnd := s.pool, s.root.vm.rnd
	switch {
	case p.cfg.Selection == "round-robin":
		return func(c []int) int { p.rr++; return int(p.rr % uint32(len(c))) }
	case p.cfg.Selection == "sticky" && sticky != "":
		// Rendezvous hashing: a session keeps its token while it is usable,
		// moves to its next-highest token when demoted, returns on restore.
		return func(c []int) int {
			best, bestScore := 0, uint64(0)
			for k, i := range c {
				h := fnv.New64a()
				h.Write([]byte(sticky))
				h.Write([]byte{byte(i), byte(i >> 8)})
				if sc := h.Sum64(); k == 0 || sc > bestScore {
					best, bestScore = k, sc
				}
			}
			return best
		}
	}
	return func(c []int) int { return rnd.IntN(len(c)) }
}

// OnRequestBody buffers the body (Pause = StopIterationAndBuffer) and maps
// its model once it is whole; anything that is not a JSON object with a
// string model passes through untouched.
func (s *stream) OnRequestBody(size int, endOfStream bool) abi.Action {
	if !s.rewriteBody {
		s.captureChunk(size)
		return abi.ActionContinue
	}
	if !endOfStream {
		return abi.ActionPause
	}
	s.rewriteBody = false
	s.mapBody(size)
	return abi.ActionContinue
}

// OnRequestTrailers finishes a body rewrite when trailers end the request.
func (s *stream) OnRequestTrailers(int) abi.Action {
	if s.rewriteBody {
		s.rewriteBody = false
		s.mapBody(math.MaxInt32) // the whole buffered body, whatever its size
	}
	return abi.ActionContinue
}

func (s *stream) mapBody(size int) {
	host := s.root.host
	body, err := host.GetBuffer(abi.BufferRequestBody, 0, size)
	if err != nil || len(body) == 0 {
		return
	}
	out, changed := provider.RewriteBodyModel(body, s.pool.cfg.Mapping)
	s.retry.keepBody(s, out)
	if !changed {
		return
	}
	if err := host.SetBuffer(abi.BufferRequestBody, 0, len(body), out); err != nil {
		s.root.logf(abi.LogWarn, "cannot rewrite request body: %v", err)
	}
}

// OnResponseHeaders classifies the response and feeds the token's state.
func (s *stream) OnResponseHeaders(_ int, endOfStream bool) abi.Action {
	if s.pool == nil || s.token < 0 || s.ownReply || (!s.pool.cfg.Failover.Enabled && s.retry == nil) {
		return abi.ActionContinue
	}
	host := s.root.host
	status, _ := host.GetHeader(abi.MapResponseHeaders, ":status")
	code, _ := strconv.Atoi(status)
	resp := failover.Response{Status: code, Header: func(k string) string {
		v, _ := host.GetHeader(abi.MapResponseHeaders, k)
		return v
	}}
	if code < 200 || code >= 400 {
		d, _ := host.GetProperty("response", "code_details")
		resp.CodeDetails = string(d)
	}
	o := failover.Classify(resp, s.pool.cfg.Failover.Patterns, nowMs())
	s.record(s.token, o, code)
	if s.retry != nil && s.retry.wanted(s, o, code, endOfStream) && s.startRetry() {
		return abi.ActionPause // hold the failed answer until a retry settles it
	}
	return abi.ActionContinue
}

// record applies an outcome through one CAS transition. A success re-reads
// the state (decoded only if it changed) and writes nothing when the token
// is clean, so the common case costs one read and no write.
func (s *stream) record(i int, o failover.Outcome, code int) {
	r, p := s.root, s.pool
	if o.Class == failover.ClassIgnore || !p.cfg.Failover.Enabled {
		return
	}
	if o.Class == failover.ClassSuccess {
		cur, err := p.cache.Read(r.store, p.stateKey, len(p.cfg.Tokens))
		if err == nil && cur.Tokens[i].Status == failover.Available && cur.Tokens[i].Failures == 0 {
			return
		}
	}
	var target failover.Target
	if o.Class != failover.ClassSuccess {
		cluster, _ := r.host.GetProperty("xds", "cluster_name")
		target = failover.Target{Cluster: string(cluster), Authority: s.head.Authority, Path: s.head.Path}
	}
	now := nowMs()
	var c failover.Change
	state, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.cfg.Tokens), func(st *failover.Pool) bool {
		c = st.Record(i, o, target, p.cfg.Failover.Settings, now)
		return c.Changed
	})
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: outcome of token %s dropped: %v", p.cfg.Name, p.cfg.Tokens[i], err)
		return
	}
	tok := p.cfg.Tokens[i]
	if c.Restored {
		r.logf(abi.LogInfo, "pool %s: token %s restored: cooldown over", p.cfg.Name, tok)
		p.metrics.inc(p.metrics.tokens[i].restorations)
	}
	if o.Class == failover.ClassSuccess {
		if c.Restored {
			p.metrics.publish(state, now)
		}
		return
	}
	reason := o.Class.Reason()
	p.metrics.failure(i, reason)
	switch {
	case c.Demoted:
		p.metrics.inc(p.metrics.tokens[i].demotions)
		r.logf(abi.LogWarn, "pool %s: token %s demoted to unhealthy (%s, status %d); probes via cluster %s every %dms",
			p.cfg.Name, tok, reason, code, target.Cluster, p.cfg.Failover.Settings.HealthCheckInterval)
	case c.Cooled:
		p.metrics.inc(p.metrics.tokens[i].demotions)
		r.logf(abi.LogInfo, "pool %s: token %s cooling for %dms (%s, status %d)", p.cfg.Name, tok, state.Tokens[i].Until-now, reason, code)
	case c.Changed && o.Class == failover.ClassUpstream:
		r.logf(abi.LogDebug, "pool %s: token %s failure %d/%d (status %d)", p.cfg.Name, tok,
			state.Tokens[i].Failures, p.cfg.Failover.Settings.FailureThreshold, code)
	}
	if c.Demoted || c.Cooled || c.Restored {
		p.metrics.publish(state, now)
	}
}

// OnResponseBody swaps in a retry's body when a retry settled the response.
func (s *stream) OnResponseBody(size int, endOfStream bool) abi.Action {
	if s.retry == nil || s.retry.replacement == nil {
		return abi.ActionContinue
	}
	if !endOfStream {
		return abi.ActionPause
	}
	if err := s.root.host.SetBuffer(abi.BufferResponseBody, 0, max(size, 1), s.retry.replacement); err != nil {
		s.root.logf(abi.LogWarn, "cannot replace the response body with the retry's: %v", err)
	}
	s.retry.replacement = nil
	return abi.ActionContinue
}

// OnResponseTrailers implements abi.HTTPContext.
func (s *stream) OnResponseTrailers(int) abi.Action { return abi.ActionContinue }

// OnLog implements abi.HTTPContext.
func (s *stream) OnLog() {}

// OnDone implements abi.HTTPContext.
func (s *stream) OnDone() { s.done = true }
