package wasmpatch

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// depthModule is the hand-built module of the call-depth tests. Every
// function has type [i32] -> [i32]; f, g, h return their argument n after
// recursing n levels deep:
//
//	0 env.id   imported identity function (the host)
//	1 f(n)     n == 0 ? 0 : f(n-1) + 1, by call
//	2 g(n)     the same by call_indirect (table slot 0 holds g)
//	3 h(n)     n == 0 ? env.id(0) : h(n-1) + 1: one host call at the bottom
//	4 t(n)     n == 0 ? 0 : return_call t(n-1): a tail recursion
//	5 u(n)     t(n), by call
//
// Global 0 is the imported env.base, global 1 a defined mutable i32 of 42
// (exported as "keep"), so the depth counter becomes global 2. The "name"
// section names the functions.
func depthModule() []byte {
	const t0 = 0
	recursion := func(self []byte) []byte {
		return cat(localGet(0), []byte{opI32Eqz, opIf, byte(tI32)}, i32c(0), []byte{opElse},
			localGet(0), i32c(1), []byte{opI32Sub}, self, i32c(1), []byte{opI32Add, opEnd})
	}
	return wasmModule(
		sec(secType, fnType(types(tI32), types(tI32))),
		sec(secImport, importFunc("env", "id", t0), importGlobal("env", "base", tI32)),
		sec(secFunction, uleb(t0), uleb(t0), uleb(t0), uleb(t0), uleb(t0)),
		sec(secTable, []byte{byte(tFuncref), 0, 1}),
		sec(secGlobal, cat([]byte{byte(tI32), 1}, constExpr(i32c(42)))),
		sec(secExport, exportOf("f", kindFunc, 1), exportOf("g", kindFunc, 2), exportOf("h", kindFunc, 3),
			exportOf("tail", kindFunc, 5), exportOf("keep", kindGlobal, 1)),
		sec(secElement, cat(uleb(0), constExpr(i32c(0)), vecOf(uleb(2)))),
		sec(secCode,
			body(0, recursion(call(1))),
			body(0, recursion(cat(i32c(0), callIndirect(t0)))),
			body(0, localGet(0), []byte{opI32Eqz, opIf, byte(tI32)}, i32c(0), call(0), []byte{opElse},
				localGet(0), i32c(1), []byte{opI32Sub}, call(3), i32c(1), []byte{opI32Add, opEnd}),
			body(0, localGet(0), []byte{opI32Eqz, opIf, byte(tI32)}, i32c(0), []byte{opElse},
				localGet(0), i32c(1), []byte{opI32Sub, opReturnCall, 4, opEnd}),
			body(0, localGet(0), call(4)),
		),
		nameSection(map[uint32]string{1: "f", 2: "g", 3: "h", 4: "t", 5: "u"}, map[uint32]string{1: "n"}),
	)
}

// bareModule has f alone: no imports, no global section, no names.
func bareModule() []byte {
	return wasmModule(
		sec(secType, fnType(types(tI32), types(tI32))),
		sec(secFunction, uleb(0)),
		sec(secExport, exportOf("f", kindFunc, 0)),
		sec(secCode, body(0, localGet(0), []byte{opI32Eqz, opIf, byte(tI32)}, i32c(0), []byte{opElse},
			localGet(0), i32c(1), []byte{opI32Sub}, call(0), i32c(1), []byte{opI32Add, opEnd})),
	)
}

// exportDepth exports an instrumented module's depth counter, its last
// global, as "calldepth", so a test can read it.
func exportDepth(t testing.TB, module []byte) []byte {
	m, err := decode(module)
	require.NoError(t, err)
	idx := m.numImported(kindGlobal) + uint32(len(m.globals)) - 1
	m.exports = append(m.exports, export{name: "calldepth", kind: kindGlobal, idx: idx})
	return m.encode()
}

// runDepthModule instantiates an instrumented hand-built module (its
// counter exported) next to an "env" providing id and base, tail calls
// enabled.
func runDepthModule(t *testing.T, module []byte) api.Module {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCoreFeatures(api.CoreFeaturesV2|experimental.CoreFeaturesTailCall))
	t.Cleanup(func() { rt.Close(ctx) })
	_, err := rt.InstantiateWithConfig(ctx, wasmModule(
		sec(secType, fnType(types(tI32), types(tI32))),
		sec(secFunction, uleb(0)),
		sec(secGlobal, cat([]byte{byte(tI32), 0}, constExpr(i32c(7)))),
		sec(secExport, exportOf("id", kindFunc, 0), exportOf("base", kindGlobal, 0)),
		sec(secCode, body(0, localGet(0))),
	), wazero.NewModuleConfig().WithName("env"))
	require.NoError(t, err)
	mod, err := rt.InstantiateWithConfig(ctx, exportDepth(t, module), wazero.NewModuleConfig().WithName("guest"))
	require.NoError(t, err)
	return mod
}

