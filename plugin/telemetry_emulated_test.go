package plugin_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	tfprovider "github.com/token-failover/token-failover/provider"
	"github.com/token-failover/token-failover/wasmhost"
)

// TestTelemetry_AccessLogNamesTheTokenAndTheOneThatFailed: with
// telemetry.accessLog every request leaves filter state naming its pool,
// the token that served it, the model as sent, its outcome and attempts;
// a request a retry rescued also names the token that failed it.
func TestTelemetry_AccessLogNamesTheTokenAndTheOneThatFailed(t *testing.T) {
	tok := func(i int) string { return tfprovider.NewToken(i, threeTokens[i]).String() }
	p := newProvider(threeTokens...)
	p.always(1, wasmhost.Status(401))
	h := start(t, retryConfig("")+"\ntelemetry: {accessLog: true, latency: true}", p)
	var rescued, plain *wasmhost.Stream
	requests := 0
	for ; requests < 6 && (rescued == nil || plain == nil); requests++ {
		s := do(t, h.Workers()[0], wasmhost.Chat("gpt-4o"))
		require.Equal(t, 200, s.Response.Status)
		if s.Property("wasm.tf_failed") != "" {
			rescued = s
		} else {
			plain = s
		}
	}
	require.NotNil(t, plain)
	require.NotNil(t, rescued, "token 1 failed one request, rescued by a retry")
	pool := plain.Property("wasm.tf_pool")
	require.True(t, strings.HasPrefix(pool, "openai-"), pool)
	require.Contains(t, []string{tok(0), tok(2)}, plain.Property("wasm.tf_token"))
	require.Equal(t, "mapped", plain.Property("wasm.tf_model"))
	require.Equal(t, "success", plain.Property("wasm.tf_outcome"))
	require.Equal(t, "1", plain.Property("wasm.tf_attempts"))

	require.Equal(t, tok(1)+":auth", rescued.Property("wasm.tf_failed"))
	require.NotEqual(t, tok(1), rescued.Property("wasm.tf_token"), "the token that served it in the end")
	require.Equal(t, "success", rescued.Property("wasm.tf_outcome"))
	require.Equal(t, "2", rescued.Property("wasm.tf_attempts"))
	for _, s := range []*wasmhost.Stream{plain, rescued} {
		for _, secret := range threeTokens {
			for _, k := range []string{"tf_pool", "tf_token", "tf_failed", "tf_model", "tf_outcome"} {
				require.NotContains(t, s.Property("wasm."+k), secret)
			}
		}
	}

	// The latency histogram: one sample per answer from upstream, per token.
	samples := 0
	for _, m := range h.Metrics() {
		if strings.HasSuffix(m.Name, ".latency_ms") {
			require.EqualValues(t, 2, m.Type, m.Name)
			samples += len(m.Samples)
		}
	}
	require.Equal(t, requests, samples, "one per request's answer from upstream, none for a retry's own call")
}

// TestTelemetry_OffByDefault: without telemetry no filter state is set and
// no latency histogram is defined (both cost hostcalls per request).
func TestTelemetry_OffByDefault(t *testing.T) {
	h := start(t, retryConfig(""), newProvider(threeTokens...))
	s := do(t, h.Workers()[0], wasmhost.Chat("gpt-4o"))
	require.Empty(t, s.Property("wasm.tf_token"))
	for _, m := range h.Metrics() {
		require.False(t, strings.HasSuffix(m.Name, ".latency_ms"), m.Name)
	}
}

// TestTelemetry_UpstreamModeAccessLogSpansTheRouterAttempts: in mode
// upstream every router attempt is a stream of its own, but its filter
// state is the request's; the access log names the key that served the
// request, counts every attempt and names the key that failed one.
func TestTelemetry_UpstreamModeAccessLogSpansTheRouterAttempts(t *testing.T) {
	tok := func(i int) string { return tfprovider.NewToken(i, threeTokens[i]).String() }
	p := newProvider(threeTokens...)
	p.always(1, wasmhost.Status(500)) // round-robin's first pick in a fresh pool
	h := start(t, `mode: upstream
telemetry: {accessLog: true}
provider: {type: openai, id: up, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  modelMapping: {m: mapped-m}, failover: {enabled: true, failureThreshold: 5, healthCheckInterval: 60000}}`, p,
		func(o *wasmhost.Options) {
			o.UpstreamFilter = true
			o.RouterRetry = wasmhost.RouterRetry{NumRetries: 2, Statuses: []int{500}}
		})
	s := do(t, h.Workers()[0], wasmhost.Chat("m"))
	require.Equal(t, 200, s.Response.Status)
	require.Len(t, p.requests, 2)
	served := p.token(p.requests[1])
	require.Equal(t, tok(served), s.Property("wasm.tf_token"))
	require.Equal(t, "success", s.Property("wasm.tf_outcome"))
	require.Equal(t, "2", s.Property("wasm.tf_attempts"), "both router attempts")
	require.Equal(t, tok(1)+":upstream", s.Property("wasm.tf_failed"), "the key that failed the first attempt")
	require.Equal(t, "mapped-m", s.Property("wasm.tf_model"))
}
