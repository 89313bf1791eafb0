package config

import "github.com/tidwall/gjson"

// TelemetryConfig is the top-level telemetry: per-request facts for Envoy's
// access log and a per-token latency histogram. Both cost hostcalls on
// every request, so both are off unless asked for.
type TelemetryConfig struct {
	// AccessLog sets, on every request a token serves, the filter state
	// wasm.tf_pool, wasm.tf_token (index and fingerprint of the token that
	// served it last), wasm.tf_model (the model as sent), wasm.tf_outcome
	// (success, auth, quota, ratelimit, upstream or ignored), wasm.tf_attempts
	// and wasm.tf_failed (the tokens that failed it, if any), which an
	// access-log format prints with %FILTER_STATE(wasm.tf_token:PLAIN)%.
	AccessLog bool
	// Latency records each answer's time to its headers, in milliseconds,
	// in the histogram tokenfailover.<pool>.token<i>.latency_ms.
	Latency bool
}

var telemetryFields = []string{"accessLog", "latency"}

// telemetry reads the top-level telemetry object (nil when absent).
func (r *reader) telemetry(root gjson.Result) *TelemetryConfig {
	v, ok := r.field(root, "", "telemetry")
	if !ok || !r.object(v, "telemetry", telemetryFields...) {
		return nil
	}
	return &TelemetryConfig{
		AccessLog: r.boolean(v, "telemetry", "accessLog", false),
		Latency:   r.boolean(v, "telemetry", "latency", false),
	}
}
