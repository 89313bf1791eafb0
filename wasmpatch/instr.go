package wasmpatch

import "fmt"

// Opcodes named by the patch and the validator. A 0xFC-prefixed opcode is
// 0xFC00 | its sub-opcode.
const (
	opUnreachable        = 0x00
	opNop                = 0x01
	opBlock              = 0x02
	opLoop               = 0x03
	opIf                 = 0x04
	opElse               = 0x05
	opEnd                = 0x0b
	opBr                 = 0x0c
	opBrIf               = 0x0d
	opBrTable            = 0x0e
	opReturn             = 0x0f
	opCall               = 0x10
	opCallIndirect       = 0x11
	opReturnCall         = 0x12 // tail calls
	opReturnCallIndirect = 0x13
	opDrop               = 0x1a
	opSelect             = 0x1b
	opSelectT            = 0x1c
	opLocalGet           = 0x20
	opLocalSet           = 0x21
	opLocalTee           = 0x22
	opGlobalGet          = 0x23
	opGlobalSet          = 0x24
	opTableGet           = 0x25
	opTableSet           = 0x26
	opI32Load            = 0x28
	opI64Store32         = 0x3e
	opMemorySize         = 0x3f
	opMemoryGrow         = 0x40
	opI32Const           = 0x41
	opI64Const           = 0x42
	opF32Const           = 0x43
	opF64Const           = 0x44
	opI32Eqz             = 0x45
	opI64Extend32S       = 0xc4 // last of the sign-extension operators
	opRefNull            = 0xd0
	opRefIsNull          = 0xd1
	opRefFunc            = 0xd2
	opPrefixFC           = 0xfc

	opTruncSatFirst = 0xfc00 // i32.trunc_sat_f32_s ... i64.trunc_sat_f64_u: 0xfc00..0xfc07
	opMemoryInit    = 0xfc08
	opDataDrop      = 0xfc09
	opMemoryCopy    = 0xfc0a
	opMemoryFill    = 0xfc0b
	opTableInit     = 0xfc0c
	opElemDrop      = 0xfc0d
	opTableCopy     = 0xfc0e
	opTableGrow     = 0xfc0f
	opTableSize     = 0xfc10
	opTableFill     = 0xfc11
)

// blockEmpty is the blocktype of a block without parameters or results
// (byte 0x40 read as a signed LEB128).
const blockEmpty = -0x40

// instr is one decoded instruction: its opcode and immediates. The decoder
// knows the MVP, sign-extension, non-trapping float-to-int, bulk memory,
// reference types and tail calls; any other opcode (SIMD, threads,
// exceptions, GC) is an error, never a guess.
type instr struct {
	op     uint32
	a, b   uint32    // index immediates in order; memarg: a = align, b = offset
	block  int64     // blocktype: blockEmpty, -(0x80-valtype), or a type index
	labels []uint32  // br_table: the targets, then the default
	types  []valType // select t*
	funcAt int       // offset of a function-index immediate, -1 if none
}

