//go:build wasip1

// Command null is a proxy-wasm module whose every callback returns at once
// (continue, accept, done) without a hostcall of its own. cmd/bench runs it
// in Envoy and in the emulator to price a Go wasip1 filter merely being on
// the path (the VM, V8's calls into Go, Go's export machinery), apart from
// anything token-failover does. It uses the project's abi package, so its
// callbacks take the same route (exports → Dispatcher → context) as the
// plugin's.
package main

import "github.com/token-failover/token-failover/abi"

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

func (stream) OnRequestHeaders(int, bool) abi.Action  { return abi.ActionContinue }
func (stream) OnRequestBody(int, bool) abi.Action     { return abi.ActionContinue }
func (stream) OnRequestTrailers(int) abi.Action       { return abi.ActionContinue }
func (stream) OnResponseHeaders(int, bool) abi.Action { return abi.ActionContinue }
func (stream) OnResponseBody(int, bool) abi.Action    { return abi.ActionContinue }
func (stream) OnResponseTrailers(int) abi.Action      { return abi.ActionContinue }
func (stream) OnDone()                                {}

func init() { abi.SetVMContext(vm{}) }

func main() {}
