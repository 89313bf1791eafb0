package wasmpatch

import (
	"errors"
	"fmt"
	"strings"
)

// callDepthSection names the custom section where InstrumentCallDepth
// records its limit (a u32), so a second run can refuse.
const callDepthSection = "wasmpatch.calldepth"

// callDepthName is the depth counter's name in the "name" section.
const callDepthName = "wasmpatch:calldepth"

// nameGlobals is the "name" section's global names subsection (extended
// name section proposal): global index -> name.
const nameGlobals = 7

// Opcodes of the counting sequence (core spec 5.4.7, numeric instructions).
const (
	opI32GeU = 0x4f
	opI32Add = 0x6a
	opI32Sub = 0x6b
)

// ErrCallDepthInstrumented is returned, wrapped, by InstrumentCallDepth for
// a module it instrumented already.
var ErrCallDepthInstrumented = errors.New("wasmpatch: module already instrumented for call depth")

// InstrumentCallDepth returns module rewritten so that it traps
// (unreachable) when its WebAssembly call stack would grow deeper than
// limit frames, counting the frame the host called as the first. A
// recursion f(n) -> f(n-1) -> ... -> f(0) entered from the host is n+1
// frames deep: f(limit-1) runs, f(limit) traps. limit must be at least 1.
//
// It adds one mutable i32 global (the number of calls in progress,
// initially 0; not exported; named "wasmpatch:calldepth" when the module
// has a "name" section), appended after the existing globals so no global
// index changes, and wraps every call and call_indirect in every function
// body, before the call:
//
//	global.get d; i32.const 1; i32.add; global.set d
//	global.get d; i32.const limit; i32.ge_u; if; unreachable; end
//
// and after it:
//
//	global.get d; i32.const 1; i32.sub; global.set d
//
// (core WebAssembly has no global.tee, hence the second global.get). The
// operand stack is untouched: the call's arguments wait underneath, its
// results are left as they were. Instrumenting call sites, not function
// entries and exits, covers every way out of a function (return, br to its
// outermost block, falling off its end) without looking at them.
//
// Calls of imported (host) functions are counted too: a host call is a
// frame while it runs, and a host that calls back into the module (as
// proxy-wasm hosts do with proxy_on_memory_allocate) nests inside it. Tail
// calls (return_call, return_call_indirect) are left alone: one replaces
// its caller's frame, so the stack does not grow, and the call that
// entered the caller goes on counting one frame for whatever replaces it.
//
// The counter stays balanced as long as every call returns. Go's code does:
// when it switches goroutines or grows a goroutine stack it unwinds the
// WebAssembly stack by returning normally through every frame. A trap
// leaves the counter where it was, so after a trap the instance must not
// be called again (proxy-wasm hosts and the emulator treat a trap as the
// VM's death anyway).
//
// Choosing limit: V8 bounds its stack in bytes (984 KiB by default), not
// in frames, and its frames differ in size from function to function, so
// a frame limit only approximates it. Measured on V8 11.3 (Node 20,
// TurboFan only, as proxy-wasm-cpp-host runs it): 13,680 frames of a
// small recursive Go function fit, but only about 8,490 of gjson.Valid's.
// And a Go recursion n levels deep is not always n frames deep: growing a
// goroutine stack unwinds the WebAssembly stack (see
// TestInstrumentCallDepth_GoRecursion).
//
// It refuses, with ErrCallDepthInstrumented, a module it has instrumented
// (its "wasmpatch.calldepth" custom section says so), and validates what it
// writes as Patch does. To combine the two, Patch first. Example:
//
//	patched, _, err := wasmpatch.Patch(module, wasmpatch.Options{})
//	...
//	bounded, err := wasmpatch.InstrumentCallDepth(patched, 16384)
func InstrumentCallDepth(module []byte, limit uint32) ([]byte, error) {
	if limit == 0 {
		return nil, fmt.Errorf("wasmpatch: call depth limit 0: the frame the host calls needs at least 1")
	}
	m, err := decode(module)
	if err != nil {
		return nil, fmt.Errorf("wasmpatch: decoding: %w", err)
	}
	hasGlobals := false
	for _, s := range m.sections {
		switch {
		case s.id == secGlobal:
			hasGlobals = true
		case s.id != secCustom:
		case s.name == "linking" || strings.HasPrefix(s.name, "reloc."):
			return nil, fmt.Errorf("wasmpatch: %q section: relocatable object files are not supported", s.name)
		case s.name == callDepthSection:
			if earlier, err := (&reader{b: s.payload}).u32(); err == nil {
				return nil, fmt.Errorf("%w (limit %d)", ErrCallDepthInstrumented, earlier)
			}
			return nil, ErrCallDepthInstrumented
		}
	}
	depth := m.numImported(kindGlobal) + uint32(len(m.globals))
	m.globals = append(m.globals, global{typ: globalType{typ: tI32, mutable: true}, init: []byte{opI32Const, 0, opEnd}})
	if !hasGlobals {
		m.insertSection(secGlobal)
	}
	enter, leave := depthCounting(depth, limit)
	for i, body := range m.codes {
		if m.codes[i], err = countCalls(body, enter, leave); err != nil {
			return nil, fmt.Errorf("wasmpatch: body %d: %w", i, err)
		}
	}
	sections := m.sections[:0]
	for _, s := range m.sections {
		if s.id == secCustom && s.name == "name" {
			payload, err := addGlobalName(s.payload, depth, callDepthName)
			if err != nil { // malformed: engines ignore it; check would refuse it
				continue
			}
			s.payload = payload
		}
		sections = append(sections, s)
	}
	m.sections = append(sections, section{id: secCustom, name: callDepthSection, payload: appendU32(nil, limit)})
	out := m.encode()
	if err := check(out); err != nil {
		if inErr := check(module); inErr != nil {
			return nil, fmt.Errorf("wasmpatch: input does not validate: %w", inErr)
		}
		return nil, fmt.Errorf("wasmpatch: output does not validate (a bug in wasmpatch): %w", err)
	}
	return out, nil
}

