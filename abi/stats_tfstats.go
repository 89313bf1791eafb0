//go:build wasip1 && tfstats

package abi

// The per-request guest profile, built in with -tags tfstats (never in a
// shipped module). Each VM counts, from its start: callbacks by name,
// hostcalls made through WasmHost by name, the bytes the guest hands the
// host (keys, values, bodies, encoded maps) and the bytes the host copies
// in (every proxy_on_memory_allocate is a returned value about to be
// copied), and the proxy_on_memory_allocate calls. Every TFSTATS_EVERY
// finished streams (environment, as Envoy's vm_config.environment_variables
// or wasmhost.Options.Env pass it; default 1000, 0 = never) it reads Go's
// memory statistics and writes the running totals as one info log line:
//
//	tfstats streams=2000 cb.proxy_on_request_headers=2000 ... hc.proxy_get_buffer_bytes=2000 ...
//	  bytes_to_host=... bytes_from_host=... memory_allocate=... go_mallocs=... go_alloc_bytes=... go_gcs=... go_heap_bytes=...
//
// The difference of two lines of one VM is exactly what the streams in
// between cost (on a VM that serves one stream at a time), because the line
// is written inside the proxy_on_done that finishes a stream, after that
// callback is counted, and the line's own work (formatting, the log call)
// is left out: its hostcall is made directly, and its Go allocations are
// measured and subtracted.

import (
	"runtime"
	"strconv"
	"syscall"
)

// defaultDumpEvery is how many finished streams lie between two lines when
// TFSTATS_EVERY is unset: ReadMemStats stops the world, so it is sampled.
const defaultDumpEvery = 1000

// stats are this VM's running totals.
var stats struct {
	callbacks [numCallbacks]uint64
	hostcalls [numHostcalls]uint64
	// toHost and fromHost are bytes copied across the boundary.
	toHost, fromHost uint64
	allocateCalls    uint64
	streams          uint64
	// every is TFSTATS_EVERY, read at the first finished stream.
	every     uint64
	everyRead bool
	// selfMallocs and selfBytes are the dumps' own Go allocations.
	selfMallocs, selfBytes uint64
	// line is the dump's buffer, reused.
	line []byte
}

// statsCallback counts a callback on entry; a proxy_on_done of a stream
// context finishes a stream and may write the totals.
func statsCallback(cb statCallback, id uint32) {
	stats.callbacks[cb]++
	if cb != cbDone || dispatcher == nil {
		return
	}
	if _, ok := dispatcher.streams[id]; !ok {
		return
	}
	stats.streams++
	if every := dumpEvery(); every > 0 && stats.streams%every == 0 {
		statsDump()
	}
}

// statsHostcall counts a hostcall and the bytes the guest hands the host.
func statsHostcall(hc statHostcall, toHost int32) {
	stats.hostcalls[hc]++
	if toHost > 0 {
		stats.toHost += uint64(toHost)
	}
}

// statsMemoryAllocate counts a proxy_on_memory_allocate: the host is about
// to copy size bytes into the guest.
func statsMemoryAllocate(size uint32) {
	stats.allocateCalls++
	stats.fromHost += uint64(size)
}

// dumpEvery returns TFSTATS_EVERY (default defaultDumpEvery).
func dumpEvery() uint64 {
	if !stats.everyRead {
		stats.everyRead = true
		stats.every = defaultDumpEvery
		if v, ok := syscall.Getenv("TFSTATS_EVERY"); ok {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				stats.every = n
			}
		}
	}
	return stats.every
}

