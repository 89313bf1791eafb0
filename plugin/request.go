package plugin

import (
	"crypto/hmac"
	"strconv"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/modelscan"
	"github.com/token-failover/token-failover/provider"
)

// stream is the HTTP context of one request. Its request side (this file)
// picks a token, rewrites the request for the provider and maps the body's
// model as the body streams through; its response side (response.go)
// judges the answer when it ends; retry.go re-sends a failed request.
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
	if r.cfg.Upstream {
		s.noteAttempt(head)
	}
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

// mapsBody prepares the mapping of the body's model when the block maps
// one; false means a local reply was sent (returned as the action).
func (s *stream) mapsBody(endOfStream bool, contentType, encoding string, hasContentLength bool) (abi.Action, bool) {
	cfg := s.block.cfg
	if endOfStream || cfg.Mapping.Empty() || cfg.Provider.ModelInPath(s.sent.Path) {
		return abi.ActionContinue, true
	}
	if encoding != "" && !strings.EqualFold(encoding, "identity") {
		// The provider would decode a body the mapping cannot read.
		return s.refuse(415, "token_failover_encoded_body",
			"request bodies with content-encoding cannot have their model mapped by this gateway; send it unencoded"), false
	}
	s.body = &bodyMapper{}
	if formContentType(contentType) {
		// A form is not rewritten (it keeps its content-length), but it is
		// read all the same: a server that ignores the content type would
		// read a JSON body's model, so one that needs mapping is refused.
		s.body.checkOnly, s.body.contentType = true, contentType
		return abi.ActionContinue, true
	}
	if hasContentLength {
		_ = s.root.host.RemoveHeader(abi.MapRequestHeaders, "content-length")
	}
	return abi.ActionContinue, true
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

// formContentType tells whether a body of this content type is a form:
// every body is read for a JSON model (many clients omit content-type or
// send text/plain with a JSON body, and a server that ignores the type
// reads it as JSON), but only a JSON-labelled one may be rewritten: a
// form keeps its content-length and is never edited.
func formContentType(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "multipart/") || strings.HasPrefix(ct, "application/x-www-form-urlencoded")
}

