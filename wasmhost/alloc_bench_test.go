package wasmhost

import (
	"context"
	"testing"
)

func BenchmarkExport_MemoryAllocate(b *testing.B) {
	h := newHost(b, `provider: {type: openai, apiTokens: [a]}`, nil)
	vm := h.Workers()[0]
	fn := vm.export("proxy_on_memory_allocate")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := fn.Call(context.Background(), 64); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExport_OnLogNoop(b *testing.B) {
	h := newHost(b, `provider: {type: openai, apiTokens: [a]}`, nil)
	vm := h.Workers()[0]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := vm.call(99, "proxy_on_log", 99); err != nil {
			b.Fatal(err)
		}
	}
}
