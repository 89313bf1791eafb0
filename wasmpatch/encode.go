package wasmpatch

// encode writes the module: the sections the patch rewrites (import,
// function, global, export, start, element, code) from the decoded
// fields, every other section byte for byte from its payload. A function
// or code section the module lacked is inserted in its place when there
// are functions to declare.
func (m *module) encode() []byte {
	size := len(magic)
	for _, s := range m.sections {
		size += len(s.payload) + len(s.name) + 16
	}
	out := append(make([]byte, 0, size+1024), magic...)
	has := map[byte]bool{}
	for _, s := range m.sections {
		if s.id != secCustom {
			has[s.id] = true
		}
	}
	for _, id := range []byte{secFunction, secCode} {
		if !has[id] && len(m.funcs) > 0 {
			m.insertSection(id)
		}
	}
	for _, s := range m.sections {
		if s.id == secCustom {
			body := appendName(nil, s.name)
			out = appendSection(out, secCustom, append(body, s.payload...))
			continue
		}
		payload := s.payload
		switch s.id {
		case secImport:
			payload = m.encodeImports()
		case secFunction:
			payload = encodeVec(len(m.funcs), func(b []byte, i int) []byte { return appendU32(b, m.funcs[i]) })
		case secGlobal:
			payload = encodeVec(len(m.globals), func(b []byte, i int) []byte {
				g := m.globals[i]
				return append(append(b, byte(g.typ.typ), boolByte(g.typ.mutable)), g.init...)
			})
		case secExport:
			payload = encodeVec(len(m.exports), func(b []byte, i int) []byte {
				e := m.exports[i]
				return appendU32(append(appendName(b, e.name), e.kind), e.idx)
			})
		case secStart:
			payload = appendU32(nil, *m.start)
		case secElement:
			payload = encodeVec(len(m.elems), func(b []byte, i int) []byte { return m.elems[i].appendTo(b) })
		case secCode:
			payload = m.encodeCode()
		}
		out = appendSection(out, s.id, payload)
	}
	return out
}

// insertSection adds an empty known section where the order puts it,
// before any custom sections that follow its predecessor.
func (m *module) insertSection(id byte) {
	at := 0
	for i, s := range m.sections {
		if s.id != secCustom && sectionRank[s.id] < sectionRank[id] {
			at = i + 1
		}
	}
	m.sections = append(m.sections[:at], append([]section{{id: id}}, m.sections[at:]...)...)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func encodeVec(n int, item func([]byte, int) []byte) []byte {
	b := appendU32(nil, uint32(n))
	for i := 0; i < n; i++ {
		b = item(b, i)
	}
	return b
}

func (m *module) encodeImports() []byte {
	return encodeVec(len(m.imports), func(b []byte, i int) []byte {
		im := m.imports[i]
		b = append(appendName(appendName(b, im.module), im.name), im.kind)
		switch im.kind {
		case kindFunc:
			return appendU32(b, im.typeIdx)
		case kindTable:
			return appendLimits(append(b, byte(im.table.elem)), im.table.lim)
		case kindMemory:
			return appendLimits(b, im.mem)
		default:
			return append(b, byte(im.global.typ), boolByte(im.global.mutable))
		}
	})
}

func appendLimits(b []byte, l limits) []byte {
	if !l.hasMax {
		return appendU32(append(b, 0), l.min)
	}
	return appendU32(appendU32(append(b, 1), l.min), l.max)
}

func (m *module) encodeCode() []byte {
	size := 8
	for _, c := range m.codes {
		size += len(c) + 5
	}
	b := appendU32(make([]byte, 0, size), uint32(len(m.codes)))
	for _, c := range m.codes {
		b = append(appendU32(b, uint32(len(c))), c...)
	}
	return b
}

// appendTo writes an element segment in the form (flags) it was read in.
func (e *elemSegment) appendTo(b []byte) []byte {
	b = appendU32(b, e.flags)
	if e.flags&2 != 0 && e.flags&1 == 0 {
		b = appendU32(b, e.table)
	}
	if e.active() {
		b = append(b, e.offset...)
	}
	if e.flags&3 != 0 {
		if e.flags&4 == 0 {
			b = append(b, 0x00) // elemkind funcref
		} else {
			b = append(b, byte(e.elem))
		}
	}
	if e.flags&4 == 0 {
		b = appendU32(b, uint32(len(e.funcs)))
		for _, f := range e.funcs {
			b = appendU32(b, f)
		}
		return b
	}
	b = appendU32(b, uint32(len(e.exprs)))
	for _, x := range e.exprs {
		b = append(b, x...)
	}
	return b
}
