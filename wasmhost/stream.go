package wasmhost

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Request is a client request sent through a VM. Its shape is chosen per
// request: the body split into chunks (sizes may cut a JSON token or a
// UTF-8 sequence), and trailers.
type Request struct {
	// Headers include the pseudo-headers :method, :path and :authority.
	Headers []Pair
	Body    []byte
	// Chunks are the sizes of the body's chunks as the client sends them;
	// what they leave goes in a last chunk. Nil sends the body in one.
	Chunks []int
	// Trailers end the request after its body (none when nil).
	Trailers []Pair
	// ClientLeavesMidResponse makes the client reset the stream once the
	// first chunk of the answer's body reached it (a reset at any other
	// stage is a call of Stream.ResetByClient).
	ClientLeavesMidResponse bool
	// Route and Cluster are the properties xds.route_name and
	// xds.cluster_name (default route "chat", cluster "llm") when the
	// listener has no RouteTable; with one, the table picks them.
	Route   string
	Cluster string
	// Listener names the listener the request arrives on (Options.Listeners;
	// "" is the default one).
	Listener string
	// Source is the client's address, the property source.address
	// ("ip:port"; default DefaultSource).
	Source string
}

// DefaultSource is a request's source.address unless Request.Source says
// otherwise: a client on the gateway's own host.
const DefaultSource = "127.0.0.1:50000"

// Response is what the client receives.
type Response struct {
	Status   int
	Headers  []Pair
	Body     []byte
	Trailers []Pair
	// LocalReply is set when the plugin or Envoy answered itself.
	LocalReply bool
	// Details is Envoy's response.code_details at the end of the stream.
	Details string
	// Reset is set when the stream was reset before the answer completed
	// (the client got the headers, if any, and part of the body).
	Reset bool
}

// LocalReply is a proxy_send_local_response as the host received it.
type LocalReply struct {
	VM      string
	Status  int
	Details string
	Body    []byte
	Headers []Pair
}

// ErrStalled is returned when the plugin paused a request and never resumed it.
var ErrStalled = errors.New("wasmhost: request paused and never continued")

// ErrEnded is returned for a step on a stream that has already ended.
var ErrEnded = errors.New("wasmhost: the stream has ended")

// Stream is one request's life on one VM: the client's side (request
// chunks, trailers, a reset), the upstream's side (an answer at any point,
// in chunks, with trailers, a fault or a reset), and Envoy's filter-manager
// rules for what this filter sees in between.
type Stream struct {
	vm    *VM
	id    uint32
	root  uint32 // the root context the stream belongs to
	req   Request
	props map[string]string
	// requestState, on a router attempt, is the request's filter state:
	// proxy_set_property writes there too, for the attempts after.
	requestState map[string]string
	flags        uint64 // response.flags
	local        *LocalReply
	// routes is the listener's route table (nil: the request's own route
	// and cluster stand); routeStale is set when the plugin wrote a
	// request header since the route was picked (Envoy cleared the route
	// cache: the router picks the route again before it sends).
	routes     *RouteTable
	routeStale bool
	// keepRoute: the plugin set clear_route_cache "off" in a Higress host.
	keepRoute bool
	// Rerouted is set when the router picked another route than the one
	// the client's request matched.
	Rerouted bool
	// upstreamFilter: this stream is one router attempt through the
	// cluster's upstream filter (no on_log; the route is fixed).
	upstreamFilter bool

	// Request direction.
	reqHeaders  []Pair
	headersSent bool // the headers went upstream: Envoy forgets the map
	sentHeaders []Pair
	// headersPaused: on_request_headers returned Pause
	// (StopAllIterationAndWatermark): Envoy keeps what arrives meanwhile in
	// pendBody/pendTrailers and hands it over on continue_stream.
	headersPaused bool
	pendBody      []byte
	pendEnd       bool
	pendTrailers  []Pair
	// reqBuf is the body Envoy holds for this filter after a body Pause
	// (StopIterationAndBuffer): the next chunk is added to it and the
	// filter sees all of it.
	reqBuf       []byte
	reqBuffering bool
	reqBufEnd    bool
	reqTrailers  []Pair // request trailers as the filter sees them
	trailersHeld bool
	sentChunks   int
	bodySent     int
	clientDone   bool // the client sent its end of stream
	resumeReq    bool // proxy_continue_stream(request) was called

	// Response direction.
	respHdrs    []Pair
	respStarted bool
	// held: on_response_headers returned Pause; Envoy keeps the body and
	// trailers arriving meanwhile (respPend*) until continue_stream.
	held          bool
	resume        bool
	respPendBody  []byte
	respPendEnd   bool
	respPendTrail []Pair
	respBuf       []byte
	respBuffering bool
	respTrailers  []Pair
	respLocal     bool
	// What the client got so far.
	clientHeaders  []Pair
	clientBody     []byte
	clientTrailers []Pair

	ended bool
	// passThrough: the VM failed and failure_policy is FAIL_OPEN, so the
	// plugin is skipped.
	passThrough bool
	// Upstream is what the plugin let through to the cluster (nil while the
	// headers are held or when the plugin answered locally).
	Upstream *UpstreamRequest
	// Response is what the client got, once the stream ended.
	Response *Response
}

