package wasmpatch

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

const filestat = "wasi_snapshot_preview1.path_filestat_get"

// funcNames reads a module's function names ("name" section, subsection 1).
func funcNames(t *testing.T, module []byte) map[uint32]string {
	m, err := decode(module)
	require.NoError(t, err)
	names := map[uint32]string{}
	for _, s := range m.sections {
		if s.id != secCustom || s.name != "name" {
			continue
		}
		r := &reader{b: s.payload}
		for !r.done() {
			id, _ := r.byte()
			size, _ := r.u32()
			sub, err := r.bytes(size)
			require.NoError(t, err)
			if id != nameFunctions {
				continue
			}
			entries, err := readNameMap(sub, false)
			require.NoError(t, err)
			for _, e := range entries {
				name, err := (&reader{b: e.raw}).name()
				require.NoError(t, err)
				names[e.idx] = name
			}
		}
	}
	return names
}

// exportedFuncs maps each exported function's name to its index.
func exportedFuncs(t *testing.T, module []byte) map[string]uint32 {
	m, err := decode(module)
	require.NoError(t, err)
	out := map[string]uint32{}
	for _, e := range m.exports {
		if e.kind == kindFunc {
			out[e.name] = e.idx
		}
	}
	return out
}

// TestPatch_RenumbersEveryReference patches referenceModule with several
// replace lists and checks every export still reaches the function it
// reached before (same results on the same host, the replaced ones
// answering ENOSYS), the imports left, the names kept, and that a second
// patch changes nothing.
func TestPatch_RenumbersEveryReference(t *testing.T) {
	orig := referenceModule()
	require.NoError(t, compiles(t, orig), "the reference module itself must be valid")
	require.Equal(t, referenceResults, runReference(t, orig))
	tests := []struct {
		name        string
		replace     []string
		wantReplace []string
		wantImports []string
		changed     map[string]uint64 // results that differ from referenceResults
	}{
		{
			name:        "default: poll_oneoff (imported twice) and path_filestat_get",
			wantReplace: []string{PollOneoff, filestat},
			wantImports: []string{"host.a", "env.g", "host.b", "host.c"},
		},
		{
			name: "empty list: only poll_oneoff", replace: []string{},
			wantReplace: []string{PollOneoff},
			wantImports: []string{"host.a", "env.g", "host.b", filestat, "host.c"},
		},
		{
			name: "host.b listed, and one the module lacks", replace: []string{filestat, "host.b", "x.absent"},
			wantReplace: []string{PollOneoff, "host.b", filestat},
			wantImports: []string{"host.a", "env.g", "host.c"},
			changed: map[string]uint64{"callB": ErrnoNosys, "viaTable": ErrnoNosys, "viaGlobal": ErrnoNosys,
				"viaForm2": ErrnoNosys, "viaImportExpr": ErrnoNosys},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			patched, rep, err := Patch(orig, Options{Replace: tt.replace})
			require.NoError(t, err)
			require.Equal(t, tt.wantReplace, rep.Replaced)
			require.Equal(t, tt.wantImports, importNames(t, patched))
			require.NoError(t, compiles(t, patched))
			want := maps.Clone(referenceResults)
			maps.Copy(want, tt.changed)
			require.Equal(t, want, runReference(t, patched))

			oldNames, newNames := funcNames(t, orig), funcNames(t, patched)
			oldIdx, newIdx := exportedFuncs(t, orig), exportedFuncs(t, patched)
			for name, idx := range oldIdx {
				require.Equal(t, oldNames[idx], newNames[newIdx[name]], "name of export %s", name)
			}
			for i, key := range tt.wantReplace {
				idx := uint32(len(newIdx)) // never an export: look the new function up by name
				for j, n := range newNames {
					if n == "wasmpatch:"+key {
						idx = j
					}
				}
				require.NotEqual(t, uint32(len(newIdx)), idx, "replacement %d (%s) is named", i, key)
			}

			again, rep2, err := Patch(patched, Options{Replace: tt.replace})
			require.NoError(t, err)
			require.Equal(t, patched, again, "patching twice changes nothing")
			require.Empty(t, rep2.Replaced)
			require.Equal(t, tt.wantReplace, rep2.Earlier)
			require.Contains(t, rep2.String(), "nothing to replace (already patched")
		})
	}
}

