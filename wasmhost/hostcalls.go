package wasmhost

import (
	"context"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/token-failover/token-failover/abi"
)

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func types(n int) []api.ValueType {
	out := make([]api.ValueType, n)
	for i := range out {
		out[i] = i32
	}
	return out
}

// stream returns the stream of the effective context (nil for a root).
func (vm *VM) stream() *Stream {
	id := vm.current
	if vm.effective != 0 {
		id = vm.effective
	}
	return vm.streams[id]
}

// headerMap returns a pointer to the map of type t in the current context.
func (vm *VM) headerMap(t uint32) *[]Pair {
	s := vm.stream()
	switch abi.MapType(t) {
	case abi.MapRequestHeaders:
		if s != nil && !s.headersSent {
			return &s.reqHeaders
		}
	case abi.MapResponseHeaders:
		if s != nil && s.respHdrs != nil {
			return &s.respHdrs
		}
	case abi.MapHTTPCallResponseHeaders:
		if vm.callResp != nil {
			return &vm.callResp.headers
		}
	}
	return nil
}

func (vm *VM) buffer(t uint32) *[]byte {
	s := vm.stream()
	switch abi.BufferType(t) {
	case abi.BufferRequestBody:
		if s != nil {
			return &s.reqBody
		}
	case abi.BufferResponseBody:
		if s != nil {
			return &s.respBody
		}
	case abi.BufferHTTPCallResponse:
		if vm.callResp != nil {
			return &vm.callResp.body
		}
	case abi.BufferPluginConfig:
		c := vm.h.config
		return &c
	case abi.BufferVMConfiguration:
		var empty []byte
		return &empty
	}
	return nil
}

func (vm *VM) property(path string) (string, bool) {
	if s := vm.stream(); s != nil {
		if v, ok := s.props[path]; ok {
			return v, true
		}
	}
	switch path {
	case "plugin_name", "plugin_root_id", "plugin_vm_id":
		return "token-failover", true
	}
	return "", false
}

