//go:build wasip1

// Command trace is a proxy-wasm test module that logs every callback it
// gets (name, size, end of stream) and continues each: run in Envoy and in
// the emulator, it shows the order in which each host calls a filter for a
// given stream shape.
package main

import (
	"fmt"
	"strings"

	"github.com/token-failover/token-failover/abi"
)

type vm struct{}

func (vm) OnVMStart(int) bool                        { return true }
func (vm) NewPluginContext(uint32) abi.PluginContext { return root{} }

type root struct{}

func (root) OnConfigure(int) bool                     { return true }
func (root) OnTick()                                  {}
func (root) OnHTTPCallResponse(uint32, int, int, int) {}
func (root) OnGRPCReceive(uint32, int)                {}
func (root) OnGRPCClose(uint32, uint32)               {}
func (root) NewHTTPContext(id uint32) abi.HTTPContext { return stream{id} }
func (root) OnDone() bool                             { return true }

type stream struct{ id uint32 }

func (s stream) log(format string, args ...any) {
	abi.WasmHost{}.Log(abi.LogInfo, fmt.Sprintf("trace %d ", s.id)+fmt.Sprintf(format, args...))
}

// OnRequestHeaders also appends "x" to an x-trace-mark header, to show
// whether a change made in one attempt is seen by the next (an upstream
// filter under the router's retries). An x-trace-continue header asks it
// to misuse proxy_continue_stream ("response": before any response;
// "request": from the stream's own on_request_headers), to
// show the emulator refuses what Envoy would crash on or duplicate.
func (s stream) OnRequestHeaders(n int, eos bool) abi.Action {
	h := abi.WasmHost{}
	misuse, _ := h.GetHeader(abi.MapRequestHeaders, "x-trace-continue")
	switch misuse {
	case "response":
		s.log("continue response: %v", h.ContinueStream(abi.StreamResponse))
	case "request":
		s.log("continue request: %v", h.ContinueStream(abi.StreamRequest))
	}
	mark, _ := h.GetHeader(abi.MapRequestHeaders, "x-trace-mark")
	cluster, _ := h.GetProperty(abi.Prop("xds", "cluster_name"))
	route, _ := h.GetProperty(abi.Prop("xds", "route_name"))
	s.log("request_headers %v mark=%q cluster=%q route=%q", eos, mark, cluster, route)
	if err := h.ReplaceHeader(abi.MapRequestHeaders, "x-trace-mark", mark+"x"); err != nil {
		s.log("replace failed: %v", err)
	}
	// x-trace-authority and x-trace-path ask for a rewrite of :authority
	// and :path, to show what Envoy routes the request by afterwards and
	// what the xds properties say right after the write.
	for _, r := range [][2]string{{"x-trace-authority", ":authority"}, {"x-trace-path", ":path"}} {
		if v, err := h.GetHeader(abi.MapRequestHeaders, r[0]); err == nil && v != "" {
			if err := h.ReplaceHeader(abi.MapRequestHeaders, r[1], v); err != nil {
				s.log("replace %s failed: %v", r[1], err)
			}
			cluster, _ := h.GetProperty(abi.Prop("xds", "cluster_name"))
			route, _ := h.GetProperty(abi.Prop("xds", "route_name"))
			s.log("after %s write cluster=%q route=%q", r[1], cluster, route)
		}
	}
	return abi.ActionContinue
}
func (s stream) OnRequestBody(n int, eos bool) abi.Action {
	s.log("request_body %d %v", n, eos)
	return abi.ActionContinue
}
func (s stream) OnRequestTrailers(n int) abi.Action {
	s.log("request_trailers")
	return abi.ActionContinue
}
func (s stream) OnResponseHeaders(n int, eos bool) abi.Action {
	h := abi.WasmHost{}
	status, _ := h.GetHeader(abi.MapResponseHeaders, ":status")
	cluster, _ := h.GetProperty(abi.Prop("xds", "cluster_name"))
	route, _ := h.GetProperty(abi.Prop("xds", "route_name"))
	details, _ := h.GetProperty(abi.Prop("response", "code_details"))
	s.log("response_headers %v status=%s cluster=%q route=%q details=%q", eos, status, cluster, route, details)
	return abi.ActionContinue
}
func (s stream) OnResponseBody(n int, eos bool) abi.Action {
	s.log("response_body %d %v", n, eos)
	return abi.ActionContinue
}
func (s stream) OnResponseTrailers(n int) abi.Action {
	s.log("response_trailers")
	return abi.ActionContinue
}

// OnDone also logs what Envoy says of the stream's end (an upstream
// filter gets no on_log: this is where it learns how its attempt ended).
func (s stream) OnDone() {
	h := abi.WasmHost{}
	details, _ := h.GetProperty(abi.Prop("response", "code_details"))
	flags, _ := h.GetProperty(abi.Prop("response", "flags"))
	var f uint64
	for i := len(flags) - 1; i >= 0; i-- {
		f = f<<8 | uint64(flags[i])
	}
	s.log("done details=%q flags=%#x", details, f)
	for _, p := range doneProperties {
		val, err := h.GetProperty(abi.Prop(strings.Split(p, ".")...))
		s.log("done property %s=%q (%v)", p, val, err)
	}
}

// doneProperties are logged at on_done: what an attempt's end looks like
// to an upstream filter (docs/envoy-routing.md).
var doneProperties = []string{"upstream.address", "upstream.local_address", "upstream.transport_failure_reason",
	"upstream.request_attempt_count", "connection.id"}

func init() { abi.SetVMContext(vm{}) }

func main() {}