// Open creates the stream and runs on_request_headers (end of stream when
// the request has neither body nor trailers). Send the rest with SendBody,
// SendTrailers or SendAll; answer with Respond.
func (vm *VM) Open(req Request) (*Stream, error) {
	if req.Route == "" {
		req.Route = "chat"
	}
	if req.Cluster == "" {
		req.Cluster = "llm"
	}
	if len(req.Trailers) == 0 {
		req.Trailers = nil
	}
	if req.Source == "" {
		req.Source = DefaultSource
	}
	l, ok := vm.h.listener(req.Listener)
	if !ok {
		return nil, fmt.Errorf("wasmhost: no listener %q", req.Listener)
	}
	if vm.failed != nil {
		return vm.failStream(req)
	}
	vm.nextCtx++
	s := &Stream{vm: vm, id: vm.nextCtx, root: vm.listenerRoots[req.Listener], req: req, reqHeaders: append([]Pair(nil), req.Headers...),
		props: map[string]string{"xds.route_name": req.Route, "xds.cluster_name": req.Cluster, "source.address": req.Source}, routes: l.Routes}
	if vm.requestState != nil { // a router attempt: the request's filter state
		for k, v := range vm.requestState {
			s.props[k] = v
		}
		s.requestState = vm.requestState
	}
	if vm.h.opts.UpstreamFilter {
		s.upstreamFilter, s.routes = true, nil // routing is done: header writes move nothing
		s.props["upstream.request_attempt_count"] = attemptCount(max(vm.attempt, 1))
	}
	if s.routes != nil {
		s.pickRoute()
	}
	vm.streams[s.id] = s
	vm.roots[s.root].streams++
	if _, err := vm.call(s.id, "proxy_on_context_create", uint64(s.id), uint64(s.root)); err != nil {
		return s, err
	}
	eos := len(req.Body) == 0 && req.Trailers == nil
	s.clientDone = eos
	res, err := s.callback("proxy_on_request_headers", len(s.reqHeaders), eos)
	if err != nil || s.ended {
		return s, err
	}
	if res == actionPause {
		s.headersPaused = true
		return s, nil
	}
	if sent, err := s.sendHeadersUpstream(eos); !sent || err != nil {
		return s, err
	}
	return s, s.after()
}

// Start opens the stream and sends the whole request (every chunk, then
// the trailers). It does not answer: call Respond, so that other VMs can
// act while this request is in flight.
func (vm *VM) Start(req Request) (*Stream, error) {
	s, err := vm.Open(req)
	if err != nil || s.ended {
		return s, err
	}
	return s, s.SendAll()
}

