package wasmpatch

import (
	"fmt"
	"slices"
)

// maxPages is the 32-bit memory limit: 4 GiB in 64 KiB pages.
const maxPages = 65536

// validate checks a decoded module the way the core spec's validation does
// (chapter 3): every index in range, limits sane, constant expressions of
// the right type, export names unique, the start function of type [] -> [],
// and every function body type-checked (see checker).
func validate(m *module) error {
	c := &checker{m: m, refs: map[uint32]bool{}, dataCnt: -1}
	for i, im := range m.imports {
		var err error
		switch im.kind {
		case kindFunc:
			if int64(im.typeIdx) >= int64(len(m.types)) {
				err = fmt.Errorf("type index %d out of range", im.typeIdx)
			}
			c.funcs = append(c.funcs, im.typeIdx)
		case kindTable:
			err = checkLimits(im.table.lim, 1<<32-1)
			c.tables = append(c.tables, im.table)
		case kindMemory:
			err = checkLimits(im.mem, maxPages)
			c.mems = append(c.mems, im.mem)
		case kindGlobal:
			c.globals = append(c.globals, im.global)
		}
		if err != nil {
			return fmt.Errorf("import %d (%s): %w", i, im.key(), err)
		}
	}
	c.nImpGlob = len(c.globals)
	for i, t := range m.funcs {
		if int64(t) >= int64(len(m.types)) {
			return fmt.Errorf("function %d: type index %d out of range", i, t)
		}
		c.funcs = append(c.funcs, t)
	}
	for i, t := range m.tables {
		if err := checkLimits(t.lim, 1<<32-1); err != nil {
			return fmt.Errorf("table %d: %w", i, err)
		}
		c.tables = append(c.tables, t)
	}
	for i, l := range m.mems {
		if err := checkLimits(l, maxPages); err != nil {
			return fmt.Errorf("memory %d: %w", i, err)
		}
		c.mems = append(c.mems, l)
	}
	if len(c.mems) > 1 {
		return fmt.Errorf("%d memories (at most one is supported)", len(c.mems))
	}
	// C.refs: functions named outside function bodies (exports, element
	// segments, global initialisers) are the ones ref.func may take.
	for _, g := range m.globals {
		c.collectRefs(g.init)
	}
	for _, e := range m.elems {
		for _, f := range e.funcs {
			c.refs[f] = true
		}
		for _, x := range e.exprs {
			c.collectRefs(x)
		}
	}
	for _, e := range m.exports {
		if e.kind == kindFunc {
			c.refs[e.idx] = true
		}
	}
	for i, g := range m.globals {
		if err := c.checkConst(g.init, g.typ.typ); err != nil {
			return fmt.Errorf("global %d: %w", i, err)
		}
		c.globals = append(c.globals, g.typ)
	}
	if err := c.checkExports(); err != nil {
		return err
	}
	if m.start != nil {
		if int64(*m.start) >= int64(len(c.funcs)) {
			return fmt.Errorf("start function %d out of range", *m.start)
		}
		if t := m.types[c.funcs[*m.start]]; len(t.params)+len(t.results) != 0 {
			return fmt.Errorf("start function of type %v", t)
		}
	}
	for i := range m.elems {
		if err := c.checkElem(&m.elems[i]); err != nil {
			return fmt.Errorf("element segment %d: %w", i, err)
		}
	}
	if m.dataCnt != nil {
		if int(*m.dataCnt) != len(m.datas) {
			return fmt.Errorf("data count %d but %d data segments", *m.dataCnt, len(m.datas))
		}
		c.dataCnt = len(m.datas)
	}
	for i, d := range m.datas {
		if !d.active {
			continue
		}
		if int64(d.mem) >= int64(len(c.mems)) {
			return fmt.Errorf("data segment %d: memory %d out of range", i, d.mem)
		}
		if err := c.checkConst(d.offset, tI32); err != nil {
			return fmt.Errorf("data segment %d: %w", i, err)
		}
	}
	nImp := len(c.funcs) - len(m.funcs)
	for i, body := range m.codes {
		if err := c.checkBody(m.types[m.funcs[i]], body); err != nil {
			return fmt.Errorf("function %d (body %d): %w", nImp+i, i, err)
		}
	}
	return nil
}

