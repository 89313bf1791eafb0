package abi

import (
	"fmt"
	"runtime/debug"
)

// Dispatcher routes host callbacks to contexts by id. It is plain Go: the
// wasip1 exports call it, and native tests drive it against a fake Host.
// Every method recovers a panic from the plugin, logs it with its stack at
// error level and returns a safe default (continue the stream, accept).
type Dispatcher struct {
	host    Host
	vm      VMContext
	plugins map[uint32]PluginContext
	streams map[uint32]stream
}

type stream struct {
	http HTTPContext
	root uint32
}

// NewDispatcher binds a VM context to a host.
func NewDispatcher(host Host, vm VMContext) *Dispatcher {
	return &Dispatcher{
		host:    host,
		vm:      vm,
		plugins: make(map[uint32]PluginContext),
		streams: make(map[uint32]stream),
	}
}

func (d *Dispatcher) recoverPanic(callback string, id uint32) {
	if r := recover(); r != nil {
		d.host.Log(LogError, fmt.Sprintf("token-failover: panic in %s (context %d): %v\n%s", callback, id, r, debug.Stack()))
	}
}

// OnContextCreate creates a root context (parent 0) or a stream context.
func (d *Dispatcher) OnContextCreate(id, parent uint32) {
	defer d.recoverPanic("proxy_on_context_create", id)
	if parent == 0 {
		d.plugins[id] = d.vm.NewPluginContext(id)
		return
	}
	p, ok := d.plugins[parent]
	if !ok {
		d.host.Log(LogError, fmt.Sprintf("token-failover: stream %d has unknown root %d", id, parent))
		return
	}
	if h := p.NewHTTPContext(id); h != nil {
		d.streams[id] = stream{http: h, root: parent}
	}
}

// OnVMStart forwards to the VM context.
func (d *Dispatcher) OnVMStart(root uint32, size int) (ok bool) {
	ok = true
	defer d.recoverPanic("proxy_on_vm_start", root)
	return d.vm.OnVMStart(size)
}

// OnConfigure forwards to the root context; a panic refuses the config.
func (d *Dispatcher) OnConfigure(root uint32, size int) (ok bool) {
	defer d.recoverPanic("proxy_on_configure", root)
	p, found := d.plugins[root]
	if !found {
		return false
	}
	return p.OnConfigure(size)
}

// OnTick forwards to the root context.
func (d *Dispatcher) OnTick(root uint32) {
	defer d.recoverPanic("proxy_on_tick", root)
	if p, ok := d.plugins[root]; ok {
		p.OnTick()
	}
}

// OnHTTPCallResponse forwards to the root context that made the call.
func (d *Dispatcher) OnHTTPCallResponse(root, callID uint32, headers, body, trailers int) {
	defer d.recoverPanic("proxy_on_http_call_response", root)
	if p, ok := d.plugins[root]; ok {
		p.OnHTTPCallResponse(callID, headers, body, trailers)
	}
}

// OnGRPCReceive forwards a gRPC message to the root context.
func (d *Dispatcher) OnGRPCReceive(root, token uint32, size int) {
	defer d.recoverPanic("proxy_on_grpc_receive", root)
	if p, ok := d.plugins[root]; ok {
		p.OnGRPCReceive(token, size)
	}
}

// OnGRPCClose forwards the end of a gRPC call or stream to the root context.
func (d *Dispatcher) OnGRPCClose(root, token, status uint32) {
	defer d.recoverPanic("proxy_on_grpc_close", root)
	if p, ok := d.plugins[root]; ok {
		p.OnGRPCClose(token, status)
	}
}

func (d *Dispatcher) streamAction(callback string, id uint32, call func(HTTPContext) Action) (a Action) {
	a = ActionContinue
	defer d.recoverPanic(callback, id)
	if s, ok := d.streams[id]; ok {
		return call(s.http)
	}
	return ActionContinue
}

// OnRequestHeaders forwards to the stream context.
func (d *Dispatcher) OnRequestHeaders(id uint32, n int, eos bool) Action {
	return d.streamAction("proxy_on_request_headers", id, func(h HTTPContext) Action { return h.OnRequestHeaders(n, eos) })
}

// OnRequestBody forwards to the stream context.
func (d *Dispatcher) OnRequestBody(id uint32, size int, eos bool) Action {
	return d.streamAction("proxy_on_request_body", id, func(h HTTPContext) Action { return h.OnRequestBody(size, eos) })
}

// OnRequestTrailers forwards to the stream context.
func (d *Dispatcher) OnRequestTrailers(id uint32, n int) Action {
	return d.streamAction("proxy_on_request_trailers", id, func(h HTTPContext) Action { return h.OnRequestTrailers(n) })
}

// OnResponseHeaders forwards to the stream context.
func (d *Dispatcher) OnResponseHeaders(id uint32, n int, eos bool) Action {
	return d.streamAction("proxy_on_response_headers", id, func(h HTTPContext) Action { return h.OnResponseHeaders(n, eos) })
}

// OnResponseBody forwards to the stream context.
func (d *Dispatcher) OnResponseBody(id uint32, size int, eos bool) Action {
	return d.streamAction("proxy_on_response_body", id, func(h HTTPContext) Action { return h.OnResponseBody(size, eos) })
}

// OnResponseTrailers forwards to the stream context.
func (d *Dispatcher) OnResponseTrailers(id uint32, n int) Action {
	return d.streamAction("proxy_on_response_trailers", id, func(h HTTPContext) Action { return h.OnResponseTrailers(n) })
}

// OnDone ends a stream context or a root context: the context's own OnDone
// runs, and the dispatcher forgets it (even if the plugin panics). The
// module exports neither proxy_on_log nor proxy_on_delete: Envoy skips a
// callback a module does not export, and calls proxy_on_done right after
// the access log (docs/performance.md), so every stream costs two calls
// into Go fewer. A root context that is not done (false) is kept.
func (d *Dispatcher) OnDone(id uint32) (done bool) {
	done = true
	defer func() {
		if done {
			delete(d.streams, id)
			delete(d.plugins, id)
		}
	}()
	defer d.recoverPanic("proxy_on_done", id)
	if s, ok := d.streams[id]; ok {
		s.http.OnDone()
	} else if p, ok := d.plugins[id]; ok {
		return p.OnDone()
	}
	return true
}

// Streams reports how many stream contexts are live (for leak tests).
func (d *Dispatcher) Streams() int { return len(d.streams) }
