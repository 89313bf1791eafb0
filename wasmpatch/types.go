package wasmpatch

import "fmt"

// valType is a value type. tUnknown is the validator's "any" on an
// unreachable stack; it never appears in a module.
type valType byte

const (
	tUnknown   valType = 0
	tI32       valType = 0x7f
	tI64       valType = 0x7e
	tF32       valType = 0x7d
	tF64       valType = 0x7c
	tV128      valType = 0x7b
	tFuncref   valType = 0x70
	tExternref valType = 0x6f
)

func (t valType) String() string {
	switch t {
	case tI32:
		return "i32"
	case tI64:
		return "i64"
	case tF32:
		return "f32"
	case tF64:
		return "f64"
	case tV128:
		return "v128"
	case tFuncref:
		return "funcref"
	case tExternref:
		return "externref"
	case tUnknown:
		return "unknown"
	}
	return fmt.Sprintf("valtype(0x%02x)", byte(t))
}

func (t valType) isRef() bool { return t == tFuncref || t == tExternref }

func readValType(r *reader) (valType, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch t := valType(c); t {
	case tI32, tI64, tF32, tF64, tV128, tFuncref, tExternref:
		return t, nil
	}
	return 0, fmt.Errorf("unsupported value type 0x%02x at offset %d", c, r.pos-1)
}

func readRefType(r *reader) (valType, error) {
	t, err := readValType(r)
	if err == nil && !t.isRef() {
		err = fmt.Errorf("%v is not a reference type", t)
	}
	return t, err
}

func readFuncType(r *reader) (funcType, error) {
	var t funcType
	form, err := r.byte()
	if err != nil {
		return t, err
	}
	if form != 0x60 {
		return t, fmt.Errorf("unsupported type form 0x%02x (only function types)", form)
	}
	for _, list := range []*[]valType{&t.params, &t.results} {
		n, err := r.vecLen(1)
		if err != nil {
			return t, err
		}
		*list = make([]valType, n)
		for i := range *list {
			if (*list)[i], err = readValType(r); err != nil {
				return t, err
			}
		}
	}
	return t, nil
}

// readLimits reads limits; only the plain forms (min, or min and max) are
// supported: no shared or 64-bit memories, which Go does not emit.
func readLimits(r *reader) (limits, error) {
	var l limits
	flag, err := r.byte()
	if err != nil {
		return l, err
	}
	if flag > 1 {
		return l, fmt.Errorf("unsupported limits flag 0x%02x (shared or 64-bit)", flag)
	}
	if l.min, err = r.u32(); err != nil {
		return l, err
	}
	if flag == 1 {
		l.hasMax = true
		l.max, err = r.u32()
	}
	return l, err
}

func readTableType(r *reader) (tableType, error) {
	var t tableType
	var err error
	if r.pos < len(r.b) && r.b[r.pos] == 0x40 { // function-references proposal: could hold ref.func
		return t, fmt.Errorf("tables with initialiser expressions are not supported")
	}
	if t.elem, err = readRefType(r); err != nil {
		return t, err
	}
	t.lim, err = readLimits(r)
	return t, err
}

func readGlobalType(r *reader) (globalType, error) {
	var g globalType
	var err error
	if g.typ, err = readValType(r); err != nil {
		return g, err
	}
	mut, err := r.byte()
	if err != nil {
		return g, err
	}
	if mut > 1 {
		return g, fmt.Errorf("bad mutability 0x%02x", mut)
	}
	g.mutable = mut == 1
	return g, nil
}

func readImport(r *reader) (importDesc, error) {
	var im importDesc
	var err error
	if im.module, err = r.name(); err != nil {
		return im, err
	}
	if im.name, err = r.name(); err != nil {
		return im, err
	}
	if im.kind, err = r.byte(); err != nil {
		return im, err
	}
	switch im.kind {
	case kindFunc:
		im.typeIdx, err = r.u32()
	case kindTable:
		im.table, err = readTableType(r)
	case kindMemory:
		im.mem, err = readLimits(r)
	case kindGlobal:
		im.global, err = readGlobalType(r)
	default:
		err = fmt.Errorf("unsupported import kind 0x%02x", im.kind)
	}
	return im, err
}

func readGlobal(r *reader) (global, error) {
	var g global
	var err error
	if g.typ, err = readGlobalType(r); err != nil {
		return g, err
	}
	g.init, err = readConstExpr(r)
	return g, err
}

// readConstExpr returns a constant expression's bytes up to and including
// its end. Its instructions are decoded (so an unknown one fails here) and
// type-checked later by validate.
func readConstExpr(r *reader) ([]byte, error) {
	start := r.pos
	for {
		var in instr
		if err := in.decode(r); err != nil {
			return nil, err
		}
		if in.op == opEnd {
			return r.b[start:r.pos], nil
		}
	}
}

func readElem(r *reader) (elemSegment, error) {
	e := elemSegment{elem: tFuncref}
	var err error
	if e.flags, err = r.u32(); err != nil {
		return e, err
	}
	if e.flags > 7 {
		return e, fmt.Errorf("unknown element segment form %d", e.flags)
	}
	if e.flags&2 != 0 && e.flags&1 == 0 { // forms 2 and 6: explicit table
		if e.table, err = r.u32(); err != nil {
			return e, err
		}
	}
	if e.active() {
		if e.offset, err = readConstExpr(r); err != nil {
			return e, err
		}
	}
	if e.flags&3 != 0 { // forms other than 0 and 4 spell out the element kind
		if e.flags&4 == 0 {
			kind, err := r.byte()
			if err != nil {
				return e, err
			}
			if kind != 0x00 {
				return e, fmt.Errorf("unknown element kind 0x%02x", kind)
			}
		} else if e.elem, err = readRefType(r); err != nil {
			return e, err
		}
	}
	if e.flags&4 == 0 {
		return e, vec(r, 1, func() error {
			f, err := r.u32()
			e.funcs = append(e.funcs, f)
			return err
		})
	}
	return e, vec(r, 2, func() error {
		x, err := readConstExpr(r)
		e.exprs = append(e.exprs, x)
		return err
	})
}

func readData(r *reader) (dataSegment, error) {
	var d dataSegment
	flags, err := r.u32()
	if err != nil {
		return d, err
	}
	switch flags {
	case 0, 2:
		d.active = true
		if flags == 2 {
			if d.mem, err = r.u32(); err != nil {
				return d, err
			}
		}
		if d.offset, err = readConstExpr(r); err != nil {
			return d, err
		}
	case 1:
	default:
		return d, fmt.Errorf("unknown data segment form %d", flags)
	}
	n, err := r.u32()
	if err != nil {
		return d, err
	}
	_, err = r.bytes(n)
	return d, err
}
