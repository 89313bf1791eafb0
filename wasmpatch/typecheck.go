package wasmpatch

import (
	"fmt"
	"slices"
)

// checker type-checks function bodies with the validation algorithm of the
// core spec's appendix (A.3 "Validation Algorithm"): an operand stack of
// value types and a stack of control frames, for every instruction instr
// decodes. It is a full check of the operand types, labels, locals,
// globals, tables, memories, data and element indices a body uses.
type checker struct {
	m        *module
	funcs    []uint32 // type index of every function index, imports first
	tables   []tableType
	mems     []limits
	globals  []globalType
	nImpGlob int             // imported globals (the only ones a constant expression may read)
	refs     map[uint32]bool // C.refs: functions a ref.func may name
	dataCnt  int             // -1: no data count section

	locals  []valType
	results []valType
	vals    []valType
	ctrls   []ctrlFrame
	scratch []valType
	in      instr
	at      int
}

type ctrlFrame struct {
	op          uint32
	start, end  []valType
	height      int
	unreachable bool
}

// checkError is raised (panicked) inside checkBody and recovered there.
type checkError struct{ err error }

func (c *checker) fail(format string, args ...any) {
	panic(checkError{fmt.Errorf("offset %d: "+format, append([]any{c.at}, args...)...)})
}

func (c *checker) push(t valType) { c.vals = append(c.vals, t) }

func (c *checker) pushVals(ts []valType) { c.vals = append(c.vals, ts...) }

func (c *checker) pop() valType {
	f := &c.ctrls[len(c.ctrls)-1]
	if len(c.vals) == f.height {
		if f.unreachable {
			return tUnknown
		}
		c.fail("operand stack underflow")
	}
	t := c.vals[len(c.vals)-1]
	c.vals = c.vals[:len(c.vals)-1]
	return t
}

func (c *checker) popExpect(want valType) valType {
	got := c.pop()
	if got != want && got != tUnknown && want != tUnknown {
		c.fail("expected %v, found %v", want, got)
	}
	return got
}

// popVals pops ts (last first); with keep, it pushes back what it popped.
func (c *checker) popVals(ts []valType, keep bool) {
	c.scratch = c.scratch[:0]
	for i := len(ts) - 1; i >= 0; i-- {
		c.scratch = append(c.scratch, c.popExpect(ts[i]))
	}
	if keep {
		for i := len(c.scratch) - 1; i >= 0; i-- {
			c.push(c.scratch[i])
		}
	}
}

func (c *checker) pushCtrl(op uint32, start, end []valType) {
	c.ctrls = append(c.ctrls, ctrlFrame{op: op, start: start, end: end, height: len(c.vals)})
	c.pushVals(start)
}

func (c *checker) popCtrl() ctrlFrame {
	f := c.ctrls[len(c.ctrls)-1]
	c.popVals(f.end, false)
	if len(c.vals) != f.height {
		c.fail("%d values left on the stack at the end of a block", len(c.vals)-f.height)
	}
	c.ctrls = c.ctrls[:len(c.ctrls)-1]
	return f
}

func (c *checker) labelTypes(depth uint32) []valType {
	if int64(depth) >= int64(len(c.ctrls)) {
		c.fail("branch depth %d out of range", depth)
	}
	f := &c.ctrls[len(c.ctrls)-1-int(depth)]
	if f.op == opLoop {
		return f.start
	}
	return f.end
}

func (c *checker) setUnreachable() {
	f := &c.ctrls[len(c.ctrls)-1]
	c.vals = c.vals[:f.height]
	f.unreachable = true
}

var single = map[valType][]valType{}

func init() {
	for _, t := range []valType{tI32, tI64, tF32, tF64, tV128, tFuncref, tExternref} {
		single[t] = []valType{t}
	}
}

func (c *checker) blockType(bt int64) (params, results []valType) {
	switch {
	case bt == blockEmpty:
		return nil, nil
	case bt < 0:
		if t, ok := single[valType(bt&0x7f)]; ok && bt >= -0x40 {
			return nil, t
		}
		c.fail("bad block type %d", bt)
	case bt >= int64(len(c.m.types)):
		c.fail("block type index %d out of range", bt)
	}
	t := c.m.types[bt]
	return t.params, t.results
}

func (c *checker) funcType(f uint32) funcType {
	if int64(f) >= int64(len(c.funcs)) {
		c.fail("function index %d out of range", f)
	}
	return c.m.types[c.funcs[f]]
}

func (c *checker) table(x uint32) tableType {
	if int64(x) >= int64(len(c.tables)) {
		c.fail("table index %d out of range", x)
	}
	return c.tables[x]
}

func (c *checker) memory(x uint32) {
	if int64(x) >= int64(len(c.mems)) {
		c.fail("memory index %d out of range", x)
	}
}

func (c *checker) data(x uint32) {
	if c.dataCnt < 0 {
		c.fail("memory.init or data.drop without a data count section")
	}
	if int64(x) >= int64(c.dataCnt) {
		c.fail("data index %d out of range", x)
	}
}

