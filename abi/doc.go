// Package abi is the thin proxy-wasm ABI v0.2.1 binding for Go's wasip1
// target (standard toolchain, -buildmode=c-shared).
//
// It knows pointers, encodings and callback dispatch, and nothing of tokens
// or providers. Code above it sees three kinds of context and one Host:
//
//	VM (one per wasm instance, id 0)
//	└── PluginContext (root context; config, ticks, http-call responses)
//	    └── HTTPContext (one per stream; headers, bodies, log/done/delete)
//
// On wasip1 the Host is backed by //go:wasmimport hostcalls (hostcalls_wasip1.go)
// and the callbacks are //go:wasmexport functions (exports_wasip1.go). Every
// callback goes through Dispatcher, which is plain Go so that it can be tested
// natively against a fake Host; it recovers any panic, logs it with its stack
// at error level and returns a safe default, so one bad request never kills the VM.
package abi