// TestInstrumentCallDepth_TrapsDeeperThanLimit runs the instrumented
// recursions at and past the boundary: with limit L, a recursion entered
// from the host may be L frames deep (f(L-1)) and traps at L+1 (f(L)).
// Each successful call is made three times and leaves the counter at 0,
// so it is balanced; a host call counts as a frame; tail calls do not
// deepen the stack.
func TestInstrumentCallDepth_TrapsDeeperThanLimit(t *testing.T) {
	tests := []struct {
		name   string
		module func() []byte
		limit  uint32
		export string
		n      uint32
		trap   bool // else it returns want
		want   uint32
	}{
		{name: "call: f(L-1) is L frames and runs", module: depthModule, limit: 10, export: "f", n: 9, want: 9},
		{name: "call: f(L) traps", module: depthModule, limit: 10, export: "f", n: 10, trap: true},
		{name: "call: f(L+3) traps", module: depthModule, limit: 10, export: "f", n: 13, trap: true},
		{name: "call_indirect: g(L-1) runs", module: depthModule, limit: 10, export: "g", n: 9, want: 9},
		{name: "call_indirect: g(L) traps", module: depthModule, limit: 10, export: "g", n: 10, trap: true},
		{name: "host call counts: h(L-2) runs", module: depthModule, limit: 10, export: "h", n: 8, want: 8},
		{name: "host call counts: h(L-1) traps", module: depthModule, limit: 10, export: "h", n: 9, trap: true},
		{name: "tail calls do not deepen: u -> t 1000 times", module: depthModule, limit: 10, export: "tail", n: 1000, want: 0},
		{name: "limit 1: the entry frame alone runs", module: depthModule, limit: 1, export: "f", n: 0, want: 0},
		{name: "limit 1: any call traps", module: depthModule, limit: 1, export: "tail", n: 0, trap: true},
		{name: "limit 2^32-1 compares unsigned", module: depthModule, limit: 1<<32 - 1, export: "f", n: 500, want: 500},
		{name: "no global section: f(L-1) runs", module: bareModule, limit: 5, export: "f", n: 4, want: 4},
		{name: "no global section: f(L) traps", module: bareModule, limit: 5, export: "f", n: 5, trap: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := InstrumentCallDepth(tt.module(), tt.limit)
			require.NoError(t, err)
			mod := runDepthModule(t, out)
			ctx := context.Background()
			fn := mod.ExportedFunction(tt.export)
			if tt.trap {
				_, err := fn.Call(ctx, uint64(tt.n))
				require.ErrorContains(t, err, "unreachable")
				return
			}
			for range 3 {
				res, err := fn.Call(ctx, uint64(tt.n))
				require.NoError(t, err)
				require.Equal(t, uint64(tt.want), res[0])
				require.Zero(t, mod.ExportedGlobal("calldepth").Get(), "the counter is back to 0")
			}
		})
	}
}

// TestInstrumentCallDepth_KeepsTheRest checks what else the output holds:
// the counter appended after the imported and defined globals (whose
// indices and values stay), named in the "name" section, the marker, and
// the untouched exports.
func TestInstrumentCallDepth_KeepsTheRest(t *testing.T) {
	out, err := InstrumentCallDepth(depthModule(), 10)
	require.NoError(t, err)
	m, err := decode(out)
	require.NoError(t, err)
	require.Len(t, m.globals, 2)
	require.Equal(t, global{typ: globalType{typ: tI32, mutable: true}, init: []byte{opI32Const, 0, opEnd}}, m.globals[1])
	var names, marker []byte
	for _, s := range m.sections {
		switch {
		case s.id == secCustom && s.name == "name":
			names = s.payload
		case s.id == secCustom && s.name == callDepthSection:
			marker = s.payload
		}
	}
	require.Equal(t, uleb(10), marker)
	require.Equal(t, rawSec(nameGlobals, vecOf(cat(uleb(2), str(callDepthName)))),
		names[len(names)-len(rawSec(nameGlobals, vecOf(cat(uleb(2), str(callDepthName))))):], "global 2 named last")
	require.Equal(t, map[uint32]string{1: "f", 2: "g", 3: "h", 4: "t", 5: "u"}, funcNames(t, out))
	require.Equal(t, exportedFuncs(t, depthModule()), exportedFuncs(t, out))
	mod := runDepthModule(t, out)
	require.Equal(t, uint64(42), mod.ExportedGlobal("keep").Get())
}

// TestInstrumentCallDepth_Refuses pins each refusal's message.
func TestInstrumentCallDepth_Refuses(t *testing.T) {
	once, err := InstrumentCallDepth(bareModule(), 10)
	require.NoError(t, err)
	tests := []struct {
		name    string
		module  []byte
		limit   uint32
		is      error
		wantErr string
	}{
		{name: "twice", module: once, limit: 20, is: ErrCallDepthInstrumented,
			wantErr: "wasmpatch: module already instrumented for call depth (limit 10)"},
		{name: "limit 0", module: bareModule(), limit: 0,
			wantErr: "wasmpatch: call depth limit 0: the frame the host calls needs at least 1"},
		{name: "not wasm", module: []byte("\x7fELF"), limit: 10, wantErr: "not a WebAssembly 1.0 binary"},
		{name: "relocatable", module: cat(bareModule(), customSec("linking", []byte{2})), limit: 10,
			wantErr: `"linking" section: relocatable object files are not supported`},
		{name: "ill-typed input", module: bodyModule(nil, body(0, i32c(1), call(0))), limit: 10,
			wantErr: "wasmpatch: input does not validate"},
		{name: "unknown opcode", module: bodyModule(nil, body(0, []byte{0xfd, 0x0c})), limit: 10,
			wantErr: "unknown opcode 0xfd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := InstrumentCallDepth(tt.module, tt.limit)
			require.ErrorContains(t, err, tt.wantErr)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
		})
	}
}