// TestPatch_KeepsFunctionNames checks, on a Go-built module with a "name"
// section, that every defined function keeps its name in the same order
// and the replacements follow them, named after what they replace.
func TestPatch_KeepsFunctionNames(t *testing.T) {
	orig := buildWasm(t, "./wasmpatch/testdata/gcheavy", "")
	patched, rep, err := Patch(orig, Options{})
	require.NoError(t, err)
	names := func(module []byte) []string {
		m := funcNames(t, module)
		keys := slices.Sorted(maps.Keys(m))
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = m[k]
		}
		return out
	}
	before, after := names(orig), names(patched)
	require.NotEmpty(t, before)
	want := append(slices.Clone(before), "wasmpatch:"+rep.Replaced[0], "wasmpatch:"+rep.Replaced[1])
	require.Equal(t, want, after)
	require.Equal(t, funcNames(t, orig)[exportedFuncs(t, orig)["churn"]], funcNames(t, patched)[exportedFuncs(t, patched)["churn"]])
}

// TestPatch_NothingToReplace returns a module without those imports as it
// is, byte for byte, and says so.
func TestPatch_NothingToReplace(t *testing.T) {
	module := wasmModule(sec(secType, fnType(types(), types(tI32))), sec(secFunction, uleb(0)),
		sec(secExport, exportOf("f", kindFunc, 0)), sec(secCode, body(0, i32c(7))))
	out, rep, err := Patch(module, Options{})
	require.NoError(t, err)
	require.Equal(t, module, out)
	require.Empty(t, rep.Replaced)
	require.Equal(t, len(module), rep.SizeAfter)
	require.Equal(t, fmt.Sprintf("nothing to replace: %d bytes, unchanged", len(module)), rep.String())
}

// TestRenumberExpr rewrites exactly the function-index immediates, found
// by decoding: bytes that look like a call inside other immediates stay.
func TestRenumberExpr(t *testing.T) {
	remap := make([]uint32, 300)
	for i := range remap {
		remap[i] = uint32(i) + 1000
	}
	tests := []struct {
		name     string
		in, want []byte
	}{
		{"call", call(5), call(1005)},
		{"return_call", cat([]byte{opReturnCall}, uleb(299)), cat([]byte{opReturnCall}, uleb(1299))},
		{"ref.func", refFunc(0), refFunc(1000)},
		{"non-minimal LEB, as Go's linker writes", []byte{opCall, 0x85, 0x00}, call(1005)},
		{"i32.const 16 is not a call", i32c(16), i32c(16)},
		{"i64.const with 0x10 bytes", cat([]byte{opI64Const}, sleb(0x1010)), cat([]byte{opI64Const}, sleb(0x1010))},
		{"call_indirect keeps its type index", callIndirect(16), callIndirect(16)},
		{"memory.copy then call", cat([]byte{opPrefixFC, 10, 0, 0}, call(1)), cat([]byte{opPrefixFC, 10, 0, 0}, call(1001))},
		{"br_table then call", cat([]byte{opBrTable, 2, 0x10, 0x10, 0x10}, call(2)),
			cat([]byte{opBrTable, 2, 0x10, 0x10, 0x10}, call(1002))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renumberExpr(nil, tt.in, remap)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestPatch_DropsMalformedNames keeps patching a module whose "name"
// section cannot be read (engines ignore such a section): the section is
// dropped and the report says so.
func TestPatch_DropsMalformedNames(t *testing.T) {
	module := cat(wasiCaller(), customSec("name", []byte{nameFunctions, 9, 1}))
	out, rep, err := Patch(module, Options{})
	require.NoError(t, err)
	require.True(t, rep.NamesDropped)
	require.Contains(t, rep.String(), "dropped a malformed name section")
	m, err := decode(out)
	require.NoError(t, err)
	for _, s := range m.sections {
		require.False(t, s.id == secCustom && s.name == "name", "the name section is gone")
	}
	require.NoError(t, compiles(t, out))
}
