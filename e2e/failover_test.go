package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

func TestEnvoy_SpreadsOverHealthyTokensAndRewrites(t *testing.T) {
	e := setup(t, pluginConfig(""))
	start := time.Now()
	codes := e.load(120, 8)
	require.Equal(t, map[int]int{200: 120}, codes)
	for _, tok := range tokens {
		require.Greater(t, e.mock.Count(tok, false, start), 15, "token %s gets a share", tok[:14])
	}
	for _, r := range e.mock.Records() {
		if !r.Probe {
			require.Equal(t, "mapped-model", r.Model, "the body's model is mapped")
			require.NotEqual(t, "client-own-key", r.Token, "the client's own key never reaches the provider")
		}
	}
}

// TestEnvoy_500DemotedOnEveryWorker: token bravo answers 500. Once Envoy's
// stats show it demoted, 400 more requests over fresh connections (spread
// across the 4 workers) must not reach it at all.
func TestEnvoy_500DemotedOnEveryWorker(t *testing.T) {
	e := setup(t, pluginConfig(""))
	e.mock.Set(tokens[1], mockllm.Behaviour{Status: 500})
	for i := 0; i < 60 && e.stat(t, tokenStat(1, "demotions")) == 0; i++ {
		e.load(8, 4)
	}
	require.Equal(t, int64(1), e.stat(t, tokenStat(1, "demotions")))
	require.Equal(t, int64(2), e.stat(t, tokenStat(1, "state")), "unhealthy")
	failures := e.stat(t, tokenStat(1, "failures_upstream"))
	require.GreaterOrEqual(t, failures, int64(3))
	require.LessOrEqual(t, failures, int64(3+4), "at most threshold + in-flight")
	after := time.Now()
	codes := e.load(400, 8)
	require.Equal(t, 400, codes[200], "no client-visible errors after the demotion")
	require.Zero(t, e.mock.Count(tokens[1], false, after), "no worker routes to the demoted token")
}

func TestEnvoy_401DemotesAtOnceAndProbeRestores(t *testing.T) {
	e := setup(t, pluginConfig(""))
	e.mock.Set(tokens[0], mockllm.Behaviour{Status: 401})
	for i := 0; i < 40 && e.stat(t, tokenStat(0, "demotions")) == 0; i++ {
		e.load(3, 1)
	}
	require.Equal(t, int64(1), e.stat(t, tokenStat(0, "failures_auth")), "one 401 demotes")
	require.Equal(t, int64(2), e.stat(t, tokenStat(0, "state")))
	healed := time.Now()
	e.mock.Set(tokens[0], mockllm.Healthy)
	eventually(t, 15*time.Second, "a probe to restore token 0", func() bool {
		return e.stat(t, tokenStat(0, "restorations")) == 1
	})
	var probe *mockllm.Record
	for _, r := range e.mock.Records() {
		if r.Probe && r.Token == tokens[0] && !r.Time.Before(healed) {
			probe = &r
			break
		}
	}
	require.NotNil(t, probe, "the restoring probe reached the provider through the route's cluster")
	require.Equal(t, "/v1/chat/completions", probe.Path, "probed with healthCheckModel (issue 20 B6)")
	require.Equal(t, "probe-model", probe.Model, "healthCheckModel gpt-3, mapped")
	after := time.Now()
	e.load(60, 4)
	require.Greater(t, e.mock.Count(tokens[0], false, after), 5, "the restored token serves again")
}

func TestEnvoy_429CoolsForRetryAfterAndReturns(t *testing.T) {
	e := setup(t, pluginConfig(""))
	e.mock.Set(tokens[2], mockllm.Behaviour{Status: 429, RetryAfter: 2})
	for i := 0; i < 40 && e.stat(t, tokenStat(2, "demotions")) == 0; i++ {
		e.load(3, 1)
	}
	require.Equal(t, int64(1), e.stat(t, tokenStat(2, "failures_ratelimit")))
	e.mock.Set(tokens[2], mockllm.Healthy)
	cooled := time.Now()
	e.load(30, 3)
	require.Zero(t, e.mock.Count(tokens[2], false, cooled), "cooling")
	time.Sleep(2200 * time.Millisecond)
	back := time.Now()
	e.load(60, 4)
	require.Greater(t, e.mock.Count(tokens[2], false, back), 5, "back after Retry-After")
	require.Zero(t, e.mock.Count(tokens[2], true, cooled), "without a probe")
}

func TestEnvoy_BadConfigIsRefusedNamingTheField(t *testing.T) {
	bin, err := envoyrun.FindBinary()
	if err != nil {
		setup(t, "") // skips or fails the same way as every other test
	}
	wasm, err := wasmhost.ModulePath()
	require.NoError(t, err)
	e, err := envoyrun.Start(envoyrun.Options{Bin: bin, Wasm: wasm, Upstream: "127.0.0.1:1",
		PluginConfig: "provider: {type: openai, apiTokens: [a], failover: {failureThreshold: -1}}"})
	if e != nil {
		defer e.Stop()
	}
	require.Error(t, err, "Envoy must refuse to start with a bad plugin config")
	require.Contains(t, e.Log(), "invalid configuration: provider.failover.failureThreshold: must be >= 1, got -1")
}

func TestEnvoy_MetricsAreBoundedAndNothingLeaksATokenString(t *testing.T) {
	e := setup(t, pluginConfig(""))
	e.mock.Set(tokens[1], mockllm.Behaviour{Status: 401})
	e.mock.Set(tokens[2], mockllm.Behaviour{Status: 429, RetryAfter: 1})
	e.load(60, 4)
	time.Sleep(1500 * time.Millisecond) // a tick: lease, probes
	prom, err := e.envoy.AdminGet("/stats/prometheus")
	require.NoError(t, err)
	var names []string
	for _, line := range strings.Split(prom, "\n") {
		if strings.Contains(line, "tokenfailover") && !strings.HasPrefix(line, "#") {
			names = append(names, strings.Fields(line)[0])
		}
	}
	require.NotEmpty(t, names, "the plugin's stats appear in /stats/prometheus")
	bounded := regexp.MustCompile(`^tokenfailover_e2e_(token[0-2]_[a-z_]+|available_tokens|lease_changes|all_tokens_down|retries|probes_not_sent|model_unmapped|requests_refused|requests_rerouted|fleet_adopted)(\{.*\})?$`)
	for _, n := range names {
		require.Regexp(t, bounded, n)
	}
	require.LessOrEqual(t, len(names), 9+3*10, "a fixed set per pool and token")
	stats, err := e.envoy.AdminGet("/stats")
	require.NoError(t, err)
	for _, where := range []struct{ name, text string }{{"log", e.envoy.Log()}, {"stats", stats}, {"prometheus", prom}} {
		for _, tok := range tokens {
			require.NotContains(t, where.text, tok, "a token string in Envoy's %s", where.name)
		}
	}
}
