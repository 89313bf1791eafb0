package wasmpatch

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Function indices of referenceModule before patching.
const (
	fA, fPoll, fB, fStat, fC, fPoll2 = 0, 1, 2, 3, 4, 5 // imports (env.g, a global, sits between fPoll and fB)
	fCallA                           = 6                // first defined function
)

// referenceModule reaches functions in every way a module can: call of
// imports and of defined functions, a duplicated import (Go imports
// fd_write twice), call_indirect through slots filled by element segments
// of all eight forms, ref.func in bodies, element expressions and a
// global, table.init from passive segments (one holding a replaced
// import), a start function, exports, a "name" section with function and
// local names, and memory.init with a data count section.
func referenceModule() []byte {
	const t0, tPoll, tStat, tVoid = 0, 1, 2, 3
	const gImp, gFuncref, gStarted = 0, 1, 2
	ci := func(slot int32) []byte { return cat(i32c(slot), callIndirect(t0)) }
	tableSet := func(slot int32, ref []byte) []byte { return cat(i32c(slot), ref, []byte{opTableSet, 0}) }
	tableInit := func(elem, slot uint32) []byte {
		return cat(i32c(int32(slot)), i32c(0), i32c(1), []byte{opPrefixFC}, uleb(12), uleb(elem), uleb(0))
	}
	zeros := func(n int) []byte {
		var b []byte
		for range n {
			b = append(b, i32c(0)...)
		}
		return b
	}
	offset := func(slot int32) []byte { return constExpr(i32c(slot)) }
	funcref := []byte{byte(tFuncref)}
	wasi := "wasi_snapshot_preview1"
	return wasmModule(
		sec(secType, fnType(types(), types(tI32)), fnType(types(tI32, tI32, tI32, tI32), types(tI32)),
			fnType(types(tI32, tI32, tI32, tI32, tI32), types(tI32)), fnType(types(), types())),
		sec(secImport, importFunc("host", "a", t0), importFunc(wasi, "poll_oneoff", tPoll),
			importGlobal("env", "g", tI32), importFunc("host", "b", t0), importFunc(wasi, "path_filestat_get", tStat),
			importFunc("host", "c", t0), importFunc(wasi, "poll_oneoff", tPoll)),
		sec(secFunction, uleb(t0), uleb(t0), uleb(t0), uleb(t0), uleb(t0), uleb(t0), uleb(t0), uleb(t0),
			uleb(t0), uleb(t0), uleb(t0), uleb(t0), uleb(tVoid), uleb(t0), uleb(t0), uleb(t0)),
		sec(secTable, cat(funcref, []byte{0}, uleb(12))),
		sec(secMemory, []byte{0, 1}),
		sec(secGlobal, cat(funcref, []byte{0}, constExpr(refFunc(7))),
			cat([]byte{byte(tI32), 1}, constExpr([]byte{opGlobalGet, gImp}))),
		sec(secExport, exportOf("callA", kindFunc, 6), exportOf("callB", kindFunc, 7), exportOf("callC", kindFunc, 8),
			exportOf("callPoll", kindFunc, 9), exportOf("viaTable", kindFunc, 10), exportOf("viaRefFunc", kindFunc, 11),
			exportOf("viaPassive", kindFunc, 12), exportOf("viaGlobal", kindFunc, 13), exportOf("viaActiveExpr", kindFunc, 14),
			exportOf("viaForm2", kindFunc, 15), exportOf("viaImportExpr", kindFunc, 16),
			exportOf("viaPassiveStat", kindFunc, 17), exportOf("started", kindFunc, 19),
			exportOf("viaImportRef", kindFunc, 20), exportOf("viaData", kindFunc, 21), exportOf("memory", kindMemory, 0)),
		rawSec(secStart, uleb(18)),
		sec(secElement,
			cat(uleb(0), offset(0), vecOf(uleb(6), uleb(7), uleb(8))),                // slots 0-2: callA, callB, callC
			cat(uleb(3), []byte{0}, vecOf(uleb(8))),                                  // declarative: callC
			cat(uleb(5), funcref, vecOf(constExpr(refFunc(6)))),                      // passive: callA
			cat(uleb(4), offset(3), vecOf(constExpr(refFunc(8)))),                    // slot 3: callC
			cat(uleb(2), uleb(0), offset(4), []byte{0}, vecOf(uleb(7))),              // slot 4: callB
			cat(uleb(6), uleb(0), offset(8), funcref, vecOf(constExpr(refFunc(fB)))), // slot 8: host.b
			cat(uleb(1), []byte{0}, vecOf(uleb(fStat))),                              // passive: path_filestat_get
			cat(uleb(7), funcref, vecOf(constExpr(refFunc(fC))))),                    // declarative: host.c
		rawSec(secDataCount, uleb(1)),
		sec(secCode,
			body(1, call(fA)), // callA, with a named local
			body(0, call(fB)),
			body(0, call(fC)),
			body(0, zeros(4), call(fPoll), zeros(4), call(fPoll2), []byte{0x6a}), // callPoll: 0 + 0
			body(0, ci(1)),                                             // viaTable: callB
			body(0, tableSet(5, refFunc(8)), ci(5)),                    // viaRefFunc: callC
			body(0, tableInit(2, 6), ci(6)),                            // viaPassive: callA
			body(0, tableSet(7, []byte{opGlobalGet, gFuncref}), ci(7)), // viaGlobal: callB
			body(0, ci(3)),                                             // viaActiveExpr: callC
			body(0, ci(4)),                                             // viaForm2: callB
			body(0, ci(8)),                                             // viaImportExpr: host.b
			body(0, tableInit(6, 9), zeros(5), i32c(9), callIndirect(tStat)),                      // viaPassiveStat: path_filestat_get
			body(0, []byte{opGlobalGet, gImp}, call(fCallA), []byte{0x6a, opGlobalSet, gStarted}), // start
			body(0, []byte{opGlobalGet, gStarted}),                                                // started: g + a()
			body(0, tableSet(10, refFunc(fC)), ci(10)),                                            // viaImportRef: host.c
			body(0, i32c(100), i32c(0), i32c(4), []byte{opPrefixFC, 8, 0, 0, opPrefixFC, 9, 0}, // memory.init, data.drop
				i32c(100), []byte{0x28, 2, 0})), // viaData: i32.load
		sec(secData, cat(uleb(1), vecOf([]byte{42}, []byte{0}, []byte{0}, []byte{0}))),
		nameSection(map[uint32]string{0: "host.a", 1: "poll", 2: "host.b", 3: "stat", 4: "host.c", 5: "poll2",
			6: "callA", 7: "callB", 8: "callC", 9: "callPoll", 18: "start", 21: "viaData"},
			map[uint32]string{fStat: "fd", 6: "x"}),
	)
}

