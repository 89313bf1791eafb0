package plugin_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

// TestRules_RouteAndDomainMatchingFirstWinsElseGlobal checks Higress
// _rules_: route names, "*.suffix" and "prefix.*" domains with the port
// ignored, the first matching rule winning, and the global provider for
// everything else. Each pool has one token, so the token shows the pool.
func TestRules_RouteAndDomainMatchingFirstWinsElseGlobal(t *testing.T) {
	p := newProvider("global-token-0001", "route-token-0002", "suffix-token-0003", "prefix-token-0004")
	h := start(t, `provider: {type: openai, apiTokens: [global-token-0001]}
_rules_:
  - _match_route_: [special-route]
    provider: {type: openai, apiTokens: [route-token-0002]}
  - _match_domain_: ["*.example.com"]
    provider: {type: openai, apiTokens: [suffix-token-0003]}
  - _match_domain_: ["api.*", "*.example.com"]
    provider: {type: openai, apiTokens: [prefix-token-0004]}
`, p)
	tests := []struct {
		name, route, authority string
		token                  int
	}{
		{"route rule", "special-route", "api.example.com", 1},
		{"suffix domain, port ignored", "chat", "llm.example.com:8443", 2},
		{"first match wins", "chat", "api.example.com", 2},
		{"prefix domain", "chat", "api.internal", 3},
		{"no match: global", "chat", "other.host", 0},
		{"suffix needs the dot", "chat", "example.com", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := wasmhost.Chat("m")
			for i, hd := range req.Headers {
				if hd[0] == ":authority" {
					req.Headers[i][1] = tc.authority
				}
			}
			req.Route = tc.route
			s := do(t, h.Workers()[0], req)
			require.Equal(t, tc.token, p.token(s.Upstream))
		})
	}
}
