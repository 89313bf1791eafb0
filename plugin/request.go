package plugin

import (
	"strconv"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/provider"
)

// stream is the HTTP context of one request. Its request side (this file,
// with pick.go, body.go and upstream.go) picks a token, rewrites the
// request for the provider and maps the body's model as the body streams
// through; its response side (response.go) judges the answer when it
// ends; retry.go re-sends a failed request.
type stream struct {
	root  *Root
	id    uint32
	block *block
	token int
	// sent is the request as sent upstream (authority, path, method), and
	// model the body's model as sent (mapped); both name a probe's target.
	sent  provider.Head
	model string
	// cluster is the route's cluster, read in this stream's context when
	// first needed (a retry's answer arrives on the root context, where
	// the property is empty).
	cluster string
	// route is xds.route_name once a rule asked for it (routeRead).
	route     string
	routeRead bool
	body      *bodyMapper // non-nil while the body's model is being mapped
	// requestDone is set once the whole request (body and trailers) went by.
	requestDone bool
	ownReply    bool
	resp        response
	retry       *retry // non-nil while a retry is still possible
	done        bool
	// tried are the tokens that already failed this request (retry.go);
	// routerRetry is set on a router attempt after the first (mode:
	// upstream), which also avoids the tokens that failed on this VM just
	// before (see mayServe). probe marks the plugin's own probe passing
	// through.
	tried       []int
	routerRetry bool
	probe       bool
	// key keeps the request on one token (see affinity); a retry uses it
	// too, so it goes to the key's next token.
	key string
	// signing: the headers are held until the body is whole, to be signed
	// with it (sigv4.go).
	signing bool
	// routeAt is the route the client's request matched, and guarded
	// whether the route guard watches this stream (downstream mode;
	// route.go).
	routeAt routeID
	guarded bool
	// startMs is when the request was sent (telemetry.latency), attempts
	// and failed what this request's outcomes were (telemetry.accessLog).
	startMs      int64
	attempts     int
	failed       string
	servedLogged bool
	// onRoot is set while a root callback (a retry's answer) works on
	// this stream.
	onRoot bool
}

