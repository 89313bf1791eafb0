package wasmpatch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero/api"
)

// goDepthLimit is the limit the Go tests instrument with, the emulator's
// example.
const goDepthLimit = 16384

// deepRecurse builds testdata/deeprecurse, patches it (imports first, as
// the emulator will) and instruments it at goDepthLimit, its counter
// exported as "calldepth". It returns the patched module before
// instrumenting too.
func deepRecurse(t testing.TB) (patched, bounded []byte) {
	patched, _, err := Patch(buildWasm(t, "./wasmpatch/testdata/deeprecurse", ""), Options{})
	require.NoError(t, err)
	out, err := InstrumentCallDepth(patched, goDepthLimit)
	require.NoError(t, err)
	return patched, exportDepth(t, out)
}

// startGo instantiates a wasip1 reactor on the tests' WASI, shaped as
// Envoy 1.36-1.38's (poll_oneoff answering ENOSYS), and runs its
// _initialize.
func startGo(t testing.TB, module []byte) (api.Module, *wasiHost) {
	h := &wasiHost{enosysPoll: true}
	mod, err := h.instantiate(t, module)
	require.NoError(t, err)
	_, err = mod.ExportedFunction("_initialize").Call(context.Background())
	require.NoError(t, err, "guest output: %s", h.out.String())
	return mod, h
}

// TestInstrumentCallDepth_GoRecursion runs testdata/deeprecurse's
// recursion (one WebAssembly call per level) instrumented at 16,384 in
// wazero, each case on a fresh instance.
//
// A Go level is not always a WebAssembly frame: when Go grows a
// goroutine's stack (doubling it) it unwinds the whole WebAssembly stack
// and resumes the innermost function from its loop, so a recursion's
// WebAssembly depth restarts after the last growth. This program's frames
// are 24 bytes of Go stack, so on a fresh instance the last growth before
// level 20,000 is at 256 KiB (10,922 levels) and recurse(20,000) is only
// about 9,100 frames deep; once an earlier call has grown the stack
// ("warm"), the same call is 20,000 frames deep. On a grown stack the
// boundary is exact: recurse(n) is n+1 frames of down under 2 (Go's
// export wrapper and recurse itself), so 16,381 is 16,384 frames and
// runs, 16,382 traps. The counter stays
// balanced across the unwinding: it is 0 after every successful call.
func TestInstrumentCallDepth_GoRecursion(t *testing.T) {
	_, bounded := deepRecurse(t)
	const grow = 30000 // a first call this deep grows the stack to 1 MiB (43,690 levels)
	tests := []struct {
		name string
		warm int32 // recurse this deep first (0: not)
		n    int32
		trap bool
	}{
		{name: "10,000 runs", n: 10000},
		{name: "20,000 on a fresh stack runs (about 9,100 frames)", n: 20000},
		{name: "16,381 on a grown stack runs (16,384 frames)", warm: grow, n: goDepthLimit - 3},
		{name: "16,382 on a grown stack traps (16,385 frames)", warm: grow, n: goDepthLimit - 2, trap: true},
		{name: "20,000 on a grown stack traps", warm: grow, n: 20000, trap: true},
		{name: "40,000 on a fresh stack traps (about 18,200 frames)", n: 40000, trap: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod, h := startGo(t, bounded)
			ctx := context.Background()
			recurse := mod.ExportedFunction("recurse")
			depth := mod.ExportedGlobal("calldepth")
			require.Zero(t, depth.Get(), "after _initialize")
			if tt.warm > 0 {
				res, err := recurse.Call(ctx, uint64(tt.warm))
				require.NoError(t, err, "guest output: %s", h.out.String())
				require.Equal(t, uint64(tt.warm), res[0])
				require.Zero(t, depth.Get())
			}
			res, err := recurse.Call(ctx, uint64(tt.n))
			if tt.trap {
				require.ErrorContains(t, err, "unreachable")
				return
			}
			require.NoError(t, err, "guest output: %s", h.out.String())
			require.Equal(t, uint64(tt.n), res[0])
			require.Zero(t, depth.Get())
		})
	}
}

// TestInstrumentCallDepth_Plugin instruments the patched real plugin at
// 16,384: it validates, compiles, initialises, starts and survives
// allocations (Go's runtime switching goroutines inside) with the counter
// back at 0 after every callback. It logs the size growth.
// Instantiating it is the compile check.
func TestInstrumentCallDepth_Plugin(t *testing.T) {
	patched, _, err := Patch(plugin(t), Options{})
	require.NoError(t, err)
	start := time.Now()
	out, err := InstrumentCallDepth(patched, goDepthLimit)
	took := time.Since(start)
	require.NoError(t, err)
	t.Logf("plugin: %d -> %d bytes (+%.1f%%) in %v", len(patched), len(out),
		100*float64(len(out)-len(patched))/float64(len(patched)), took)
	mod, h := startGo(t, exportDepth(t, out))
	ctx := context.Background()
	depth := mod.ExportedGlobal("calldepth")
	require.Zero(t, depth.Get(), "after _initialize")
	_, err = mod.ExportedFunction("proxy_on_context_create").Call(ctx, 1, 0)
	require.NoError(t, err, "guest output: %s", h.out.String())
	res, err := mod.ExportedFunction("proxy_on_vm_start").Call(ctx, 1, 0)
	require.NoError(t, err, "guest output: %s", h.out.String())
	require.Equal(t, uint64(1), res[0])
	require.Zero(t, depth.Get(), "after proxy_on_vm_start")
	alloc := mod.ExportedFunction("proxy_on_memory_allocate")
	for i := range 2000 { // 125 MiB in 64 KiB blocks: collections, so goroutine switches
		res, err := alloc.Call(ctx, 64<<10)
		require.NoError(t, err, "allocation %d; guest output: %s", i, h.out.String())
		require.NotZero(t, res[0])
		require.Zero(t, depth.Get(), "after allocation %d", i)
	}
}

// BenchmarkInstrumentCallDepth_Call compares calling deeprecurse's export
// patched ("plain") and patched then instrumented: recurse(1) is mostly the export's own cost,
// recurse(1000) mostly calls.
func BenchmarkInstrumentCallDepth_Call(b *testing.B) {
	plain, bounded := deepRecurse(b)
	for _, bc := range []struct {
		name   string
		module []byte
	}{{"plain", plain}, {"instrumented", bounded}} {
		for _, n := range []uint64{1, 1000} {
			b.Run(fmt.Sprintf("%s/n=%d", bc.name, n), func(b *testing.B) {
				mod, _ := startGo(b, bc.module)
				recurse := mod.ExportedFunction("recurse")
				ctx := context.Background()
				for b.Loop() {
					if _, err := recurse.Call(ctx, n); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
