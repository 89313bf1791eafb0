package wasmhost

import "time"

// Pair is one header.
type Pair = [2]string

// UpstreamRequest is what reached a cluster: the route's upstream request
// after the plugin's changes, or an http call.
type UpstreamRequest struct {
	Cluster  string
	Headers  []Pair
	Body     []byte
	HTTPCall bool
	// From is the VM that sent it.
	From string
}

// Header returns the first value of name ("" when absent).
func (r *UpstreamRequest) Header(name string) string { return header(r.Headers, name) }

// Reply is a cluster's answer.
type Reply struct {
	Status  int
	Headers []Pair
	Body    []byte
	// Reset makes the connection fail before any response: the route gets
	// Envoy's 503 local reply, an http call gets 0 headers and status 11.
	Reset bool
	// Timeout makes the request time out: the route gets Envoy's 504 local
	// reply, an http call gets a 504 response.
	Timeout bool
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
	headers []Pair
	body    []byte
	status  uint32
}

// httpCall validates and queues an http call as Envoy does: an unknown
// cluster or a missing :path, :method or :authority is BadArgument.
func (vm *VM) httpCall(cluster string, headers []Pair, body []byte, timeoutMs uint32) (uint32, uint32) {
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
	vm.h.nextID++
	req := &UpstreamRequest{Cluster: cluster, Headers: headers, Body: body, HTTPCall: true, From: vm.name}
	// The cluster sees the request when it is sent; its answer arrives
	// after its delay (or the call's timeout) in virtual time.
	reply := c(req)
	call := &pendingCall{vm: vm, root: vm.rootID, id: vm.h.nextID, request: req, reply: reply, due: vm.h.now}
	vm.h.calls = append(vm.h.calls, call)
	switch {
	case reply.Timeout && timeoutMs > 0:
		call.due += time.Duration(timeoutMs) * time.Millisecond
	case reply.Delay > 0:
		call.due += reply.Delay
	}
	return call.id, statusOK
}

// deliver calls proxy_on_http_call_response on the root that made the call.
func (c *pendingCall) deliver() error {
	vm := c.vm
	if vm.failed != nil || vm.mod == nil {
		return nil
	}
	r := c.reply
	resp := &callResponse{}
	switch {
	case r.Reset:
		resp.status = 11
	case r.Timeout:
		resp.headers = []Pair{{":status", "504"}, {"content-length", "24"}}
		resp.body = []byte("upstream request timeout")
	default:
		resp.headers = append([]Pair{{":status", itoa(r.Status)}}, r.Headers...)
		resp.body = r.Body
	}
	vm.callResp = resp
	_, err := vm.call(c.root, "proxy_on_http_call_response", uint64(c.root), uint64(c.id),
		uint64(len(resp.headers)), uint64(len(resp.body)), 0)
	vm.callResp = nil
	if hook := vm.h.opts.AfterCallDelivered; hook != nil && err == nil {
		hook(c.request, r, c.root == vm.rootID)
	}
	if err != nil {
		return err
	}
	return vm.resumeStreams()
}

// resumeStreams finishes every held response the plugin continued.
func (vm *VM) resumeStreams() error {
	for _, s := range vm.streams {
		if s.resume {
			s.resume = false
			if err := s.finishResponse(); err != nil {
				return err
			}
		}
	}
	return nil
}