// referenceResults are referenceModule's exports' results on
// referenceHost, before patching and after a default patch.
var referenceResults = map[string]uint64{
	"callA": 11, "callB": 22, "callC": 33, "callPoll": 0, "viaTable": 22, "viaRefFunc": 33, "viaPassive": 11,
	"viaGlobal": 22, "viaActiveExpr": 33, "viaForm2": 22, "viaImportExpr": 22, "viaPassiveStat": ErrnoNosys,
	"started": 1011, "viaImportRef": 33, "viaData": 42,
}

// runReference instantiates module with host functions a, b and c
// (returning 11, 22, 33), global env.g (1000), and a WASI poll_oneoff and
// path_filestat_get, and returns every exported function's result.
func runReference(t *testing.T, module []byte) map[string]uint64 {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	host := rt.NewHostModuleBuilder("host")
	for name, v := range map[string]uint64{"a": 11, "b": 22, "c": 33} {
		host.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
			s[0] = v
		}), nil, vt(i32)).Export(name)
	}
	_, err := host.Instantiate(ctx)
	require.NoError(t, err)
	_, err = rt.InstantiateWithConfig(ctx, wasmModule( // env.g: an immutable i32 global of 1000
		sec(secGlobal, cat([]byte{byte(tI32), 0}, constExpr(i32c(1000)))),
		sec(secExport, exportOf("g", kindGlobal, 0))), wazero.NewModuleConfig().WithName("env"))
	require.NoError(t, err)
	h := &wasiHost{filestat: true}
	wasi := rt.NewHostModuleBuilder("wasi_snapshot_preview1")
	for _, f := range h.funcs() {
		fn := f.fn
		wasi.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, s []uint64) {
			s[0] = uint64(fn(mod, s))
		}), f.params, f.results).Export(f.name)
	}
	_, err = wasi.Instantiate(ctx)
	require.NoError(t, err)
	mod, err := rt.InstantiateWithConfig(ctx, module, wazero.NewModuleConfig().WithName("guest"))
	require.NoError(t, err)
	got := map[string]uint64{}
	for name, def := range mod.ExportedFunctionDefinitions() {
		res, err := mod.ExportedFunction(name).Call(ctx)
		require.NoError(t, err, name)
		require.Len(t, def.ResultTypes(), 1)
		got[name] = res[0]
	}
	return got
}