// OnRequestHeaders picks a token (one shared-data read) and rewrites auth,
// authority and path. When the body's model may need mapping it drops
// content-length (the body's length may change; Envoy then frames the body
// itself) and lets the headers go: in Envoy a Pause here would also
// withhold the body from this filter until continue_stream.
func (s *stream) OnRequestHeaders(_ int, endOfStream bool) abi.Action {
	r := s.root
	if r.cfg == nil {
		return abi.ActionContinue
	}
	s.requestDone = endOfStream
	host := r.host
	status := r.cfg.Status
	if r.global == nil && !r.cfg.Upstream {
		if status != nil {
			path, _ := host.GetHeader(abi.MapRequestHeaders, ":path")
			if act, answered := s.serveStatus(status, path); answered {
				return act
			}
			status = nil // checked
		}
		// Only rules serve requests: match on :authority alone first, so a
		// request no rule serves costs one header read and no decoding.
		authority, _ := host.GetHeader(abi.MapRequestHeaders, ":authority")
		if r.match(authority, s) == nil {
			return abi.ActionContinue
		}
	}
	headers, err := host.GetHeaders(abi.MapRequestHeaders)
	if err != nil {
		return abi.ActionContinue
	}
	var head provider.Head
	var contentType, encoding string
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
		case "content-encoding":
			encoding = h[1]
		}
	}
	if status != nil {
		if act, answered := s.serveStatus(status, head.Path); answered {
			return act
		}
	}
	if r.cfg.Upstream && s.upstreamAttempt(headers, &head) {
		return abi.ActionContinue // the plugin's own probe keeps its token
	}
	b := r.match(head.Authority, s)
	if b == nil {
		return abi.ActionContinue
	}
	s.block = b
	cfg := b.cfg
	if !r.cfg.Upstream {
		s.routeAt, s.guarded = s.clientRoute(), true
		if s.refuseMovedRoute() {
			return abi.ActionPause
		}
		// Higress's Envoy keeps the route through the writes below when
		// asked (route.go); upstream Envoy keeps this as filter state.
		_ = host.SetProperty("clear_route_cache", off)
	}
	if api := provider.Unserved(cfg.Provider, head.Path); api != "" {
		// Nothing upstream serves it: neither a key nor a mapping is spent.
		return s.refuse(404, "token_failover_api_not_served", "the "+api+" API is not served by this route's provider ("+
			cfg.Provider.Type()+")")
	}
	if cfg.PassClientAuth {
		return s.passClientAuth(headers, head, endOfStream, contentType, encoding, hasContentLength)
	}
	tok, ok := s.pick(headers)
	if !ok {
		return abi.ActionPause
	}
	s.token = tok
	sent := b.target(head)
	auth := b.credential(tok, sent)
	wait := false // for an access token (credentials.go): the headers are held
	if _, exchanged := provider.TokenExchange(cfg.Provider); exchanged {
		s.sent = sent
		var refused bool
		if auth, wait, refused = s.accessAuth(tok); refused {
			return abi.ActionPause
		}
	}
	for _, h := range headers {
		if provider.StripFromClient(h[0]) && !setsHeader(auth, h[0]) {
			if err := host.RemoveHeader(abi.MapRequestHeaders, h[0]); err != nil {
				return s.refuse(500, "token_failover_rewrite_failed", "the gateway could not remove a client credential")
			}
		}
	}
	for _, a := range auth {
		if err := host.ReplaceHeader(abi.MapRequestHeaders, a[0], a[1]); err != nil {
			// Never send the request without the operator's credential.
			return s.refuse(500, "token_failover_rewrite_failed", "the gateway could not set the provider's credential")
		}
	}
	if !s.sendTo(head, sent) {
		return abi.ActionPause
	}
	b.pool.metrics.request(tok)
	if tel := r.cfg.Telemetry; (tel != nil && tel.Latency) || cfg.Failover.Settings.SlowFactor > 0 {
		s.startMs = host.ProcessMs()
	}
	if tel := r.cfg.Telemetry; tel != nil {
		if tel.AccessLog {
			s.logField("tf_pool", b.pool.name)
			s.logField("tf_token", b.pool.tokens[tok].String())
		}
	}
	if act, ok := s.mapsBody(endOfStream, contentType, encoding, hasContentLength); !ok {
		return act
	}
	if cfg.Retry.Enabled {
		s.retry = newRetry(s, headers, auth)
	}
	if _, signs := provider.SigV4(cfg.Provider); signs {
		if !endOfStream {
			s.signing = true
			return abi.ActionPause // held until the body is whole (sigv4.go)
		}
		if !s.signBody(nil) {
			return abi.ActionPause
		}
	}
	if wait {
		return abi.ActionPause
	}
	return abi.ActionContinue
}

// passClientAuth serves a block without tokens (config PassClientAuth):
// host, path and model are rewritten, the client's own credentials go
// upstream untouched, and no token, failover or retry is involved. An
// openai block sends the client's key from ClientKeyHeaders in its own
// auth header, as Higress does.
func (s *stream) passClientAuth(headers []abi.HeaderPair, head provider.Head, endOfStream bool, contentType, encoding string, hasContentLength bool) abi.Action {
	host, cfg := s.root.host, s.block.cfg
	sent := s.block.target(head)
	if key := clientKey(headers, cfg.ClientKeyHeaders); key != "" {
		for _, a := range cfg.Provider.Auth(sent, key) {
			if err := host.ReplaceHeader(abi.MapRequestHeaders, a[0], a[1]); err != nil {
				return s.refuse(500, "token_failover_rewrite_failed", "the gateway could not set the provider's credential")
			}
		}
	}
	if !s.sendTo(head, sent) {
		return abi.ActionPause
	}
	act, _ := s.mapsBody(endOfStream, contentType, encoding, hasContentLength)
	return act
}

