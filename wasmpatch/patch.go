// Package wasmpatch rewrites a built WebAssembly module so that it loads
// and runs on proxy-wasm hosts whose WASI is older than Envoy 1.39's
// (proxy-wasm-cpp-host before its PR #533):
//
//   - wasi_snapshot_preview1.poll_oneoff, which those hosts answer with
//     ENOSYS and forbid inside proxy_on_memory_allocate while Go's runtime
//     calls it at every stop and start of the world, becomes a function
//     inside the module that reports every subscription as done at once;
//   - imports those hosts lack (by default wasi_snapshot_preview1.
//     path_filestat_get, linked in by os but never called by the plugin)
//     become functions inside the module that return ENOSYS.
//
// Replacing an import removes it from the import section and appends a
// function of the same type, so every function index shifts; Patch
// renumbers every reference (call, return_call, ref.func, element segments
// of every form, global initialisers, exports, the start function and the
// "name" section). Instructions are decoded, not pattern-matched, and an
// opcode the decoder does not know is an error.
//
// Patch validates what it writes: it decodes the output again and runs a
// validator that follows the core spec's validation rules, including a
// type check of every function body's operand stack (typecheck.go). The
// package's tests also compile every output with wazero.
//
// Patching is idempotent: a patched module has nothing left to replace, so
// Patch returns it unchanged and its Report says so. Example:
//
//	out, rep, err := wasmpatch.Patch(module, wasmpatch.Options{})
//	fmt.Println(rep) // replaced wasi_snapshot_preview1.poll_oneoff, ...: 5933907 -> 5932503 bytes
package wasmpatch

import (
	"fmt"
	"slices"
	"strings"
)

// PollOneoff is the import always replaced by the in-module poll_oneoff.
const PollOneoff = "wasi_snapshot_preview1.poll_oneoff"

// DefaultReplace is the list Options.Replace defaults to: the imports
// Envoy 1.36-1.38 lack that Go's standard library links in.
var DefaultReplace = []string{"wasi_snapshot_preview1.path_filestat_get"}

// markerSection names the custom section where Patch records the imports
// it replaced, so a later run can say the module was patched already.
const markerSection = "wasmpatch"

// Options configure Patch.
type Options struct {
	// Replace lists imports ("module.name") to replace by an in-module
	// function that returns ErrnoNosys without touching memory. nil means
	// DefaultReplace; an empty non-nil list replaces none. An entry the
	// module does not import is not an error. PollOneoff is always
	// replaced, by its own implementation, listed or not.
	// Example: Options{Replace: []string{"wasi_snapshot_preview1.path_filestat_get"}}.
	Replace []string
}

// Report says what Patch did.
type Report struct {
	// Replaced lists the imports this run replaced, in import order; empty
	// when the module had nothing to replace (it is returned unchanged).
	Replaced []string
	// Earlier lists the imports earlier runs replaced, as recorded in the
	// module's "wasmpatch" custom section; empty for an unpatched module.
	Earlier []string
	// SizeBefore and SizeAfter are the module's sizes in bytes.
	SizeBefore, SizeAfter int
	// NamesDropped is set when the module's "name" section (debug names,
	// which engines ignore when malformed) was malformed and was dropped
	// rather than renumbered.
	NamesDropped bool
}

// String is the report in one line, e.g. "replaced a.b, c.d: 100 -> 90
// bytes" or "nothing to replace (already patched: a.b): 90 bytes,
// unchanged".
func (r Report) String() string {
	if len(r.Replaced) > 0 {
		s := fmt.Sprintf("replaced %s: %d -> %d bytes", strings.Join(r.Replaced, ", "), r.SizeBefore, r.SizeAfter)
		if r.NamesDropped {
			s += " (dropped a malformed name section)"
		}
		return s
	}
	if len(r.Earlier) > 0 {
		return fmt.Sprintf("nothing to replace (already patched: %s): %d bytes, unchanged",
			strings.Join(r.Earlier, ", "), r.SizeBefore)
	}
	return fmt.Sprintf("nothing to replace: %d bytes, unchanged", r.SizeBefore)
}

