package plugin_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/wasmhost"
)

// TestUnservedAPI_AnsweredLocally_Wasm: a request to an API its provider
// type does not serve (issue 24 item 5) is answered 404 by the gateway,
// naming the API and the type: nothing goes upstream, no key is used and
// nothing is mapped (before, the chat mapping was applied and the request
// went to the provider with the operator's key). Higress's own cases
// (test/ai360.go "unsupported api", test/galadriel.go "unsupported api")
// answer 500 there.
func TestUnservedAPI_AnsweredLocally_Wasm(t *testing.T) {
	tests := []struct {
		name, config, method, path, body, message string
	}{
		{"ai360 images (Higress test/ai360.go)", "@29-test-ai360-basic.yaml", "POST", "/v1/images/generations",
			`{"model":"dall-e-3","prompt":"test image"}`, "the images/generations API is not served by this route's provider (ai360)"},
		{"galadriel embeddings (Higress test/galadriel.go)", "@30-test-galadriel-basic.yaml", "POST", "/v1/embeddings",
			`{"model":"text-embedding-ada-002","input":"x"}`, "the embeddings API is not served by this route's provider (galadriel)"},
		{"qwen model list", `provider: {type: qwen, apiTokens: [k]}`, "GET", "/v1/models", "",
			"the models API is not served by this route's provider (qwen)"},
		{"gemini speech", `provider: {type: gemini, apiTokens: [k]}`, "POST", "/v1/audio/speech", `{"model":"m","input":"x"}`,
			"the audio/speech API is not served by this route's provider (gemini)"},
		{"no tokens: the client's key is not sent either", `provider: {type: vllm}`, "POST", "/v1/images/edits", `{"model":"m"}`,
			"the images/edits API is not served by this route's provider (vllm)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			config := []byte(tc.config)
			if tc.config[0] == '@' {
				config = higressCase{file: tc.config[1:]}.config(t)
			}
			h, err := wasmhost.New(wasmhost.Options{Config: config, Workers: 1, SkipCanary: true})
			require.NoError(t, err)
			defer h.Close()
			headers := []abi.HeaderPair{{":method", tc.method}, {":path", tc.path}, {":authority", "gateway.local"},
				{"content-type", "application/json"}, {"authorization", "Bearer client-own"}}
			s, err := h.Workers()[0].Start(wasmhost.Request{Headers: headers, Body: []byte(tc.body)})
			require.NoError(t, err)
			require.Nil(t, s.Upstream, "nothing goes upstream")
			require.NotNil(t, s.Response)
			require.True(t, s.Response.LocalReply)
			require.Equal(t, 404, s.Response.Status)
			require.JSONEq(t, `{"error":{"message":"`+tc.message+`","type":"token_failover_api_not_served"}}`, string(s.Response.Body))
		})
	}
}
