package plugin_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

// TestRewrite_FailedHeaderWriteIsNeverSent: when Envoy refuses one of the
// plugin's header writes (the credential, the provider's host or path, the
// removal of the client's own key), the request is answered 500
// token_failover_rewrite_failed and never reaches the provider half
// rewritten: without the operator's token, with the client's key, or with
// the token bound for another host.
func TestRewrite_FailedHeaderWriteIsNeverSent(t *testing.T) {
	const azure = `provider: {type: azure, apiTokens: [tok-azure-0001],
  azureServiceUrl: "https://res.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21"}`
	tests := []struct {
		name, config, header string
	}{
		{"credential", cfg(""), "authorization"},
		{"client key removal", cfg(""), "x-api-key"},
		{"host", cfg(""), ":authority"},
		{"path", azure, ":path"},
		{"azure credential", azure, "api-key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(threeTokens...)
			h := start(t, tc.config, p, func(o *wasmhost.Options) {
				o.Workers = 1
				o.FailHeaderWrite = func(key string) bool { return key == tc.header }
			})
			req := wasmhost.Chat("gpt-4o")
			req.Headers = append(req.Headers, wasmhost.Pair{"x-api-key", "sk-client-own-key"})
			s := do(t, h.Workers()[0], req)
			require.Nil(t, s.Upstream, "nothing reaches the provider")
			require.Equal(t, 500, s.Response.Status)
			require.Equal(t, "token_failover_rewrite_failed", s.Response.Details)
			require.NoError(t, h.Workers()[0].Failed())

			// Without the fault the plugin does write that header: the
			// scenario above exercised a write that matters.
			ok := start(t, tc.config, p, func(o *wasmhost.Options) { o.Workers = 1 })
			s = do(t, ok.Workers()[0], req)
			require.NotNil(t, s.Upstream)
			sent, client := header(s.Upstream.Headers, tc.header), header(req.Headers, tc.header)
			require.NotEqual(t, client, sent, "the plugin rewrites %s", tc.header)
		})
	}
}
