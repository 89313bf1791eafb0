package wasmhost

import (
	"sort"
	"time"
)

// Pair is one header.
type Pair = [2]string

// UpstreamRequest is what reached a cluster: the route's upstream request
// after the plugin's changes, or an http call.
type UpstreamRequest struct {
	Cluster  string
	Headers  []Pair
	Body     []byte
	Trailers []Pair
	HTTPCall bool
	// From is the VM that sent it.
	From string
	// Complete is set once the whole request (body and trailers) reached
	// the cluster; Answered once the cluster answered; Reset when Envoy
	// reset it before it was complete (the upstream never saw all of it).
	Complete bool
	Answered bool
	Reset    bool
}

// Header returns the first value of name ("" when absent).
func (r *UpstreamRequest) Header(name string) string { return header(r.Headers, name) }

// Reply is a cluster's answer.
type Reply struct {
	Status   int
	Headers  []Pair
	Body     []byte
	Trailers []Pair
	// Chunks are the sizes of the body's chunks (the rest in a last one);
	// ChunkDelay is the virtual time between chunks.
	Chunks     []int
	ChunkDelay time.Duration
	// Open leaves the answer running after its body: its end never comes
	// (a stream still streaming; end it with Stream.ResetByClient).
	Open bool
	// MidStreamReset makes the upstream reset the stream after its headers
	// and ResetAfter bytes of body.
	MidStreamReset bool
	ResetAfter     int
	// Fault makes Envoy answer instead (a route gets Envoy's local reply;
	// an http call gets Envoy's answer for a failed call).
	Fault Fault
	// Delay is how long an http call takes to answer (virtual time).
	Delay time.Duration
}

// Cluster answers requests sent to it.
type Cluster func(req *UpstreamRequest) Reply

type pendingCall struct {
	vm      *VM
	root    uint32
	id      uint32
	due     time.Duration
	request *UpstreamRequest
	reply   Reply
}

type callResponse struct {
	headers  []Pair
	body     []byte
	trailers []Pair
	status   uint32
	message  string
}

// httpCall validates and queues an http call as Envoy does: an unknown
// cluster or a missing :path, :method or :authority is BadArgument; a
// cluster that refuses the request itself (circuit breaker, no healthy
// host, maintenance) fails the call at once with InternalFailure, and no
// answer ever comes (Envoy's AsyncClient answers inline and send() returns
// null). The cluster function still sees that request, which never left
// Envoy.
func (vm *VM) httpCall(cluster string, headers []Pair, body []byte, trailers []Pair, timeoutMs uint32) (uint32, uint32) {
	c, ok := vm.h.opts.Clusters[cluster]
	if !ok {
		return 0, statusBadArgument
	}
	for _, p := range []string{":path", ":method", ":authority"} {
		if header(headers, p) == "" {
			return 0, statusBadArgument
		}
	}
	if len(body) > 0 {
		headers = setHeader(headers, "content-length", itoa(len(body)))
	}
	req := &UpstreamRequest{Cluster: cluster, Headers: headers, Body: body, Trailers: trailers, HTTPCall: true,
		From: vm.name, Complete: true, Answered: true}
	// The cluster sees the request when it is sent; its answer arrives
	// after its delay (or the call's timeout) in virtual time.
	reply := c(req)
	switch reply.Fault {
	case FaultOverflow, FaultNoHealthyUpstream, FaultMaintenance:
		req.Answered = false
		return 0, statusInternalFailure
	}
	vm.h.nextID++
	call := &pendingCall{vm: vm, root: vm.currentRoot(), id: vm.h.nextID, request: req, reply: reply, due: vm.h.now}
	timeout := time.Duration(timeoutMs) * time.Millisecond
	switch {
	case reply.Fault == FaultRouteTimeout || reply.Fault == FaultPerTryTimeout:
		call.due += timeout
	case timeoutMs > 0 && reply.Delay >= timeout:
		call.due += timeout
		call.reply = Reply{Fault: FaultRouteTimeout}
	default:
		call.due += reply.Delay
	}
	vm.h.calls = append(vm.h.calls, call)
	return call.id, statusOK
}

// nextCall is the pending call due first (nil when none).
func (h *Host) nextCall() *pendingCall {
	sort.SliceStable(h.calls, func(i, j int) bool { return h.calls[i].due < h.calls[j].due })
	if len(h.calls) == 0 {
		return nil
	}
	return h.calls[0]
}

func (h *Host) removeCall(c *pendingCall) {
	for i, x := range h.calls {
		if x == c {
			h.calls = append(h.calls[:i], h.calls[i+1:]...)
			return
		}
	}
}

// callAnswer is what Envoy 1.36-1.40 hands the plugin for an http call's
// reply (docs/envoy-details.md): a timeout is Envoy's own 504 answer and a
// connection that failed or was reset before the answer's headers is
// Envoy's own 503, both with headers and body like the route's local
// reply; only a reset after the headers is no answer at all (0 headers,
// 0 body) with proxy_get_status BrokenConnection "reset".
func callAnswer(r Reply, version string) *callResponse {
	switch r.Fault {
	case NoFault:
		if r.MidStreamReset {
			return &callResponse{status: statusBrokenConnection, message: "reset"}
		}
		return &callResponse{headers: append([]Pair{{":status", itoa(r.Status)}}, r.Headers...), body: r.Body, trailers: r.Trailers}
	case FaultPerTryTimeout:
		r.Fault = FaultRouteTimeout // a call has no retry policy: its timeout is the route timeout's answer
	}
	lr := localReplyFor(r.Fault, version)
	return &callResponse{headers: []Pair{{":status", itoa(lr.status)}, {"content-length", itoa(len(lr.body))},
		{"content-type", "text/plain"}}, body: []byte(lr.body)}
}

// deliver calls proxy_on_http_call_response on the root that made the call.
func (c *pendingCall) deliver() error {
	vm := c.vm
	if rs := vm.roots[c.root]; vm.failed != nil || vm.mod == nil || rs == nil || !rs.live {
		if hook := vm.h.opts.AfterCallDelivered; hook != nil {
			hook(c.request, c.reply, false) // dropped: its root is gone
		}
		return nil
	}
	resp := callAnswer(c.reply, vm.h.opts.EnvoyVersion)
	if rs := vm.roots[c.root]; resp.status != statusOK {
		rs.status, rs.statusMsg = resp.status, resp.message
	} else {
		rs.statusMsg = "" // the code stays: Envoy never resets it
	}
	vm.callResp = resp
	_, err := vm.call(c.root, "proxy_on_http_call_response", uint64(c.root), uint64(c.id),
		uint64(len(resp.headers)), uint64(len(resp.body)), uint64(len(resp.trailers)))
	vm.callResp = nil
	if hook := vm.h.opts.AfterCallDelivered; hook != nil && err == nil {
		hook(c.request, c.reply, true)
	}
	if err != nil {
		return err
	}
	return vm.resumeStreams()
}

// resumeStreams carries out the continue_stream calls and the local
// replies the plugin made for a stream (its effective context) while
// handling a root-context callback: Envoy runs both after the callback.
func (vm *VM) resumeStreams() error {
	for _, s := range vm.streams {
		if s.local != nil && !s.ended {
			if err := s.finishLocal(); err != nil {
				return err
			}
			continue
		}
		if s.resume || s.resumeReq {
			if err := s.after(); err != nil {
				return err
			}
		}
	}
	return nil
}
