package wasmpatch

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// bodyModule is a module with one memory, one immutable i32 global, and
// one function of type [] -> [i32] with the given body (size-prefixed),
// after imports (function imports of type [i32 x4] -> [i32]).
func bodyModule(imports [][]byte, fnBody []byte) []byte {
	return wasmModule(
		sec(secType, fnType(types(), types(tI32)), fnType(types(tI32, tI32, tI32, tI32), types(tI32)),
			fnType(types(tI32), types(tI32)), fnType(types(tI32), types())),
		sec(secImport, imports...),
		sec(secFunction, uleb(0)),
		sec(secMemory, []byte{0, 1}),
		sec(secGlobal, cat([]byte{byte(tI32), 0}, constExpr(i32c(0)))),
		sec(secExport, exportOf("f", kindFunc, uint32(len(imports)))),
		sec(secCode, fnBody),
	)
}

// TestPatch_RefusesBadModules feeds Patch modules that are malformed,
// ill-typed or unsupported and checks each is refused with a message
// naming the problem (the validator's type check included).
func TestPatch_RefusesBadModules(t *testing.T) {
	poll := importFunc("wasi_snapshot_preview1", "poll_oneoff", 1)
	one := func(b ...[]byte) []byte { return bodyModule(nil, body(0, b...)) }
	raw := func(b []byte) []byte { return bodyModule(nil, cat(uleb(uint32(len(b))), b)) }
	tests := []struct {
		name    string
		module  []byte
		wantErr string
	}{
		{"not wasm", []byte("\x7fELF"), "not a WebAssembly 1.0 binary"},
		{"truncated", one(i32c(1))[:30], "unexpected end"},
		{"result of the wrong type", one([]byte{opI64Const, 1}), "expected i32, found i64"},
		{"stack underflow", one([]byte{0x6a}), "operand stack underflow"},
		{"values left over", one(i32c(1), i32c(2)), "values left on the stack"},
		{"branch depth out of range", one([]byte{opBr, 5}), "branch depth 5 out of range"},
		{"call out of range", one(call(9)), "function index 9 out of range"},
		{"SIMD opcode", one([]byte{0xfd, 0x0c}), "unknown opcode 0xfd"},
		{"unknown 0xfc sub-opcode", one([]byte{opPrefixFC, 18}), "unknown opcode 0xfc 18"},
		{"atomics prefix", one([]byte{0xfe, 0x00}), "unknown opcode 0xfe"},
		{"alignment above natural", one(i32c(0), []byte{0x28, 3, 0}), "alignment 2^3"},
		{"set of an immutable global", one(i32c(1), []byte{opGlobalSet, 0}, i32c(0)), "immutable global 0"},
		{"if without else changes the stack", one(i32c(1), []byte{opIf, byte(tI32)}, i32c(2), []byte{opEnd}), "if without else"},
		{"select of mixed types", one(i32c(1), []byte{opI64Const, 2}, i32c(0), []byte{opSelect}), "select of"},
		{"local out of range", one([]byte{opLocalGet, 3}), "local index 3 out of range"},
		{"br_if carrying the wrong type", one([]byte{opBlock, byte(tI32), opI64Const, 1}, i32c(1),
			[]byte{opBrIf, 0, opDrop}, i32c(0), []byte{opEnd}), "expected i32, found i64"},
		{"ref.func of an undeclared function", wasmModule(sec(secType, fnType(types(), types(tI32))),
			sec(secFunction, uleb(0), uleb(0)), sec(secExport, exportOf("f", kindFunc, 0)),
			sec(secCode, body(0, refFunc(1), []byte{opDrop}, i32c(0)), body(0, i32c(0)))), "ref.func 1 of a function not declared"},
		{"memory.init without data count", one(i32c(0), i32c(0), i32c(0), []byte{opPrefixFC, 8, 0, 0}, i32c(0)),
			"without a data count section"},
		{"body without its end", raw([]byte{0, opI32Const, 1}), "without its final end"},
		{"instructions after the end", raw([]byte{0, opI32Const, 1, opEnd, opNop}), "after the function's end"},
		{"bad body after a replaced import", bodyModule([][]byte{poll}, body(0, []byte{opI64Const, 1})),
			"input does not validate"},
		{"poll_oneoff of another type", bodyModule([][]byte{importFunc("wasi_snapshot_preview1", "poll_oneoff", 2)},
			body(0, i32c(0))), "poll_oneoff has type [i32] -> [i32]"},
		{"a listed import without an errno result", bodyModule([][]byte{importFunc("wasi_snapshot_preview1",
			"path_filestat_get", 3)}, body(0, i32c(0))), "only a function returning one i32 errno"},
		{"poll_oneoff in a module without memory", wasmModule(sec(secType, fnType(types(tI32, tI32, tI32, tI32), types(tI32))),
			sec(secImport, importFunc("wasi_snapshot_preview1", "poll_oneoff", 0))), "has no memory"},
		{"relocatable object", cat(one(i32c(0)), customSec("linking", []byte{2})), "relocatable object files"},
		{"sections out of order", wasmModule(sec(secFunction), sec(secType)), "out of order"},
		{"start of the wrong type", wasmModule(sec(secType, fnType(types(), types(tI32))), sec(secFunction, uleb(0)),
			rawSec(secStart, uleb(0)), sec(secCode, body(0, i32c(0)))), "start function of type"},
		{"duplicate export", wasmModule(sec(secType, fnType(types(), types(tI32))), sec(secFunction, uleb(0)),
			sec(secExport, exportOf("f", kindFunc, 0), exportOf("f", kindFunc, 0)), sec(secCode, body(0, i32c(0)))),
			"duplicate name"},
		{"functions without bodies", wasmModule(sec(secType, fnType(types(), types())), sec(secFunction, uleb(0))),
			"1 functions declared but 0 bodies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Patch(tt.module, Options{})
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// TestReader_LEB128 pins the integer decoding limits of the binary format.
func TestReader_LEB128(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		signed  bool
		bits    uint
		want    int64
		wantErr bool
	}{
		{name: "u32 max", in: []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, bits: 32, want: 1<<32 - 1},
		{name: "u32 non-minimal zero", in: []byte{0x80, 0x80, 0x00}, bits: 32, want: 0},
		{name: "u32 overflow bits", in: []byte{0xff, 0xff, 0xff, 0xff, 0x1f}, bits: 32, wantErr: true},
		{name: "u32 too long", in: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, bits: 32, wantErr: true},
		{name: "s32 -1", in: []byte{0x7f}, signed: true, bits: 32, want: -1},
		{name: "s32 min", in: []byte{0x80, 0x80, 0x80, 0x80, 0x78}, signed: true, bits: 32, want: -1 << 31},
		{name: "s32 bad sign bits", in: []byte{0x80, 0x80, 0x80, 0x80, 0x70}, signed: true, bits: 32, wantErr: true},
		{name: "s33 block type 0x40", in: []byte{0x40}, signed: true, bits: 33, want: blockEmpty},
		{name: "s64 max", in: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00}, signed: true, bits: 64,
			want: 1<<63 - 1},
		{name: "s64 min", in: []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f}, signed: true, bits: 64,
			want: -1 << 63},
		{name: "truncated", in: []byte{0x80}, bits: 32, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &reader{b: tt.in}
			var got int64
			var err error
			if tt.signed {
				got, err = r.sleb(tt.bits)
			} else {
				var u uint64
				u, err = r.uleb(tt.bits)
				got = int64(u)
			}
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.True(t, r.done())
		})
	}
}

// FuzzPatch feeds Patch mutated modules: it must never panic, and return
// an error, the module itself (nothing to replace), or a module that
// validates, that wazero compiles too (a differential check of the
// validator), and that a second patch leaves as it is.
func FuzzPatch(f *testing.F) {
	f.Add(referenceModule())
	f.Add(wasiCaller())
	f.Add(bodyModule(nil, body(1, localGet(0), []byte{opIf, 0x40, opEnd}, i32c(1))))
	f.Fuzz(func(t *testing.T, module []byte) {
		out, rep, err := Patch(module, Options{Replace: []string{filestat, "host.b"}})
		if err != nil {
			return
		}
		if len(rep.Replaced) == 0 {
			require.Equal(t, module, out, "nothing replaced: returned as it is")
			return
		}
		require.NoError(t, check(out))
		require.NoError(t, compiles(t, out), "wazero compiles what Patch validated")
		again, _, err := Patch(out, Options{Replace: []string{filestat, "host.b"}})
		require.NoError(t, err)
		require.Equal(t, out, again, "idempotent (replaced %v)", rep.Replaced)
	})
}
