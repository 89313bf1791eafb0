// Package abitest provides FakeHost, an in-memory abi.Host for running the
// plugin natively (no wasm) in tests: one stream's header maps and bodies,
// properties, Envoy-rules shared data, metrics by name and captured logs.
// Like Envoy, it forgets the request headers once their callback continued.
package abitest

import (
	"strings"

	"github.com/token-failover/token-failover/abi"
)

// FakeHost is a single-VM, single-stream host.
type FakeHost struct {
	Config          []byte
	RequestHeaders  []abi.HeaderPair
	RequestBody     []byte
	ResponseHeaders []abi.HeaderPair
	Properties      map[string]string
	Logs            []string
	// HeadersSent makes request-header hostcalls answer NotFound, as Envoy
	// does once on_request_headers returned Continue.
	HeadersSent bool
	// Wall and Process are the clocks' readings in milliseconds.
	Wall, Process int64

	shared  map[string]sharedValue
	cas     uint32
	metrics map[string]uint64
	ids     []string
}

type sharedValue struct {
	data []byte
	cas  uint32
}

var _ abi.Host = (*FakeHost)(nil)

func (f *FakeHost) headerMap(m abi.MapType) *[]abi.HeaderPair {
	switch m {
	case abi.MapRequestHeaders:
		if !f.HeadersSent {
			return &f.RequestHeaders
		}
	case abi.MapResponseHeaders:
		return &f.ResponseHeaders
	}
	return nil
}

// Log implements abi.Host.
func (f *FakeHost) Log(level abi.LogLevel, msg string) { f.Logs = append(f.Logs, msg) }

// GetProperty implements abi.Host; Properties are keyed with dots
// ("xds.route_name").
func (f *FakeHost) GetProperty(path string) (string, error) {
	v, ok := f.Properties[strings.ReplaceAll(path, "\x00", ".")]
	if !ok {
		return "", abi.ErrNotFound
	}
	return v, nil
}

// SetProperty implements abi.Host: it stores the value as a property.
func (f *FakeHost) SetProperty(path string, value []byte) error {
	if f.Properties == nil {
		f.Properties = map[string]string{}
	}
	f.Properties[path] = string(value)
	return nil
}

// GetHeaders implements abi.Host.
func (f *FakeHost) GetHeaders(m abi.MapType) ([]abi.HeaderPair, error) {
	h := f.headerMap(m)
	if h == nil {
		return nil, abi.ErrNotFound
	}
	return append([]abi.HeaderPair(nil), *h...), nil
}

// GetHeader implements abi.Host.
func (f *FakeHost) GetHeader(m abi.MapType, key string) (string, error) {
	h := f.headerMap(m)
	if h == nil {
		return "", abi.ErrNotFound
	}
	for _, p := range *h {
		if strings.EqualFold(p[0], key) {
			return p[1], nil
		}
	}
	return "", abi.ErrNotFound
}

// AddHeader implements abi.Host.
func (f *FakeHost) AddHeader(m abi.MapType, key, value string) error {
	h := f.headerMap(m)
	if h == nil {
		return abi.ErrNotFound
	}
	*h = append(*h, abi.HeaderPair{strings.ToLower(key), value})
	return nil
}

// ReplaceHeader implements abi.Host.
func (f *FakeHost) ReplaceHeader(m abi.MapType, key, value string) error {
	h := f.headerMap(m)
	if h == nil {
		return abi.ErrNotFound
	}
	key = strings.ToLower(key)
	_ = f.RemoveHeader(m, key)
	*h = append(*h, abi.HeaderPair{key, value})
	return nil
}

// RemoveHeader implements abi.Host.
func (f *FakeHost) RemoveHeader(m abi.MapType, key string) error {
	h := f.headerMap(m)
	if h == nil {
		return abi.ErrNotFound
	}
	out := (*h)[:0]
	for _, p := range *h {
		if !strings.EqualFold(p[0], key) {
			out = append(out, p)
		}
	}
	*h = out
	return nil
}

// SetHeaders implements abi.Host.
func (f *FakeHost) SetHeaders(m abi.MapType, pairs []abi.HeaderPair) error {
	h := f.headerMap(m)
	if h == nil {
		return abi.ErrNotFound
	}
	*h = append([]abi.HeaderPair(nil), pairs...)
	return nil
}

func (f *FakeHost) buffer(b abi.BufferType) *[]byte {
	switch b {
	case abi.BufferRequestBody:
		return &f.RequestBody
	case abi.BufferPluginConfig:
		return &f.Config
	}
	return nil
}

// GetBuffer implements abi.Host.
func (f *FakeHost) GetBuffer(b abi.BufferType, start, size int) ([]byte, error) {
	buf := f.buffer(b)
	if buf == nil {
		return nil, abi.ErrNotFound
	}
	data := *buf
	start = min(start, len(data))
	return append([]byte(nil), data[start:min(start+size, len(data))]...), nil
}

