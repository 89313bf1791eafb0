package wasmpatch

// sig is the operand typing of an instruction without index immediates:
// it pops in[:n] (last first) and pushes out, if any.
type sig struct {
	in  [2]valType
	n   int8
	out valType
	ok  bool
}

// memOp is a load or store: its value type and its natural alignment
// (log2 of its width), which the memarg's alignment may not exceed.
type memOp struct {
	t        valType
	maxAlign uint32
	store    bool
}

var (
	numSigs [256]sig    // one-byte numeric, comparison, conversion and sign-extension operators
	satSigs [8]sig      // 0xFC 0..7: non-trapping float-to-int conversions
	memOps  [0x3f]memOp // 0x28..0x3e
	consts  = [...]valType{opI32Const: tI32, opI64Const: tI64, opF32Const: tF32, opF64Const: tF64}
)

func init() {
	un := func(op int, in, out valType) { numSigs[op] = sig{in: [2]valType{in}, n: 1, out: out, ok: true} }
	bin := func(op int, in, out valType) { numSigs[op] = sig{in: [2]valType{in, in}, n: 2, out: out, ok: true} }
	span := func(from, to int, f func(int, valType, valType), in, out valType) {
		for op := from; op <= to; op++ {
			f(op, in, out)
		}
	}
	un(0x45, tI32, tI32) // i32.eqz
	span(0x46, 0x4f, bin, tI32, tI32)
	un(0x50, tI64, tI32) // i64.eqz
	span(0x51, 0x5a, bin, tI64, tI32)
	span(0x5b, 0x60, bin, tF32, tI32)
	span(0x61, 0x66, bin, tF64, tI32)
	span(0x67, 0x69, un, tI32, tI32) // clz ctz popcnt
	span(0x6a, 0x78, bin, tI32, tI32)
	span(0x79, 0x7b, un, tI64, tI64)
	span(0x7c, 0x8a, bin, tI64, tI64)
	span(0x8b, 0x91, un, tF32, tF32) // abs neg ceil floor trunc nearest sqrt
	span(0x92, 0x98, bin, tF32, tF32)
	span(0x99, 0x9f, un, tF64, tF64)
	span(0xa0, 0xa6, bin, tF64, tF64)
	for op, io := range map[int][2]valType{ // conversions
		0xa7: {tI64, tI32}, 0xa8: {tF32, tI32}, 0xa9: {tF32, tI32}, 0xaa: {tF64, tI32}, 0xab: {tF64, tI32},
		0xac: {tI32, tI64}, 0xad: {tI32, tI64}, 0xae: {tF32, tI64}, 0xaf: {tF32, tI64}, 0xb0: {tF64, tI64},
		0xb1: {tF64, tI64}, 0xb2: {tI32, tF32}, 0xb3: {tI32, tF32}, 0xb4: {tI64, tF32}, 0xb5: {tI64, tF32},
		0xb6: {tF64, tF32}, 0xb7: {tI32, tF64}, 0xb8: {tI32, tF64}, 0xb9: {tI64, tF64}, 0xba: {tI64, tF64},
		0xbb: {tF32, tF64}, 0xbc: {tF32, tI32}, 0xbd: {tF64, tI64}, 0xbe: {tI32, tF32}, 0xbf: {tI64, tF64},
	} {
		un(op, io[0], io[1])
	}
	span(0xc0, 0xc1, un, tI32, tI32) // i32.extend8_s, i32.extend16_s
	span(0xc2, 0xc4, un, tI64, tI64) // i64.extend8_s, 16_s, 32_s
	for i, io := range [8][2]valType{{tF32, tI32}, {tF32, tI32}, {tF64, tI32}, {tF64, tI32},
		{tF32, tI64}, {tF32, tI64}, {tF64, tI64}, {tF64, tI64}} {
		satSigs[i] = sig{in: [2]valType{io[0]}, n: 1, out: io[1], ok: true}
	}
	for op, m := range map[int]memOp{
		0x28: {tI32, 2, false}, 0x29: {tI64, 3, false}, 0x2a: {tF32, 2, false}, 0x2b: {tF64, 3, false},
		0x2c: {tI32, 0, false}, 0x2d: {tI32, 0, false}, 0x2e: {tI32, 1, false}, 0x2f: {tI32, 1, false},
		0x30: {tI64, 0, false}, 0x31: {tI64, 0, false}, 0x32: {tI64, 1, false}, 0x33: {tI64, 1, false},
		0x34: {tI64, 2, false}, 0x35: {tI64, 2, false},
		0x36: {tI32, 2, true}, 0x37: {tI64, 3, true}, 0x38: {tF32, 2, true}, 0x39: {tF64, 3, true},
		0x3a: {tI32, 0, true}, 0x3b: {tI32, 1, true}, 0x3c: {tI64, 0, true}, 0x3d: {tI64, 1, true},
		0x3e: {tI64, 2, true},
	} {
		memOps[op] = m
	}
}