// Do sends req through the VM, answers it with the cluster named by the
// request (Options.Clusters), and delivers http-call answers already due,
// so a held response settles.
func (vm *VM) Do(req Request) (*Stream, error) {
	if vm.h.opts.UpstreamFilter {
		return vm.routerDo(req)
	}
	s, err := vm.Start(req)
	if err != nil || s.ended {
		return s, err
	}
	if s.Upstream == nil {
		return s, ErrStalled
	}
	c, ok := vm.h.opts.Clusters[s.Upstream.Cluster]
	if !ok {
		return s, fmt.Errorf("wasmhost: no cluster %q", s.Upstream.Cluster)
	}
	if err := s.Respond(c(s.Upstream)); err != nil {
		return s, err
	}
	if err := vm.h.settle(s); err != nil {
		return s, err
	}
	if len(vm.h.opts.GRPCClusters) > 0 {
		return s, vm.h.DeliverGRPC(vm.h.opts.GRPCWait) // what the request's outcome wrote to the store
	}
	return s, nil
}

// Property is what Envoy would answer for the stream's property path
// (dotted: "xds.route_name", "wasm.tf_token" for filter state the plugin
// set); "" when unset.
func (s *Stream) Property(path string) string { return s.props[path] }

// chunkSize is the size of the client's next body chunk.
func (s *Stream) chunkSize() int {
	left := len(s.req.Body) - s.bodySent
	if s.sentChunks < len(s.req.Chunks) {
		return min(s.req.Chunks[s.sentChunks], left)
	}
	return left
}

// SendBody sends the client's next body chunk; false when none is left.
func (s *Stream) SendBody() (bool, error) {
	if s.ended {
		return false, ErrEnded
	}
	if s.bodySent >= len(s.req.Body) {
		return false, nil
	}
	n := s.chunkSize()
	chunk := s.req.Body[s.bodySent : s.bodySent+n]
	s.bodySent += n
	s.sentChunks++
	eos := s.bodySent == len(s.req.Body) && s.req.Trailers == nil
	s.clientDone = eos
	return true, s.decodeData(chunk, eos)
}

// SendTrailers sends the request trailers (a no-op without any).
func (s *Stream) SendTrailers() error {
	if s.ended {
		return ErrEnded
	}
	if s.req.Trailers == nil || s.clientDone {
		return nil
	}
	s.clientDone = true
	return s.decodeTrailers(append([]Pair(nil), s.req.Trailers...))
}

