package wasmhost

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestContinueStream_MisuseFailsTheTest: two proxy_continue_stream calls
// that Envoy does not refuse but acts on badly (docs/envoy-details.md):
// continuing the response before there is one crashes the Envoy process,
// and continuing the request from its own on_request_headers sends it
// upstream twice (or, when the callback pauses, stalls it forever).
// The emulator fails the step with an error on both, so a plugin test
// that does either fails loudly instead of passing.
func TestContinueStream_MisuseFailsTheTest(t *testing.T) {
	wasm, err := TestModule("trace")
	require.NoError(t, err)
	for _, tc := range []struct{ misuse, want string }{
		{"", ""},
		{"response", "before any response: Envoy would crash"},
		{"request", "own on_request_headers: Envoy would send it twice or stall it"},
	} {
		t.Run("misuse="+tc.misuse, func(t *testing.T) {
			sent := 0
			h := newHost(t, "{}", map[string]Cluster{"llm": func(*UpstreamRequest) Reply { sent++; return OK() }},
				func(o *Options) { o.WasmPath, o.Workers = wasm, 1 })
			req := Request{Headers: []Pair{{":method", "POST"}, {":path", "/v1/chat/completions"}, {":authority", "llm"},
				{"x-trace-continue", tc.misuse}}, Body: []byte(`{"model":"m"}`)}
			s, err := h.Workers()[0].Do(req)
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			require.Equal(t, 200, s.Response.Status)
			require.Equal(t, 1, sent)
		})
	}
}
