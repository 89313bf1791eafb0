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
	case abi.MapRequestTrailers:
		if s != nil && s.reqTrailers != nil {
			return &s.reqTrailers
		}
	case abi.MapResponseHeaders:
		if s != nil && s.respHdrs != nil {
			return &s.respHdrs
		}
	case abi.MapResponseTrailers:
		if s != nil && s.respTrailers != nil {
			return &s.respTrailers
		}
	case abi.MapHTTPCallResponseHeaders:
		if vm.callResp != nil {
			return &vm.callResp.headers
		}
	case abi.MapHTTPCallResponseTrailer:
		if vm.callResp != nil {
			return &vm.callResp.trailers
		}
	}
	return nil
}

// headersModified is Envoy's Context::onHeadersModified: a write to the
// request headers clears the stream's route cache (every ABI version a
// module can declare, Envoy 1.36-1.40; docs/envoy-routing.md), so the
// router picks the route again from the headers as they are then.
func (vm *VM) headersModified(t uint32) {
	if s := vm.stream(); s != nil && abi.MapType(t) == abi.MapRequestHeaders && !s.keepRoute {
		s.routeStale = true
	}
}

// buffer returns the buffer of type t in the current context: a stream's
// body is what Envoy holds for this filter right now (the newest chunk, or
// everything buffered since a Pause).
func (vm *VM) buffer(t uint32) *[]byte {
	s := vm.stream()
	switch abi.BufferType(t) {
	case abi.BufferRequestBody:
		if s != nil {
			return &s.reqBuf
		}
	case abi.BufferResponseBody:
		if s != nil {
			return &s.respBuf
		}
	case abi.BufferHTTPCallResponse:
		if vm.callResp != nil {
			return &vm.callResp.body
		}
	case abi.BufferGRPCReceive:
		if vm.grpcResp != nil {
			return &vm.grpcResp.message
		}
	case abi.BufferPluginConfig:
		var c []byte
		if rs := vm.roots[vm.currentRoot()]; rs != nil {
			c = rs.config
		}
		return &c
	case abi.BufferVMConfiguration:
		var empty []byte
		return &empty
	}
	return nil
}