// PeekBuffer implements abi.Host (natively a copy, like GetBuffer).
func (f *FakeHost) PeekBuffer(b abi.BufferType, start, size int) ([]byte, error) {
	return f.GetBuffer(b, start, size)
}

// SetBuffer implements abi.Host with Envoy's start/size rules.
func (f *FakeHost) SetBuffer(b abi.BufferType, start, size int, data []byte) error {
	buf := f.buffer(b)
	if buf == nil {
		return abi.ErrNotFound
	}
	switch cur := *buf; {
	case start == 0:
		*buf = append(append([]byte(nil), data...), cur[min(size, len(cur)):]...)
	case start >= len(cur):
		*buf = append(cur, data...)
	default:
		return abi.ErrBadArgument
	}
	return nil
}

// SendLocalResponse implements abi.Host (not needed natively yet).
func (f *FakeHost) SendLocalResponse(uint32, string, []byte, []abi.HeaderPair, int32) error {
	return abi.ErrUnimplemented
}

// HTTPCall implements abi.Host (no clusters natively).
func (f *FakeHost) HTTPCall(string, []abi.HeaderPair, []byte, []abi.HeaderPair, uint32) (uint32, error) {
	return 0, abi.ErrBadArgument
}

// GetStatus implements abi.Host.
func (f *FakeHost) GetStatus() (uint32, string, error) { return 0, "", nil }

// GRPCCall implements abi.Host: the fake has no gRPC cluster.
func (f *FakeHost) GRPCCall([]byte, string, string, []byte, uint32) (uint32, error) {
	return 0, abi.ErrBadArgument
}

// GRPCStream implements abi.Host: the fake has no gRPC cluster.
func (f *FakeHost) GRPCStream([]byte, string, string) (uint32, error) { return 0, abi.ErrBadArgument }

// GRPCSend implements abi.Host.
func (f *FakeHost) GRPCSend(uint32, []byte, bool) error { return abi.ErrNotFound }

// GRPCCancel implements abi.Host.
func (f *FakeHost) GRPCCancel(uint32) error { return abi.ErrNotFound }

// GetSharedData implements abi.Host with Envoy's rules.
func (f *FakeHost) GetSharedData(key string) ([]byte, uint32, error) {
	v, ok := f.shared[key]
	if !ok {
		return nil, 0, abi.ErrNotFound
	}
	return append([]byte(nil), v.data...), v.cas, nil
}

// SetSharedData implements abi.Host with Envoy's rules.
func (f *FakeHost) SetSharedData(key string, value []byte, cas uint32) error {
	if f.shared == nil {
		f.shared = map[string]sharedValue{}
	}
	if cur, ok := f.shared[key]; ok && cas != 0 && cas != cur.cas {
		return abi.ErrCasMismatch
	}
	f.cas++
	if f.cas == 0 {
		f.cas++
	}
	f.shared[key] = sharedValue{data: append([]byte(nil), value...), cas: f.cas}
	return nil
}

// SetTickPeriod implements abi.Host.
func (f *FakeHost) SetTickPeriod(uint32) error { return nil }

// DefineMetric implements abi.Host.
func (f *FakeHost) DefineMetric(_ abi.MetricType, name string) (uint32, error) {
	if f.metrics == nil {
		f.metrics = map[string]uint64{}
	}
	f.ids = append(f.ids, name)
	return uint32(len(f.ids) - 1), nil
}

// IncrementMetric implements abi.Host.
func (f *FakeHost) IncrementMetric(id uint32, delta int64) error {
	f.metrics[f.ids[id]] += uint64(delta)
	return nil
}

// RecordMetric implements abi.Host.
func (f *FakeHost) RecordMetric(id uint32, value uint64) error {
	f.metrics[f.ids[id]] = value
	return nil
}

// GetMetric implements abi.Host.
func (f *FakeHost) GetMetric(id uint32) (uint64, error) { return f.metrics[f.ids[id]], nil }

// ContinueStream implements abi.Host.
func (f *FakeHost) ContinueStream(abi.StreamType) error { return nil }

// SetEffectiveContext implements abi.Host.
func (f *FakeHost) SetEffectiveContext(uint32) error { return nil }

// LogLevel implements abi.Host: everything is logged.
func (f *FakeHost) LogLevel() (abi.LogLevel, error) { return abi.LogTrace, nil }

// WallMs implements abi.Host.
func (f *FakeHost) WallMs() int64 { return f.Wall }

// ProcessMs implements abi.Host.
func (f *FakeHost) ProcessMs() int64 { return f.Process }
