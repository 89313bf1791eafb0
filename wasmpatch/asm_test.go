package wasmpatch

import "slices"

// Just enough of an assembler to write the test modules by hand: each
// helper returns the binary encoding of one construct.

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

func uleb(v uint32) []byte { return appendU32(nil, v) }

func sleb(v int64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

func str(s string) []byte { return appendName(nil, s) }

func vecOf(items ...[]byte) []byte { return cat(uleb(uint32(len(items))), cat(items...)) }

func sec(id byte, items ...[]byte) []byte { return appendSection(nil, id, vecOf(items...)) }

func rawSec(id byte, payload []byte) []byte { return appendSection(nil, id, payload) }

func customSec(name string, payload []byte) []byte {
	return appendSection(nil, secCustom, cat(str(name), payload))
}

func wasmModule(sections ...[]byte) []byte { return cat(magic, cat(sections...)) }

func types(ts ...valType) []byte {
	out := uleb(uint32(len(ts)))
	for _, t := range ts {
		out = append(out, byte(t))
	}
	return out
}

func fnType(params, results []byte) []byte { return cat([]byte{0x60}, params, results) }

func importFunc(mod, name string, typ uint32) []byte {
	return cat(str(mod), str(name), []byte{kindFunc}, uleb(typ))
}

func importGlobal(mod, name string, t valType) []byte {
	return cat(str(mod), str(name), []byte{kindGlobal, byte(t), 0})
}

func exportOf(name string, kind byte, idx uint32) []byte {
	return cat(str(name), []byte{kind}, uleb(idx))
}

// body is a function body: its locals (n i32 locals) and instructions,
// with the final end and the size prefix the code section wants.
func body(i32Locals uint32, instrs ...[]byte) []byte {
	locals := []byte{0}
	if i32Locals > 0 {
		locals = cat([]byte{1}, uleb(i32Locals), []byte{byte(tI32)})
	}
	b := cat(locals, cat(instrs...), []byte{opEnd})
	return cat(uleb(uint32(len(b))), b)
}

func i32c(v int32) []byte      { return cat([]byte{opI32Const}, sleb(int64(v))) }
func call(f uint32) []byte     { return cat([]byte{opCall}, uleb(f)) }
func refFunc(f uint32) []byte  { return cat([]byte{opRefFunc}, uleb(f)) }
func localGet(x uint32) []byte { return cat([]byte{opLocalGet}, uleb(x)) }

// callIndirect calls table 0's slot (pushed before) with type typ.
func callIndirect(typ uint32) []byte { return cat([]byte{opCallIndirect}, uleb(typ), []byte{0}) }

// constExpr is a constant expression with its end.
func constExpr(instrs ...[]byte) []byte { return cat(cat(instrs...), []byte{opEnd}) }

// nameSection is a "name" custom section with function names and, for
// each function in locals, one local's name.
func nameSection(fnNames map[uint32]string, localNames map[uint32]string) []byte {
	namemap := func(m map[uint32]string, local bool) []byte {
		keys := make([]uint32, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		items := make([][]byte, len(keys))
		for i, k := range keys {
			if local { // function k: local 0 is named m[k]
				items[i] = cat(uleb(k), vecOf(cat(uleb(0), str(m[k]))))
			} else {
				items[i] = cat(uleb(k), str(m[k]))
			}
		}
		return vecOf(items...)
	}
	return customSec("name", cat(
		rawSec(nameFunctions, namemap(fnNames, false)),
		rawSec(nameLocals, namemap(localNames, true)),
	))
}
