//go:build wasip1

// Command deeprecurse is a wasip1 reactor for wasmpatch's call-depth
// tests: its export recurse runs a Go recursion n levels deep, one
// WebAssembly call per level, like wasmhost/testdata/deepstack's but
// without the proxy-wasm host that one needs.
package main

//go:noinline
func down(n int32) int32 {
	if n <= 0 {
		return 0
	}
	return down(n-1) + 1
}

// recurse returns n after recursing n levels deep.
//
//go:wasmexport recurse
func recurse(n int32) int32 { return down(n) }

func main() {}
