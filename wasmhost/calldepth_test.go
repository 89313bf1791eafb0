package wasmhost

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// deepHost runs the deepstack test module, which recurses as deep as a
// request's x-depth header asks, on one worker.
func deepHost(t *testing.T) (*Host, *VM) {
	t.Helper()
	wasm, err := TestModule("deepstack")
	require.NoError(t, err)
	h := newHost(t, "{}", map[string]Cluster{"llm": func(*UpstreamRequest) Reply { return OK() }},
		func(o *Options) { o.WasmPath, o.Workers = wasm, 1 })
	return h, h.Workers()[0]
}

func deepRequest(depth int) Request {
	r := Request{Headers: []Pair{{":method", "GET"}, {":path", "/v1/models"}, {":authority", "llm"}}}
	if depth > 0 {
		r.Headers = append(r.Headers, Pair{"x-depth", fmt.Sprint(depth)})
	}
	return r
}

// TestCallDepth_TrapsAsV8Does pins the emulator's stack limit: a guest
// recursion past MaxCallDepth frames traps the VM, the stream gets
// Envoy's 503 wasm_fail_stream and so does every later stream on that VM,
// as in Envoy (e2e's TestEnvoy_V8StackBudgetAndFailReload checks the
// other side: what the emulator lets through, Envoy's V8 runs). Without
// the limit wazero would recurse far deeper than V8 and a test could pass
// on input that crashes Envoy.
func TestCallDepth_TrapsAsV8Does(t *testing.T) {
	h, w := deepHost(t)
	s, err := w.Do(deepRequest(1000))
	require.NoError(t, err)
	require.Equal(t, 200, s.Response.Status, "1,000 levels deep is fine")

	// 45,000 levels trap in Envoy 1.36.4-1.40.0; they must trap here too.
	s, err = w.Do(deepRequest(45000))
	require.Error(t, err, "the trap is reported")
	require.NotNil(t, w.Failed())
	require.Contains(t, w.Failed().Error(), "unreachable", "the depth counter's trap, not wazero's own limit")
	require.Equal(t, 503, s.Response.Status)
	require.Equal(t, "wasm_fail_stream", s.Response.Details)

	s, err = w.Do(deepRequest(0))
	require.NoError(t, err)
	require.Equal(t, 503, s.Response.Status, "the trapped VM fails every later stream")
	require.Empty(t, h.Workers()[0].LiveStreams())
}
