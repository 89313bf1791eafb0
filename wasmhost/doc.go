// Package wasmhost is a proxy-wasm host emulator on wazero that behaves like
// Envoy (see shared/envoy-host.md), for testing the built .wasm: one
// compiled module instantiated as several VMs (a main-thread VM plus
// workers, and a short-lived canary per configuration), process-global
// shared data with Envoy's CAS rules, per-VM header maps, buffers and
// properties, http calls answered by named fake clusters, ticks on a
// virtual clock, metrics shared by name, logs captured per VM, Envoy's
// callback order (on_log, on_done, on_delete) and Envoy's WASI (poll_oneoff
// returns at once, proc_exit only logs). Hostcalls Envoy forbids during
// _initialize and proxy_on_memory_allocate trap.
//
// A Host is not safe for concurrent use: tests drive it from one goroutine,
// choosing the interleaving of VMs explicitly.
package wasmhost
