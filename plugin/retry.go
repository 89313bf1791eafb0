package plugin

import (
	"strconv"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// retry is one request's retryOnFailure bookkeeping. A proxy-wasm filter
// cannot ask the router to try again, so it holds the failed answer (Pause
// on response headers), re-sends the request itself through the route's
// cluster with a token that has not failed it, and then replaces the held
// headers (effective context) and, once Envoy hands the held body to this
// filter, the body and trailers.
//
// It exists only while a retry is possible: it is dropped as soon as the
// response headers say no retry will happen, so a long stream holds no
// copy of its request.
type retry struct {
	s *stream
	// headers are the request headers as the client sent them; auth names
	// the provider's auth headers, replaced on every attempt.
	headers []abi.HeaderPair
	auth    []abi.HeaderPair
	// body is the one copy of the request body as sent upstream, kept up to
	// maxBodyBytes; bodyOK is false once it is over (no retry then).
	body     []byte
	bodyOK   bool
	trailers []abi.HeaderPair
	attempts int
	deadline int64 // process ms: the first failure plus retryTimeout
	// token, sentAt and timeout describe the call in flight (inflight).
	token    int
	sentAt   int64
	timeout  int64
	inflight bool
	// replaced is set once a retry's answer replaced the held headers: the
	// held body and trailers are swapped for answer's when Envoy hands them
	// to the filter.
	replaced bool
	answer   *callAnswer
}

// callAnswer is a retry's answer as it will reach the client.
type callAnswer struct {
	body     []byte
	trailers []abi.HeaderPair
}

func newRetry(s *stream, headers, auth []abi.HeaderPair) *retry {
	return &retry{s: s, headers: headers, auth: auth, bodyOK: true, token: -1}
}

// framing headers are set by the host for each request it sends.
func framing(name string) bool { return name == "content-length" || name == "transfer-encoding" }

// keep appends a body chunk as it goes upstream, up to maxBodyBytes.
func (rt *retry) keep(chunk []byte, err error) {
	if !rt.bodyOK || len(chunk) == 0 {
		return
	}
	limit := int(rt.s.block.cfg.Retry.MaxBodyBytes)
	if err != nil || len(rt.body)+len(chunk) > limit {
		rt.bodyOK, rt.body = false, nil
		rt.s.root.logf(abi.LogDebug, "pool %s: request body over retryOnFailure.maxBodyBytes (%d); it will not be retried",
			rt.s.block.pool.name, limit)
		return
	}
	rt.body = append(rt.body, chunk...)
}

// edit replaces bytes [from, to) of the kept body, as the model's mapping
// replaced them in the body that went upstream.
func (rt *retry) edit(from, to int, data []byte) {
	if !rt.bodyOK || from > to || to > len(rt.body) {
		return
	}
	tail := len(rt.body) - to
	if grow := len(data) - (to - from); grow > 0 {
		rt.body = append(rt.body, make([]byte, grow)...)
	}
	copy(rt.body[from+len(data):], rt.body[to:to+tail])
	copy(rt.body[from:], data)
	rt.body = rt.body[:from+len(data)+tail]
}

// keepTrailers copies the request's trailers for a retry.
func (rt *retry) keepTrailers() {
	t, err := rt.s.root.host.GetHeaders(abi.MapRequestTrailers)
	if err != nil {
		rt.bodyOK = false
		return
	}
	rt.trailers = t
}

// inFlight tells whether a retry call is out.
func (rt *retry) inFlight() bool { return rt.inflight }

// wanted tells whether a failed answer (its headers just arrived) should
// be retried: only when the whole request was seen and kept (an upstream
// that answered early never read all of it), the answer has a body to
// replace, attempts are left, and the answer says the token (or the
// provider's connection) failed — Envoy's own refusals are not retried.
func (rt *retry) wanted(endOfStream bool) bool {
	s := rt.s
	c := s.block.cfg.Retry
	if !s.requestDone || !rt.bodyOK || endOfStream || int64(rt.attempts) >= c.MaxRetries {
		return false
	}
	if d := s.resp.details; d != "" && d != "via_upstream" {
		return failover.ProviderFault(d)
	}
	if c.Patterns != nil {
		return c.Patterns.Match(s.resp.status)
	}
	return s.block.cfg.Failover.Patterns.Failing(s.resp.status)
}

// start sends the request again with a token that has not failed it,
// through the route's cluster. False when no such token is usable, time is
// up, or the call cannot be made (the failed answer then goes through).
func (rt *retry) start() bool {
	s := rt.s
	r, b := s.root, s.block
	now := r.host.ProcessMs()
	if rt.attempts == 0 {
		rt.deadline = now + b.cfg.Retry.TimeoutMs
		s.tried = append(s.tried, s.token)
		if s.routeCluster() == "" {
			return false
		}
	}
	if now >= rt.deadline || int64(rt.attempts) >= b.cfg.Retry.MaxRetries {
		return false
	}
	state := b.pool.static
	if b.cfg.Failover.Enabled {
		state = b.pool.read(r)
	}
	var buf [16]int
	cands := state.Candidates(now, s.mayServe(now), buf[:0])
	if len(cands) == 0 {
		return false // nothing usable that has not failed this request
	}
	tok := cands[s.choose(cands, s.key)]
	headers := make([]abi.HeaderPair, 0, len(rt.headers)+len(rt.auth))
	for _, h := range rt.headers {
		switch {
		case provider.StripFromClient(h[0]) || setsHeader(rt.auth, h[0]) || framing(h[0]):
		case h[0] == ":authority":
			headers = append(headers, abi.HeaderPair{h[0], s.sent.Authority})
		case h[0] == ":path":
			headers = append(headers, abi.HeaderPair{h[0], s.sent.Path})
		default:
			headers = append(headers, h)
		}
	}
	cred, ok := s.credentialFor(tok, rt.body)
	if !ok {
		return false // an access token is not at hand: a refresh is on its way
	}
	headers = append(headers, cred...)
	timeout := rt.deadline - now
	id, err := r.host.HTTPCall(s.cluster, headers, rt.body, rt.trailers, uint32(timeout))
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: retry on token %s not sent: %v", b.pool.name, b.pool.tokens[tok], err)
		return false
	}
	rt.attempts++
	s.tried = append(s.tried, tok)
	rt.token, rt.sentAt, rt.timeout, rt.inflight = tok, now, timeout, true
	r.calls[id] = call{pool: b.pool, token: tok, retry: rt}
	b.pool.metrics.request(tok)
	b.pool.metrics.inc(b.pool.metrics.retries)
	r.logf(abi.LogDebug, "pool %s: retrying on token %s (attempt %d)", b.pool.name, b.pool.tokens[tok], rt.attempts)
	return true
}

