package wasmhost

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Request is a client request sent through a VM.
type Request struct {
	// Headers include the pseudo-headers :method, :path and :authority.
	Headers []Pair
	Body    []byte
	// Route and Cluster are the properties xds.route_name and
	// xds.cluster_name (default route "chat", cluster "llm").
	Route   string
	Cluster string
}

// Response is what the client receives.
type Response struct {
	Status  int
	Headers []Pair
	Body    []byte
	// LocalReply is set when the plugin answered (proxy_send_local_response).
	LocalReply bool
	// Details is Envoy's response.code_details.
	Details string
}

// LocalReply is a proxy_send_local_response as the host received it.
type LocalReply struct {
	VM      string
	Status  int
	Details string
	Body    []byte
	Headers []Pair
}

// Stream is one request's life on one VM.
type Stream struct {
	vm         *VM
	id         uint32
	req        Request
	reqHeaders []Pair
	reqBody    []byte
	respHdrs   []Pair
	respBody   []byte
	props      map[string]string
	local      *LocalReply
	// headersSent is set once request headers were continued: Envoy then
	// forgets the map (hostcalls on it answer NotFound) and sends them on.
	headersSent bool
	sentHeaders []Pair
	// held is set while the plugin holds the response (Pause on response
	// headers); resume is set by proxy_continue_stream(response).
	held, resume bool
	respLocal    bool
	// Upstream is what the plugin let through to the cluster (nil when the
	// plugin answered locally or paused the request).
	Upstream *UpstreamRequest
	// Response is what the client got, once Respond or Do has run.
	Response *Response
}

// ErrStalled is returned when the plugin paused a request and never resumed it.
var ErrStalled = errors.New("wasmhost: request paused and never continued")

// Start runs the request callbacks (context create, headers, body) and, if
// the plugin lets it through, captures the upstream request. It does not
// answer: call Respond, so that other VMs can act while this request is in
// flight.
func (vm *VM) Start(req Request) (*Stream, error) {
	if req.Route == "" {
		req.Route = "chat"
	}
	if req.Cluster == "" {
		req.Cluster = "llm"
	}
	vm.nextCtx++
	s := &Stream{vm: vm, id: vm.nextCtx, req: req, reqHeaders: append([]Pair(nil), req.Headers...),
		reqBody: append([]byte(nil), req.Body...),
		props:   map[string]string{"xds.route_name": req.Route, "xds.cluster_name": req.Cluster}}
	vm.streams[s.id] = s
	if _, err := vm.call(s.id, "proxy_on_context_create", uint64(s.id), uint64(vm.rootID)); err != nil {
		return nil, err
	}
	eos := len(req.Body) == 0
	// Pause on headers is StopAllIterationAndWatermark: Envoy buffers the
	// body and calls no body callback until continue_stream.
	if stop, err := s.requestStep("proxy_on_request_headers", len(s.reqHeaders), eos); stop || err != nil {
		return s, err
	}
	s.headersSent, s.sentHeaders = true, append([]Pair(nil), s.reqHeaders...)
	if !eos {
		if stop, err := s.requestStep("proxy_on_request_body", len(s.reqBody), true); stop || err != nil {
			return s, err
		}
	}
	s.Upstream = &UpstreamRequest{Cluster: req.Cluster, Headers: s.sentHeaders,
		Body: append([]byte(nil), s.reqBody...), From: vm.name}
	return s, nil
}

// requestStep runs one request callback. stop is true when the request
// goes no further: the plugin answered locally (the reply is then sent, and
// err is its outcome) or paused (err is ErrStalled).
func (s *Stream) requestStep(callback string, n int, eos bool) (stop bool, err error) {
	res, err := s.vm.call(s.id, callback, uint64(s.id), uint64(n), boolArg(eos))
	switch {
	case err != nil:
		return true, err
	case s.local != nil:
		return true, s.finishLocal()
	case res[0] == 1:
		return true, ErrStalled
	}
	return false, nil
}

