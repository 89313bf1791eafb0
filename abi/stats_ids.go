//go:build wasip1

package abi

// What the per-request guest profile (build tag tfstats, see
// stats_tfstats.go) counts by. The exports and hostcalls pass these to the
// hooks statsCallback, statsHostcall and statsMemoryAllocate, which are
// empty functions (inlined away) in a normal build (stats_off.go); the
// names they print under are in stats_tfstats.go.

// statCallback names a callback from the host.
type statCallback uint8

// Callbacks, as exported (proxy_on_memory_allocate is counted apart).
const (
	cbContextCreate statCallback = iota
	cbVMStart
	cbConfigure
	cbTick
	cbHTTPCallResponse
	cbGRPCReceive
	cbGRPCClose
	cbRequestHeaders
	cbRequestBody
	cbRequestTrailers
	cbResponseHeaders
	cbResponseBody
	cbResponseTrailers
	cbDone
	numCallbacks
)

// statHostcall names a hostcall made through WasmHost.
type statHostcall uint8

// Hostcalls, as imported (clock_time_get only as WasmHost reads it; the Go
// runtime's own WASI calls do not pass through the abi package).
const (
	hcLog statHostcall = iota
	hcGetProperty
	hcSetProperty
	hcGetHeaderMapPairs
	hcGetHeaderMapValue
	hcAddHeaderMapValue
	hcReplaceHeaderMapValue
	hcRemoveHeaderMapValue
	hcSetHeaderMapPairs
	hcGetBufferBytes
	hcSetBufferBytes
	hcSendLocalResponse
	hcHTTPCall
	hcGRPCCall
	hcGRPCStream
	hcGRPCSend
	hcGRPCCancel
	hcGetStatus
	hcGetSharedData
	hcSetSharedData
	hcSetTickPeriod
	hcDefineMetric
	hcIncrementMetric
	hcRecordMetric
	hcGetMetric
	hcContinueStream
	hcSetEffectiveContext
	hcGetLogLevel
	hcClockTimeGet
	numHostcalls
)
