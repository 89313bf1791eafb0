// Package e2e runs the built plugin in a real Envoy (--concurrency 4)
// against the mock provider. Without Envoy the tests skip, unless
// REQUIRE_ENVOY=1 (set by .ci/run), which turns every skip into a failure.
package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

var tokens = []string{"e2e-token-alpha-7f3a", "e2e-token-bravo-91c2", "e2e-token-charlie-44d0"}

func pluginConfig(extra string) string {
	return `provider:
  type: openai
  id: e2e
  apiTokens: [` + strings.Join(tokens, ", ") + `]
  modelMapping: {"gpt-4*": mapped-model, "gpt-3": probe-model}
  failover:
    enabled: true
    failureThreshold: 3
    healthCheckInterval: 1000
    healthCheckTimeout: 2000
    healthCheckModel: gpt-3
` + extra
}

type env struct {
	mock  *mockllm.Server
	envoy *envoyrun.Envoy
	c     *http.Client
}

// setup starts the mock and Envoy with the given plugin configuration. On
// failure the test's log gets Envoy's log.
func setup(t *testing.T, config string) *env { t.Helper(); return setupEdit(t, config, nil) }

// setupEdit starts the mock and Envoy with the shipped envoy.yaml, the
// plugin configuration and edit applied to the rendered Envoy configuration
// last (envoyrun.Options.Edit; nil keeps it).
func setupEdit(t *testing.T, config string, edit func(string) string) *env {
	t.Helper()
	e, err := startEnv(t, envoyrun.Options{PluginConfig: config, Edit: edit})
	require.NoError(t, err)
	return e
}

// envoyBinary returns the Envoy to run, skipping (or failing under
// REQUIRE_ENVOY=1) when there is none.
func envoyBinary(t *testing.T) string {
	t.Helper()
	bin, err := envoyrun.FindBinary()
	if err != nil {
		if os.Getenv("REQUIRE_ENVOY") == "1" {
			t.Fatalf("REQUIRE_ENVOY=1 but Envoy is missing: %v", err)
		}
		t.Skipf("Envoy not installed (%v); ./build.sh e2e installs it", err)
	}
	return bin
}

// startEnv starts Envoy with o, filling in what o leaves empty: the Envoy
// binary (envoyBinary), the plugin module, and a mock provider as the
// upstream (env.mock; nil when o names an upstream of its own). Envoy and
// the mock stop when the test ends, with Envoy's log printed if it failed.
// The error is Envoy's start: a test of a refused configuration wants it.
func startEnv(t *testing.T, o envoyrun.Options) (*env, error) {
	t.Helper()
	if o.Bin == "" {
		o.Bin = envoyBinary(t)
	}
	if o.Wasm == "" {
		wasm, err := wasmhost.ModulePath()
		require.NoError(t, err)
		o.Wasm = wasm
	}
	out := &env{c: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	if o.Upstream == "" {
		out.mock = mockllm.New()
		addr, err := out.mock.Start("127.0.0.1:0")
		require.NoError(t, err)
		o.Upstream = addr
	}
	e, err := envoyrun.Start(o)
	out.envoy = e
	t.Cleanup(func() {
		if e != nil {
			_ = e.Stop()
			if t.Failed() {
				t.Logf("Envoy log (%s):\n%s", e.LogPath, e.Tail(200))
			}
		}
		if out.mock != nil {
			_ = out.mock.Close()
		}
	})
	return out, err
}

// freeAddr is a local address nothing listens on (a port just released):
// a dead upstream, or a listener port for a template's placeholder.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// serve runs h on a local port until the test ends and returns its address.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// chat sends one chat completion through Envoy and returns its status.
func (e *env) chat(model string) (int, error) { return e.chatHost("", model) }

// chatHost is chat with the request's Host set to host (a _rules_ entry's
// _match_domain_); "" keeps the listener's address.
func (e *env) chatHost(host, model string) (int, error) {
	req, err := http.NewRequest("POST", "http://"+e.envoy.Listen+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		return 0, err
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer client-own-key")
	resp, err := e.c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// load sends n requests with the given concurrency; it returns how many
// answers had each status (0 = transport error).
func (e *env) load(n, concurrency int) map[int]int {
	var mu sync.Mutex
	out := map[int]int{}
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		next <- struct{}{}
	}
	close(next)
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				code, _ := e.chat("gpt-4o")
				mu.Lock()
				out[code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// stat reads one plugin stat (name without the wasmcustom. prefix).
func (e *env) stat(t *testing.T, name string) int64 {
	t.Helper()
	s, err := e.envoy.Stats("tokenfailover")
	require.NoError(t, err)
	return s[name]
}

// eventually polls cond every 100 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

func tokenStat(i int, name string) string {
	return fmt.Sprintf("tokenfailover.e2e.token%d.%s", i, name)
}
