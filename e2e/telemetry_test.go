package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/provider"
)

// AccessLogFormat is the access-log line docs/telemetry.md ships: the
// plugin's filter state beside Envoy's own fields.
const AccessLogFormat = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%" %RESPONSE_CODE% %DURATION%ms ` +
	`pool=%FILTER_STATE(wasm.tf_pool:PLAIN)% token=%FILTER_STATE(wasm.tf_token:PLAIN)% ` +
	`model=%FILTER_STATE(wasm.tf_model:PLAIN)% outcome=%FILTER_STATE(wasm.tf_outcome:PLAIN)% ` +
	`attempts=%FILTER_STATE(wasm.tf_attempts:PLAIN)% failed=%FILTER_STATE(wasm.tf_failed:PLAIN)%`

// StatsTags is the bootstrap stats_config docs/telemetry.md ships: the pool
// and the token index leave the stat names for the tags tf_pool and
// tf_token, so one PromQL query spans every pool.
const StatsTags = `stats_config:
  stats_tags:
  - tag_name: tf_token
    regex: '^wasmcustom\.tokenfailover\.[^.]+\.(token(\d+)\.)'
  - tag_name: tf_pool
    regex: '^wasmcustom\.tokenfailover\.(([^.]+)\.)'
`

// withAccessLog adds a file access log with AccessLogFormat to the
// listener's connection manager, and StatsTags.
func withAccessLog(path string) func(string) string {
	return func(cfg string) string {
		log := `          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ` + path + `
              log_format:
                text_format_source:
                  inline_string: |
                    ` + AccessLogFormat + `
          stat_prefix: ingress
`
		return StatsTags + strings.Replace(cfg, "          stat_prefix: ingress\n", log, 1)
	}
}

// servedLines sends 12 chat completions, each answered 200 (hidden is
// what hides the failing key), and returns the access-log lines once all
// are written, each checked for what every served request's line shows:
// no key, the pool, the mapped model, success, a healthy key (#0 or #2).
func servedLines(t *testing.T, env *env, logPath, hidden string) []string {
	t.Helper()
	for i := 0; i < 12; i++ {
		code, err := env.chat("gpt-4o")
		require.NoError(t, err)
		require.Equal(t, 200, code, hidden)
	}
	var lines []string
	eventually(t, 15*time.Second, "12 access-log lines", func() bool {
		b, _ := os.ReadFile(logPath)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) >= 12
	})
	for _, l := range lines {
		for _, tok := range tokens {
			require.NotContains(t, l, tok, "no key in the access log")
		}
		require.Contains(t, l, "pool=e2e ")
		require.Contains(t, l, "model=mapped-model ")
		require.Contains(t, l, "outcome=success ")
		require.Regexp(t, `token=#[02]\([0-9a-f]{8}\) `, l, "served by a healthy key")
	}
	return lines
}

// TestEnvoy_AccessLogNamesTheKey runs real Envoy with telemetry.accessLog
// and the shipped access-log format: every line names the pool, the token
// (index and fingerprint) and the mapped model; a request whose first key
// failed and a retry rescued names the failed key too; no line holds a
// token. It also checks the shipped stats tags: the latency histogram and
// the state gauges are one series name each, tagged by pool and token.
func TestEnvoy_AccessLogNamesTheKey(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	// Round-robin: each worker's first pick in a fresh pool is token 1, so
	// the failing key surely meets a request (random picks missed it in 12
	// requests about once in 130 runs).
	env := setupEdit(t, pluginConfig(`  tokenSelection: round-robin
  retryOnFailure: {enabled: true, maxRetries: 2}
telemetry: {accessLog: true, latency: true}
`), withAccessLog(logPath))
	e, mock := env.envoy, env.mock
	mock.Set(tokens[1], mockllm.Behaviour{Status: 401})
	fp := func(i int) string { return provider.NewToken(i, tokens[i]).String() }
	rescued := 0
	for _, l := range servedLines(t, env, logPath, "a retry hides the failing key") {
		require.Contains(t, l, " 200 ")
		if strings.Contains(l, "failed="+fp(1)+":auth") {
			rescued++
			require.Contains(t, l, "attempts=2")
		}
	}
	require.Equal(t, 1, rescued, "the one request key 1 failed (a 401 demotes it at once) names it")
	prom, err := e.AdminGet("/stats/prometheus")
	require.NoError(t, err)
	// With the tags, one series name spans every pool and token.
	require.Regexp(t, `tokenfailover_latency_ms_bucket\{[^}]*tf_pool="e2e"`, prom, "the per-key latency histogram, tagged")
	require.Regexp(t, `tokenfailover_state\{(tf_token="1",tf_pool="e2e"|tf_pool="e2e",tf_token="1")\} 2`, prom, "token 1's state gauge, tagged")
	require.Regexp(t, `tokenfailover_available_tokens\{tf_pool="e2e"\} 2`, prom)
}

// TestEnvoyUpstream_AccessLogSpansTheRouterAttempts: in mode upstream each
// router attempt is a filter stream of its own, but its filter state is the
// request's (docs/envoy-routing.md). A request whose first attempt failed
// on a key and whose retry succeeded on another has one access-log line
// naming the key that served it, both attempts, and the key that failed.
func TestEnvoyUpstream_AccessLogSpansTheRouterAttempts(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	// Round-robin, so that the failing key surely meets a request.
	env := setupUpstreamEdit(t, upstreamConfig("  tokenSelection: round-robin\ntelemetry: {accessLog: true}\n"), withAccessLog(logPath))
	env.mock.Set(tokens[1], mockllm.Behaviour{Status: 500})
	fp := func(i int) string { return provider.NewToken(i, tokens[i]).String() }
	rescued := 0
	for _, l := range servedLines(t, env, logPath, "the router's retry hides the failing key") {
		if strings.Contains(l, "failed="+fp(1)+":upstream") {
			rescued++
			require.Contains(t, l, "attempts=2", "both router attempts of the request")
		} else {
			require.Contains(t, l, "attempts=1 failed=-")
		}
	}
	require.Positive(t, rescued, "key 1 failed requests the router's retry rescued (until it was demoted)")
}
