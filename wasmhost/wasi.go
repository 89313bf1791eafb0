package wasmhost

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// WASI errno values.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoNoent   = 44
	errnoNosys   = 52
)

func msDuration(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }

// instantiateWASI provides wasi_snapshot_preview1 as Envoy's cpp-host does:
// fd_write to the log (stdout info, stderr error), virtual clocks,
// deterministic random_get, poll_oneoff succeeding at once with no events,
// proc_exit only logging, and stubs elsewhere.
func (h *Host) instantiateWASI() error {
	b := h.rt.NewHostModuleBuilder("wasi_snapshot_preview1")
	def := func(name string, where restriction, params []api.ValueType, fn hostFunc) {
		results := types(1)
		if name == "proc_exit" {
			results = nil
		}
		b.NewFunctionBuilder().WithGoModuleFunction(h.wrap(name, where, fn), params, results).Export(name)
	}
	zeroSizes := func(_ context.Context, vm *VM, s []uint64) {
		vm.writeU32(u32(s[0]), 0)
		vm.writeU32(u32(s[1]), 0)
		s[0] = errnoSuccess
	}
	ok := func(_ context.Context, _ *VM, s []uint64) { s[0] = errnoSuccess }
	errno := func(e uint64) hostFunc { return func(_ context.Context, _ *VM, s []uint64) { s[0] = e } }
	def("args_sizes_get", duringInit, types(2), zeroSizes)
	def("args_get", duringInit, types(2), ok)
	// environ: Options.Env, like Envoy's vm_config.environment_variables.
	def("environ_sizes_get", duringInit, types(2), func(_ context.Context, vm *VM, s []uint64) {
		size := 0
		for _, kv := range h.opts.Env {
			size += len(kv) + 1
		}
		vm.writeU32(u32(s[0]), uint32(len(h.opts.Env)))
		vm.writeU32(u32(s[1]), uint32(size))
		s[0] = errnoSuccess
	})
	def("environ_get", duringInit, types(2), func(_ context.Context, vm *VM, s []uint64) {
		ptrs, buf := u32(s[0]), u32(s[1])
		for i, kv := range h.opts.Env {
			vm.writeU32(ptrs+4*uint32(i), buf)
			if !vm.mod.Memory().Write(buf, append([]byte(kv), 0)) {
				panic(trap{"environ_get out of bounds"})
			}
			buf += uint32(len(kv) + 1)
		}
		s[0] = errnoSuccess
	})
	def("clock_time_get", anywhere, []api.ValueType{i32, i64, i32}, func(_ context.Context, vm *VM, s []uint64) {
		var t uint64
		if u32(s[0]) == 0 { // realtime
			t = uint64(vm.h.Now().UnixNano())
		} else { // monotonic: virtual time, nudged so it always moves on
			vm.h.mono++
			t = uint64(MonotonicBase+vm.h.now) + vm.h.mono
		}
		vm.writeU64(u32(s[2]), t)
		s[0] = errnoSuccess
	})
	def("clock_res_get", duringInit, types(2), func(_ context.Context, vm *VM, s []uint64) {
		vm.writeU64(u32(s[1]), 1)
		s[0] = errnoSuccess
	})
	def("random_get", duringInit, types(2), func(_ context.Context, vm *VM, s []uint64) {
		n := u32(s[1])
		buf := make([]byte, n)
		vm.rnd.Read(buf)
		if !vm.mod.Memory().Write(u32(s[0]), buf) {
			panic(trap{"random_get out of bounds"})
		}
		s[0] = errnoSuccess
	})
	def("fd_write", anywhere, types(4), func(_ context.Context, vm *VM, s []uint64) {
		fd, iovs, n := u32(s[0]), u32(s[1]), u32(s[2])
		var out []byte
		for i := uint32(0); i < n; i++ {
			iov := vm.read(iovs+8*i, 8)
			ptr := uint32(iov[0]) | uint32(iov[1])<<8 | uint32(iov[2])<<16 | uint32(iov[3])<<24
			ln := uint32(iov[4]) | uint32(iov[5])<<8 | uint32(iov[6])<<16 | uint32(iov[7])<<24
			out = append(out, vm.read(ptr, ln)...)
		}
		level := LevelInfo
		if fd == 2 {
			level = LevelError
		}
		vm.log(level, string(out))
		vm.writeU32(u32(s[3]), uint32(len(out)))
		s[0] = errnoSuccess
	})
	pollWhere := anywhere
	if h.opts.OlderHost {
		pollWhere = duringInit // forbidden inside proxy_on_memory_allocate
	}
	def("poll_oneoff", pollWhere, types(4), func(_ context.Context, vm *VM, s []uint64) {
		vm.h.pollCalls++
		if vm.h.opts.OlderHost {
			s[0] = errnoNosys // cpp-host before its PR #533 (Envoy < 1.39)
			return
		}
		vm.writeU32(u32(s[3]), 0) // success, zero events, at once
		s[0] = errnoSuccess
	})
	def("proc_exit", duringInit, types(1), func(_ context.Context, vm *VM, s []uint64) {
		vm.log(LevelError, "proc_exit called (ignored, as Envoy does)")
	})
	def("sched_yield", duringInit, nil, ok)
	def("fd_fdstat_get", duringInit, types(2), func(_ context.Context, vm *VM, s []uint64) {
		fd := u32(s[0])
		if fd != 1 && fd != 2 {
			s[0] = errnoBadf
			return
		}
		stat := make([]byte, 24)
		stat[0] = 2 // character device
		if !vm.mod.Memory().Write(u32(s[1]), stat) {
			panic(trap{"fd_fdstat_get out of bounds"})
		}
		s[0] = errnoSuccess
	})
	def("fd_fdstat_set_flags", duringInit, types(2), errno(errnoNosys))
	def("fd_close", duringInit, types(1), ok)
	def("fd_seek", duringInit, []api.ValueType{i32, i64, i32, i32}, ok)
	def("fd_read", duringInit, types(4), errno(errnoNosys))
	def("fd_prestat_get", duringInit, types(2), errno(errnoBadf))
	def("fd_prestat_dir_name", duringInit, types(3), errno(errnoNosys))
	def("path_open", duringInit, []api.ValueType{i32, i32, i32, i32, i32, i64, i64, i32, i32}, errno(errnoNoent))
	if !h.opts.OlderHost { // added to cpp-host by its PR #533 (Envoy 1.39)
		def("path_filestat_get", duringInit, types(5), errno(errnoNosys))
	}
	_, err := b.Instantiate(h.ctx)
	return err
}