// property answers proxy_get_property as Envoy encodes it: strings as
// bytes, response.flags as a little-endian uint64.
func (vm *VM) property(path string) ([]byte, bool) {
	if s := vm.stream(); s != nil {
		if path == "response.flags" {
			var b [8]byte
			for i := range b {
				b[i] = byte(s.flags >> (8 * i))
			}
			return b[:], true
		}
		if v, ok := s.props[path]; ok {
			return []byte(v), true
		}
		// A name Envoy does not know is looked up as filter state
		// "wasm.<name>" (Context::findValue): what proxy_set_property set.
		if v, ok := s.props["wasm."+path]; ok && !strings.Contains(path, ".") {
			return []byte(v), true
		}
	}
	switch path {
	case "plugin_name", "plugin_root_id", "plugin_vm_id":
		return []byte("token-failover"), true
	}
	return nil, false
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
		vm.writeU32(u32(s[0]), uint32(vm.h.opts.LogLevel))
		s[0] = statusOK
	})
	def("proxy_get_property", normalOnly, types(4), types(1), func(ctx context.Context, vm *VM, s []uint64) {
		path := strings.ReplaceAll(string(vm.read(u32(s[0]), u32(s[1]))), "\x00", ".")
		v, ok := vm.property(path)
		if !ok {
			s[0] = statusNotFound
			return
		}
		s[0] = uint64(vm.returnBytes(ctx, v, u32(s[2]), u32(s[3])))
	})
	def("proxy_set_property", normalOnly, types(4), types(1), func(_ context.Context, vm *VM, s []uint64) {
		st := vm.stream()
		if st == nil {
			s[0] = statusNotFound
			return
		}
		path := string(vm.read(u32(s[0]), u32(s[1])))
		value := string(vm.read(u32(s[2]), u32(s[3])))
		st.props["wasm."+path] = value // Envoy: filter state "wasm.<path>"
		if st.requestState != nil {
			st.requestState["wasm."+path] = value
		}
		if path == "clear_route_cache" && vm.h.opts.Higress {
			st.keepRoute = value == "off"
		}
		s[0] = statusOK
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
			if f := vm.h.opts.FailHeaderWrite; f != nil && f(key) {
				s[0] = statusBadArgument
				return
			}
			if replace {
				*m = setHeaderInPlace(*m, key, val)
			} else {
				*m = append(*m, Pair{key, val})
			}
			vm.headersModified(u32(s[0]))
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
		key := strings.ToLower(string(vm.read(u32(s[1]), u32(s[2]))))
		if f := vm.h.opts.FailHeaderWrite; f != nil && f(key) {
			s[0] = statusBadArgument
			return
		}
		*m = removeHeader(*m, key)
		vm.headersModified(u32(s[0]))
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
		vm.headersModified(u32(s[0]))
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
		switch { // Envoy's Buffer::copyFrom (docs/envoy-details.md)
		case start == 0:
			// Drain the first size bytes, then prepend: size 0 prepends,
			// size >= length replaces, anything between replaces a prefix.
			*buf = append(append([]byte(nil), data...), b[min(size, len(b)):]...)
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
		trailers, err := abi.DecodeHeaderMap(vm.read(u32(s[6]), u32(s[7])))
		if err != nil {
			s[0] = statusBadArgument
			return
		}
		id, st := vm.httpCall(string(vm.read(u32(s[0]), u32(s[1]))), headers, vm.read(u32(s[4]), u32(s[5])), trailers, u32(s[8]))
		if st == statusOK {
			vm.writeU32(u32(s[9]), id)
		}
		s[0] = uint64(st)
	})
	def("proxy_grpc_call", normalOnly, types(12), types(1), func(_ context.Context, vm *VM, s []uint64) {
		token, st := vm.grpcCall(grpcTarget(vm.read(u32(s[0]), u32(s[1]))), string(vm.read(u32(s[2]), u32(s[3]))),
			string(vm.read(u32(s[4]), u32(s[5]))), vm.read(u32(s[8]), u32(s[9])), u32(s[10]))
		if st == statusOK {
			vm.writeU32(u32(s[11]), token)
		}
		s[0] = uint64(st)
	})
	def("proxy_grpc_stream", normalOnly, types(9), types(1), func(_ context.Context, vm *VM, s []uint64) {
		token, st := vm.grpcOpen(grpcTarget(vm.read(u32(s[0]), u32(s[1]))), string(vm.read(u32(s[2]), u32(s[3]))),
			string(vm.read(u32(s[4]), u32(s[5]))))
		if st == statusOK {
			vm.writeU32(u32(s[8]), token)
		}
		s[0] = uint64(st)
	})
	def("proxy_grpc_send", normalOnly, types(4), types(1), func(_ context.Context, vm *VM, s []uint64) {
		s[0] = uint64(vm.grpcSend(u32(s[0]), vm.read(u32(s[1]), u32(s[2])), u32(s[3]) != 0))
	})
	def("proxy_grpc_cancel", normalOnly, types(1), types(1), func(_ context.Context, vm *VM, s []uint64) {
		s[0] = uint64(vm.grpcCancel(u32(s[0])))
	})
	def("proxy_get_status", normalOnly, types(3), types(1), func(ctx context.Context, vm *VM, s []uint64) {
		var code uint32
		var msg []byte
		if rs := vm.roots[vm.currentRoot()]; rs != nil {
			code, msg = rs.status, []byte(rs.statusMsg)
		}
		vm.writeU32(u32(s[0]), code)
		s[0] = uint64(vm.returnBytes(ctx, msg, u32(s[1]), u32(s[2])))
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
		rs := vm.roots[vm.currentRoot()]
		if rs == nil {
			s[0] = statusBadArgument
			return
		}
		rs.tickPeriod = msDuration(u32(s[0]))
		rs.nextTick = vm.h.now + rs.tickPeriod
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
	// Resuming is carried out after the running callback returns (Envoy
	// posts it); resuming a stream that is not stopped does nothing.
	def("proxy_continue_stream", normalOnly, types(1), types(1), func(_ context.Context, vm *VM, s []uint64) {
		st := vm.stream()
		switch {
		case st == nil:
			s[0] = statusNotFound
			return
		case abi.StreamType(u32(s[0])) == abi.StreamResponse:
			if !st.respStarted {
				// Envoy continues encoding with no response headers and
				// crashes the whole process (docs/envoy-details.md).
				panic(trap{"proxy_continue_stream(response) before any response: Envoy would crash"})
			}
			st.resume = st.held || st.respBuffering || st.respTrailers != nil
		case abi.StreamType(u32(s[0])) == abi.StreamRequest:
			if vm.callback == "proxy_on_request_headers" && vm.current == st.id {
				// Envoy runs the deferred continue before the callback's
				// answer: Continue sends the request upstream twice, Pause
				// stalls it forever.
				panic(trap{"proxy_continue_stream(request) in the stream's own on_request_headers: Envoy would send it twice or stall it"})
			}
			st.resumeReq = st.headersPaused || st.reqBuffering || st.trailersHeld
		default:
			s[0] = statusBadArgument
			return
		}
		s[0] = statusOK
	})
	def("proxy_set_effective_context", normalOnly, types(1), types(1), func(_ context.Context, vm *VM, s []uint64) {
		id := u32(s[0])
		if _, ok := vm.streams[id]; !ok && vm.roots[id] == nil {
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
