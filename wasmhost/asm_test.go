package wasmhost

// A few bytes of hand-assembled wasm for the restricted-callback tests:
// just enough encoding (sections, LEB128, names) for two small modules.

const (
	wI32 = 0x7f
	wFn  = 0x60
)

func leb(n uint32) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

func sleb(n int32) []byte {
	var out []byte
	for {
		b := byte(n & 0x7f)
		n >>= 7
		if (n == 0 && b&0x40 == 0) || (n == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func name(s string) []byte { return append(leb(uint32(len(s))), s...) }

func vec(items ...[]byte) []byte {
	out := leb(uint32(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, leb(uint32(len(body)))...), body...)
}

func fnType(params, results int) []byte {
	out := []byte{wFn}
	out = append(out, leb(uint32(params))...)
	for i := 0; i < params; i++ {
		out = append(out, wI32)
	}
	out = append(out, leb(uint32(results))...)
	for i := 0; i < results; i++ {
		out = append(out, wI32)
	}
	return out
}

func importFn(mod, field string, typ uint32) []byte {
	return append(append(append(name(mod), name(field)...), 0x00), leb(typ)...)
}

func export(field string, kind byte, idx uint32) []byte {
	return append(append(name(field), kind), leb(idx)...)
}

func body(code ...byte) []byte {
	b := append([]byte{0x00}, code...) // no locals
	b = append(b, 0x0b)
	return append(leb(uint32(len(b))), b...)
}

func i32c(n int32) []byte { return append([]byte{0x41}, sleb(n)...) }

func call(f uint32) []byte { return append([]byte{0x10}, leb(f)...) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var wasmHeader = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// moduleCallingInInitialize: _initialize calls proxy_set_tick_period_milliseconds.
func moduleCallingInInitialize() []byte {
	return cat(wasmHeader,
		section(1, vec(fnType(1, 1), fnType(0, 0))),
		section(2, vec(importFn("env", "proxy_set_tick_period_milliseconds", 0))),
		section(3, vec(leb(1))),
		section(5, vec([]byte{0x00, 0x01})),
		section(7, vec(export("_initialize", 0, 1), export("memory", 2, 0))),
		section(10, vec(body(cat(i32c(1000), call(0), []byte{0x1a})...))),
	)
}

// moduleCallingInAllocate: proxy_on_context_create reads the property
// "plugin_name", so the host calls proxy_on_memory_allocate, which calls
// proxy_get_shared_data.
func moduleCallingInAllocate() []byte {
	drop := []byte{0x1a}
	return cat(wasmHeader,
		section(1, vec(fnType(5, 1), fnType(4, 1), fnType(0, 0), fnType(1, 1), fnType(2, 0))),
		section(2, vec(importFn("env", "proxy_get_shared_data", 0), importFn("env", "proxy_get_property", 1))),
		section(3, vec(leb(2), leb(3), leb(4))),
		section(5, vec([]byte{0x00, 0x01})),
		section(7, vec(export("_initialize", 0, 2), export("proxy_on_memory_allocate", 0, 3),
			export("proxy_on_context_create", 0, 4), export("memory", 2, 0))),
		section(10, vec(
			body(),
			body(cat(i32c(0), i32c(0), i32c(0), i32c(0), i32c(0), call(0), drop, i32c(1024))...),
			body(cat(i32c(100), i32c(11), i32c(16), i32c(24), call(1), drop)...),
		)),
		section(11, vec(cat([]byte{0x00}, i32c(100), []byte{0x0b}, name("plugin_name")))),
	)
}
