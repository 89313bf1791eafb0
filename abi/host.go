package abi

// Host is every hostcall the product uses, with Go types instead of pointers.
// On wasip1 it is WasmHost (backed by //go:wasmimport); natively tests supply
// a fake. Errors are the sentinel errors of status.go.
type Host interface {
	// Log writes msg at level.
	Log(level LogLevel, msg string)
	// GetProperty reads an Envoy attribute; path is its segments joined by
	// NUL bytes, as the ABI encodes it (Prop builds one: Prop("xds",
	// "route_name")). The value is a string (binary values, such as
	// response.flags' little-endian integer, as bytes in it); a path given
	// as a constant costs no allocation.
	GetProperty(path string) (string, error)
	// SetProperty writes a property of the stream, one path segment (Envoy
	// keeps it as filter state "wasm.<path>"; Higress's Envoy also reads
	// "clear_route_cache").
	SetProperty(path string, value []byte) error

	// GetHeaders returns every pair of a header map.
	GetHeaders(m MapType) ([]HeaderPair, error)
	// GetHeader returns one header's value (ErrNotFound when absent).
	GetHeader(m MapType, key string) (string, error)
	// AddHeader appends a value to a header.
	AddHeader(m MapType, key, value string) error
	// ReplaceHeader sets a header, replacing any values it had.
	ReplaceHeader(m MapType, key, value string) error
	// RemoveHeader deletes a header.
	RemoveHeader(m MapType, key string) error
	// SetHeaders replaces a whole header map.
	SetHeaders(m MapType, pairs []HeaderPair) error

	// GetBuffer returns up to size bytes of a buffer from start.
	GetBuffer(b BufferType, start, size int) ([]byte, error)
	// PeekBuffer is GetBuffer into memory that the next PeekBuffer reuses:
	// the result is valid until then and must not be kept. It saves a
	// body-sized allocation (and the collector's work) per read.
	PeekBuffer(b BufferType, start, size int) ([]byte, error)
	// SetBuffer changes a buffer as Envoy's Buffer::copyFrom does: start 0
	// drains the first size bytes and then prepends data (size 0
	// prepends, size >= length replaces the whole buffer); start >= length
	// appends; anything else is ErrBadArgument.
	SetBuffer(b BufferType, start, size int, data []byte) error

	// SendLocalResponse answers the current stream from the plugin; it takes
	// effect after the callback returns. grpcStatus -1 means none.
	SendLocalResponse(status uint32, details string, body []byte, headers []HeaderPair, grpcStatus int32) error
	// HTTPCall sends a request to a cluster and returns the call id whose
	// answer arrives in PluginContext.OnHTTPCallResponse.
	HTTPCall(cluster string, headers []HeaderPair, body []byte, trailers []HeaderPair, timeoutMs uint32) (uint32, error)
	// GetStatus returns the status of the http call or gRPC call/stream
	// being answered (a gRPC status code and message in OnGRPCClose).
	GetStatus() (code uint32, message string, err error)

	// GRPCCall sends one unary gRPC request to the target grpcService (a
	// serialized envoy GrpcService, or a bare cluster name; an HTTP/2
	// cluster): its answer arrives in PluginContext.OnGRPCReceive, a
	// failure in OnGRPCClose. Timeout 0 is sent as an expired deadline:
	// always give one.
	GRPCCall(grpcService []byte, service, method string, message []byte, timeoutMs uint32) (token uint32, err error)
	// GRPCStream opens a bidirectional gRPC stream; messages arrive in
	// OnGRPCReceive, its end in OnGRPCClose.
	GRPCStream(grpcService []byte, service, method string) (token uint32, err error)
	// GRPCSend sends a message on a stream (endStream half-closes it).
	GRPCSend(token uint32, message []byte, endStream bool) error
	// GRPCCancel cancels a call or resets a stream; no callback follows.
	GRPCCancel(token uint32) error

	// GetSharedData returns a process-wide value and its cas.
	GetSharedData(key string) (value []byte, cas uint32, err error)
	// SetSharedData stores a value if cas matches (0 = unconditional).
	SetSharedData(key string, value []byte, cas uint32) error

	// SetTickPeriod arms the root context's timer.
	SetTickPeriod(ms uint32) error
	// DefineMetric declares a stat and returns its id.
	DefineMetric(t MetricType, name string) (uint32, error)
	// IncrementMetric adds delta to a counter or gauge.
	IncrementMetric(id uint32, delta int64) error
	// RecordMetric sets a gauge or records a histogram sample.
	RecordMetric(id uint32, value uint64) error
	// GetMetric reads a counter or gauge.
	GetMetric(id uint32) (uint64, error)

	// ContinueStream resumes a paused stream of the effective context.
	ContinueStream(s StreamType) error
	// LogLevel is the host's current log level for this plugin: messages
	// below it are dropped, so callers skip formatting them.
	LogLevel() (LogLevel, error)
	// WallMs is the wall clock, unix milliseconds (for HTTP dates only).
	WallMs() int64
	// ProcessMs is the process clock in milliseconds: monotonic, shared by
	// every VM of the Envoy process, never going back (an NTP step of the
	// wall clock cannot freeze cooldowns, probes or leases).
	ProcessMs() int64
	// SetEffectiveContext makes later hostcalls act on context id (a stream),
	// e.g. from an http-call response handled on the root context.
	SetEffectiveContext(id uint32) error
}
