package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

// The gateway deployment (e2e/testdata/envoy-gateway.yaml): Envoy
// Gateway's route names, Istio's cluster names, TLS to each provider with
// SNI, and a catch-all backend. Both of the plugin's modes run on it.
const (
	openaiRoute = "httproute/default/llm/rule/0/match/0/llm_example_com"
	qwenRoute   = "httproute/default/llm/rule/1/match/0/llm_example_com"
)

var (
	openaiTokens = []string{"oa-e2e-alpha-7f3a", "oa-e2e-bravo-91c2"}
	qwenTokens   = []string{"qw-e2e-alpha-44d0", "qw-e2e-bravo-05be"}
)

// providerBlock is a provider object for one of the gateway's providers.
func providerBlock(typ, id string, toks []string) string {
	return fmt.Sprintf(`{type: %s, id: %s, apiTokens: [%s], tokenSelection: round-robin,
    failover: {enabled: true, failureThreshold: 1, healthCheckInterval: 1000, healthCheckTimeout: 2000, healthCheckModel: probe-model}}`,
		typ, id, strings.Join(toks, ", "))
}

// gateway is the running deployment.
type gateway struct {
	*deployment
	openai, qwen, backend *mockllm.Server
}

var (
	downstreamRoutes = regexp.MustCompile(`(?s)\n *# DOWNSTREAM-ROUTES-BEGIN.*?# DOWNSTREAM-ROUTES-END`)
	downstreamFilter = regexp.MustCompile(`(?s)\n *# DOWNSTREAM-FILTER-BEGIN.*?# DOWNSTREAM-FILTER-END`)
	upstreamFilters  = regexp.MustCompile(`\n( *)# UPSTREAM-FILTERS (\w+)`)
)

// upstreamFilterYAML is the plugin as a cluster's upstream filter with a
// plugin configuration of its own (the same vm_config for every cluster:
// one VM per worker holds a root per cluster's configuration).
func upstreamFilterYAML(indent, wasm, config string) string {
	value, _ := json.Marshal(config)
	lines := []string{
		"http_filters:",
		"- name: token-failover",
		"  typed_config:",
		`    "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm`,
		"    config:",
		"      name: token-failover",
		"      root_id: token-failover",
		"      failure_policy: FAIL_RELOAD",
		"      vm_config: {vm_id: token-failover, runtime: envoy.wasm.runtime.v8, code: {local: {filename: " + wasm + "}}}",
		`      configuration: {"@type": type.googleapis.com/google.protobuf.StringValue, value: ` + string(value) + "}",
		"- name: envoy.filters.http.upstream_codec",
		"  typed_config:",
		`    "@type": type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec`,
	}
	return "\n" + indent + strings.Join(lines, "\n"+indent)
}

// startGateway runs the gateway in mode "downstream" (the documented route
// configuration), "downstream-misrouted" (without the provider virtual
// hosts: the rewritten requests match the catch-all host) or "upstream".
func startGateway(t *testing.T, mode string) *gateway {
	t.Helper()
	bin := envoyBinary(t)
	wasm, err := wasmhost.ModulePath()
	require.NoError(t, err)
	g := &gateway{openai: mockllm.New(), qwen: mockllm.New(), backend: mockllm.New()}
	oaAddr, err := g.openai.StartStrictTLS("127.0.0.1:0", "api.openai.com")
	require.NoError(t, err)
	qwAddr, err := g.qwen.StartStrictTLS("127.0.0.1:0", "dashscope.aliyuncs.com")
	require.NoError(t, err)
	beAddr, err := g.backend.Start("127.0.0.1:0")
	require.NoError(t, err)
	dir := t.TempDir()
	caOpenAI, caQwen := filepath.Join(dir, "openai-ca.pem"), filepath.Join(dir, "qwen-ca.pem")
	require.NoError(t, g.openai.WriteCACert(caOpenAI))
	require.NoError(t, g.qwen.WriteCACert(caQwen))
	downstream := `_rules_:
- _match_route_: ["` + openaiRoute + `"]
  provider: ` + providerBlock("openai", "oa", openaiTokens) + `
- _match_route_: ["` + qwenRoute + `"]
  provider: ` + providerBlock("qwen", "qw", qwenTokens) + `
`
	o := envoyrun.Options{Bin: bin, Wasm: wasm, Template: "e2e/testdata/envoy-gateway.yaml",
		Upstreams: map[int]string{18081: oaAddr, 18082: qwAddr, 18083: beAddr}}
	o.Edit = func(cfg string) string {
		// Each cluster trusts its own mock's CA.
		cfg = strings.Replace(cfg, "MOCK_CA_FILE", caOpenAI, 1)
		cfg = strings.Replace(cfg, "MOCK_CA_FILE", caQwen, 1)
		switch mode {
		case "upstream":
			cfg = downstreamRoutes.ReplaceAllString(cfg, "")
			cfg = downstreamFilter.ReplaceAllString(cfg, "")
			return upstreamFilters.ReplaceAllStringFunc(cfg, func(m string) string {
				sub := upstreamFilters.FindStringSubmatch(m)
				block := providerBlock("openai", "oa", openaiTokens)
				if sub[2] == "qwen" {
					block = providerBlock("qwen", "qw", qwenTokens)
				}
				return upstreamFilterYAML(sub[1], wasm, "mode: upstream\nprovider: "+block)
			})
		case "downstream-misrouted":
			cfg = downstreamRoutes.ReplaceAllString(cfg, "")
		}
		return upstreamFilters.ReplaceAllString(cfg, "")
	}
	if mode != "upstream" {
		o.PluginConfig = downstream
	}
	e, err := envoyrun.Start(o)
	g.deployment = &deployment{envoy: e, c: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		mocks: map[string]*mockllm.Server{"openai": g.openai, "qwen": g.qwen, "backend": g.backend}}
	g.stopOnCleanup(t)
	require.NoError(t, err)
	return g
}