func (in *instr) decode(r *reader) error {
	at := r.pos
	c, err := r.byte()
	if err != nil {
		return err
	}
	in.op, in.funcAt = uint32(c), -1
	switch {
	case c == opBlock || c == opLoop || c == opIf:
		in.block, err = r.sleb(33)
	case c == opBr || c == opBrIf || (c >= opLocalGet && c <= opTableSet) ||
		c == opMemorySize || c == opMemoryGrow:
		in.a, err = r.u32()
	case c == opBrTable:
		var n uint32
		if n, err = r.vecLen(1); err != nil {
			return err
		}
		in.labels = in.labels[:0]
		for i := uint32(0); i <= n && err == nil; i++ { // n targets and the default
			var l uint32
			l, err = r.u32()
			in.labels = append(in.labels, l)
		}
	case c == opCall || c == opReturnCall || c == opRefFunc:
		in.funcAt = r.pos
		in.a, err = r.u32()
	case c == opCallIndirect || c == opReturnCallIndirect:
		if in.a, err = r.u32(); err == nil {
			in.b, err = r.u32()
		}
	case c == opSelectT:
		var n uint32
		if n, err = r.vecLen(1); err != nil {
			return err
		}
		in.types = in.types[:0]
		for i := uint32(0); i < n && err == nil; i++ {
			var t valType
			t, err = readValType(r)
			in.types = append(in.types, t)
		}
	case c >= opI32Load && c <= opI64Store32:
		err = in.memarg(r)
	case c == opI32Const:
		_, err = r.sleb(32)
	case c == opI64Const:
		_, err = r.sleb(64)
	case c == opF32Const:
		_, err = r.bytes(4)
	case c == opF64Const:
		_, err = r.bytes(8)
	case c == opRefNull:
		var t valType
		t, err = readRefType(r)
		in.a = uint32(t)
	case c == opUnreachable || c == opNop || c == opElse || c == opEnd || c == opReturn ||
		c == opDrop || c == opSelect || (c >= opI32Eqz && c <= opI64Extend32S) || c == opRefIsNull:
		// no immediates
	case c == opPrefixFC:
		var sub uint32
		if sub, err = r.u32(); err != nil {
			return err
		}
		in.op = 0xfc00 | sub
		switch {
		case sub <= 7: // saturating truncations: no immediates
		case sub > 17:
			return fmt.Errorf("unknown opcode 0xfc %d at offset %d", sub, at)
		case in.op == opDataDrop || in.op == opElemDrop || in.op >= opTableGrow:
			in.a, err = r.u32()
		case in.op == opMemoryFill:
			in.a, err = r.u32()
		default: // memory.init, memory.copy, table.init, table.copy: two indices
			if in.a, err = r.u32(); err == nil {
				in.b, err = r.u32()
			}
		}
	default:
		return fmt.Errorf("unknown opcode 0x%02x at offset %d", c, at)
	}
	return err
}

// memarg reads a memory argument: alignment exponent, then offset. The
// multi-memory form (bit 6 of the alignment announcing a memory index) is
// not supported: read as 2.0 reads it, such an alignment is too large and
// the validator refuses it.
func (in *instr) memarg(r *reader) error {
	var err error
	if in.a, err = r.u32(); err != nil {
		return err
	}
	in.b, err = r.u32()
	return err
}

// localDecl is one entry of a body's locals: n locals of type t.
type localDecl struct {
	n uint32
	t valType
}

// readLocals reads a body's local declarations, refusing more than
// maxLocals in all (the limit engines such as V8 and wazero share).
func readLocals(r *reader) ([]localDecl, error) {
	n, err := r.vecLen(2)
	if err != nil {
		return nil, err
	}
	decls := make([]localDecl, n)
	total := uint64(0)
	for i := range decls {
		if decls[i].n, err = r.u32(); err != nil {
			return nil, err
		}
		if decls[i].t, err = readValType(r); err != nil {
			return nil, err
		}
		if total += uint64(decls[i].n); total > maxLocals {
			return nil, fmt.Errorf("more than %d locals", maxLocals)
		}
	}
	return decls, nil
}

// maxLocals bounds a function's locals (V8's and wazero's limit).
const maxLocals = 50000

// renumberExpr copies an expression (a function body's instructions, or a
// constant expression) to out, rewriting every function index through
// remap. Only call, return_call and ref.func carry function indices.
func renumberExpr(out, code []byte, remap []uint32) ([]byte, error) {
	r := &reader{b: code}
	var in instr
	last := 0
	for !r.done() {
		if err := in.decode(r); err != nil {
			return nil, err
		}
		if in.funcAt < 0 {
			continue
		}
		if int64(in.a) >= int64(len(remap)) {
			return nil, fmt.Errorf("function index %d out of range at offset %d", in.a, in.funcAt)
		}
		out = append(out, code[last:in.funcAt]...)
		out = appendU32(out, remap[in.a])
		last = r.pos
	}
	return append(out, code[last:]...), nil
}
