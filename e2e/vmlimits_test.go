package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/wasmhost"
)

// deepEnvoy starts Envoy with the deepstack module in the plugin's place
// (envoy.yaml, failure_policy included) and one worker.
func deepEnvoy(t *testing.T) *envoyrun.Envoy {
	wasm, err := wasmhost.TestModule("deepstack")
	require.NoError(t, err)
	env, err := startEnv(t, envoyrun.Options{Wasm: wasm, Concurrency: 1})
	require.NoError(t, err)
	return env.envoy
}

// deepestInEmulator is the deepest x-depth deepstack runs in the emulator
// on a fresh VM, as the first request (a binary search; a trap kills the
// VM, so each try gets a new host).
func deepestInEmulator(t *testing.T) int {
	wasm, err := wasmhost.TestModule("deepstack")
	require.NoError(t, err)
	runs := func(depth int) bool {
		h, err := wasmhost.New(wasmhost.Options{WasmPath: wasm, Workers: 1, SkipCanary: true,
			Clusters: map[string]wasmhost.Cluster{"llm": func(*wasmhost.UpstreamRequest) wasmhost.Reply { return wasmhost.OK() }}})
		require.NoError(t, err)
		defer h.Close()
		s, err := h.Workers()[0].Do(wasmhost.Request{Headers: []wasmhost.Pair{{":method", "GET"}, {":path", "/v1/models"},
			{":authority", "llm"}, {"x-depth", fmt.Sprint(depth)}}})
		return err == nil && s.Response.Status == 200
	}
	lo, hi := 1000, 100000 // runs, traps
	require.True(t, runs(lo))
	require.False(t, runs(hi))
	for hi-lo > 1 {
		if mid := (lo + hi) / 2; runs(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func deepRequest(t *testing.T, e *envoyrun.Envoy, depth int) int {
	req, _ := http.NewRequest("GET", "http://"+e.Listen+"/v1/models", nil)
	req.Header.Set("authorization", "Bearer deep-test")
	if depth > 0 {
		req.Header.Set("x-depth", fmt.Sprint(depth))
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestEnvoy_V8StackBudgetAndFailReload pins the two facts the emulator's
// stack limit and the shipped failure_policy rest on. V8 in Envoy runs a Go
// guest 30,000 levels deep on a fresh VM but traps before 45,000 (measured:
// about 37,100 on 1.36.4 and 1.40.0), and the deepest recursion the
// emulator runs (wasmhost.MaxCallDepth) runs in Envoy too, so the emulator
// is the stricter of the two. Levels are compared on fresh VMs because Go's
// stack growth unwinds the wasm stack: a fresh VM's n levels are fewer wasm
// frames than a VM whose goroutine stack has grown already. With
// failure_policy FAIL_RELOAD (envoy.yaml) the VM serves again about a
// second after a trap instead of failing every request for good. The
// module stands in for the plugin: deepstack recurses as deep as a
// request's x-depth asks.
func TestEnvoy_V8StackBudgetAndFailReload(t *testing.T) {
	emulated := deepestInEmulator(t)
	t.Logf("the emulator (wasmhost.MaxCallDepth %d frames) runs deepstack %d levels deep", wasmhost.MaxCallDepth, emulated)
	e := deepEnvoy(t)
	require.Equal(t, 200, deepRequest(t, e, emulated), "what the emulator runs on a fresh VM, Envoy's V8 runs")
	require.Equal(t, 503, deepRequest(t, e, 45000), "45,000 levels is beyond V8's budget")
	eventually(t, 3*time.Second, "V8's stack overflow in Envoy's log", func() bool {
		return strings.Contains(e.Log(), "Maximum call stack size exceeded")
	})
	trapped := time.Now()
	require.Equal(t, 503, deepRequest(t, e, 0), "the failed VM fails the next request too")
	eventually(t, 15*time.Second, "FAIL_RELOAD to bring the VM back", func() bool { return deepRequest(t, e, 0) == 200 })
	t.Logf("the VM served again %v after the trap", time.Since(trapped).Round(10*time.Millisecond))
	require.Equal(t, 200, deepRequest(t, e, 30000), "the new VM, fresh, runs 30,000 levels")
}
