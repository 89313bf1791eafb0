//go:build wasip1

package abi

import "unsafe"

// dispatcher is the VM's single dispatcher, set by SetVMContext from the
// program's init (main never runs in a c-shared reactor).
var dispatcher *Dispatcher

// lastAllocation keeps the most recent host-requested buffer reachable until
// the hostcall that asked for it has stored its pointer in a Go pointer slot.
var lastAllocation []byte

// SetVMContext installs the plugin's VM context; call it from init().
func SetVMContext(vm VMContext) {
	dispatcher = NewDispatcher(WasmHost{}, vm)
}

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion021() {}

// bodyScratch is the memory PeekBuffer reads into and headerScratch the
// memory header reads are copied out of, each grown to its largest read;
// armed makes the next allocation request use one of them.
var (
	bodyScratch, headerScratch []byte
	armed                      *[]byte
)

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 {
	statsMemoryAllocate(size)
	if size == 0 {
		size = 1
	}
	if scratch := armed; scratch != nil {
		armed = nil
		if uint32(cap(*scratch)) < size {
			*scratch = make([]byte, size)
		}
		return uint32(uintptr(unsafe.Pointer(&(*scratch)[:1][0])))
	}
	buf := make([]byte, size)
	lastAllocation = buf
	return uint32(uintptr(unsafe.Pointer(&buf[0])))
}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parent uint32) {
	statsCallback(cbContextCreate, id)
	dispatcher.OnContextCreate(id, parent)
}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(root uint32, size int32) bool {
	statsCallback(cbVMStart, root)
	return dispatcher.OnVMStart(root, int(size))
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(root uint32, size int32) bool {
	statsCallback(cbConfigure, root)
	return dispatcher.OnConfigure(root, int(size))
}

//go:wasmexport proxy_on_tick
func proxyOnTick(root uint32) {
	statsCallback(cbTick, root)
	dispatcher.OnTick(root)
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(root, callID uint32, headers, body, trailers int32) {
	statsCallback(cbHTTPCallResponse, root)
	dispatcher.OnHTTPCallResponse(root, callID, int(headers), int(body), int(trailers))
}

//go:wasmexport proxy_on_grpc_receive_initial_metadata
func proxyOnGRPCReceiveInitialMetadata(root, token uint32, headers int32) {}

//go:wasmexport proxy_on_grpc_receive
func proxyOnGRPCReceive(root, token uint32, size int32) {
	statsCallback(cbGRPCReceive, root)
	dispatcher.OnGRPCReceive(root, token, int(size))
}

//go:wasmexport proxy_on_grpc_receive_trailing_metadata
func proxyOnGRPCReceiveTrailingMetadata(root, token uint32, trailers int32) {}

//go:wasmexport proxy_on_grpc_close
func proxyOnGRPCClose(root, token, status uint32) {
	statsCallback(cbGRPCClose, root)
	dispatcher.OnGRPCClose(root, token, status)
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id uint32, n int32, eos bool) uint32 {
	statsCallback(cbRequestHeaders, id)
	return uint32(dispatcher.OnRequestHeaders(id, int(n), eos))
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id uint32, size int32, eos bool) uint32 {
	statsCallback(cbRequestBody, id)
	return uint32(dispatcher.OnRequestBody(id, int(size), eos))
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(id uint32, n int32) uint32 {
	statsCallback(cbRequestTrailers, id)
	return uint32(dispatcher.OnRequestTrailers(id, int(n)))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id uint32, n int32, eos bool) uint32 {
	statsCallback(cbResponseHeaders, id)
	return uint32(dispatcher.OnResponseHeaders(id, int(n), eos))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id uint32, size int32, eos bool) uint32 {
	statsCallback(cbResponseBody, id)
	return uint32(dispatcher.OnResponseBody(id, int(size), eos))
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(id uint32, n int32) uint32 {
	statsCallback(cbResponseTrailers, id)
	return uint32(dispatcher.OnResponseTrailers(id, int(n)))
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) bool {
	statsCallback(cbDone, id)
	return dispatcher.OnDone(id)
}
