package plugin

import (
	"strconv"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// retryState is one request's retryOnFailure bookkeeping: the request as
// sent (so a retry re-sends it unchanged but for the auth header), the
// tokens that already failed it, and the answer a retry settled on.
type retryState struct {
	headers     []abi.HeaderPair // as sent, minus auth and framing headers
	head        provider.Head
	body        []byte
	bodyOK      bool // the whole body is kept (not over maxBodyBytes)
	tried       map[int]bool
	attempts    int
	deadline    int64
	token       int    // token of the retry in flight
	cluster     string // the route's cluster, read in the stream's context
	replacement []byte
}

// framing headers are set by the host for each request it sends.
var framing = map[string]bool{"content-length": true, "transfer-encoding": true}

func newRetryState(orig []abi.HeaderPair, creds []string, auth []abi.HeaderPair, sent, origHead provider.Head) *retryState {
	drop := map[string]bool{}
	for _, c := range creds {
		drop[c] = true
	}
	for _, a := range auth {
		drop[a[0]] = true
	}
	headers := make([]abi.HeaderPair, 0, len(orig))
	for _, h := range orig {
		switch {
		case drop[h[0]] || framing[h[0]]:
		case h[0] == ":authority":
			headers = append(headers, abi.HeaderPair{h[0], sent.Authority})
		case h[0] == ":path":
			headers = append(headers, abi.HeaderPair{h[0], sent.Path})
		default:
			headers = append(headers, h)
		}
	}
	return &retryState{headers: headers, head: sent, bodyOK: true, tried: map[int]bool{}}
}

// captureChunk keeps a copy of a request body chunk passing through, up to
// maxBodyBytes; beyond it the request is not retried.
func (s *stream) captureChunk(size int) {
	rs := s.retry
	if rs == nil || !rs.bodyOK || size == 0 {
		return
	}
	if len(rs.body)+size > int(s.pool.cfg.Retry.MaxBodyBytes) {
		rs.bodyOK, rs.body = false, nil
		s.root.logf(abi.LogDebug, "pool %s: request body over retryOnFailure.maxBodyBytes (%d); it will not be retried",
			s.pool.cfg.Name, s.pool.cfg.Retry.MaxBodyBytes)
		return
	}
	chunk, err := s.root.host.GetBuffer(abi.BufferRequestBody, 0, size)
	if err != nil {
		rs.bodyOK, rs.body = false, nil
		return
	}
	rs.body = append(rs.body, chunk...)
}

// keepBody records the whole (possibly model-mapped) body.
func (rs *retryState) keepBody(s *stream, body []byte) {
	if rs == nil {
		return
	}
	if len(body) > int(s.pool.cfg.Retry.MaxBodyBytes) {
		rs.bodyOK, rs.body = false, nil
		return
	}
	rs.body = append([]byte(nil), body...)
}

// wanted tells whether a failed answer should be retried on another token.
// A response without a body cannot carry a retry's body, so it is not held.
func (rs *retryState) wanted(s *stream, o failover.Outcome, code int, endOfStream bool) bool {
	c := s.pool.cfg.Retry
	if !rs.bodyOK || endOfStream || int64(rs.attempts) >= c.MaxRetries {
		return false
	}
	if c.Patterns != nil {
		return c.Patterns.Match(code)
	}
	return o.Class != failover.ClassSuccess && o.Class != failover.ClassIgnore
}

// startRetry sends the request again, with a token that has not failed it,
// through the route's cluster. False when no such token is usable or the
// call cannot be made (the failed answer then goes to the client).
func (s *stream) startRetry() bool {
	r, p, rs := s.root, s.pool, s.retry
	now := nowMs()
	if rs.attempts == 0 {
		rs.deadline = now + p.cfg.Retry.TimeoutMs
		rs.tried[s.token] = true
		cluster, err := r.host.GetProperty("xds", "cluster_name")
		if err != nil || len(cluster) == 0 {
			return false
		}
		rs.cluster = string(cluster)
	}
	if now >= rs.deadline {
		return false
	}
	state := p.static
	if p.cfg.Failover.Enabled {
		state, _ = p.cache.Read(r.store, p.stateKey, len(p.cfg.Tokens))
	}
	tok, allDown, _ := state.Pick(now, func(i int) bool { return !rs.tried[i] }, s.chooser(""))
	if tok < 0 || allDown {
		return false
	}
	headers := append([]abi.HeaderPair(nil), rs.headers...)
	headers = append(headers, p.cfg.Provider.Auth(rs.head, p.cfg.Tokens[tok].Secret())...)
	id, err := r.host.HTTPCall(rs.cluster, headers, rs.body, nil, uint32(rs.deadline-now))
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: retry on token %s not sent: %v", p.cfg.Name, p.cfg.Tokens[tok], err)
		return false
	}
	rs.attempts++
	rs.tried[tok] = true
	rs.token = tok
	r.retries[id] = s
	p.metrics.request(tok)
	p.metrics.inc(p.metrics.retries)
	r.logf(abi.LogDebug, "pool %s: retrying on token %s (attempt %d)", p.cfg.Name, p.cfg.Tokens[tok], rs.attempts)
	return true
}

// onRetryResponse handles a retry's answer on the root context: it feeds
// the failure policy, retries again if allowed, else settles the held
// response with this answer (success or the last failure) and resumes it.
func (s *stream) onRetryResponse(numHeaders, bodySize int) {
	r, p, rs := s.root, s.pool, s.retry
	host := r.host
	var headers []abi.HeaderPair
	var body []byte
	code := 0
	o := failover.Outcome{Class: failover.ClassUpstream} // reset, timeout, no host
	if numHeaders > 0 {
		headers, _ = host.GetHeaders(abi.MapHTTPCallResponseHeaders)
		body, _ = host.GetBuffer(abi.BufferHTTPCallResponse, 0, bodySize)
		for _, h := range headers {
			if h[0] == ":status" {
				code, _ = strconv.Atoi(h[1])
			}
		}
		o = failover.Classify(failover.Response{Status: code, Header: func(k string) string {
			for _, h := range headers {
				if strings.EqualFold(h[0], k) {
					return h[1]
				}
			}
			return ""
		}}, p.cfg.Failover.Patterns, nowMs())
	}
	s.record(rs.token, o, code)
	if s.done {
		return // the client went away
	}
	if numHeaders == 0 || rs.wanted(s, o, code, false) {
		if s.startRetry() {
			return
		}
	}
	if err := host.SetEffectiveContext(s.id); err != nil {
		return
	}
	if numHeaders > 0 {
		kept := headers[:0:0]
		for _, h := range headers {
			if !framing[h[0]] {
				kept = append(kept, h)
			}
		}
		kept = append(kept, abi.HeaderPair{"content-length", strconv.Itoa(len(body))})
		_ = host.SetHeaders(abi.MapResponseHeaders, kept)
		rs.replacement = body
		if rs.replacement == nil {
			rs.replacement = []byte{}
		}
	}
	_ = host.ContinueStream(abi.StreamResponse)
}