// Respond answers the upstream request with reply (Envoy turns a reset or
// timeout into its own local reply) and runs the response callbacks, then
// on_log, on_done and on_delete.
func (s *Stream) Respond(r Reply) error {
	switch {
	case r.Reset:
		s.props["response.code_details"] = "upstream_reset_before_response_started{connection_failure}"
		body := "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
		return s.respond(503, []Pair{{"content-type", "text/plain"}}, []byte(body), false)
	case r.Timeout:
		s.props["response.code_details"] = "upstream_response_timeout"
		return s.respond(504, []Pair{{"content-type", "text/plain"}}, []byte("upstream request timeout"), false)
	}
	s.props["response.code_details"] = "via_upstream"
	return s.respond(r.Status, r.Headers, r.Body, false)
}

func (s *Stream) respond(status int, headers []Pair, body []byte, local bool) error {
	vm := s.vm
	s.respHdrs = append([]Pair{{":status", strconv.Itoa(status)}}, headers...)
	if len(body) > 0 && header(s.respHdrs, "content-length") == "" {
		s.respHdrs = append(s.respHdrs, Pair{"content-length", itoa(len(body))})
	}
	s.respBody = append([]byte(nil), body...)
	s.respLocal = local
	eos := len(body) == 0
	res, err := vm.call(s.id, "proxy_on_response_headers", uint64(s.id), uint64(len(s.respHdrs)), boolArg(eos))
	if err != nil {
		return err
	}
	if res[0] == 1 {
		// Held (StopAllIterationAndWatermark): the body waits for
		// proxy_continue_stream(response), then reaches this filter.
		s.held = true
		return nil
	}
	return s.finishResponse()
}

// Held tells whether the plugin is holding this stream's response.
func (s *Stream) Held() bool { return s.held }

// finishResponse delivers the body (if any) and ends the stream.
func (s *Stream) finishResponse() error {
	vm := s.vm
	s.held = false
	if len(s.respBody) > 0 {
		if _, err := vm.call(s.id, "proxy_on_response_body", uint64(s.id), uint64(len(s.respBody)), 1); err != nil {
			return err
		}
	}
	code, _ := strconv.Atoi(header(s.respHdrs, ":status"))
	s.Response = &Response{Status: code, Headers: removeHeader(s.respHdrs, ":status"), Body: s.respBody, LocalReply: s.respLocal,
		Details: s.props["response.code_details"]}
	return s.end()
}

// finishLocal sends the plugin's local reply through the encoder path, as
// Envoy does (the plugin's own response callbacks see it), then ends.
func (s *Stream) finishLocal() error {
	l := s.local
	s.props["response.code_details"] = l.Details
	return s.respond(l.Status, l.Headers, l.Body, true)
}

// end runs Envoy's stream-end order: on_log, on_done, on_delete.
func (s *Stream) end() error {
	vm := s.vm
	for _, cb := range []string{"proxy_on_log", "proxy_on_done", "proxy_on_delete"} {
		if _, err := vm.call(s.id, cb, uint64(s.id)); err != nil {
			return err
		}
	}
	delete(vm.streams, s.id)
	return nil
}

// Do sends req through the VM, answers it with the cluster named by the
// request (Options.Clusters), and returns the whole exchange.
func (vm *VM) Do(req Request) (*Stream, error) {
	s, err := vm.Start(req)
	if err != nil || s.Response != nil {
		return s, err
	}
	c, ok := vm.h.opts.Clusters[s.req.Cluster]
	if !ok {
		return s, fmt.Errorf("wasmhost: no cluster %q", s.req.Cluster)
	}
	if err := s.Respond(c(s.Upstream)); err != nil {
		return s, err
	}
	return s, vm.h.settle(s)
}

// settle delivers the http-call answers already due while s's response is
// held (a retry in flight), without moving the clock or firing ticks.
func (h *Host) settle(s *Stream) error {
	for s.held {
		sort.SliceStable(h.calls, func(i, j int) bool { return h.calls[i].due < h.calls[j].due })
		if len(h.calls) == 0 || h.calls[0].due > h.now {
			return nil
		}
		c := h.calls[0]
		h.calls = h.calls[1:]
		if err := c.deliver(); err != nil {
			return err
		}
	}
	return nil
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