// SendAll sends every remaining body chunk and the trailers.
func (s *Stream) SendAll() error {
	for !s.ended {
		more, err := s.SendBody()
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	if s.ended {
		return nil
	}
	return s.SendTrailers()
}

// decodeData is Envoy's filter manager handing this filter a body chunk.
func (s *Stream) decodeData(chunk []byte, eos bool) error {
	if s.headersPaused {
		s.pendBody = append(s.pendBody, chunk...)
		s.pendEnd = eos
		return s.checkRequestLimit(len(s.pendBody))
	}
	if s.reqBuffering {
		s.reqBuf = append(s.reqBuf, chunk...) // addDecodedData
		if err := s.checkRequestLimit(len(s.reqBuf)); err != nil || s.ended {
			return err
		}
	} else {
		s.reqBuf = append([]byte(nil), chunk...)
	}
	return s.runRequestBody(eos)
}

// runRequestBody calls on_request_body with the buffer Envoy holds.
func (s *Stream) runRequestBody(eos bool) error {
	res, err := s.callback("proxy_on_request_body", len(s.reqBuf), eos)
	if err != nil || s.ended {
		return err
	}
	if res == actionPause {
		s.reqBuffering, s.reqBufEnd = true, eos
		if err := s.checkRequestLimit(len(s.reqBuf)); err != nil || s.ended {
			return err
		}
		return s.after()
	}
	s.reqBuffering = false
	s.sendBodyUpstream(s.reqBuf, eos)
	s.reqBuf = nil
	return s.after()
}

// decodeTrailers hands this filter the request trailers.
func (s *Stream) decodeTrailers(t []Pair) error {
	if s.headersPaused {
		s.pendTrailers = t
		return nil
	}
	s.reqTrailers = t
	res, err := s.callback("proxy_on_request_trailers", len(t), false)
	if err != nil || s.ended {
		return err
	}
	if res == actionPause {
		s.trailersHeld = true
		return s.after()
	}
	s.flushRequestEnd()
	return s.after()
}

// flushRequestEnd sends what Envoy held for this filter, then the trailers.
func (s *Stream) flushRequestEnd() {
	if len(s.reqBuf) > 0 {
		s.sendBodyUpstream(s.reqBuf, false)
		s.reqBuf, s.reqBuffering = nil, false
	}
	s.trailersHeld = false
	if s.Upstream != nil {
		s.Upstream.Trailers = s.reqTrailers
		s.Upstream.Complete = true
	}
}

// checkRequestLimit answers 413 when the body Envoy buffers for this
// filter passes the connection's buffer limit, as Envoy does.
func (s *Stream) checkRequestLimit(n int) error {
	if n <= s.vm.h.opts.BufferLimit {
		return nil
	}
	s.props["response.code_details"] = detailsPayloadTooLarge
	return s.envoyReply(413, "Payload Too Large", detailsPayloadTooLarge, 0)
}

// sendHeadersUpstream is the router taking the request: with a route
// table it picks the route again if the plugin changed a request header,
// and answers 404 route_not_found (nothing goes upstream) when none
// matches. false means Envoy answered instead.
func (s *Stream) sendHeadersUpstream(eos bool) (bool, error) {
	if s.routes != nil && s.routeStale {
		before := s.props["xds.route_name"] + "\x00" + s.props["xds.cluster_name"]
		m := s.pickRoute()
		s.Rerouted = before != s.props["xds.route_name"]+"\x00"+s.props["xds.cluster_name"]
		if !m.ok {
			s.headersSent = true // the router has the headers and answers itself
			return false, s.envoyReply(404, "", detailsRouteNotFound, flagNoRouteFound)
		}
	} else if s.routes != nil && s.props["xds.cluster_name"] == "" {
		s.headersSent = true
		return false, s.envoyReply(404, "", detailsRouteNotFound, flagNoRouteFound)
	}
	s.headersSent, s.sentHeaders = true, append([]Pair(nil), s.reqHeaders...)
	s.Upstream = &UpstreamRequest{Cluster: s.props["xds.cluster_name"], Headers: s.sentHeaders, From: s.vm.name, Complete: eos}
	return true, nil
}

// pickRoute is Envoy's route lookup on the request headers as they are now:
// it sets the xds properties (empty when nothing matches).
func (s *Stream) pickRoute() routeMatch {
	m := s.routes.match(s.reqHeaders)
	s.props["xds.virtual_host_name"], s.props["xds.route_name"], s.props["xds.cluster_name"] = m.vhost, m.route, m.cluster
	s.routeStale = false
	return m
}

func (s *Stream) sendBodyUpstream(b []byte, eos bool) {
	if s.Upstream == nil {
		return
	}
	s.Upstream.Body = append(s.Upstream.Body, b...)
	if eos {
		s.Upstream.Complete = true
	}
}

// resumeRequest carries out proxy_continue_stream(request): held headers
// go upstream and Envoy hands this filter what it kept meanwhile, or a
// held body (and trailers) goes upstream.
func (s *Stream) resumeRequest() error {
	s.resumeReq = false
	switch {
	case s.headersPaused:
		s.headersPaused = false
		eos := s.clientDone && len(s.pendBody) == 0 && s.pendTrailers == nil && s.req.Body == nil
		if sent, err := s.sendHeadersUpstream(eos); !sent || err != nil {
			return err
		}
		if len(s.pendBody) > 0 || s.pendEnd {
			body, end := s.pendBody, s.pendEnd
			s.pendBody = nil
			s.reqBuf = body
			if err := s.runRequestBody(end); err != nil || s.ended {
				return err
			}
		}
		if t := s.pendTrailers; t != nil {
			s.pendTrailers = nil
			return s.decodeTrailers(t)
		}
	case s.trailersHeld:
		s.flushRequestEnd()
	case s.reqBuffering:
		s.reqBuffering = false
		s.sendBodyUpstream(s.reqBuf, s.reqBufEnd)
		s.reqBuf = nil
	}
	return nil
}

// callback runs a stream callback; a local reply sent during it is carried
// out once it returns, as Envoy does.
func (s *Stream) callback(name string, n int, eos bool) (uint64, error) {
	if s.passThrough {
		return actionContinue, nil
	}
	var res []uint64
	var err error
	if strings.HasSuffix(name, "_trailers") {
		res, err = s.vm.call(s.id, name, uint64(s.id), uint64(n))
	} else {
		res, err = s.vm.call(s.id, name, uint64(s.id), uint64(n), boolArg(eos))
	}
	if err != nil {
		return 0, s.trapped(err)
	}
	if s.local != nil && !s.ended {
		return actionPause, s.finishLocal()
	}
	return res[0], nil
}

// after carries out what the plugin asked during a callback and Envoy
// posts to run after it (continue_stream).
func (s *Stream) after() error {
	if s.resumeReq && !s.ended {
		if err := s.resumeRequest(); err != nil {
			return err
		}
	}
	if s.resume && !s.ended {
		return s.resumeResponse()
	}
	return nil
}

const (
	actionContinue = 0
	actionPause    = 1
)

// Held tells whether the plugin is holding this stream's response.
func (s *Stream) Held() bool { return s.held }

// Ended tells whether the stream has ended (its contexts are gone).
func (s *Stream) Ended() bool { return s.ended }

// ResetByClient resets the stream from the client's side (the client went
// away), at whatever stage it is: Envoy resets the upstream request and
// ends the stream: on_log, on_done, on_delete, with no more request or
// response callbacks.
func (s *Stream) ResetByClient() error {
	if s.ended {
		return ErrEnded
	}
	s.props["response.code_details"] = detailsClientGone
	s.flags |= flagDownstreamConnectionTerm
	if s.Upstream != nil && !s.Upstream.Answered {
		s.Upstream.Reset = true
	}
	s.Response = s.clientView(true)
	return s.end()
}

// clientView is what the client got so far.
func (s *Stream) clientView(reset bool) *Response {
	r := &Response{Reset: reset, LocalReply: s.respLocal, Details: s.props["response.code_details"]}
	if s.clientHeaders != nil {
		r.Status, _ = strconv.Atoi(header(s.clientHeaders, ":status"))
		r.Headers = removeHeader(s.clientHeaders, ":status")
	}
	r.Body = s.clientBody
	r.Trailers = s.clientTrailers
	return r
}

// end runs Envoy's stream-end order: on_log, on_done, on_delete.
func (s *Stream) end() error {
	if s.ended {
		return nil
	}
	s.ended = true
	vm := s.vm
	if s.passThrough {
		return nil
	}
	defer vm.streamEnded(s)
	if vm.failed != nil {
		return nil
	}
	cbs := []string{"proxy_on_log", "proxy_on_done", "proxy_on_delete"}
	if s.upstreamFilter {
		cbs = cbs[1:] // only the downstream filter manager logs
	}
	for _, cb := range cbs {
		if vm.export(cb) == nil {
			continue // Envoy skips a callback the module does not export
		}
		if _, err := vm.call(s.id, cb, uint64(s.id)); err != nil {
			return err
		}
	}
	return nil
}

// trapped ends a stream whose VM trapped: the client gets Envoy's 503.
func (s *Stream) trapped(err error) error {
	if !s.ended {
		s.ended = true
		s.Response = &Response{Status: 503, LocalReply: true, Details: detailsWasmFailStream, Reset: true}
		s.vm.streamEnded(s)
	}
	return err
}

func boolArg(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func itoa(n int) string { return strconv.Itoa(n) }

func header(pairs []Pair, name string) string {
	for _, p := range pairs {
		if strings.EqualFold(p[0], name) {
			return p[1]
		}
	}
	return ""
}

func setHeader(pairs []Pair, name, value string) []Pair {
	out := removeHeader(pairs, name)
	return append(out, Pair{name, value})
}

func removeHeader(pairs []Pair, name string) []Pair {
	out := pairs[:0:0]
	for _, p := range pairs {
		if !strings.EqualFold(p[0], name) {
			out = append(out, p)
		}
	}
	return out
}