// live returns the mock's records that are not probes.
func live(m *mockllm.Server) []mockllm.Record {
	var out []mockllm.Record
	for _, r := range m.Records() {
		if !r.Probe {
			out = append(out, r)
		}
	}
	return out
}

// TestEnvoyGateway_RoutesStayPutAndKeysHeal (issue 20 A1, B1, B2) runs the
// gateway deployment in both modes: every request reaches the provider
// its route names, over TLS with the provider's SNI and host, with that
// provider's token and path; the catch-all backend gets nothing; a revoked
// key of either provider is demoted and, healed, restored by a probe
// through its route's TLS cluster (in upstream mode the two clusters'
// configurations share each VM).
func TestEnvoyGateway_RoutesStayPutAndKeysHeal(t *testing.T) {
	for _, mode := range []string{"downstream", "upstream"} {
		t.Run(mode, func(t *testing.T) {
			g := startGateway(t, mode)
			for i := 0; i < 4; i++ {
				status, body := g.send(t, "llm.example.com", "/openai/v1/chat/completions")
				require.Equal(t, 200, status, body)
				status, body = g.send(t, "llm.example.com", "/qwen/v1/chat/completions")
				require.Equal(t, 200, status, body)
			}
			oa, qw := live(g.openai), live(g.qwen)
			require.Len(t, oa, 4)
			require.Len(t, qw, 4)
			require.Empty(t, g.backend.Records(), "nothing reaches a cluster its route does not name")
			for _, r := range oa {
				require.Equal(t, "api.openai.com", r.SNI)
				require.Equal(t, "api.openai.com", r.Host)
				require.Equal(t, "/v1/chat/completions", r.Path)
				require.Contains(t, openaiTokens, r.Token)
			}
			for _, r := range qw {
				require.Equal(t, "dashscope.aliyuncs.com", r.SNI)
				require.Equal(t, "dashscope.aliyuncs.com", r.Host)
				require.Equal(t, "/compatible-mode/v1/chat/completions", r.Path)
				require.Contains(t, qwenTokens, r.Token)
			}
			// A revoked key of each provider is demoted, then healed.
			g.openai.Set(openaiTokens[0], mockllm.Behaviour{Status: 401})
			g.qwen.Set(qwenTokens[1], mockllm.Behaviour{Status: 401})
			for i := 0; i < 6; i++ {
				g.send(t, "llm.example.com", "/openai/v1/chat/completions")
				g.send(t, "llm.example.com", "/qwen/v1/chat/completions")
			}
			stats, err := g.envoy.Stats("tokenfailover")
			require.NoError(t, err)
			require.EqualValues(t, 1, stats["tokenfailover.oa.token0.demotions"])
			require.EqualValues(t, 1, stats["tokenfailover.qw.token1.demotions"])
			healed := time.Now()
			g.openai.Set(openaiTokens[0], mockllm.Healthy)
			g.qwen.Set(qwenTokens[1], mockllm.Healthy)
			eventually(t, 10*time.Second, "both keys restored by probes", func() bool {
				s, err := g.envoy.Stats("tokenfailover")
				return err == nil && s["tokenfailover.oa.token0.restorations"] == 1 && s["tokenfailover.qw.token1.restorations"] == 1
			})
			for _, m := range []*mockllm.Server{g.openai, g.qwen} {
				probed := false
				for _, r := range m.Records() {
					if r.Probe && !r.Time.Before(healed) {
						probed = true
						require.NotEmpty(t, r.SNI, "the probe went through the route's TLS cluster")
					}
				}
				require.True(t, probed)
			}
			require.Empty(t, g.backend.Records())
		})
	}
}