// TestCountCalls wraps exactly the calls found by decoding: tail calls and
// bytes that look like calls inside immediates stay as they are.
func TestCountCalls(t *testing.T) {
	enter, leave := []byte{0xe0}, []byte{0xe1} // markers: the function copies them, never decodes them
	tests := []struct {
		name     string
		in, want []byte
	}{
		{"call", call(5), cat(enter, call(5), leave)},
		{"call_indirect", callIndirect(3), cat(enter, callIndirect(3), leave)},
		{"non-minimal LEB, as Go's linker writes", []byte{opCall, 0x85, 0x00}, cat(enter, []byte{opCall, 0x85, 0x00}, leave)},
		{"return_call stays", []byte{opReturnCall, 4}, []byte{opReturnCall, 4}},
		{"return_call_indirect stays", []byte{opReturnCallIndirect, 0, 0}, []byte{opReturnCallIndirect, 0, 0}},
		{"i32.const 16 is not a call", i32c(16), i32c(16)},
		{"two calls", cat(call(1), i32c(17), call(2)), cat(enter, call(1), leave, i32c(17), enter, call(2), leave)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			locals := []byte{1, 2, byte(tI32)}
			got, err := countCalls(cat(locals, tt.in, []byte{opEnd}), enter, leave)
			require.NoError(t, err)
			require.Equal(t, cat(locals, tt.want, []byte{opEnd}), got)
		})
	}
}

// TestAddGlobalName adds the counter's name (global 5) to name sections
// of several shapes, keeping subsections in ascending order.
func TestAddGlobalName(t *testing.T) {
	entry := cat(uleb(5), str("d"))
	funcs := rawSec(nameFunctions, vecOf(cat(uleb(0), str("f"))))
	dataNames := rawSec(9, vecOf(cat(uleb(0), str("x"))))
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr string
	}{
		{name: "empty", in: nil, want: rawSec(nameGlobals, vecOf(entry))},
		{name: "after the function names", in: funcs, want: cat(funcs, rawSec(nameGlobals, vecOf(entry)))},
		{name: "before data names", in: cat(funcs, dataNames), want: cat(funcs, rawSec(nameGlobals, vecOf(entry)), dataNames)},
		{name: "appended to global names", in: rawSec(nameGlobals, vecOf(cat(uleb(1), str("a")))),
			want: rawSec(nameGlobals, vecOf(cat(uleb(1), str("a")), entry))},
		{name: "a global name at or above the new index", in: rawSec(nameGlobals, vecOf(cat(uleb(5), str("a")))),
			wantErr: "global 5 out of range"},
		{name: "global names after data names", in: cat(dataNames, rawSec(nameGlobals, vecOf())), wantErr: "out of order"},
		{name: "truncated", in: []byte{nameFunctions, 9, 1}, wantErr: "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := addGlobalName(tt.in, 5, "d")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestInstrumentCallDepth_DropsMalformedNames drops a "name" section it
// cannot read, as Patch does (engines ignore such a section).
func TestInstrumentCallDepth_DropsMalformedNames(t *testing.T) {
	out, err := InstrumentCallDepth(cat(bareModule(), customSec("name", []byte{nameFunctions, 9, 1})), 10)
	require.NoError(t, err)
	m, err := decode(out)
	require.NoError(t, err)
	for _, s := range m.sections {
		require.False(t, s.id == secCustom && s.name == "name", "the name section is gone")
	}
	require.NoError(t, compiles(t, out))
}

// FuzzInstrumentCallDepth: whatever the input, InstrumentCallDepth either
// refuses it or writes a module that validates; it refuses a module that
// validates only as instrumented already or relocatable; wazero compiles its output whenever it compiles the
// input; and a second run is refused as such.
func FuzzInstrumentCallDepth(f *testing.F) {
	f.Add(depthModule(), uint32(10))
	f.Add(bareModule(), uint32(1))
	f.Add(referenceModule(), uint32(1<<31))
	f.Fuzz(func(t *testing.T, module []byte, limit uint32) {
		limit = max(limit, 1)
		out, err := InstrumentCallDepth(module, limit)
		if err != nil {
			if !errors.Is(err, ErrCallDepthInstrumented) && !strings.Contains(err.Error(), "relocatable") {
				require.Error(t, check(module), "refused a module that validates: %v", err)
			}
			return
		}
		require.NoError(t, check(out))
		if compiles(t, module) == nil {
			require.NoError(t, compiles(t, out), "wazero compiles the input but not the output")
		}
		_, err = InstrumentCallDepth(out, limit)
		require.ErrorIs(t, err, ErrCallDepthInstrumented)
	})
}