// timeoutSlackMs absorbs clock granularity when telling a retry's own
// timeout from a provider's 504.
const timeoutSlackMs = 5

// onAnswer handles a retry's answer on the root context. Every attempt's
// outcome feeds the failure policy (with the probe target of the stream);
// a failure is retried again while attempts and time are left; the client
// gets the first success or the last failure. A retry that timed out
// charges nobody and lets the original answer through.
func (rt *retry) onAnswer(numHeaders, bodySize int) {
	s := rt.s
	r, host := s.root, s.root.host
	rt.inflight = false
	now := host.ProcessMs()
	timedOut := now >= rt.sentAt+rt.timeout-timeoutSlackMs
	var headers []abi.HeaderPair
	var answer callAnswer
	o := failover.Outcome{Class: failover.ClassUpstream, Why: "retry call failed"}
	if numHeaders > 0 {
		headers, _ = host.GetHeaders(abi.MapHTTPCallResponseHeaders)
		answer.body, _ = host.GetBuffer(abi.BufferHTTPCallResponse, 0, bodySize)
		answer.trailers, _ = host.GetHeaders(abi.MapHTTPCallResponseTrailer)
		code, _ := strconv.Atoi(headerLookup(headers)(":status"))
		timedOut = timedOut && code == 504
		body := answer.body
		if len(body) > failover.MaxErrorBody {
			body = body[:failover.MaxErrorBody]
		}
		o = failover.Classify(failover.Response{Status: code, Header: headerLookup(headers), Body: body,
			Dialect: s.block.cfg.Provider.Type()}, s.block.cfg.Failover.Patterns, host.WallMs())
	} else {
		code, msg, _ := host.GetStatus()
		o.Why = "retry call failed: status " + strconv.Itoa(int(code)) + " " + msg
	}
	if timedOut {
		r.logf(abi.LogDebug, "pool %s: retry on token %s timed out; the original answer goes to the client",
			s.block.pool.name, s.block.pool.tokens[rt.token])
		rt.release(nil, nil)
		return
	}
	s.onRoot = true // the retry's answer: hostcalls act on the root context
	s.record(rt.token, o)
	s.onRoot = false
	if s.done {
		s.retry = nil // the client went away
		return
	}
	if o.Class.Failing() && rt.start() {
		return
	}
	if numHeaders == 0 {
		rt.release(nil, nil) // nothing better to give than the original failure
		return
	}
	rt.release(headers, &answer)
}