// pick chooses the request's token; false means a local reply was sent.
func (s *stream) pick(headers []abi.HeaderPair) (int, bool) {
	r, b := s.root, s.block
	p := b.pool
	state := p.static
	if b.cfg.Failover.Enabled {
		state = p.read(r)
	}
	s.key = s.affinity(headers)
	var now int64
	if !state.AllAvailable() {
		now = r.host.ProcessMs() // only a token that is down needs the clock
	}
	var buf [16]int
	may := s.mayServe(now)
	if cands := state.Candidates(now, may, buf[:0]); len(cands) > 0 {
		return cands[s.choose(cands, s.key)], true
	}
	tok, backAt := state.Fallback(may)
	if tok < 0 { // every token was tried: any may serve this last attempt
		if cands := state.Candidates(now, nil, buf[:0]); len(cands) > 0 {
			return cands[s.choose(cands, s.key)], true
		}
		tok, backAt = state.Fallback(nil)
	}
	if now == 0 {
		now = r.host.ProcessMs()
	}
	p.metrics.inc(p.metrics.allDown)
	if b.cfg.Failover.RejectWhenAllDown {
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
	r.logf(abi.LogDebug, "pool %s: all tokens down; using the one back soonest, %s", p.name, p.tokens[tok])
	return tok, true
}

// consumerHeader names the consumer Higress's authentication plugins
// identified; Higress keeps a consumer's stateful API calls on one token
// by it.
const consumerHeader = "x-mse-consumer"

// affinity is the key that keeps the request on one token ("" none): for
// a stateful API (Responses, Files, Batches, fine-tuning: what one key
// creates, another cannot see) the consumer, as Higress does, whatever the
// selection policy; else the session under sticky selection. A consumer's
// key is "\x00consumer\x00<name>", which no session header value can
// equal (a header value holds no NUL).
func (s *stream) affinity(headers []abi.HeaderPair) string {
	cfg := s.block.cfg
	var path, consumer, session string
	for _, h := range headers {
		switch {
		case h[0] == ":path":
			path = h[1]
		case h[0] == consumerHeader:
			consumer = h[1]
		case cfg.Selection == "sticky" && h[0] == cfg.StickyHeader && session == "":
			session = h[1]
		}
	}
	if consumer != "" && provider.Stateful(path) {
		return "\x00consumer\x00" + consumer
	}
	return session
}

// choose is the block's selection policy over the candidates (an index
// into them): by key's rendezvous hash when the request has one (see
// affinity: a consumer or session keeps its token while it is usable,
// moves to its next-highest token when demoted, returns on restore, and
// cannot be steered: the hash is keyed with the process's secret), else
// round-robin in this VM or random. A method, not a closure, so that
// picking allocates nothing.
func (s *stream) choose(cands []int, key string) int {
	b := s.block
	switch {
	case key != "":
		seed := s.root.vm.stickySeed(key)
		best, bestScore := 0, uint64(0)
		for k, i := range cands {
			if sc := mix64(seed ^ uint64(i)*0x9e3779b97f4a7c15); k == 0 || sc > bestScore {
				best, bestScore = k, sc
			}
		}
		return best
	case b.cfg.Selection == "round-robin":
		b.rr++
		return int(b.rr % uint32(len(cands)))
	}
	return s.root.vm.rnd.IntN(len(cands))
}

// mix64 is SplitMix64's finaliser: a cheap bijective scramble.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
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

// bodyMapper is the state of mapping a streaming body's model. In a body
// callback Envoy's buffer is what this filter held back so far (held
// bytes, heldOrig of them in the body as the client sent it) and then the
// newest chunk.
type bodyMapper struct {
	scan     modelscan.Scanner
	held     int
	heldOrig int
	// bufStart is the body offset of the buffer's first byte.
	bufStart int64
	// keepBase is where the buffer starts in a retry's copy of the body.
	keepBase int
	// models counts top-level model members seen.
	models int
	// checkOnly is set for a form-labelled body (contentType): it is read,
	// never rewritten; a JSON model in it that the mapping would change is
	// refused.
	checkOnly   bool
	contentType string
}

// peekWindow is the most of the body one read copies into the VM, in
// memory reused for every read: the scanner needs every byte once (a
// second model key is refused). A buffer up to this size is read whole,
// from its first byte, so the bytes before the model are at hand for the
// rewrite; Envoy's body callbacks are rarely larger.
const peekWindow = 1 << 20

// mapBody feeds the newest chunk to the scanner and rewrites the model in
// Envoy's buffer once its value is complete, by replacing only the bytes
// up to the value's end. A value that runs past the chunk's end is held
// (Pause: Envoy buffers and hands this filter the whole buffer with the
// next chunk); nothing else is ever held.
func (s *stream) mapBody(size int, endOfStream bool) abi.Action {
	bm, host, p := s.body, s.root.host, s.block.pool
	if bm.held == 0 && s.retry != nil {
		bm.keepBase = len(s.retry.body)
	}
	var edit []byte // what replaces the buffer's first editEnd bytes
	var editStart, editEnd int
	for off := bm.held; off < size; {
		from := off // the window is buffer bytes [from, from+len(window))
		if size <= peekWindow {
			from = 0 // the held bytes again, for the rewrite's prefix
		}
		window, err := host.PeekBuffer(abi.BufferRequestBody, from, min(peekWindow, size-from))
		if err != nil || len(window) <= off-from {
			s.root.logf(abi.LogWarn, "pool %s: cannot read the request body (%v); passing it unmapped", p.name, err)
			if s.retry != nil {
				s.retry.keep(nil, abi.ErrNotFound)
			}
			s.body = nil
			return abi.ActionContinue
		}
		fresh := window[off-from:]
		if s.retry != nil {
			s.retry.keep(fresh, nil)
		}
		for rest := fresh; len(rest) > 0; {
			n, m, found := bm.scan.Feed(rest)
			rest = rest[n:]
			if !found {
				break
			}
			if bm.models++; bm.models > 1 {
				return s.refuse(400, "token_failover_duplicate_model",
					"the request body has more than one top-level model key; send exactly one")
			}
			if m.TooLong {
				return s.refuse(400, "token_failover_model_too_long",
					"the request's model is longer than "+strconv.Itoa(modelscan.MaxModelBytes)+" bytes; no model name is")
			}
			if !m.String {
				p.metrics.inc(p.metrics.modelUnmapped)
				s.root.logf(abi.LogDebug, "pool %s: body model left unmapped (not a string)", p.name)
				continue
			}
			to := s.block.cfg.Mapping.Map(m.Value)
			s.model = to
			if to == m.Value {
				continue
			}
			if bm.checkOnly {
				return s.refuse(415, "token_failover_json_body_mislabelled", "the request body is a JSON object with a model "+
					"but is labelled "+strconv.Quote(bm.contentType)+"; send it as application/json so this gateway can map its model")
			}
			// The only rewrite of this body (a second model key is
			// refused), so the buffer's offsets are the body's less bufStart.
			editStart, editEnd = int(m.Start-bm.bufStart), int(m.End-bm.bufStart)
			prefix := window[:0]
			if from == 0 {
				prefix = window[:editStart]
			} else if prefix, err = host.GetBuffer(abi.BufferRequestBody, 0, editStart); err != nil || len(prefix) != editStart {
				return s.refuse(500, "token_failover_rewrite_failed", "the gateway could not map the request's model")
			}
			edit = provider.AppendQuotedJSON(append(s.root.vm.edit[:0], prefix...), to)
			s.root.vm.edit = edit
		}
		off = from + len(window)
	}
	if bm.scan.State() == modelscan.NotUTF8 {
		return s.refuse(400, "token_failover_body_not_utf8", "the request body must be UTF-8 JSON")
	}
	if edit != nil {
		if err := host.SetBuffer(abi.BufferRequestBody, 0, editEnd, edit); err != nil {
			s.root.logf(abi.LogWarn, "pool %s: cannot rewrite the request body's model (%v)", p.name, err)
			return s.refuse(500, "token_failover_rewrite_failed", "the gateway could not map the request's model")
		}
		if s.retry != nil {
			s.retry.edit(bm.keepBase+editStart, bm.keepBase+editEnd, edit[editStart:])
		}
	}
	newBytes := size - bm.held
	if start, pending := bm.scan.Pending(); pending && !endOfStream && bm.scan.Offset()-start <= modelscan.MaxModelRawBytes {
		bm.held, bm.heldOrig = size+len(edit)-editEnd, bm.heldOrig+newBytes
		return abi.ActionPause
	}
	bm.bufStart += int64(bm.heldOrig + newBytes)
	bm.held, bm.heldOrig = 0, 0
	if st := bm.scan.State(); st != modelscan.Scanning || endOfStream {
		s.body = nil
	}
	return abi.ActionContinue
}

// upstreamAttempt reads what an upstream-mode filter needs to know of the
// attempt: whether it is the plugin's own probe (true: leave it alone; a
// client cannot forge the mark, signed with the process's secret, and one
// that does not verify is removed), and whether it is a router retry.
// Nothing is written to the request for later attempts: every attempt's
// headers go to the provider. A router retry starts from the headers the
// attempt before left (the router keeps one copy of them), already
// rewritten for the provider: it takes the client's :authority and :path,
// and the tokens tried, from the request's filter state (noteAttempt), so
// that it matches the same rule and is rewritten and mapped like the first.
func (s *stream) upstreamAttempt(headers []abi.HeaderPair, head *provider.Head) bool {
	r := s.root
	for _, h := range headers {
		if h[0] != probeHeader {
			continue
		}
		_ = r.host.RemoveHeader(abi.MapRequestHeaders, probeHeader)
		if hmac.Equal([]byte(h[1]), []byte(r.vm.probeMark())) {
			s.probe = true
			return true
		}
	}
	if v, err := r.host.GetProperty(propAttemptCount); err == nil && len(v) == 8 {
		s.routerRetry = v[0] > 1 || v[1:] != "\x00\x00\x00\x00\x00\x00\x00"
	}
	if !s.routerRetry {
		return false
	}
	v, err := r.host.GetProperty(propRouterAttempts)
	if err != nil {
		return false // the first attempt matched no rule: nor does this one
	}
	authority, path, tried, ok := parseAttempts(v)
	if !ok {
		return false
	}
	head.Authority, head.Path, s.tried = authority, path, tried
	if tel := r.cfg.Telemetry; tel != nil && tel.AccessLog {
		// The access-log fields are the request's too: count on from the
		// attempts before, and keep naming the keys that failed it.
		if v, err := r.host.GetProperty("tf_attempts"); err == nil {
			s.attempts, _ = strconv.Atoi(v)
		}
		if v, err := r.host.GetProperty("tf_failed"); err == nil {
			s.failed = v
		}
	}
	for i := range headers {
		switch headers[i][0] {
		case ":authority":
			headers[i][1] = authority
		case ":path":
			headers[i][1] = path
		}
	}
	return false
}

// propRouterAttempts is the filter state (wasm.tf_router) in which a router
// attempt leaves the client's :authority and :path and the tokens tried so
// far for the attempts after it. An upstream filter's stream info is the
// downstream request's (Envoy's UpstreamFilterManager::streamInfo), so the
// value lives as long as the request and no client can set it.
// (A name of its own: telemetry's wasm.tf_* fields are for the access log.)
const propRouterAttempts = "tf_router"

// maxAttemptsNoted bounds the tokens a request's filter state lists.
const maxAttemptsNoted = 16

// noteAttempt records this attempt's token (and, on the first, the
// client's :authority and :path) for the router's next attempt.
func (s *stream) noteAttempt(head provider.Head) {
	if s.probe {
		return
	}
	tried := append(s.tried[:len(s.tried):len(s.tried)], s.token)
	if len(tried) > maxAttemptsNoted {
		tried = tried[len(tried)-maxAttemptsNoted:]
	}
	b := make([]byte, 0, len(head.Authority)+len(head.Path)+2+3*len(tried))
	b = append(append(append(append(b, head.Authority...), '\n'), head.Path...), '\n')
	for k, t := range tried {
		if k > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(t), 10)
	}
	if err := s.root.host.SetProperty(propRouterAttempts, b); err != nil {
		s.root.logf(abi.LogDebug, "pool %s: the attempt could not be noted for the router's retries: %v", s.block.pool.name, err)
	}
}

