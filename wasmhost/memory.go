package wasmhost

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero/api"
)

// trap aborts the running callback the way a host trap does in Envoy.
type trap struct{ msg string }

func (t trap) Error() string { return t.msg }

func (vm *VM) read(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	b, ok := vm.mod.Memory().Read(ptr, n)
	if !ok {
		panic(trap{fmt.Sprintf("out of bounds read %d+%d", ptr, n)})
	}
	return append([]byte(nil), b...)
}

func (vm *VM) writeU32(ptr, v uint32) {
	if !vm.mod.Memory().WriteUint32Le(ptr, v) {
		panic(trap{fmt.Sprintf("out of bounds write at %d", ptr)})
	}
}

func (vm *VM) writeU64(ptr uint32, v uint64) {
	if !vm.mod.Memory().WriteUint64Le(ptr, v) {
		panic(trap{fmt.Sprintf("out of bounds write at %d", ptr)})
	}
}

// returnBytes hands a value to the plugin as Envoy does: it calls
// proxy_on_memory_allocate re-entrantly, copies the bytes in, and writes a
// 32-bit pointer and length. An empty value is pointer 0, length 0.
func (vm *VM) returnBytes(ctx context.Context, data []byte, retPtr, retLen uint32) uint32 {
	if len(data) == 0 {
		vm.writeU32(retPtr, 0)
		vm.writeU32(retLen, 0)
		return statusOK
	}
	prev := vm.phase
	vm.phase = phaseAllocate
	res, err := vm.export("proxy_on_memory_allocate").Call(ctx, uint64(len(data)))
	vm.phase = prev
	if err != nil {
		panic(trap{"proxy_on_memory_allocate: " + err.Error()})
	}
	ptr := uint32(res[0])
	if ptr == 0 || !vm.mod.Memory().Write(ptr, data) {
		return statusInvalidMemoryAccess
	}
	vm.writeU32(retPtr, ptr)
	vm.writeU32(retLen, uint32(len(data)))
	return statusOK
}

// hostFunc is a hostcall body working on the wasm value stack.
type hostFunc func(ctx context.Context, vm *VM, stack []uint64)

// restriction is where a hostcall may run (Envoy's restricted callbacks).
type restriction int

const (
	// normalOnly: not during _initialize nor inside proxy_on_memory_allocate.
	normalOnly restriction = iota
	// duringInit: also during _initialize.
	duringInit
	// anywhere: also inside proxy_on_memory_allocate.
	anywhere
)

func (h *Host) wrap(name string, where restriction, fn hostFunc) api.GoModuleFunction {
	return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		vm := h.byName[mod.Name()]
		if vm == nil {
			panic(trap{"hostcall from unknown module " + mod.Name()})
		}
		if vm.mod == nil { // during _initialize InstantiateModule has not returned yet
			vm.mod = mod
		}
		switch {
		case vm.phase == phaseInitialize && where == normalOnly,
			vm.phase == phaseAllocate && where != anywhere:
			panic(trap{fmt.Sprintf("restricted_callback: %s is not allowed here", name)})
		}
		fn(ctx, vm, stack)
	})
}

func u32(v uint64) uint32 { return uint32(v) }