// sendTo rewrites the request's authority and path from head to sent and
// records sent; false means a rewrite failed and the request was answered
// 500 rather than sent, with the provider's credential, to the wrong place.
func (s *stream) sendTo(head, sent provider.Head) bool {
	host := s.root.host
	if s.root.cfg.Upstream {
		s.noteAttempt(head) // the client's head, before the router's one copy of it is rewritten
	}
	if sent.Authority != head.Authority {
		if err := host.ReplaceHeader(abi.MapRequestHeaders, ":authority", sent.Authority); err != nil {
			s.refuse(500, "token_failover_rewrite_failed", "the gateway could not set the provider's host")
			return false
		}
	}
	if sent.Path != head.Path {
		if err := host.ReplaceHeader(abi.MapRequestHeaders, ":path", sent.Path); err != nil {
			s.refuse(500, "token_failover_rewrite_failed", "the gateway could not set the provider's path")
			return false
		}
	}
	s.sent = sent
	if p := s.block.cfg.Provider; p.ModelInPath(sent.Path) {
		if st, end, ok := provider.ModelSpan(p, sent.Path); ok {
			s.model = sent.Path[st:end] // the model a probe asks again
		}
	}
	return true
}

// clientKey is the first non-empty value of the named request headers,
// less a leading "Bearer ".
func clientKey(headers []abi.HeaderPair, names []string) string {
	for _, n := range names {
		for _, h := range headers {
			if h[0] == n && h[1] != "" {
				return strings.TrimPrefix(h[1], "Bearer ")
			}
		}
	}
	return ""
}

func setsHeader(pairs []abi.HeaderPair, name string) bool {
	for _, p := range pairs {
		if p[0] == name {
			return true
		}
	}
	return false
}

// refuse answers the client with a local reply that says why, and sends
// nothing upstream.
func (s *stream) refuse(status uint32, details, message string) abi.Action {
	s.ownReply = true
	if s.block != nil {
		s.block.pool.metrics.inc(s.block.pool.metrics.refused)
	}
	body := `{"error":{"message":` + strconv.Quote(message) + `,"type":"` + details + `"}}`
	if err := s.root.host.SendLocalResponse(status, details, []byte(body),
		[]abi.HeaderPair{{"content-type", "application/json"}}, -1); err != nil {
		s.root.logf(abi.LogError, "cannot send local reply %d %s: %v", status, details, err)
	}
	s.retry = nil
	return abi.ActionPause
}

// OnRequestBody maps the body's model as the body streams through, and
// keeps a copy of it for a retry.
func (s *stream) OnRequestBody(size int, endOfStream bool) abi.Action {
	if endOfStream {
		s.requestDone = true
	}
	if s.ownReply {
		return abi.ActionPause
	}
	if s.signing {
		return s.signHeld(size, endOfStream)
	}
	if s.body != nil {
		return s.mapBody(size, endOfStream)
	}
	for off := 0; s.retry != nil && s.retry.bodyOK && off < size; {
		window, err := s.root.host.PeekBuffer(abi.BufferRequestBody, off, min(peekWindow, size-off))
		if err == nil && len(window) == 0 {
			err = abi.ErrNotFound
		}
		s.retry.keep(window, err)
		off += len(window)
	}
	return abi.ActionContinue
}

// OnRequestTrailers ends the request.
func (s *stream) OnRequestTrailers(int) abi.Action {
	s.requestDone = true
	if s.signing && !s.ownReply {
		return s.signHeld(maxSignedBody, true)
	}
	s.body = nil // a body that ended inside a model value is not JSON: it goes as it is
	if s.retry != nil {
		s.retry.keepTrailers()
	}
	return abi.ActionContinue
}
