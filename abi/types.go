package abi

// Action is what a stream callback tells the host to do next.
type Action uint32

// Actions of ABI v0.2.1. Pause on headers is StopAllIterationAndWatermark in
// Envoy; Pause on a body is StopIterationAndBuffer.
const (
	ActionContinue Action = 0
	ActionPause    Action = 1
)

// BufferType selects a byte buffer for GetBuffer and SetBuffer.
type BufferType uint32

// Buffer types of ABI v0.2.1.
const (
	BufferRequestBody      BufferType = 0
	BufferResponseBody     BufferType = 1
	BufferHTTPCallResponse BufferType = 4
	BufferGRPCReceive      BufferType = 5
	BufferVMConfiguration  BufferType = 6
	BufferPluginConfig     BufferType = 7
)

// MapType selects a header map.
type MapType uint32

// Header map types of ABI v0.2.1.
const (
	MapRequestHeaders          MapType = 0
	MapRequestTrailers         MapType = 1
	MapResponseHeaders         MapType = 2
	MapResponseTrailers        MapType = 3
	MapGRPCInitialMetadata     MapType = 4
	MapGRPCTrailingMetadata    MapType = 5
	MapHTTPCallResponseHeaders MapType = 6
	MapHTTPCallResponseTrailer MapType = 7
)

// StreamType selects the direction for ContinueStream.
type StreamType uint32

// Stream types of ABI v0.2.1.
const (
	StreamRequest  StreamType = 0
	StreamResponse StreamType = 1
)

// MetricType is the kind of an Envoy stat.
type MetricType uint32

// Metric types of ABI v0.2.1.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

// LogLevel is a proxy-wasm log level.
type LogLevel uint32

// Log levels of ABI v0.2.1.
const (
	LogTrace    LogLevel = 0
	LogDebug    LogLevel = 1
	LogInfo     LogLevel = 2
	LogWarn     LogLevel = 3
	LogError    LogLevel = 4
	LogCritical LogLevel = 5
)

// HeaderPair is one header: key and value.
type HeaderPair = [2]string

// Prop joins property path segments as Host.GetProperty takes them:
// Prop("xds", "route_name") is "xds\x00route_name". Keep the result in a
// variable or constant: the hot path then builds nothing.
func Prop(segments ...string) string {
	out := ""
	for i, s := range segments {
		if i > 0 {
			out += "\x00"
		}
		out += s
	}
	return out
}
