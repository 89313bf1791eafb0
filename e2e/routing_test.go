package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

// deployment is a real Envoy started from one of e2e/testdata's user-shaped
// configurations, with one mock provider per named cluster.
type deployment struct {
	envoy *envoyrun.Envoy
	mocks map[string]*mockllm.Server
	c     *http.Client
}

// deploy starts a mock for each cluster (keyed by the placeholder port the
// template gives that cluster) and Envoy with the template, the module and
// the plugin configuration.
func deploy(t *testing.T, template, wasm, config string, clusters map[string]int, opts ...func(*envoyrun.Options)) *deployment {
	t.Helper()
	bin := envoyBinary(t)
	d := &deployment{mocks: map[string]*mockllm.Server{}, c: &http.Client{Timeout: 20 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}}}
	o := envoyrun.Options{Bin: bin, Wasm: wasm, PluginConfig: config, Template: template, Upstreams: map[int]string{}}
	for name, port := range clusters {
		m := mockllm.New()
		addr, err := m.Start("127.0.0.1:0")
		require.NoError(t, err)
		d.mocks[name] = m
		o.Upstreams[port] = addr
	}
	for _, f := range opts {
		f(&o)
	}
	e, err := envoyrun.Start(o)
	d.envoy = e
	d.stopOnCleanup(t)
	require.NoError(t, err)
	return d
}

// stopOnCleanup stops Envoy (showing its log when the test failed) and the
// mocks when the test ends.
func (d *deployment) stopOnCleanup(t *testing.T) {
	t.Cleanup(func() {
		if d.envoy != nil {
			_ = d.envoy.Stop()
			if t.Failed() {
				t.Logf("Envoy log (%s):\n%s", d.envoy.LogPath, d.envoy.Tail(120))
			}
		}
		for _, m := range d.mocks {
			_ = m.Close()
		}
	})
}

// send posts a chat body to path with the given Host and extra headers;
// it returns the status and body.
func (d *deployment) send(t *testing.T, host, path string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+d.envoy.Listen+path,
		strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	req.Host = host
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := d.c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// reached counts the requests each cluster's mock received (probes too).
func (d *deployment) reached() map[string]int {
	out := map[string]int{}
	for name, m := range d.mocks {
		if n := len(m.Records()); n > 0 {
			out[name] = n
		}
	}
	return out
}

// TestEnvoy_HeaderWriteReroutes checks in real Envoy what the emulator's
// route table plays (wasmhost TestRouteTable_HeaderWriteReroutes): a wasm
// filter's write of :path or :authority makes the router pick the route
// again from the new headers (404 route_not_found when nothing matches,
// another route's cluster when one does), while xds.route_name and
// xds.cluster_name read right after the write still name the client's
// route; at the response they name the route the router picked.
func TestEnvoy_HeaderWriteReroutes(t *testing.T) {
	wasm, err := wasmhost.TestModule("trace")
	require.NoError(t, err)
	d := deploy(t, "e2e/testdata/envoy-routes.yaml", wasm, "{}", map[string]int{"openai": 18081, "qwen": 18082, "backend": 18083})
	tests := []struct {
		name, path, rewrite, to string
		status                  int
		cluster                 string
		logs                    []string
	}{
		{"no rewrite keeps the route", "/qwen/v1/chat", "", "", 401, "qwen",
			[]string{`response_headers false status=401 cluster="qwen" route="qwen-route"`}},
		{"path rewrite out of every route: 404", "/qwen/v1/chat", "x-trace-path", "/compatible-mode/v1/chat", 404, "",
			[]string{`after :path write cluster="qwen" route="qwen-route"`, `details="route_not_found"`}},
		{"path rewrite into another route's cluster", "/qwen/v1/chat", "x-trace-path", "/openai/v1/chat", 401, "openai",
			[]string{`after :path write cluster="qwen" route="qwen-route"`, `status=401 cluster="openai" route="openai-route"`}},
		{"authority rewrite into the catch-all host", "/openai/v1/chat", "x-trace-authority", "api.openai.com", 401, "backend",
			[]string{`after :authority write cluster="openai" route="openai-route"`, `status=401 cluster="backend" route="default-route"`}},
	}
	// The mocks answer 401: the trace module sends no token.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := d.reached()
			logBefore := len(d.envoy.Log())
			var extra []string
			if tc.rewrite != "" {
				extra = []string{tc.rewrite, tc.to}
			}
			status, _ := d.send(t, "llm.example.com", tc.path, extra...)
			require.Equal(t, tc.status, status)
			after := d.reached()
			for name := range d.mocks {
				want := before[name]
				if name == tc.cluster {
					want++
				}
				require.Equal(t, want, after[name], "requests reaching %s", name)
			}
			eventually(t, 3*time.Second, "the trace lines in Envoy's log", func() bool {
				log := d.envoy.Log()[logBefore:]
				for _, l := range tc.logs {
					if !strings.Contains(log, l) {
						return false
					}
				}
				return true
			})
		})
	}
}

// TestEnvoyUpstream_AttemptsAsTheEmulatorPlays checks in real Envoy what
// the emulator's router plays (wasmhost TestRouter_UpstreamFilterAttempts):
// with the trace module as the cluster's upstream filter and nothing
// listening upstream, the router tries three times; each attempt starts
// from the headers the last one left; each ends with empty details (URX on
// the last) and the refused connection as its transport failure. (Envoy
// never calls an upstream filter's proxy_on_log: upstream_request.cc; the
// modules no longer export it.)
func TestEnvoyUpstream_AttemptsAsTheEmulatorPlays(t *testing.T) {
	wasm, err := wasmhost.TestModule("trace")
	require.NoError(t, err)
	env, err := startEnv(t, envoyrun.Options{Wasm: wasm, Upstream: freeAddr(t), Template: "envoy-upstream.yaml", Concurrency: 1})
	require.NoError(t, err)
	e := env.envoy
	d := &deployment{envoy: e, c: &http.Client{Timeout: 20 * time.Second}}
	status, _ := d.send(t, "llm", "/v1/chat/completions")
	require.Equal(t, 503, status)
	var log string
	eventually(t, 3*time.Second, "three attempts' ends in the log", func() bool {
		log = e.Log()
		return strings.Count(log, "done details=") == 3
	})
	for _, mark := range []string{`mark=""`, `mark="x"`, `mark="xx"`} {
		require.Contains(t, log, "request_headers false "+mark)
	}
	require.Equal(t, 2, strings.Count(log, `done details="" flags=0x0`))
	require.Equal(t, 1, strings.Count(log, `done details="" flags=0x8000`))
	require.Equal(t, 3, strings.Count(log, `upstream.transport_failure_reason="delayed connect error: Connection refused"`))
}