// TestEnvoyGateway_MisroutedDownstreamIsRefused (issue 20 B1): the same
// gateway in downstream mode without the provider virtual hosts the README
// asks for: Envoy routes a rewritten request by its new host, to the
// catch-all backend. The plugin cannot see that before the request leaves,
// so the first such request reaches the backend; the plugin notices it at
// the answer, charges no token, and every worker refuses the route from
// then on with a 500 that says what to change.
func TestEnvoyGateway_MisroutedDownstreamIsRefused(t *testing.T) {
	g := startGateway(t, "downstream-misrouted")
	status, _ := g.send(t, "llm.example.com", "/openai/v1/chat/completions")
	require.Equal(t, 200, status, "the backend's answer")
	require.Len(t, g.backend.Records(), 1)
	eventually(t, 3*time.Second, "the guard's log line", func() bool {
		return strings.Contains(g.envoy.Log(), "went to route default-route")
	})
	time.Sleep(1200 * time.Millisecond) // every worker loads the moved route on its tick
	for i := 0; i < 12; i++ {
		status, body := g.send(t, "llm.example.com", "/openai/v1/chat/completions")
		require.Equal(t, 500, status)
		require.Contains(t, body, "mode: upstream")
	}
	require.Len(t, g.backend.Records(), 1, "nothing more reached the wrong cluster")
	require.Empty(t, live(g.openai))
	stats, err := g.envoy.Stats("tokenfailover")
	require.NoError(t, err)
	require.EqualValues(t, 1, stats["tokenfailover.oa.requests_rerouted"])
	for _, tok := range []string{"token0", "token1"} {
		require.Zero(t, stats["tokenfailover.oa."+tok+".failures_upstream"]+stats["tokenfailover.oa."+tok+".failures_auth"])
	}
}

// TestEnvoyListeners_EveryConfigurationHeals (issue 20 A1b, B2): two
// listeners whose filters share one VM per worker, one serving claude and
// one azure. Keys demoted on either (claude by a 529, azure by a 401) are
// probed and restored within seconds of healing, a pool with every token
// down reads 0 available, and a cooling token's gauge reads cooling.
// Before, only the newest configuration of a VM worked on its pools: the
// other's were never probed and their gauges never published.
func TestEnvoyListeners_EveryConfigurationHeals(t *testing.T) {
	claude := []string{"cl-e2e-alpha-7f3a", "cl-e2e-bravo-91c2", "cl-e2e-charlie-4d"}
	azure := []string{"az-e2e-alpha-7f3a", "az-e2e-bravo-91c2", "az-e2e-charlie-4d"}
	failover := `failover: {enabled: true, failureThreshold: 1, healthCheckInterval: 1000, healthCheckTimeout: 2000, healthCheckModel: probe-model}`
	first := "provider: {type: claude, id: cl, apiTokens: [" + strings.Join(claude, ", ") + "], " + failover + "}"
	second := "provider: {type: azure, id: az, apiTokens: [" + strings.Join(azure, ", ") + "], " +
		`azureServiceUrl: "https://res.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-06-01", ` + failover + "}"
	secondAddr := freeAddr(t)
	wasm, err := wasmhost.ModulePath()
	require.NoError(t, err)
	d := deploy(t, "e2e/testdata/envoy-two-listeners.yaml", wasm, first, map[string]int{"llm": 18080}, func(o *envoyrun.Options) {
		o.Upstreams[10001] = secondAddr // the second listener's port
		o.Edit = func(cfg string) string { return strings.Replace(cfg, "SECOND_PLUGIN_CONFIG", second, 1) }
	})
	mock := d.mocks["llm"]
	call := func(addr, path string) {
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(`{"model":"m","messages":[]}`))
		req.Header.Set("content-type", "application/json")
		if resp, err := d.c.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	for _, tok := range claude {
		mock.Set(tok, mockllm.Behaviour{Status: 529})
	}
	mock.Set(azure[0], mockllm.Behaviour{Status: 401})
	mock.Set(azure[1], mockllm.Behaviour{Status: 429, RetryAfter: 60})
	for i := 0; i < 12; i++ {
		call(d.envoy.Listen, "/v1/messages")
		call(secondAddr, "/v1/chat/completions")
	}
	time.Sleep(1500 * time.Millisecond) // gauges are published on the tick
	stats, err := d.envoy.Stats("tokenfailover")
	require.NoError(t, err)
	require.EqualValues(t, 0, stats["tokenfailover.cl.available_tokens"], "every claude token is down")
	require.EqualValues(t, 1, stats["tokenfailover.az.available_tokens"])
	require.EqualValues(t, 2, stats["tokenfailover.az.token0.state"], "unhealthy")
	require.EqualValues(t, 1, stats["tokenfailover.az.token1.state"], "cooling")
	healed := time.Now()
	for _, tok := range append(append([]string{}, claude...), azure[0]) {
		mock.Set(tok, mockllm.Healthy)
	}
	eventually(t, 8*time.Second, "every demoted key restored by a probe", func() bool {
		s, err := d.envoy.Stats("tokenfailover")
		return err == nil && s["tokenfailover.cl.token0.restorations"]+s["tokenfailover.cl.token1.restorations"]+
			s["tokenfailover.cl.token2.restorations"] == 3 && s["tokenfailover.az.token0.restorations"] == 1
	})
	for _, tok := range []string{claude[0], claude[1], claude[2], azure[0]} {
		require.Positive(t, mock.Count(tok, true, healed), "token %s... was probed", tok[:6])
	}
	eventually(t, 3*time.Second, "gauges published", func() bool {
		s, err := d.envoy.Stats("tokenfailover")
		return err == nil && s["tokenfailover.cl.available_tokens"] == 3 && s["tokenfailover.az.available_tokens"] == 2
	})
}
