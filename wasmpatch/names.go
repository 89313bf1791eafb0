package wasmpatch

import (
	"fmt"
	"sort"
)

// Subsections of the "name" custom section (core spec, appendix 7.4, and
// the extended-name-section proposal) keyed by function index.
const (
	nameFunctions = 1 // function index -> name
	nameLocals    = 2 // function index -> (local index -> name)
	nameLabels    = 3 // function index -> (label index -> name)
)

type nameEntry struct {
	idx uint32
	raw []byte // the name, or the inner name map, as encoded
}

// renumberNames rewrites the function-indexed subsections of a "name"
// section payload through remap (entries re-sorted, as name maps must be
// ascending) and gives the added functions their names in the function
// names subsection, when there is one (names the module gave the replaced
// imports are dropped). Other subsections are copied.
func renumberNames(payload []byte, remap []uint32, added map[uint32]string) ([]byte, error) {
	r := &reader{b: payload}
	var out []byte
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		sub, err := r.bytes(size)
		if err != nil {
			return nil, err
		}
		if id == nameFunctions || id == nameLocals || id == nameLabels {
			entries, err := readNameMap(sub, id != nameFunctions)
			if err != nil {
				return nil, fmt.Errorf("name subsection %d: %w", id, err)
			}
			kept := entries[:0]
			for _, e := range entries {
				if int64(e.idx) >= int64(len(remap)) {
					return nil, fmt.Errorf("name subsection %d: function %d out of range", id, e.idx)
				}
				// A replaced import's own names give way to its replacement's.
				if e.idx = remap[e.idx]; added[e.idx] == "" {
					kept = append(kept, e)
				}
			}
			entries = kept
			if id == nameFunctions {
				for idx, name := range added {
					entries = append(entries, nameEntry{idx: idx, raw: appendName(nil, name)})
				}
			}
			sort.SliceStable(entries, func(i, j int) bool { return entries[i].idx < entries[j].idx })
			sub = encodeVec(len(entries), func(b []byte, i int) []byte {
				return append(appendU32(b, entries[i].idx), entries[i].raw...)
			})
		}
		out = appendSection(out, id, sub)
	}
	return out, nil
}

// readNameMap reads a name map (indirect: a map of name maps), keeping
// each value's encoding, and checks the indices ascend.
func readNameMap(b []byte, indirect bool) ([]nameEntry, error) {
	r := &reader{b: b}
	var entries []nameEntry
	err := vec(r, 2, func() error {
		idx, err := r.u32()
		if err != nil {
			return err
		}
		if n := len(entries); n > 0 && idx <= entries[n-1].idx {
			return fmt.Errorf("index %d after %d: not ascending", idx, entries[n-1].idx)
		}
		start := r.pos
		if indirect {
			err = skipNameMap(r)
		} else {
			_, err = r.name()
		}
		entries = append(entries, nameEntry{idx: idx, raw: b[start:r.pos]})
		return err
	})
	return entries, err
}

// skipNameMap moves r past one name map.
func skipNameMap(r *reader) error {
	return vec(r, 2, func() error {
		if _, err := r.u32(); err != nil {
			return err
		}
		_, err := r.name()
		return err
	})
}

// checkNames checks a "name" section's function-indexed subsections name
// only functions that exist, in ascending order.
func checkNames(payload []byte, numFuncs int) error {
	r := &reader{b: payload}
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return err
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		sub, err := r.bytes(size)
		if err != nil {
			return err
		}
		if id != nameFunctions && id != nameLocals && id != nameLabels {
			continue
		}
		entries, err := readNameMap(sub, id != nameFunctions)
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
		if n := len(entries); n > 0 && int64(entries[n-1].idx) >= int64(numFuncs) {
			return fmt.Errorf("name subsection %d: function %d out of range", id, entries[n-1].idx)
		}
	}
	return nil
}