func (c *checker) elem(x uint32) valType {
	if int64(x) >= int64(len(c.m.elems)) {
		c.fail("element index %d out of range", x)
	}
	return c.m.elems[x].elem
}

// checkBody type-checks one function body of type ft.
func (c *checker) checkBody(ft funcType, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			ce, ok := p.(checkError)
			if !ok {
				panic(p)
			}
			err = ce.err
		}
	}()
	r := &reader{b: body}
	decls, err := readLocals(r)
	if err != nil {
		return err
	}
	c.locals = append(c.locals[:0], ft.params...)
	for _, d := range decls {
		for i := uint32(0); i < d.n; i++ {
			c.locals = append(c.locals, d.t)
		}
	}
	c.results, c.vals, c.ctrls = ft.results, c.vals[:0], c.ctrls[:0]
	c.pushCtrl(opBlock, nil, ft.results)
	for !r.done() {
		c.at = r.pos
		if err := c.in.decode(r); err != nil {
			return err
		}
		c.step(&c.in)
		if len(c.ctrls) == 0 {
			if !r.done() {
				return fmt.Errorf("offset %d: instructions after the function's end", r.pos)
			}
			return nil
		}
	}
	return fmt.Errorf("body ends without its final end")
}

func (c *checker) step(in *instr) {
	switch op := in.op; {
	case op == opUnreachable:
		c.setUnreachable()
	case op == opNop:
	case op == opBlock || op == opLoop || op == opIf:
		if op == opIf {
			c.popExpect(tI32)
		}
		p, res := c.blockType(in.block)
		c.popVals(p, false)
		c.pushCtrl(op, p, res)
	case op == opElse:
		f := c.popCtrl()
		if f.op != opIf {
			c.fail("else without if")
		}
		c.pushCtrl(opElse, f.start, f.end)
	case op == opEnd:
		f := c.popCtrl()
		if f.op == opIf && !slices.Equal(f.start, f.end) {
			c.fail("if without else must produce its parameters")
		}
		c.pushVals(f.end)
	case op == opBr:
		c.popVals(c.labelTypes(in.a), false)
		c.setUnreachable()
	case op == opBrIf:
		c.popExpect(tI32)
		c.popVals(c.labelTypes(in.a), true)
	case op == opBrTable:
		c.popExpect(tI32)
		def := in.labels[len(in.labels)-1]
		arity := len(c.labelTypes(def))
		for _, l := range in.labels[:len(in.labels)-1] {
			lt := c.labelTypes(l)
			if len(lt) != arity {
				c.fail("br_table targets of different arity")
			}
			c.popVals(lt, true)
		}
		c.popVals(c.labelTypes(def), false)
		c.setUnreachable()
	case op == opReturn:
		c.popVals(c.results, false)
		c.setUnreachable()
	case op == opCall || op == opReturnCall:
		c.call(c.funcType(in.a), op == opReturnCall)
	case op == opCallIndirect || op == opReturnCallIndirect:
		if c.table(in.b).elem != tFuncref {
			c.fail("call_indirect through a table of %v", c.table(in.b).elem)
		}
		if int64(in.a) >= int64(len(c.m.types)) {
			c.fail("type index %d out of range", in.a)
		}
		c.popExpect(tI32)
		c.call(c.m.types[in.a], op == opReturnCallIndirect)
	case op == opDrop:
		c.pop()
	case op == opSelect:
		c.popExpect(tI32)
		t1, t2 := c.pop(), c.pop()
		if t1.isRef() || t2.isRef() {
			c.fail("untyped select of references")
		}
		if t1 != t2 && t1 != tUnknown && t2 != tUnknown {
			c.fail("select of %v and %v", t1, t2)
		}
		c.push(max(t1, t2)) // the known one, if either is
	case op == opSelectT:
		if len(in.types) != 1 {
			c.fail("select with %d types", len(in.types))
		}
		c.popExpect(tI32)
		c.popExpect(in.types[0])
		c.popExpect(in.types[0])
		c.push(in.types[0])
	case op >= opLocalGet && op <= opLocalTee:
		if int64(in.a) >= int64(len(c.locals)) {
			c.fail("local index %d out of range", in.a)
		}
		t := c.locals[in.a]
		if op != opLocalGet {
			c.popExpect(t)
		}
		if op != opLocalSet {
			c.push(t)
		}
	case op == opGlobalGet || op == opGlobalSet:
		if int64(in.a) >= int64(len(c.globals)) {
			c.fail("global index %d out of range", in.a)
		}
		g := c.globals[in.a]
		if op == opGlobalGet {
			c.push(g.typ)
		} else if !g.mutable {
			c.fail("global.set of immutable global %d", in.a)
		} else {
			c.popExpect(g.typ)
		}
	default:
		c.stepMemoryAndNumeric(in)
	}
}

func (c *checker) call(t funcType, tail bool) {
	c.popVals(t.params, false)
	if !tail {
		c.pushVals(t.results)
		return
	}
	if !slices.Equal(t.results, c.results) {
		c.fail("return_call to a function of other results")
	}
	c.setUnreachable()
}