func (h *Host) instantiateHostModules() error {
	b := h.rt.NewHostModuleBuilder("env")
	def := func(name string, where restriction, params, results []api.ValueType, fn hostFunc) {
		b.NewFunctionBuilder().WithGoModuleFunction(h.wrap(name, where, fn), params, results).Export(name)
	}
	def("proxy_log", anywhere, types(3), types(1), func(_ context.Context, vm *VM, s []uint64) {
		vm.log(Level(u32(s[0])), string(vm.read(u32(s[1]), u32(s[2]))))
		s[0] = statusOK
	})
	def("proxy_get_log_level", duringInit, types(1), types(1), func(_ context.Context, vm *VM, s []uint64) {
		vm.writeU32(u32(s[0]), uint32(LevelTrace))
		s[0] = statusOK
	})
	def("proxy_get_property", normalOnly, types(4), types(1), func(ctx context.Context, vm *VM, s []uint64) {
		path := strings.ReplaceAll(string(vm.read(u32(s[0]), u32(s[1]))), "\x00", ".")
		v, ok := vm.property(path)
		if !ok {
			s[0] = statusNotFound
			return
		}
		s[0] = uint64(vm.returnBytes(ctx, []byte(v), u32(s[2]), u32(s[3])))
	})
	def("proxy_get_header_map_pairs", normalOnly, types(3), types(1), func(ctx context.Context, vm *VM, s []uint64) {
		m := vm.headerMap(u32(s[0]))
		if m == nil {
			s[0] = statusNotFound
			return
		}
		s[0] = uint64(vm.returnBytes(ctx, abi.EncodeHeaderMap(*m), u32(s[1]), u32(s[2])))
	})
	def("proxy_get_header_map_value", normalOnly, types(5), types(1), func(ctx context.Context, vm *VM, s []uint64) {
		m := vm.headerMap(u32(s[0]))
		key := string(vm.read(u32(s[1]), u32(s[2])))
		if m == nil {
			s[0] = statusNotFound
			return
		}
		for _, p := range *m {
			if strings.EqualFold(p[0], key) {
				s[0] = uint64(vm.returnBytes(ctx, []byte(p[1]), u32(s[3]), u32(s[4])))
				return
			}
		}
		s[0] = statusNotFound
	})
	setValue := func(replace bool) hostFunc {
		return func(_ context.Context, vm *VM, s []uint64) {
			m := vm.headerMap(u32(s[0]))
			if m == nil {
				s[0] = statusNotFound
				return
			}
			key := strings.ToLower(string(vm.read(u32(s[1]), u32(s[2]))))
			val := string(vm.read(u32(s[3]), u32(s[4])))
			if replace {
				*m = setHeaderInPlace(*m, key, val)
			} else {
				*m = append(*m, Pair{key, val})
			}
			s[0] = statusOK
		}
	}
	def("proxy_add_header_map_value", normalOnly, types(5), types(1), setValue(false))
	def("proxy_replace_header_map_value", normalOnly, types(5), types(1), setValue(true))
	def("proxy_remove_header_map_value", normalOnly, types(3), types(1), func(_ context.Context, vm *VM, s []uint64) {
		m := vm.headerMap(u32(s[0]))
		if m == nil {
			s[0] = statusNotFound
			return
		}
		*m = removeHeader(*m, string(vm.read(u32(s[1]), u32(s[2]))))
		s[0] = statusOK
	})
	def("proxy_set_header_map_pairs", normalOnly, types(3), types(1), func(_ context.Context, vm *VM, s []uint64) {
		m := vm.headerMap(u32(s[0]))
		pairs, err := abi.DecodeHeaderMap(vm.read(u32(s[1]), u32(s[2])))
		if m == nil || err != nil {
			s[0] = statusBadArgument
			return
		}
		*m = pairs
		s[0] = statusOK
	})
	def("proxy_get_buffer_bytes", normalOnly, types(5), types(1), func(ctx context.Context, vm *VM, s []uint64) {
		buf := vm.buffer(u32(s[0]))
		if buf == nil {
			s[0] = statusNotFound
			return
		}
		start, size := int(int32(u32(s[1]))), int(int32(u32(s[2])))
		if start < 0 || size < 0 {
			s[0] = statusBadArgument
			return
		}
		b := *buf
		if start > len(b) {
			start = len(b)
		}
		end := min(start+size, len(b))
		s[0] = uint64(vm.returnBytes(ctx, b[start:end], u32(s[3]), u32(s[4])))
	})
	def("proxy_set_buffer_bytes", normalOnly, types(5), types(1), func(_ context.Context, vm *VM, s []uint64) {
		buf := vm.buffer(u32(s[0]))
		if buf == nil {
			s[0] = statusNotFound
			return
		}
		start, size := int(u32(s[1])), int(u32(s[2]))
		data := vm.read(u32(s[3]), u32(s[4]))
		b := *buf
		switch { // Envoy's rules (envoy-host.md, "Encodings")
		case start == 0 && size == 0:
			*buf = append(data, b...)
		case start == 0 && size >= len(b):
			*buf = data
		case start >= len(b):
			*buf = append(b, data...)
		default:
			s[0] = statusBadArgument
			return
		}
		s[0] = statusOK
	})
	def("proxy_send_local_response", normalOnly, types(8), types(1), func(_ context.Context, vm *VM, s []uint64) {
		st := vm.stream()
		headers, err := abi.DecodeHeaderMap(vm.read(u32(s[5]), u32(s[6])))
		if st == nil || err != nil {
			s[0] = statusBadArgument
			return
		}
		l := &LocalReply{VM: vm.name, Status: int(u32(s[0])), Details: string(vm.read(u32(s[1]), u32(s[2]))),
			Body: vm.read(u32(s[3]), u32(s[4])), Headers: headers}
		st.local = l
		vm.h.replies = append(vm.h.replies, *l)
		s[0] = statusOK
	})
	def("proxy_http_call", normalOnly, types(10), types(1), func(_ context.Context, vm *VM, s []uint64) {
		headers, err := abi.DecodeHeaderMap(vm.read(u32(s[2]), u32(s[3])))
		if err != nil {
			s[0] = statusBadArgument
			return
		}
		id, st := vm.httpCall(string(vm.read(u32(s[0]), u32(s[1]))), headers, vm.read(u32(s[4]), u32(s[5])), u32(s[8]))
		if st == statusOK {
			vm.writeU32(u32(s[9]), id)
		}
		s[0] = uint64(st)
	})
	def("proxy_get_status", normalOnly, types(3), types(1), func(_ context.Context, vm *VM, s []uint64) {
		var code uint32
		if vm.callResp != nil {
			code = vm.callResp.status
		}
		vm.writeU32(u32(s[0]), code)
		vm.writeU32(u32(s[1]), 0)
		vm.writeU32(u32(s[2]), 0)
		s[0] = statusOK
	})
	def("proxy_get_shared_data", normalOnly, types(5), types(1), func(ctx context.Context, vm *VM, s []uint64) {
		data, cas, st := vm.h.getShared(string(vm.read(u32(s[0]), u32(s[1]))))
		if st != statusOK {
			s[0] = uint64(st)
			return
		}
		vm.writeU32(u32(s[4]), cas)
		s[0] = uint64(vm.returnBytes(ctx, data, u32(s[2]), u32(s[3])))
	})
	def("proxy_set_shared_data", normalOnly, types(5), types(1), func(_ context.Context, vm *VM, s []uint64) {
		key := string(vm.read(u32(s[0]), u32(s[1])))
		if hook := vm.h.opts.BeforeSharedSet; hook != nil && !vm.h.inSetHook {
			vm.h.inSetHook = true
			hook(vm, key)
			vm.h.inSetHook = false
		}
		s[0] = uint64(vm.h.setShared(key, vm.read(u32(s[2]), u32(s[3])), u32(s[4])))
	})
	def("proxy_set_tick_period_milliseconds", normalOnly, types(1), types(1), func(_ context.Context, vm *VM, s []uint64) {
		vm.tickPeriod = msDuration(u32(s[0]))
		vm.nextTick = vm.h.now + vm.tickPeriod
		s[0] = statusOK
	})
	def("proxy_define_metric", normalOnly, types(4), types(1), func(_ context.Context, vm *VM, s []uint64) {
		id, st := vm.defineMetric(MetricType(u32(s[0])), string(vm.read(u32(s[1]), u32(s[2]))))
		if st == statusOK {
			vm.writeU32(u32(s[3]), id)
		}
		s[0] = uint64(st)
	})
	def("proxy_increment_metric", normalOnly, []api.ValueType{i32, i64}, types(1), func(_ context.Context, vm *VM, s []uint64) {
		s[0] = uint64(vm.incrementMetric(u32(s[0]), int64(s[1])))
	})
	def("proxy_record_metric", normalOnly, []api.ValueType{i32, i64}, types(1), func(_ context.Context, vm *VM, s []uint64) {
		s[0] = uint64(vm.recordMetric(u32(s[0]), s[1]))
	})
	def("proxy_get_metric", normalOnly, types(2), types(1), func(_ context.Context, vm *VM, s []uint64) {
		v, st := vm.getMetric(u32(s[0]))
		if st == statusOK {
			vm.writeU64(u32(s[1]), v)
		}
		s[0] = uint64(st)
	})
	// Resuming a held response is carried out after the running callback
	// returns (as Envoy posts it); resuming a request is not emulated.
	def("proxy_continue_stream", normalOnly, types(1), types(1), func(_ context.Context, vm *VM, s []uint64) {
		st := vm.stream()
		switch {
		case st == nil:
			s[0] = statusNotFound
		case abi.StreamType(u32(s[0])) == abi.StreamResponse && st.held:
			st.resume = true
			s[0] = statusOK
		default:
			s[0] = statusUnimplemented
		}
	})
	def("proxy_set_effective_context", normalOnly, types(1), types(1), func(_ context.Context, vm *VM, s []uint64) {
		id := u32(s[0])
		if _, ok := vm.streams[id]; !ok && id != vm.rootID {
			s[0] = statusBadArgument
			return
		}
		vm.effective = id
		s[0] = statusOK
	})
	if _, err := b.Instantiate(h.ctx); err != nil {
		return err
	}
	return h.instantiateWASI()
}

func setHeaderInPlace(pairs []Pair, key, val string) []Pair {
	for i, p := range pairs {
		if strings.EqualFold(p[0], key) {
			pairs[i][1] = val
			return append(pairs[:i+1], removeHeader(pairs[i+1:], key)...)
		}
	}
	return append(pairs, Pair{key, val})
}
