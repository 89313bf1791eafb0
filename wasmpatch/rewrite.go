package wasmpatch

import "fmt"

// renumber rewrites every function index in the module through remap (old
// index -> new index): in function bodies, exports, the start function,
// element segments and global initialisers. Names are renumbered by
// renumberNames. No other section holds function indices: types, tables,
// memories, data segments and the data count are about other index
// spaces and are copied unchanged (Go's function values in data are table
// slots, which keep their functions through the renumbered element
// segment), and tables with initialiser expressions are refused by decode.
func (m *module) renumber(remap []uint32) error {
	at := func(f uint32) (uint32, error) {
		if int64(f) >= int64(len(remap)) {
			return 0, fmt.Errorf("function index %d out of range", f)
		}
		return remap[f], nil
	}
	var err error
	for i, body := range m.codes {
		r := &reader{b: body}
		if _, err := readLocals(r); err != nil {
			return fmt.Errorf("body %d: %w", i, err)
		}
		out := append(make([]byte, 0, len(body)+16), body[:r.pos]...)
		if m.codes[i], err = renumberExpr(out, body[r.pos:], remap); err != nil {
			return fmt.Errorf("body %d: %w", i, err)
		}
	}
	for i := range m.exports {
		if e := &m.exports[i]; e.kind == kindFunc {
			if e.idx, err = at(e.idx); err != nil {
				return fmt.Errorf("export %q: %w", e.name, err)
			}
		}
	}
	if m.start != nil {
		s, err := at(*m.start)
		if err != nil {
			return fmt.Errorf("start: %w", err)
		}
		m.start = &s
	}
	for i := range m.elems {
		e := &m.elems[i]
		for j, f := range e.funcs {
			if e.funcs[j], err = at(f); err != nil {
				return fmt.Errorf("element segment %d: %w", i, err)
			}
		}
		for j, x := range e.exprs {
			if e.exprs[j], err = renumberExpr(nil, x, remap); err != nil {
				return fmt.Errorf("element segment %d: %w", i, err)
			}
		}
		if e.offset, err = renumberExpr(nil, e.offset, remap); err != nil {
			return fmt.Errorf("element segment %d: %w", i, err)
		}
	}
	for i := range m.globals {
		if m.globals[i].init, err = renumberExpr(nil, m.globals[i].init, remap); err != nil {
			return fmt.Errorf("global %d: %w", i, err)
		}
	}
	return nil
}

// setMarker records the replaced imports in the "wasmpatch" custom
// section (a vector of names), adding the section at the end if need be.
func (m *module) setMarker(keys []string) {
	payload := encodeVec(len(keys), func(b []byte, i int) []byte { return appendName(b, keys[i]) })
	for i, s := range m.sections {
		if s.id == secCustom && s.name == markerSection {
			m.sections[i].payload = payload
			return
		}
	}
	m.sections = append(m.sections, section{id: secCustom, name: markerSection, payload: payload})
}

func readMarker(payload []byte) ([]string, error) {
	r := &reader{b: payload}
	var keys []string
	err := vec(r, 1, func() error {
		k, err := r.name()
		keys = append(keys, k)
		return err
	})
	return keys, err
}