// Patch replaces, in module, PollOneoff by the in-module poll_oneoff and
// every import of opts.Replace by an ENOSYS function, and returns the
// validated result. When the module imports none of them, it returns
// module itself, validated, with an empty Report.Replaced. It fails on a
// module it cannot decode or validate (unknown opcodes included), on an
// import whose type does not fit its replacement, and on relocatable
// object files, whose relocations would go stale.
func Patch(module []byte, opts Options) ([]byte, Report, error) {
	rep := Report{SizeBefore: len(module), SizeAfter: len(module)}
	m, err := decode(module)
	if err != nil {
		return nil, rep, fmt.Errorf("wasmpatch: decoding: %w", err)
	}
	for _, s := range m.sections {
		switch {
		case s.id != secCustom:
		case s.name == "linking" || strings.HasPrefix(s.name, "reloc."):
			return nil, rep, fmt.Errorf("wasmpatch: %q section: relocatable object files are not supported", s.name)
		case s.name == markerSection:
			if rep.Earlier, err = readMarker(s.payload); err != nil {
				return nil, rep, fmt.Errorf("wasmpatch: %s section: %w", markerSection, err)
			}
		}
	}
	replace := opts.Replace
	if replace == nil {
		replace = DefaultReplace
	}
	replaced, namesDropped, err := m.replaceImports(append([]string{PollOneoff}, replace...))
	if err != nil {
		return nil, rep, fmt.Errorf("wasmpatch: %w", err)
	}
	if len(replaced) == 0 {
		if err := validate(m); err != nil {
			return nil, rep, fmt.Errorf("wasmpatch: input does not validate: %w", err)
		}
		return module, rep, nil
	}
	rep.Replaced, rep.NamesDropped = replaced, namesDropped
	m.setMarker(append(slices.Clone(rep.Earlier), replaced...))
	out := m.encode()
	if err := check(out); err != nil {
		if inErr := check(module); inErr != nil {
			return nil, rep, fmt.Errorf("wasmpatch: input does not validate: %w", inErr)
		}
		return nil, rep, fmt.Errorf("wasmpatch: output does not validate (a bug in wasmpatch): %w", err)
	}
	rep.SizeAfter = len(out)
	return out, rep, nil
}

// check decodes and validates an output module, its name section included.
func check(b []byte) error {
	m, err := decode(b)
	if err != nil {
		return err
	}
	if err := validate(m); err != nil {
		return err
	}
	n := int(m.numImported(kindFunc)) + len(m.funcs)
	for _, s := range m.sections {
		if s.id == secCustom && s.name == "name" {
			if err := checkNames(s.payload, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// replaceImports moves the function imports named in keys into the module
// and renumbers every function reference. A key imported more than once
// (Go declares some WASI functions in both runtime and syscall) gets one
// function that every copy maps to. It returns the keys it replaced (none,
// and m untouched, when the module imports none of them), and whether it
// dropped a malformed "name" section.
func (m *module) replaceImports(keys []string) (replaced []string, namesDropped bool, err error) {
	var (
		types   []uint32 // type index of each new function
		bodies  [][]byte // body of each new function
		kept    []importDesc
		removed []uint32 // old function indices of the removed imports
		target  []int    // the new function each removed import maps to
	)
	numImp := m.numImported(kindFunc)
	remap := make([]uint32, int(numImp)+len(m.funcs))
	f := uint32(0)
	for _, im := range m.imports {
		if im.kind != kindFunc {
			kept = append(kept, im)
			continue
		}
		if !slices.Contains(keys, im.key()) {
			remap[f] = f - uint32(len(removed))
			kept = append(kept, im)
			f++
			continue
		}
		if int64(im.typeIdx) >= int64(len(m.types)) {
			return nil, false, fmt.Errorf("import %s: type index %d out of range", im.key(), im.typeIdx)
		}
		j := slices.Index(replaced, im.key())
		if j < 0 {
			if im.key() == PollOneoff && len(m.mems)+int(m.numImported(kindMemory)) == 0 {
				return nil, false, fmt.Errorf("%s: the module has no memory for the in-module poll_oneoff to use", im.key())
			}
			body, err := replacement(im, m.types[im.typeIdx])
			if err != nil {
				return nil, false, err
			}
			j = len(replaced)
			replaced, types, bodies = append(replaced, im.key()), append(types, im.typeIdx), append(bodies, body)
		} else if t, u := m.types[types[j]], m.types[im.typeIdx]; !slices.Equal(t.params, u.params) || !slices.Equal(t.results, u.results) {
			return nil, false, fmt.Errorf("%s is imported twice with types %v and %v", im.key(), t, u)
		}
		removed, target = append(removed, f), append(target, j)
		f++
	}
	if len(removed) == 0 {
		return nil, false, nil
	}
	first := numImp - uint32(len(removed)) + uint32(len(m.funcs)) // index of the first new function
	for i := range m.funcs {
		remap[numImp+uint32(i)] = numImp - uint32(len(removed)) + uint32(i)
	}
	for i, old := range removed {
		remap[old] = first + uint32(target[i])
	}
	added := map[uint32]string{}
	for j, key := range replaced {
		added[first+uint32(j)] = "wasmpatch:" + key
	}
	if err := m.renumber(remap); err != nil {
		return nil, false, err
	}
	m.imports = kept
	m.funcs = append(m.funcs, types...)
	m.codes = append(m.codes, bodies...)
	sections := m.sections[:0]
	for _, s := range m.sections {
		if s.id == secCustom && s.name == "name" {
			payload, err := renumberNames(s.payload, remap, added)
			if err != nil { // malformed: engines ignore it, and it cannot be renumbered
				namesDropped = true
				continue
			}
			s.payload = payload
		}
		sections = append(sections, s)
	}
	m.sections = sections
	return replaced, namesDropped, nil
}
