package plugin_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

// TestHigressRules_CategoriesServicesAndPassThrough checks Higress _rules_
// on the .wasm: _match_service_ against Istio's four-part cluster names,
// _match_route_prefix_, route with service, a rule without a provider that
// passes its requests through (it does not fall back to the global
// provider), and the console's shape (global providers, rules that pick
// one by activeProviderId). Each pool has one token, so the token shows
// which block served the request.
func TestHigressRules_CategoriesServicesAndPassThrough(t *testing.T) {
	p := newProvider("global-token-0001", "service-token-0002", "prefix-token-0003", "both-token-0004", "console-token-0005")
	h := start(t, `{"activeProviderId": "g", "providers": [
		{"id": "g", "type": "openai", "apiTokens": ["global-token-0001"]},
		{"id": "c", "type": "openai", "apiTokens": ["console-token-0005"]}],
	"_rules_": [
		{"_match_route_": ["mixed"], "_match_service_": ["llm-both.internal.dns:443"], "provider": {"type": "openai", "apiTokens": ["both-token-0004"]}},
		{"_match_route_": ["passthrough"]},
		{"_match_service_": ["llm-svc.internal.dns"], "provider": {"type": "openai", "apiTokens": ["service-token-0002"]}},
		{"_match_service_": ["llm-console.internal.dns"], "activeProviderId": "c"},
		{"_match_route_prefix_": ["team-a/"], "provider": {"type": "openai", "apiTokens": ["prefix-token-0003"]}}]}`, p,
		func(o *wasmhost.Options) {
			o.Clusters = map[string]wasmhost.Cluster{}
			for _, c := range []string{"llm", "outbound|443||llm-svc.internal.dns", "outbound|443||llm-both.internal.dns",
				"outbound|80||llm-both.internal.dns", "outbound|443||llm-console.internal.dns"} {
				o.Clusters[c] = p.cluster
			}
		})
	tests := []struct {
		name, route, cluster string
		token                int // -1: the client's own key went through
	}{
		{"service, any port", "chat", "outbound|443||llm-svc.internal.dns", 1},
		{"route prefix", "team-a/chat", "llm", 2},
		{"route and service both match", "mixed", "outbound|443||llm-both.internal.dns", 3},
		{"route matches, service port does not: global", "mixed", "outbound|80||llm-both.internal.dns", 0},
		{"console rule by activeProviderId", "chat", "outbound|443||llm-console.internal.dns", 4},
		{"pass-through rule: untouched, not global", "passthrough", "llm", -1},
		{"nothing matches: global", "other", "llm", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := wasmhost.Chat("m")
			req.Route, req.Cluster = tc.route, tc.cluster
			s := do(t, h.Workers()[0], req)
			require.Equal(t, tc.token, p.token(s.Upstream))
			if tc.token < 0 {
				require.Equal(t, "Bearer client-own-key", s.Upstream.Header("authorization"))
				require.Equal(t, "gateway.local", s.Upstream.Header(":authority"))
			}
		})
	}
}

// TestHigressNoTokens_ClientAuthPassesAndNoPool: a block without tokens
// sends the client's own credentials, rewrites host and model, and keeps
// no failover state.
func TestHigressNoTokens_ClientAuthPassesAndNoPool(t *testing.T) {
	p := newProvider("client-own-key")
	p.always(0, wasmhost.Status(500))
	h := start(t, `provider: {type: vllm, vllmServerHost: vllm.internal, modelMapping: {"*": served}}`, p)
	for i := 0; i < 5; i++ {
		s := do(t, h.Workers()[i%4], wasmhost.Chat("m"))
		require.Equal(t, "Bearer client-own-key", s.Upstream.Header("authorization"))
		require.Equal(t, "vllm.internal", s.Upstream.Header(":authority"))
		require.Contains(t, string(s.Upstream.Body), `"model":"served"`)
		require.Equal(t, 500, s.Response.Status, "no retry, the answer as it came")
	}
	for _, k := range h.SharedKeys() {
		require.NotContains(t, k, "/state", "no pool state for a block without tokens")
	}
}
