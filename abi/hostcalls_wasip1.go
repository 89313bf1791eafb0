//go:build wasip1

package abi

import (
	"unsafe"
)

// The hostcalls of ABI v0.2.1 that the product uses. Lengths are int32, ids
// uint32; returned buffers come back through a pointer-typed slot (**byte) so
// that Go's collector keeps the host-filled buffer alive (envoy-host.md,
// "Returned values and memory").

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg *byte, msgLen int32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(path *byte, pathLen int32, ret unsafe.Pointer, retLen *int32) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(path *byte, pathLen int32, val *byte, valLen int32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(m uint32, ret unsafe.Pointer, retLen *int32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(m uint32, key *byte, keyLen int32, ret unsafe.Pointer, retLen *int32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(m uint32, key *byte, keyLen int32, val *byte, valLen int32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(m uint32, key *byte, keyLen int32, val *byte, valLen int32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(m uint32, key *byte, keyLen int32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(m uint32, pairs *byte, pairsLen int32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(b uint32, start, maxSize int32, ret unsafe.Pointer, retLen *int32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(b uint32, start, size int32, data *byte, dataLen int32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, details *byte, detailsLen int32, body *byte, bodyLen int32, headers *byte, headersLen int32, grpcStatus int32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(upstream *byte, upstreamLen int32, headers *byte, headersLen int32, body *byte, bodyLen int32, trailers *byte, trailersLen int32, timeoutMs uint32, callID *uint32) uint32

//go:wasmimport env proxy_grpc_call
func proxyGRPCCall(service *byte, serviceLen int32, serviceName *byte, serviceNameLen int32, method *byte, methodLen int32,
	metadata *byte, metadataLen int32, message *byte, messageLen int32, timeoutMs uint32, token *uint32) uint32

//go:wasmimport env proxy_grpc_stream
func proxyGRPCStream(service *byte, serviceLen int32, serviceName *byte, serviceNameLen int32, method *byte, methodLen int32,
	metadata *byte, metadataLen int32, token *uint32) uint32

//go:wasmimport env proxy_grpc_send
func proxyGRPCSend(token uint32, message *byte, messageLen int32, endStream uint32) uint32

//go:wasmimport env proxy_grpc_cancel
func proxyGRPCCancel(token uint32) uint32

//go:wasmimport env proxy_get_status
func proxyGetStatus(code *uint32, ret unsafe.Pointer, retLen *int32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(key *byte, keyLen int32, ret unsafe.Pointer, retLen *int32, cas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(key *byte, keyLen int32, val *byte, valLen int32, cas uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriodMilliseconds(ms uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(t uint32, name *byte, nameLen int32, id *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, delta int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, value *uint64) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(s uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(level *uint32) uint32

// clockTimeGet is WASI's clock, read directly: Go's time.Now reads both
// clocks (two hostcalls) and makes the monotonic one relative to this VM's
// start, while the plugin needs the raw process-wide monotonic clock that
// every VM of the Envoy process shares.
//
//go:wasmimport wasi_snapshot_preview1 clock_time_get
func clockTimeGet(id uint32, precision uint64, t *uint64) uint32

// WasmHost is the Host backed by Envoy's hostcalls.
type WasmHost struct{}

// ptrLen returns a pointer to the first byte of b (nil when empty) and its length.
func ptrLen(b []byte) (*byte, int32) {
	if len(b) == 0 {
		return nil, 0
	}
	return &b[0], int32(len(b))
}

func strPtrLen(s string) (*byte, int32) {
	if len(s) == 0 {
		return nil, 0
	}
	return unsafe.StringData(s), int32(len(s))
}

// owned turns a host-allocated buffer into a slice; p is a real Go pointer
// (it came through a **byte slot), so the slice keeps the buffer alive.
func owned(p *byte, n int32) []byte {
	if p == nil || n <= 0 {
		return nil
	}
	return unsafe.Slice(p, int(n))
}

// Log implements Host.
func (WasmHost) Log(level LogLevel, msg string) {
	p, n := strPtrLen(msg)
	statsHostcall(hcLog, n)
	proxyLog(uint32(level), p, n)
}

// GetProperty implements Host. The value's buffer was allocated for it
// alone and is never written again, so it becomes the string as it is.
func (WasmHost) GetProperty(path string) (string, error) {
	kp, kn := strPtrLen(path)
	var ret *byte
	var n int32
	statsHostcall(hcGetProperty, kn)
	if err := Status(proxyGetProperty(kp, kn, unsafe.Pointer(&ret), &n)).Err(); err != nil {
		return "", err
	}
	if ret == nil || n <= 0 {
		return "", nil
	}
	return unsafe.String(ret, int(n)), nil
}

// SetProperty implements Host.
func (WasmHost) SetProperty(path string, value []byte) error {
	kp, kn := strPtrLen(path)
	statsHostcall(hcSetProperty, kn+int32(len(value)))
	var vp *byte
	if len(value) > 0 {
		vp = &value[0]
	}
	return Status(proxySetProperty(kp, kn, vp, int32(len(value)))).Err()
}

// GetHeaders implements Host.
func (WasmHost) GetHeaders(m MapType) ([]HeaderPair, error) {
	var ret *byte
	var n int32
	statsHostcall(hcGetHeaderMapPairs, 0)
	armed = &headerScratch // DecodeHeaderMap copies what it keeps
	err := Status(proxyGetHeaderMapPairs(uint32(m), unsafe.Pointer(&ret), &n)).Err()
	armed = nil
	if err != nil {
		return nil, err
	}
	return DecodeHeaderMap(owned(ret, n))
}

// GetHeader implements Host.
func (WasmHost) GetHeader(m MapType, key string) (string, error) {
	kp, kn := strPtrLen(key)
	var ret *byte
	var n int32
	statsHostcall(hcGetHeaderMapValue, kn)
	armed = &headerScratch // copied into the string
	err := Status(proxyGetHeaderMapValue(uint32(m), kp, kn, unsafe.Pointer(&ret), &n)).Err()
	armed = nil
	if err != nil {
		return "", err
	}
	return string(owned(ret, n)), nil
}

// AddHeader implements Host.
func (WasmHost) AddHeader(m MapType, key, value string) error {
	kp, kn := strPtrLen(key)
	vp, vn := strPtrLen(value)
	statsHostcall(hcAddHeaderMapValue, kn+vn)
	return Status(proxyAddHeaderMapValue(uint32(m), kp, kn, vp, vn)).Err()
}

// ReplaceHeader implements Host.
func (WasmHost) ReplaceHeader(m MapType, key, value string) error {
	kp, kn := strPtrLen(key)
	vp, vn := strPtrLen(value)
	statsHostcall(hcReplaceHeaderMapValue, kn+vn)
	return Status(proxyReplaceHeaderMapValue(uint32(m), kp, kn, vp, vn)).Err()
}

// RemoveHeader implements Host.
func (WasmHost) RemoveHeader(m MapType, key string) error {
	kp, kn := strPtrLen(key)
	statsHostcall(hcRemoveHeaderMapValue, kn)
	return Status(proxyRemoveHeaderMapValue(uint32(m), kp, kn)).Err()
}

// SetHeaders implements Host.
func (WasmHost) SetHeaders(m MapType, pairs []HeaderPair) error {
	p, n := ptrLen(EncodeHeaderMap(pairs))
	statsHostcall(hcSetHeaderMapPairs, n)
	return Status(proxySetHeaderMapPairs(uint32(m), p, n)).Err()
}

// GetBuffer implements Host.
func (WasmHost) GetBuffer(b BufferType, start, size int) ([]byte, error) {
	var ret *byte
	var n int32
	statsHostcall(hcGetBufferBytes, 0)
	if err := Status(proxyGetBufferBytes(uint32(b), int32(start), int32(size), unsafe.Pointer(&ret), &n)).Err(); err != nil {
		return nil, err
	}
	return owned(ret, n), nil
}

// PeekBuffer implements Host: proxy_on_memory_allocate hands the host the
// scratch buffer for this one call.
func (WasmHost) PeekBuffer(b BufferType, start, size int) ([]byte, error) {
	var ret *byte
	var n int32
	statsHostcall(hcGetBufferBytes, 0)
	armed = &bodyScratch
	err := Status(proxyGetBufferBytes(uint32(b), int32(start), int32(size), unsafe.Pointer(&ret), &n)).Err()
	armed = nil
	if err != nil {
		return nil, err
	}
	return owned(ret, n), nil
}

// SetBuffer implements Host.
func (WasmHost) SetBuffer(b BufferType, start, size int, data []byte) error {
	p, n := ptrLen(data)
	statsHostcall(hcSetBufferBytes, n)
	return Status(proxySetBufferBytes(uint32(b), int32(start), int32(size), p, n)).Err()
}

// SendLocalResponse implements Host.
func (WasmHost) SendLocalResponse(status uint32, details string, body []byte, headers []HeaderPair, grpcStatus int32) error {
	dp, dn := strPtrLen(details)
	bp, bn := ptrLen(body)
	hp, hn := ptrLen(EncodeHeaderMap(headers))
	statsHostcall(hcSendLocalResponse, dn+bn+hn)
	return Status(proxySendLocalResponse(status, dp, dn, bp, bn, hp, hn, grpcStatus)).Err()
}

// HTTPCall implements Host.
func (WasmHost) HTTPCall(cluster string, headers []HeaderPair, body []byte, trailers []HeaderPair, timeoutMs uint32) (uint32, error) {
	up, un := strPtrLen(cluster)
	hp, hn := ptrLen(EncodeHeaderMap(headers))
	bp, bn := ptrLen(body)
	tp, tn := ptrLen(EncodeHeaderMap(trailers))
	var id uint32
	statsHostcall(hcHTTPCall, un+hn+bn+tn)
	err := Status(proxyHTTPCall(up, un, hp, hn, bp, bn, tp, tn, timeoutMs, &id)).Err()
	return id, err
}

// GRPCCall implements Host.
func (WasmHost) GRPCCall(grpcService []byte, service, method string, message []byte, timeoutMs uint32) (uint32, error) {
	cp, cn := ptrLen(grpcService)
	sp, sn := strPtrLen(service)
	mp, mn := strPtrLen(method)
	bp, bn := ptrLen(message)
	hp, hn := ptrLen(EncodeHeaderMap(nil))
	var token uint32
	statsHostcall(hcGRPCCall, cn+sn+mn+bn)
	err := Status(proxyGRPCCall(cp, cn, sp, sn, mp, mn, hp, hn, bp, bn, timeoutMs, &token)).Err()
	return token, err
}

// GRPCStream implements Host.
func (WasmHost) GRPCStream(grpcService []byte, service, method string) (uint32, error) {
	cp, cn := ptrLen(grpcService)
	sp, sn := strPtrLen(service)
	mp, mn := strPtrLen(method)
	hp, hn := ptrLen(EncodeHeaderMap(nil))
	var token uint32
	statsHostcall(hcGRPCStream, cn+sn+mn)
	err := Status(proxyGRPCStream(cp, cn, sp, sn, mp, mn, hp, hn, &token)).Err()
	return token, err
}

// GRPCSend implements Host.
func (WasmHost) GRPCSend(token uint32, message []byte, endStream bool) error {
	bp, bn := ptrLen(message)
	end := uint32(0)
	if endStream {
		end = 1
	}
	statsHostcall(hcGRPCSend, bn)
	return Status(proxyGRPCSend(token, bp, bn, end)).Err()
}

// GRPCCancel implements Host.
func (WasmHost) GRPCCancel(token uint32) error {
	statsHostcall(hcGRPCCancel, 0)
	return Status(proxyGRPCCancel(token)).Err()
}

// GetStatus implements Host.
func (WasmHost) GetStatus() (uint32, string, error) {
	var code uint32
	var ret *byte
	var n int32
	statsHostcall(hcGetStatus, 0)
	if err := Status(proxyGetStatus(&code, unsafe.Pointer(&ret), &n)).Err(); err != nil {
		return 0, "", err
	}
	return code, string(owned(ret, n)), nil
}

// GetSharedData implements Host.
func (WasmHost) GetSharedData(key string) ([]byte, uint32, error) {
	kp, kn := strPtrLen(key)
	var ret *byte
	var n int32
	var cas uint32
	statsHostcall(hcGetSharedData, kn)
	if err := Status(proxyGetSharedData(kp, kn, unsafe.Pointer(&ret), &n, &cas)).Err(); err != nil {
		return nil, 0, err
	}
	return owned(ret, n), cas, nil
}

// SetSharedData implements Host.
func (WasmHost) SetSharedData(key string, value []byte, cas uint32) error {
	kp, kn := strPtrLen(key)
	vp, vn := ptrLen(value)
	statsHostcall(hcSetSharedData, kn+vn)
	return Status(proxySetSharedData(kp, kn, vp, vn, cas)).Err()
}

// SetTickPeriod implements Host.
func (WasmHost) SetTickPeriod(ms uint32) error {
	statsHostcall(hcSetTickPeriod, 0)
	return Status(proxySetTickPeriodMilliseconds(ms)).Err()
}

// DefineMetric implements Host.
func (WasmHost) DefineMetric(t MetricType, name string) (uint32, error) {
	np, nn := strPtrLen(name)
	var id uint32
	statsHostcall(hcDefineMetric, nn)
	err := Status(proxyDefineMetric(uint32(t), np, nn, &id)).Err()
	return id, err
}

// IncrementMetric implements Host.
func (WasmHost) IncrementMetric(id uint32, delta int64) error {
	statsHostcall(hcIncrementMetric, 0)
	return Status(proxyIncrementMetric(id, delta)).Err()
}

// RecordMetric implements Host.
func (WasmHost) RecordMetric(id uint32, value uint64) error {
	statsHostcall(hcRecordMetric, 0)
	return Status(proxyRecordMetric(id, value)).Err()
}

// GetMetric implements Host.
func (WasmHost) GetMetric(id uint32) (uint64, error) {
	var v uint64
	statsHostcall(hcGetMetric, 0)
	err := Status(proxyGetMetric(id, &v)).Err()
	return v, err
}

// ContinueStream implements Host.
func (WasmHost) ContinueStream(s StreamType) error {
	statsHostcall(hcContinueStream, 0)
	return Status(proxyContinueStream(uint32(s))).Err()
}

// SetEffectiveContext implements Host.
func (WasmHost) SetEffectiveContext(id uint32) error {
	statsHostcall(hcSetEffectiveContext, 0)
	return Status(proxySetEffectiveContext(id)).Err()
}

// LogLevel implements Host.
func (WasmHost) LogLevel() (LogLevel, error) {
	var l uint32
	statsHostcall(hcGetLogLevel, 0)
	err := Status(proxyGetLogLevel(&l)).Err()
	return LogLevel(l), err
}

// WASI clock ids.
const (
	clockRealtime  = 0
	clockMonotonic = 1
)

// WallMs implements Host.
func (WasmHost) WallMs() int64 {
	var t uint64
	statsHostcall(hcClockTimeGet, 0)
	clockTimeGet(clockRealtime, 1, &t)
	return int64(t / 1e6)
}

// ProcessMs implements Host.
func (WasmHost) ProcessMs() int64 {
	var t uint64
	statsHostcall(hcClockTimeGet, 0)
	clockTimeGet(clockMonotonic, 1, &t)
	return int64(t / 1e6)
}