// statsDump writes the running totals as one info log line.
func statsDump() {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b := append(stats.line[:0], "tfstats"...)
	b = appendCount(b, "streams", stats.streams)
	for i, n := range stats.callbacks {
		b = appendCount(b, "cb."+callbackNames[i], n)
	}
	for i, n := range stats.hostcalls {
		b = appendCount(b, "hc."+hostcallNames[i], n)
	}
	b = appendCount(b, "bytes_to_host", stats.toHost)
	b = appendCount(b, "bytes_from_host", stats.fromHost)
	b = appendCount(b, "memory_allocate", stats.allocateCalls)
	b = appendCount(b, "go_mallocs", before.Mallocs-stats.selfMallocs)
	b = appendCount(b, "go_alloc_bytes", before.TotalAlloc-stats.selfBytes)
	b = appendCount(b, "go_gcs", uint64(before.NumGC))
	b = appendCount(b, "go_heap_bytes", before.HeapAlloc)
	stats.line = b
	p, n := ptrLen(b)
	proxyLog(uint32(LogInfo), p, n)
	runtime.ReadMemStats(&after)
	stats.selfMallocs += after.Mallocs - before.Mallocs
	stats.selfBytes += after.TotalAlloc - before.TotalAlloc
}

// appendCount appends " key=n", leaving out zero counts.
func appendCount(b []byte, key string, n uint64) []byte {
	if n == 0 {
		return b
	}
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	return strconv.AppendUint(b, n, 10)
}

// callbackNames are the export names, for the profile's output.
var callbackNames = [numCallbacks]string{
	cbContextCreate:    "proxy_on_context_create",
	cbVMStart:          "proxy_on_vm_start",
	cbConfigure:        "proxy_on_configure",
	cbTick:             "proxy_on_tick",
	cbHTTPCallResponse: "proxy_on_http_call_response",
	cbGRPCReceive:      "proxy_on_grpc_receive",
	cbGRPCClose:        "proxy_on_grpc_close",
	cbRequestHeaders:   "proxy_on_request_headers",
	cbRequestBody:      "proxy_on_request_body",
	cbRequestTrailers:  "proxy_on_request_trailers",
	cbResponseHeaders:  "proxy_on_response_headers",
	cbResponseBody:     "proxy_on_response_body",
	cbResponseTrailers: "proxy_on_response_trailers",
	cbDone:             "proxy_on_done",
}

// hostcallNames are the import names, for the profile's output.
var hostcallNames = [numHostcalls]string{
	hcLog:                   "proxy_log",
	hcGetProperty:           "proxy_get_property",
	hcSetProperty:           "proxy_set_property",
	hcGetHeaderMapPairs:     "proxy_get_header_map_pairs",
	hcGetHeaderMapValue:     "proxy_get_header_map_value",
	hcAddHeaderMapValue:     "proxy_add_header_map_value",
	hcReplaceHeaderMapValue: "proxy_replace_header_map_value",
	hcRemoveHeaderMapValue:  "proxy_remove_header_map_value",
	hcSetHeaderMapPairs:     "proxy_set_header_map_pairs",
	hcGetBufferBytes:        "proxy_get_buffer_bytes",
	hcSetBufferBytes:        "proxy_set_buffer_bytes",
	hcSendLocalResponse:     "proxy_send_local_response",
	hcHTTPCall:              "proxy_http_call",
	hcGRPCCall:              "proxy_grpc_call",
	hcGRPCStream:            "proxy_grpc_stream",
	hcGRPCSend:              "proxy_grpc_send",
	hcGRPCCancel:            "proxy_grpc_cancel",
	hcGetStatus:             "proxy_get_status",
	hcGetSharedData:         "proxy_get_shared_data",
	hcSetSharedData:         "proxy_set_shared_data",
	hcSetTickPeriod:         "proxy_set_tick_period_milliseconds",
	hcDefineMetric:          "proxy_define_metric",
	hcIncrementMetric:       "proxy_increment_metric",
	hcRecordMetric:          "proxy_record_metric",
	hcGetMetric:             "proxy_get_metric",
	hcContinueStream:        "proxy_continue_stream",
	hcSetEffectiveContext:   "proxy_set_effective_context",
	hcGetLogLevel:           "proxy_get_log_level",
	hcClockTimeGet:          "clock_time_get",
}