func (c *checker) apply(s sig) {
	for i := s.n - 1; i >= 0; i-- {
		c.popExpect(s.in[i])
	}
	if s.out != tUnknown {
		c.push(s.out)
	}
}

// stepMemoryAndNumeric checks the instructions step leaves: memory,
// constants, numeric operators, references, and the 0xFC group.
func (c *checker) stepMemoryAndNumeric(in *instr) {
	op := in.op
	switch {
	case op >= opI32Load && op <= opI64Store32:
		m := memOps[op]
		c.memory(0)
		if in.a > m.maxAlign {
			c.fail("alignment 2^%d larger than the access", in.a)
		}
		if m.store {
			c.popExpect(m.t)
			c.popExpect(tI32)
		} else {
			c.popExpect(tI32)
			c.push(m.t)
		}
	case op == opMemorySize || op == opMemoryGrow:
		c.memory(in.a)
		if op == opMemoryGrow {
			c.popExpect(tI32)
		}
		c.push(tI32)
	case op >= opI32Const && op <= opF64Const:
		c.push(consts[op])
	case op < 256 && numSigs[op].ok:
		c.apply(numSigs[op])
	case op == opTableGet || op == opTableSet:
		t := c.table(in.a)
		if op == opTableSet {
			c.popExpect(t.elem)
		}
		c.popExpect(tI32)
		if op == opTableGet {
			c.push(t.elem)
		}
	case op == opRefNull:
		c.push(valType(in.a))
	case op == opRefIsNull:
		if t := c.pop(); t != tUnknown && !t.isRef() {
			c.fail("ref.is_null of %v", t)
		}
		c.push(tI32)
	case op == opRefFunc:
		c.funcType(in.a)
		if !c.refs[in.a] {
			c.fail("ref.func %d of a function not declared in an element segment, export or global", in.a)
		}
		c.push(tFuncref)
	case op >= opTruncSatFirst && op < opTruncSatFirst+8:
		c.apply(satSigs[op-opTruncSatFirst])
	default:
		c.stepBulk(in)
	}
}

// stepBulk checks bulk memory and table instructions (0xFC 8..17).
func (c *checker) stepBulk(in *instr) {
	three := sig{in: [2]valType{tI32, tI32}, n: 2, ok: true} // with one more i32 pop: three i32 operands
	switch in.op {
	case opMemoryInit:
		c.data(in.a)
		c.memory(in.b)
	case opDataDrop:
		c.data(in.a)
		return
	case opMemoryCopy:
		c.memory(in.a)
		c.memory(in.b)
	case opMemoryFill:
		c.memory(in.a)
	case opTableInit:
		if c.elem(in.a) != c.table(in.b).elem {
			c.fail("table.init of %v elements into a table of %v", c.elem(in.a), c.table(in.b).elem)
		}
	case opElemDrop:
		c.elem(in.a)
		return
	case opTableCopy:
		if c.table(in.a).elem != c.table(in.b).elem {
			c.fail("table.copy between tables of different types")
		}
	case opTableGrow:
		c.popExpect(tI32)
		c.popExpect(c.table(in.a).elem)
		c.push(tI32)
		return
	case opTableSize:
		c.table(in.a)
		c.push(tI32)
		return
	case opTableFill:
		c.popExpect(tI32)
		c.popExpect(c.table(in.a).elem)
		c.popExpect(tI32)
		return
	default:
		c.fail("no typing rule for opcode 0x%x", in.op)
	}
	c.apply(three)
	c.popExpect(tI32)
}
