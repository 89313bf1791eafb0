//go:build wasip1

// Command deepstack is a proxy-wasm test module whose request-headers
// callback recurses as deep as the request's x-depth header asks. The
// emulator's stack-limit test and the real-Envoy tier run it to find and
// check the guest call depth at which V8 (and so the emulator) traps.
package main

import (
	"strconv"

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
func (root) NewHTTPContext(uint32) abi.HTTPContext    { return stream{} }
func (root) OnDone() bool                             { return true }

type stream struct{}

// sink keeps the recursion from being optimised away.
var sink int

//go:noinline
func recurse(n int) int {
	if n <= 0 {
		return 0
	}
	return recurse(n-1) + 1
}

func (stream) OnRequestHeaders(int, bool) abi.Action {
	v, err := abi.WasmHost{}.GetHeader(abi.MapRequestHeaders, "x-depth")
	if err == nil {
		n, _ := strconv.Atoi(v)
		sink = recurse(n)
	}
	return abi.ActionContinue
}
func (stream) OnRequestBody(int, bool) abi.Action     { return abi.ActionContinue }
func (stream) OnRequestTrailers(int) abi.Action       { return abi.ActionContinue }
func (stream) OnResponseHeaders(int, bool) abi.Action { return abi.ActionContinue }
func (stream) OnResponseBody(int, bool) abi.Action    { return abi.ActionContinue }
func (stream) OnResponseTrailers(int) abi.Action      { return abi.ActionContinue }
func (stream) OnDone()                                {}

func init() { abi.SetVMContext(vm{}) }

func main() {}
