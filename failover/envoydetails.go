package failover

import "strings"

// ProviderFault tells whether Envoy's response.code_details for a local
// reply (or for a stream that ended abnormally) means the provider failed
// this request: its connection failed, reset or was terminated, or it did
// not answer in time. Envoy's own refusals (circuit-breaker overflow, no
// healthy upstream, maintenance mode, a local reset, a body over the buffer
// limit) and the client leaving are never the token's fault.
//
// The strings are Envoy's StreamInfo::ResponseCodeDetails (see
// docs/envoy-details.md for each one's source and the versions checked).
func ProviderFault(details string) bool {
	switch {
	case strings.HasPrefix(details, "upstream_reset_before_response_started"),
		strings.HasPrefix(details, "upstream_reset_after_response_started"):
		return providerReset(details)
	}
	switch details {
	case "response_timeout", // the route's timeout (Envoy 1.x: "response_timeout")
		"upstream_response_timeout", // older spelling, kept for other hosts
		"upstream_per_try_timeout",
		"upstream_per_try_idle_timeout",
		"upstream_max_stream_duration_reached":
		return true
	}
	return false
}

// providerReset reads the reset reason in braces: the provider's side
// (connection failure, termination, remote reset, protocol error) counts;
// Envoy's side (overflow, local reset, overload manager) does not.
func providerReset(details string) bool {
	open := strings.IndexByte(details, '{')
	if open < 0 {
		return false
	}
	reason := details[open+1:]
	if end := strings.IndexAny(reason, "|,}"); end >= 0 {
		reason = reason[:end]
	}
	switch reason {
	case "connection_failure", "remote_connection_failure", "connection_termination",
		"remote_reset", "remote_refused_stream_reset", "protocol_error", "connect_error":
		return true
	}
	return false
}
