package wasmpatch

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// plugin builds the real plugin (module root ".") as build.sh does.
func plugin(t testing.TB) []byte { return buildWasm(t, ".", "-s -w") }

// TestPatch_Plugin patches the real plugin: poll_oneoff and
// path_filestat_get leave the import section, wazero compiles the result,
// and patching it again is a byte-identical no-op.
func TestPatch_Plugin(t *testing.T) {
	orig := plugin(t)
	require.Contains(t, importNames(t, orig), PollOneoff)
	require.Contains(t, importNames(t, orig), filestat)
	start := time.Now()
	patched, rep, err := Patch(orig, Options{})
	took := time.Since(start)
	require.NoError(t, err)
	t.Logf("plugin: %v in %v", rep, took)
	require.Equal(t, []string{PollOneoff, filestat}, rep.Replaced)
	require.Equal(t, len(orig), rep.SizeBefore)
	require.Equal(t, len(patched), rep.SizeAfter)
	imports := importNames(t, patched)
	require.NotContains(t, imports, PollOneoff)
	require.NotContains(t, imports, filestat)
	require.Len(t, imports, len(importNames(t, orig))-2)
	require.NoError(t, compiles(t, patched))

	again, rep2, err := Patch(patched, Options{})
	require.NoError(t, err)
	require.Equal(t, patched, again)
	require.Empty(t, rep2.Replaced)
	require.Equal(t, []string{PollOneoff, filestat}, rep2.Earlier)
}

// TestPatch_PluginOnOlderHost plays Envoy 1.36-1.38's WASI (no
// path_filestat_get, poll_oneoff answering ENOSYS): the unpatched plugin
// does not link; patched, it links, initialises, creates its root context,
// starts, and survives 20,000 proxy_on_memory_allocate calls of 64 KiB
// (1.25 GiB allocated while its memory stays a few MiB, so hundreds of
// collections) without a trap and without calling the host's poll_oneoff.
//
// The unpatched plugin's death at a collection is shown by
// TestPatch_GCHeavyProgram instead: here, allocation alone never reaches
// poll_oneoff, because Go starts its netpoller only for a timer or a
// pollable file, and a callback that never blocks gives the runtime's
// background goroutines (whose sleeps are timers) no chance to run.
func TestPatch_PluginOnOlderHost(t *testing.T) {
	orig := plugin(t)
	patched, _, err := Patch(orig, Options{})
	require.NoError(t, err)
	tests := []struct {
		name    string
		module  []byte
		linkErr string // the instantiation fails with this; empty: it runs
	}{
		{name: "unpatched does not link", module: orig, linkErr: "path_filestat_get"},
		{name: "patched links and runs", module: patched},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &wasiHost{enosysPoll: true}
			mod, err := h.instantiate(t, tt.module)
			if tt.linkErr != "" {
				require.ErrorContains(t, err, tt.linkErr)
				return
			}
			require.NoError(t, err)
			ctx := context.Background()
			_, err = mod.ExportedFunction("_initialize").Call(ctx)
			require.NoError(t, err, "guest output: %s", h.out.String())
			_, err = mod.ExportedFunction("proxy_on_context_create").Call(ctx, 1, 0)
			require.NoError(t, err, "guest output: %s", h.out.String())
			res, err := mod.ExportedFunction("proxy_on_vm_start").Call(ctx, 1, 0)
			require.NoError(t, err, "guest output: %s", h.out.String())
			require.Equal(t, uint64(1), res[0])
			alloc := mod.ExportedFunction("proxy_on_memory_allocate")
			for i := 0; i < 20000; i++ {
				res, err := alloc.Call(ctx, 64<<10)
				require.NoError(t, err, "allocation %d; guest output: %s", i, h.out.String())
				require.NotZero(t, res[0])
			}
			require.Less(t, mod.Memory().Size(), uint32(64<<20), "the collector ran")
			require.Zero(t, h.pollCalls)
		})
	}
}

// BenchmarkPatch_Plugin measures patching the real plugin, validation of
// the output (its type check included) counted.
func BenchmarkPatch_Plugin(b *testing.B) {
	orig := plugin(b)
	b.SetBytes(int64(len(orig)))
	for b.Loop() {
		if _, _, err := Patch(orig, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
