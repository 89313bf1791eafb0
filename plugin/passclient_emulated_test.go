package plugin_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

// noTokenCases are the types Higress accepts without apiTokens (issue 24
// item 3): the client brings its own key, which reaches the provider, on
// the provider's host and path. openai sends it in its own header, from
// the first of authHeaderKey, x-api-key, x-authorization, authorization
// (as Higress); the others leave the client's headers as they are (Higress's
// spark and hunyuan send "Bearer " with nothing after it: a request no
// provider accepts).
var noTokenCases = []higressCase{
	{name: "openai takes x-api-key first", raw: `provider: {type: openai, failover: {enabled: true}}`, model: "m",
		authority: "api.openai.com", upPath: "/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer client-x"}},
	{name: "vllm", raw: `provider: {type: vllm, vllmServerHost: "vllm.internal:8000"}`, model: "m",
		authority: "vllm.internal", upPath: "/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer client-own"},
		extra: map[string]string{"x-api-key": "client-x"}},
	{name: "spark", raw: `provider: {type: spark, retryOnFailure: {enabled: true}}`, model: "m",
		authority: "spark-api-open.xf-yun.com", upPath: "/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer client-own"},
		why: "Higress overwrites Authorization with \"Bearer \" and no key"},
	{name: "hunyuan", raw: `provider: {type: hunyuan}`, model: "m",
		authority: "api.hunyuan.cloud.tencent.com", upPath: "/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer client-own"},
		why: "Higress overwrites Authorization with \"Bearer \" and no key"},
	{name: "ollama", raw: `provider: {type: ollama, ollamaServerHost: ollama.local, ollamaServerPort: 11434, failover: {enabled: true}}`, model: "m",
		authority: "ollama.local:11434", upPath: "/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer client-own"},
		extra: map[string]string{"x-api-key": "client-x"}},
}

// TestNoTokens_ClientKeyPasses_Wasm sends a chat completion through each
// no-token block in the built .wasm and checks what reaches the provider,
// and that the configuration says so in one warning, logged once per VM.
func TestNoTokens_ClientKeyPasses_Wasm(t *testing.T) {
	for _, c := range noTokenCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := wasmhost.New(wasmhost.Options{Config: c.config(t), Workers: 1, SkipCanary: true})
			require.NoError(t, err)
			defer h.Close()
			headers, body := c.request()
			s, err := h.Workers()[0].Start(wasmhost.Request{Headers: headers, Body: body})
			require.NoError(t, err)
			require.NotNil(t, s.Upstream)
			c.check(t, s.Upstream.Headers, s.Upstream.Body, body)
			warnings := 0
			for _, l := range h.Workers()[0].Logs() {
				if strings.HasPrefix(l.Message, "configuration: ") {
					warnings++
				}
			}
			require.Equal(t, 1, warnings, "one warning says it all")
		})
	}
}
