package wasmpatch

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPatch_GCHeavyProgram runs testdata/gcheavy's churn (64 MiB in 64 KiB
// blocks, 8 runtime.GC calls) on the tests' WASI: unpatched on a host
// whose poll_oneoff answers ENOSYS, Go's runtime throws at its first
// stop-the-world; patched, it runs to the end without ever calling the
// host's poll_oneoff. The control case shows the unpatched program is fine
// on a host whose poll_oneoff works.
func TestPatch_GCHeavyProgram(t *testing.T) {
	// Built without -s, so its "name" section is renumbered too.
	orig := buildWasm(t, "./wasmpatch/testdata/gcheavy", "")
	patched, rep, err := Patch(orig, Options{})
	require.NoError(t, err)
	require.Equal(t, []string{PollOneoff, "wasi_snapshot_preview1.path_filestat_get"}, rep.Replaced)
	const mb, gcs = 4, 8
	tests := []struct {
		name       string
		module     []byte
		enosysPoll bool
		wantTrap   string // empty: runs to the end
		wantPolls  func(t *testing.T, n int)
	}{
		{
			name: "unpatched on a host whose poll_oneoff answers ENOSYS throws", module: orig, enosysPoll: true,
			wantTrap:  "runtime.throw", // in the trap's stack: netpoll, then usleep, throw
			wantPolls: func(t *testing.T, n int) { require.Positive(t, n) },
		},
		{
			name: "unpatched on a host whose poll_oneoff works runs (control)", module: orig,
			wantPolls: func(t *testing.T, n int) { require.Positive(t, n) },
		},
		{
			name: "patched on a host whose poll_oneoff answers ENOSYS runs, never calling it", module: patched, enosysPoll: true,
			wantPolls: func(t *testing.T, n int) { require.Zero(t, n) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &wasiHost{enosysPoll: tt.enosysPoll, filestat: true}
			mod, err := h.instantiate(t, tt.module)
			require.NoError(t, err)
			ctx := context.Background()
			_, err = mod.ExportedFunction("_initialize").Call(ctx)
			require.NoError(t, err, "guest output: %s", h.out.String())
			res, err := mod.ExportedFunction("churn").Call(ctx, mb, gcs)
			if tt.wantTrap != "" {
				require.ErrorContains(t, err, tt.wantTrap)
				require.ErrorContains(t, err, "runtime.netpoll")
				require.Contains(t, h.out.String(), "poll_oneoff", "Go's fatal error names the failing call")
			} else {
				require.NoError(t, err, "guest output: %s", h.out.String())
				require.Equal(t, uint64(mb*gcs<<20), res[0])
			}
			tt.wantPolls(t, h.pollCalls)
		})
	}
}