// depthCounting returns the instructions that go before a call (count it,
// trap when the count reaches limit) and after it (uncount it), for the
// counter global depth.
func depthCounting(depth, limit uint32) (enter, leave []byte) {
	get := appendU32([]byte{opGlobalGet}, depth)
	set := appendU32([]byte{opGlobalSet}, depth)
	enter = append(append([]byte{}, get...), opI32Const, 1, opI32Add)
	enter = append(append(append(enter, set...), get...), opI32Const)
	enter = appendS32(enter, int32(limit)) // the bits of limit; i32.ge_u compares them unsigned
	enter = append(enter, opI32GeU, opIf, 0x40, opUnreachable, opEnd)
	leave = append(append(append([]byte{}, get...), opI32Const, 1, opI32Sub), set...)
	return enter, leave
}

// countCalls copies a function body, putting enter before and leave after
// every call and call_indirect.
func countCalls(body, enter, leave []byte) ([]byte, error) {
	r := &reader{b: body}
	if _, err := readLocals(r); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(body)/2)
	last := 0
	var in instr
	for !r.done() {
		at := r.pos
		if err := in.decode(r); err != nil {
			return nil, err
		}
		if in.op != opCall && in.op != opCallIndirect {
			continue
		}
		out = append(out, body[last:at]...)
		out = append(out, enter...)
		out = append(out, body[at:r.pos]...)
		out = append(out, leave...)
		last = r.pos
	}
	return append(out, body[last:]...), nil
}

// appendS32 appends v as a signed LEB128, as i32.const wants it.
func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// addGlobalName names global idx, which must be above every global the
// section names, in a "name" section payload: in its global names
// subsection, added in its place (subsections ascend by id) if need be.
func addGlobalName(payload []byte, idx uint32, name string) ([]byte, error) {
	entry := appendName(appendU32(nil, idx), name)
	r := &reader{b: payload}
	var out []byte
	added := false
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
		if id > nameGlobals && !added {
			out = appendSection(out, nameGlobals, append(appendU32(nil, 1), entry...))
			added = true
		}
		if id == nameGlobals {
			if added {
				return nil, fmt.Errorf("name subsection %d out of order", id)
			}
			entries, err := readNameMap(sub, false)
			if err != nil {
				return nil, fmt.Errorf("name subsection %d: %w", id, err)
			}
			if n := len(entries); n > 0 && entries[n-1].idx >= idx {
				return nil, fmt.Errorf("name subsection %d: global %d out of range", id, entries[n-1].idx)
			}
			sub = encodeVec(len(entries)+1, func(b []byte, i int) []byte {
				if i == len(entries) {
					return append(b, entry...)
				}
				return append(appendU32(b, entries[i].idx), entries[i].raw...)
			})
			added = true
		}
		out = appendSection(out, id, sub)
	}
	if !added {
		out = appendSection(out, nameGlobals, append(appendU32(nil, 1), entry...))
	}
	return out, nil
}
