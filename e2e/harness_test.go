// Package e2e runs the built plugin in a real Envoy (--concurrency 4)
// against the mock provider. Without Envoy the tests skip, unless
// REQUIRE_ENVOY=1 (set by .ci/run), which turns every skip into a failure.
package e2e

import (
	"fmt"
	"io"
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

// setupEdit is setup with edit applied to the rendered Envoy configuration
// last (envoyrun.Options.Edit; nil keeps it).
func setupEdit(t *testing.T, config string, edit func(string) string) *env {
	t.Helper()
	bin, err := envoyrun.FindBinary()
	if err != nil {
		if os.Getenv("REQUIRE_ENVOY") == "1" {
			t.Fatalf("REQUIRE_ENVOY=1 but Envoy is missing: %v", err)
		}
		t.Skipf("Envoy not installed (%v); ./build.sh e2e installs it", err)
	}
	wasm, err := wasmhost.ModulePath()
	require.NoError(t, err)
	mock := mockllm.New()
	addr, err := mock.Start("127.0.0.1:0")
	require.NoError(t, err)
	e, err := envoyrun.Start(envoyrun.Options{Bin: bin, Wasm: wasm, PluginConfig: config, Upstream: addr, Edit: edit})
	t.Cleanup(func() {
		if e != nil {
			_ = e.Stop()
			if t.Failed() {
				t.Logf("Envoy log (%s):\n%s", e.LogPath, e.Tail(200))
			}
		}
		_ = mock.Close()
	})
	require.NoError(t, err)
	return &env{mock: mock, envoy: e, c: &http.Client{Timeout: 20 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}}}
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
