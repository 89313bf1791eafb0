package wasmhost

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/tetratelabs/wazero"
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

func BenchmarkExport_OnTickNoop(b *testing.B) {
	h := newHost(b, `provider: {type: openai, apiTokens: [a]}`, nil)
	vm := h.Workers()[0]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := vm.call(99, "proxy_on_tick", 99); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile compiles the plugin with wazero's compiler, no cache.
func BenchmarkCompile(b *testing.B) {
	path, err := ModulePath()
	if err != nil {
		b.Fatal(err)
	}
	code, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rt := wazero.NewRuntime(context.Background())
		if _, err := rt.CompileModule(context.Background(), code); err != nil {
			b.Fatal(err)
		}
		rt.Close(context.Background())
	}
}

// BenchmarkInstantiateVM adds one VM: _initialize, context create, vm start
// and configure (the compiled module is shared).
func BenchmarkInstantiateVM(b *testing.B) {
	h := newHost(b, `provider: {type: openai, apiTokens: [a, b, c], failover: {enabled: true}}`, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		vm, err := h.AddVM(fmt.Sprintf("bench-%d", i))
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = h.RemoveVM(vm)
		b.StartTimer()
	}
}
