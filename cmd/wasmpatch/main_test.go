package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// pollImporter is the smallest module importing WASI poll_oneoff: a type
// section with [i32 i32 i32 i32] -> [i32], an import section, and a
// memory section (the in-module poll_oneoff writes to memory).
var pollImporter = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x09, 0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f,
	0x02, 0x26, 0x01,
	0x16, 'w', 'a', 's', 'i', '_', 's', 'n', 'a', 'p', 's', 'h', 'o', 't', '_', 'p', 'r', 'e', 'v', 'i', 'e', 'w', '1',
	0x0b, 'p', 'o', 'l', 'l', '_', 'o', 'n', 'e', 'o', 'f', 'f', 0x00, 0x00,
	0x05, 0x03, 0x01, 0x00, 0x01,
}

// TestRun_PatchesOnceThenSaysSo runs the command's work in place twice and
// into a second file: one report line each, the second in-place run a
// no-op that says the module was patched already.
func TestRun_PatchesOnceThenSaysSo(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.wasm")
	require.NoError(t, os.WriteFile(in, pollImporter, 0o600))
	tests := []struct {
		name, out, want string
		changesIn       bool
	}{
		{name: "to another file", out: filepath.Join(dir, "out.wasm"), want: "replaced wasi_snapshot_preview1.poll_oneoff: 64 -> "},
		{name: "in place", out: in, want: "replaced wasi_snapshot_preview1.poll_oneoff: 64 -> ", changesIn: true},
		{name: "in place again", out: in, want: "nothing to replace (already patched: wasi_snapshot_preview1.poll_oneoff)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := os.ReadFile(in)
			require.NoError(t, err)
			var line bytes.Buffer
			require.NoError(t, run(&line, in, tt.out, split("wasi_snapshot_preview1.path_filestat_get, ")))
			require.Contains(t, line.String(), tt.want)
			require.Equal(t, 1, bytes.Count(line.Bytes(), []byte("\n")))
			after, err := os.ReadFile(in)
			require.NoError(t, err)
			require.Equal(t, tt.changesIn, !bytes.Equal(before, after))
			info, err := os.Stat(tt.out)
			require.NoError(t, err)
			require.Positive(t, info.Size())
		})
	}
}

// TestRun_RefusesBadInput leaves a file that is not a module untouched.
func TestRun_RefusesBadInput(t *testing.T) {
	in := filepath.Join(t.TempDir(), "bad.wasm")
	require.NoError(t, os.WriteFile(in, []byte("not wasm"), 0o600))
	require.ErrorContains(t, run(&bytes.Buffer{}, in, in, nil), "not a WebAssembly")
	b, err := os.ReadFile(in)
	require.NoError(t, err)
	require.Equal(t, "not wasm", string(b))
}