// release resumes the held answer, replacing its headers with a retry's
// answer when there is one.
func (rt *retry) release(headers []abi.HeaderPair, answer *callAnswer) {
	s := rt.s
	host := s.root.host
	if s.done {
		s.retry = nil
		return
	}
	if err := host.SetEffectiveContext(s.id); err != nil {
		s.retry = nil
		return
	}
	if answer != nil {
		kept := make([]abi.HeaderPair, 0, len(headers)+1)
		for _, h := range headers {
			if !framing(h[0]) {
				kept = append(kept, h)
			}
		}
		kept = append(kept, abi.HeaderPair{"content-length", strconv.Itoa(len(answer.body))})
		if err := host.SetHeaders(abi.MapResponseHeaders, kept); err == nil {
			rt.replaced, rt.answer = true, answer
		}
	}
	rt.body, rt.headers = nil, nil
	if !rt.replaced {
		s.retry = nil
	}
	_ = host.ContinueStream(abi.StreamResponse)
}

// replaceBody swaps the held body for the retry's answer once Envoy hands
// it over whole, after noting the original's start for its own judgement.
func (rt *retry) replaceBody(size int, endOfStream bool) abi.Action {
	s := rt.s
	if len(s.resp.body) == 0 && size > 0 {
		s.resp.body, _ = s.root.host.GetBuffer(abi.BufferResponseBody, 0, min(size, failover.MaxErrorBody))
	}
	if !endOfStream {
		return abi.ActionPause // buffer: the end (or trailers) will come
	}
	rt.swap(size)
	return abi.ActionContinue
}

// replaceTrailers finishes a held answer that ends with trailers: the
// buffered body and the trailers become the retry's.
func (rt *retry) replaceTrailers() abi.Action {
	s := rt.s
	size := 0
	if b, err := s.root.host.GetBuffer(abi.BufferResponseBody, 0, 1<<30); err == nil {
		size = len(b)
		if len(s.resp.body) == 0 {
			s.resp.body = b[:min(len(b), failover.MaxErrorBody)]
		}
	}
	rt.swap(size)
	if err := s.root.host.SetHeaders(abi.MapResponseTrailers, rt.answerTrailers()); err != nil {
		s.root.logf(abi.LogWarn, "cannot replace the response trailers with the retry's: %v", err)
	}
	return abi.ActionContinue
}

func (rt *retry) answerTrailers() []abi.HeaderPair {
	if rt.answer == nil {
		return nil
	}
	return rt.answer.trailers
}

// swap judges the original answer and puts the retry's body in its place.
func (rt *retry) swap(size int) {
	s := rt.s
	if !s.resp.judged {
		s.judge()
	}
	if err := s.root.host.SetBuffer(abi.BufferResponseBody, 0, size, rt.answer.body); err != nil {
		s.root.logf(abi.LogWarn, "cannot replace the response body with the retry's: %v", err)
	}
	s.retry = nil
}