func checkLimits(l limits, bound uint64) error {
	if uint64(l.min) > bound || (l.hasMax && uint64(l.max) > bound) {
		return fmt.Errorf("limits above %d", bound)
	}
	if l.hasMax && l.max < l.min {
		return fmt.Errorf("maximum %d below minimum %d", l.max, l.min)
	}
	return nil
}

func (c *checker) checkExports() error {
	seen := map[string]bool{}
	for _, e := range c.m.exports {
		if seen[e.name] {
			return fmt.Errorf("export %q: duplicate name", e.name)
		}
		seen[e.name] = true
		n := map[byte]int{kindFunc: len(c.funcs), kindTable: len(c.tables),
			kindMemory: len(c.mems), kindGlobal: len(c.globals)}
		size, ok := n[e.kind]
		if !ok {
			return fmt.Errorf("export %q: unknown kind 0x%02x", e.name, e.kind)
		}
		if int64(e.idx) >= int64(size) {
			return fmt.Errorf("export %q: index %d out of range", e.name, e.idx)
		}
	}
	return nil
}

func (c *checker) checkElem(e *elemSegment) error {
	if e.active() {
		if int64(e.table) >= int64(len(c.tables)) {
			return fmt.Errorf("table %d out of range", e.table)
		}
		if t := c.tables[e.table].elem; t != e.elem {
			return fmt.Errorf("%v elements for a table of %v", e.elem, t)
		}
		if err := c.checkConst(e.offset, tI32); err != nil {
			return fmt.Errorf("offset: %w", err)
		}
	}
	for _, f := range e.funcs {
		if int64(f) >= int64(len(c.funcs)) {
			return fmt.Errorf("function index %d out of range", f)
		}
	}
	for i, x := range e.exprs {
		if err := c.checkConst(x, e.elem); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
	}
	return nil
}

// collectRefs adds the functions a constant expression's ref.func names to
// C.refs. The expression was decoded once already, so errors cannot occur
// here; checkConst reports them.
func (c *checker) collectRefs(expr []byte) {
	r := &reader{b: expr}
	var in instr
	for !r.done() && in.decode(r) == nil {
		if in.op == opRefFunc {
			c.refs[in.a] = true
		}
	}
}

// checkConst type-checks a constant expression: constants, ref.null,
// ref.func, global.get of an imported immutable global, and the extended
// constant i32/i64 add, sub and mul; it must leave exactly one want.
func (c *checker) checkConst(expr []byte, want valType) error {
	r := &reader{b: expr}
	var stack []valType
	var in instr
	binop := func(t valType) error {
		if len(stack) < 2 || stack[len(stack)-1] != t || stack[len(stack)-2] != t {
			return fmt.Errorf("%v operator without two %v operands", t, t)
		}
		stack = stack[:len(stack)-1]
		return nil
	}
	for !r.done() {
		if err := in.decode(r); err != nil {
			return err
		}
		var err error
		switch op := in.op; {
		case op >= opI32Const && op <= opF64Const:
			stack = append(stack, consts[op])
		case op == opRefNull:
			stack = append(stack, valType(in.a))
		case op == opRefFunc:
			if int64(in.a) >= int64(len(c.funcs)) {
				return fmt.Errorf("ref.func %d out of range", in.a)
			}
			stack = append(stack, tFuncref)
		case op == opGlobalGet:
			if int64(in.a) >= int64(c.nImpGlob) || c.globals[in.a].mutable {
				return fmt.Errorf("global.get %d: not an imported immutable global", in.a)
			}
			stack = append(stack, c.globals[in.a].typ)
		case op >= 0x6a && op <= 0x6c: // i32.add, sub, mul
			err = binop(tI32)
		case op >= 0x7c && op <= 0x7e: // i64.add, sub, mul
			err = binop(tI64)
		case op == opEnd:
			if !r.done() {
				return fmt.Errorf("bytes after the end of a constant expression")
			}
			if !slices.Equal(stack, []valType{want}) {
				return fmt.Errorf("constant expression of type %v, want %v", stack, want)
			}
			return nil
		default:
			return fmt.Errorf("opcode 0x%x is not constant", op)
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("constant expression without end")
}