// parseAttempts reads noteAttempt's value.
func parseAttempts(v string) (authority, path string, tried []int, ok bool) {
	authority, rest, ok1 := strings.Cut(v, "\n")
	path, list, ok2 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 || path == "" {
		return "", "", nil, false
	}
	for _, f := range strings.Split(list, ",") {
		if n, err := strconv.Atoi(f); err == nil && n >= 0 && len(tried) < maxAttemptsNoted {
			tried = append(tried, n)
		}
	}
	return authority, path, tried, true
}

// recentFailureMs is how long a token that failed on this VM is avoided by
// router retries (mode: upstream): a router attempt cannot tell which
// tokens earlier attempts of its request used, but they ran on this VM, just
// before (Envoy's retry back-off is tens of milliseconds).
const recentFailureMs = 10_000

// mayServe returns which tokens may serve this request's next attempt
// (nil: any): not one that already failed it, and for a router retry not
// one that failed on this VM within recentFailureMs. The one rule for a
// first pick, a plugin retry and a router retry.
func (s *stream) mayServe(now int64) func(int) bool {
	if len(s.tried) == 0 && !s.routerRetry {
		return nil
	}
	p := s.block.pool
	return func(i int) bool {
		for _, t := range s.tried {
			if t == i {
				return false
			}
		}
		return !s.routerRetry || p.failedAt[i] == 0 || now-p.failedAt[i] > recentFailureMs
	}
}
