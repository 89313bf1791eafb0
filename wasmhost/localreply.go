package wasmhost

import "fmt"

// Fault is a failure that Envoy answers with its own local reply instead
// of the upstream's answer (or, for an http call, reports as a failed call).
type Fault int

// Faults, each with Envoy's exact status, body, response.code_details and
// response.flags (docs/envoy-details.md gives each one's source in Envoy).
const (
	NoFault Fault = iota
	// FaultRouteTimeout: the route's timeout fired before the answer.
	FaultRouteTimeout
	// FaultPerTryTimeout: the retry policy's per-try timeout fired.
	FaultPerTryTimeout
	// FaultConnectFailure: the connection to the upstream failed.
	FaultConnectFailure
	// FaultRemoteReset: the upstream reset the stream before answering.
	FaultRemoteReset
	// FaultConnectionTermination: the upstream closed the connection before answering.
	FaultConnectionTermination
	// FaultOverflow: Envoy's circuit breaker refused the request.
	FaultOverflow
	// FaultNoHealthyUpstream: the cluster had no healthy host.
	FaultNoHealthyUpstream
	// FaultMaintenance: the cluster is in maintenance mode.
	FaultMaintenance
	// FaultLocalReset: Envoy reset the upstream stream itself.
	FaultLocalReset
)

// localReply is Envoy's answer for a fault.
type localReply struct {
	status  int
	body    string
	details string
	flags   uint64 // response.flags (Envoy's legacy bitmask)
}

// Envoy's legacy response-flag bits (envoy/stream_info/stream_info.h).
const (
	flagNoHealthyUpstream             = 0x2
	flagUpstreamRequestTimeout        = 0x4
	flagLocalReset                    = 0x8
	flagUpstreamRemoteReset           = 0x10
	flagUpstreamConnectionFailure     = 0x20
	flagUpstreamConnectionTermination = 0x40
	flagUpstreamOverflow              = 0x80
	flagDownstreamConnectionTerm      = 0x4000
	flagUpstreamRetryLimitExceeded    = 0x8000
	flagUpstreamProtocolError         = 0x800000
)

const resetBody = "upstream connect error or disconnect/reset before headers. reset reason: "

// faults maps each fault to Envoy's local reply (Envoy 1.36-1.40).
var faults = map[Fault]localReply{
	FaultRouteTimeout:          {504, "upstream request timeout", "response_timeout", flagUpstreamRequestTimeout},
	FaultPerTryTimeout:         {504, "upstream request timeout", "upstream_per_try_timeout", flagUpstreamRequestTimeout | flagUpstreamRetryLimitExceeded},
	FaultConnectFailure:        {503, resetBody + "remote connection failure", "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}", flagUpstreamConnectionFailure},
	FaultRemoteReset:           {503, resetBody + "remote reset", "upstream_reset_before_response_started{remote_reset}", flagUpstreamRemoteReset},
	FaultConnectionTermination: {503, resetBody + "connection termination", "upstream_reset_before_response_started{connection_termination}", flagUpstreamConnectionTermination},
	FaultOverflow:              {503, resetBody + "overflow", "upstream_reset_before_response_started{overflow}", flagUpstreamOverflow},
	FaultNoHealthyUpstream:     {503, "no healthy upstream", "no_healthy_upstream", flagNoHealthyUpstream},
	FaultMaintenance:           {503, "maintenance mode", "maintenance_mode", flagUpstreamOverflow},
	FaultLocalReset:            {503, resetBody + "local reset", "upstream_reset_before_response_started{local_reset}", flagLocalReset},
}

// localReplyFor is Envoy's answer for a fault in the given Envoy version
// ("1.40.0"; empty means the newest). Envoy 1.36 and 1.37 also name the
// transport failure in a connect failure's body (checked with the wheels
// of 1.36.4, 1.37.0, 1.38.2, 1.39.3 and 1.40.0; the details and flags are the
// same in all of them).
func localReplyFor(f Fault, version string) localReply {
	lr := faults[f]
	if f == FaultConnectFailure && olderThan(version, 1, 38) {
		lr.body += ", transport failure reason: delayed connect error: Connection refused"
	}
	return lr
}

// olderThan tells whether a version "major.minor.patch" is older than
// major.minor (false for an empty version: the newest is assumed).
func olderThan(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma < major || ma == major && mi < minor
}

// Details for stream ends that are not local replies.
const (
	detailsViaUpstream = "via_upstream"
	// detailsResetLate is an HTTP/1.1 upstream closing mid-body (Envoy 1.40
	// reports the cut chunked body as a protocol error; over HTTP/2 it is
	// {remote_reset}).
	detailsResetLate        = "upstream_reset_after_response_started{protocol_error}"
	detailsClientGone       = "downstream_remote_disconnect"
	detailsPayloadTooLarge  = "request_payload_too_large"
	detailsResponseTooLarge = "response_payload_too_large"
	detailsWasmFailStream   = "wasm_fail_stream"
)
