package wasmpatch

import (
	"bytes"
	"fmt"
)

// Section ids of the binary format (core spec 5.5.2).
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// sectionRank is each known section's place in the required order; the
// data count section sits between element and code.
var sectionRank = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secGlobal: 6,
	secExport: 7, secStart: 8, secElement: 9, secDataCount: 10, secCode: 11, secData: 12,
}

// External kinds of imports and exports.
const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
)

var magic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

type section struct {
	id      byte
	name    string // custom sections only
	payload []byte // for a custom section, what follows its name
}

type funcType struct{ params, results []valType }

func (t funcType) String() string { return fmt.Sprintf("%v -> %v", t.params, t.results) }

type limits struct {
	min, max uint32
	hasMax   bool
}

type tableType struct {
	elem valType
	lim  limits
}

type globalType struct {
	typ     valType
	mutable bool
}

type importDesc struct {
	module, name string
	kind         byte
	typeIdx      uint32 // kindFunc
	table        tableType
	mem          limits
	global       globalType
}

func (im importDesc) key() string { return im.module + "." + im.name }

type global struct {
	typ  globalType
	init []byte // constant expression, with its end
}

type export struct {
	name string
	kind byte
	idx  uint32
}

// elemSegment keeps its encoding flags (0..7) so it is written back in the
// same form it was read.
type elemSegment struct {
	flags  uint32
	table  uint32
	offset []byte // active segments
	elem   valType
	funcs  []uint32 // flags 0-3: function indices
	exprs  [][]byte // flags 4-7: constant expressions
}

func (e *elemSegment) active() bool { return e.flags&1 == 0 }

type dataSegment struct {
	active bool
	mem    uint32
	offset []byte
}

// module is a decoded module: sections that the patch rewrites are decoded
// into fields; every section's payload is also kept, so unchanged ones are
// written back byte for byte.
type module struct {
	sections []section
	types    []funcType
	imports  []importDesc
	funcs    []uint32 // type index of each defined function
	tables   []tableType
	mems     []limits
	globals  []global
	exports  []export
	start    *uint32
	elems    []elemSegment
	dataCnt  *uint32
	codes    [][]byte // each function's body: locals and expression
	datas    []dataSegment
}

// numImported counts the imports of one kind.
func (m *module) numImported(kind byte) uint32 {
	n := uint32(0)
	for _, im := range m.imports {
		if im.kind == kind {
			n++
		}
	}
	return n
}

// decode parses a module's sections. It checks their order and syntax;
// validate checks what they mean.
func decode(b []byte) (*module, error) {
	if len(b) < len(magic) || !bytes.Equal(b[:len(magic)], magic) {
		return nil, fmt.Errorf("not a WebAssembly 1.0 binary module")
	}
	r := &reader{b: b, pos: len(magic)}
	m := &module{}
	last := 0
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		payload, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		s := section{id: id, payload: payload}
		if id == secCustom {
			pr := &reader{b: payload}
			if s.name, err = pr.name(); err != nil {
				return nil, fmt.Errorf("custom section: %w", err)
			}
			s.payload = payload[pr.pos:]
		} else {
			rank, ok := sectionRank[id]
			if !ok {
				return nil, fmt.Errorf("unknown section id %d", id)
			}
			if rank <= last {
				return nil, fmt.Errorf("section %d out of order or repeated", id)
			}
			last = rank
			if err := m.decodeSection(id, &reader{b: payload}); err != nil {
				return nil, fmt.Errorf("section %d: %w", id, err)
			}
		}
		m.sections = append(m.sections, s)
	}
	if len(m.funcs) != len(m.codes) {
		return nil, fmt.Errorf("%d functions declared but %d bodies", len(m.funcs), len(m.codes))
	}
	return m, nil
}

func (m *module) decodeSection(id byte, r *reader) error {
	var err error
	switch id {
	case secType:
		err = vec(r, 3, func() error {
			t, err := readFuncType(r)
			m.types = append(m.types, t)
			return err
		})
	case secImport:
		err = vec(r, 4, func() error {
			im, err := readImport(r)
			m.imports = append(m.imports, im)
			return err
		})
	case secFunction:
		err = vec(r, 1, func() error {
			t, err := r.u32()
			m.funcs = append(m.funcs, t)
			return err
		})
	case secTable:
		err = vec(r, 3, func() error {
			t, err := readTableType(r)
			m.tables = append(m.tables, t)
			return err
		})
	case secMemory:
		err = vec(r, 2, func() error {
			l, err := readLimits(r)
			m.mems = append(m.mems, l)
			return err
		})
	case secGlobal:
		err = vec(r, 3, func() error {
			g, err := readGlobal(r)
			m.globals = append(m.globals, g)
			return err
		})
	case secExport:
		err = vec(r, 3, func() error {
			var e export
			var err error
			if e.name, err = r.name(); err != nil {
				return err
			}
			if e.kind, err = r.byte(); err != nil {
				return err
			}
			e.idx, err = r.u32()
			m.exports = append(m.exports, e)
			return err
		})
	case secStart:
		var f uint32
		f, err = r.u32()
		m.start = &f
	case secElement:
		err = vec(r, 2, func() error {
			e, err := readElem(r)
			m.elems = append(m.elems, e)
			return err
		})
	case secDataCount:
		var n uint32
		n, err = r.u32()
		m.dataCnt = &n
	case secCode:
		err = vec(r, 2, func() error {
			n, err := r.u32()
			if err != nil {
				return err
			}
			body, err := r.bytes(n)
			m.codes = append(m.codes, body)
			return err
		})
	case secData:
		err = vec(r, 2, func() error {
			d, err := readData(r)
			m.datas = append(m.datas, d)
			return err
		})
	}
	if err == nil && !r.done() {
		err = fmt.Errorf("%d bytes left over", len(r.b)-r.pos)
	}
	return err
}

// vec reads a vector length (each element at least min bytes) and calls
// item that many times.
func vec(r *reader, min int, item func() error) error {
	n, err := r.vecLen(min)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if err := item(); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}
