package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// shape summarises which provider type serves the top level and each rule
// ("" for pass-through).
func shape(c *Config) (global string, rules []string) {
	if c.Global != nil {
		global = c.Global.Provider.Type()
	}
	for _, r := range c.Rules {
		t := ""
		if r.Block != nil {
			t = r.Block.Provider.Type()
		}
		rules = append(rules, t)
	}
	return global, rules
}

// TestParse_HigressShapes pins providers/activeProviderId at the top level
// and in rules: no inheritance of activeProviderId, inherited providers,
// pass-through rules, unused entries, and each warning.
func TestParse_HigressShapes(t *testing.T) {
	tests := []struct {
		name, config string
		global       string
		rules        []string
		warnings     []string
	}{
		{"providers with activeProviderId", `{"activeProviderId": "b", "providers": [
			{"id": "a", "type": "deepseek", "apiTokens": ["k1"]}, {"id": "b", "type": "moonshot", "apiTokens": ["k2"]}]}`,
			"moonshot", nil, []string{`providers[0]: not checked and never used: no activeProviderId names its id "a" (Higress ignores it too)`}},
		{"an unused entry is never checked", `{"activeProviderId": "a", "providers": [
			{"id": "a", "type": "deepseek", "apiTokens": ["k1"]}, {"id": "b", "type": "bedrock"}]}`,
			"deepseek", nil, []string{`providers[1]: not checked and never used: no activeProviderId names its id "b" (Higress ignores it too)`}},
		{"the first entry with the id wins", `{"activeProviderId": "a", "providers": [
			{"id": "a", "type": "deepseek", "apiTokens": ["k1"]}, {"id": "a", "type": "moonshot", "apiTokens": ["k2"]}]}`,
			"deepseek", nil, []string{
				`providers[1].id: "a" is also the id of providers[0]; activeProviderId picks the first (as in Higress)`,
				`providers[1]: not checked and never used: no activeProviderId names its id "a" (Higress ignores it too)`}},
		{"provider wins over providers", `{"provider": {"type": "deepseek", "apiTokens": ["k"]}, "activeProviderId": "x",
			"providers": [{"id": "x", "type": "moonshot", "apiTokens": ["k2"]}]}`,
			"deepseek", nil, []string{
				"providers: ignored: provider is set, and it wins (as in Higress)",
				"activeProviderId: ignored: provider is set, and it wins (as in Higress)",
				`providers[0]: not checked and never used: no activeProviderId names its id "x" (Higress ignores it too)`}},
		{"activeProviderId names nothing", `{"activeProviderId": "typo", "providers": [{"id": "a", "type": "deepseek", "apiTokens": ["k"]}]}`,
			"", nil, []string{
				`activeProviderId: "typo" names no entry of providers: requests pass through untouched (as in Higress)`,
				`providers[0]: not checked and never used: no activeProviderId names its id "a" (Higress ignores it too)`,
				"(root): no provider is active: every request passes through untouched (as in Higress)"}},
		{"console shape: global providers, rules pick by service", `{"providers": [
				{"id": "ds", "type": "deepseek", "apiTokens": ["k1"]}, {"id": "ms", "type": "moonshot", "apiTokens": ["k2"]}],
			"_rules_": [{"_match_service_": ["llm-ms.internal.dns"], "activeProviderId": "ms"},
				{"_match_service_": ["llm-ds.internal.dns"], "activeProviderId": "ds"}]}`,
			"", []string{"moonshot", "deepseek"}, []string{
				"activeProviderId: absent: requests that no rule matches pass through untouched (as in Higress)"}},
		{"a rule never inherits the global activeProviderId", `{"activeProviderId": "a", "providers": [{"id": "a", "type": "deepseek", "apiTokens": ["k"]}],
			"_rules_": [{"_match_route_": ["r1"]}, {"_match_route_": ["r2"], "activeProviderId": ""}]}`,
			"deepseek", []string{"", ""}, []string{
				"_rules_[0]: has no provider and no activeProviderId: its requests pass through untouched (as in Higress: a rule does not inherit the top level's activeProviderId)"}},
		{"a rule's own providers replace the inherited ones", `{"providers": [{"id": "a", "type": "deepseek", "apiTokens": ["k"]}],
			"_rules_": [{"_match_route_": ["r"], "activeProviderId": "a", "providers": [{"id": "a", "type": "moonshot", "apiTokens": ["k2"]}]}]}`,
			"", []string{"moonshot"}, []string{
				`providers[0]: not checked and never used: no activeProviderId names its id "a" (Higress ignores it too)`,
				"activeProviderId: absent: requests that no rule matches pass through untouched (as in Higress)"}},
		{"rules only: no global", `_rules_: [{_match_domain_: ["*.a.com"], provider: {type: deepseek, apiTokens: [k]}}]`,
			"", []string{"deepseek"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.config))
			require.NoError(t, err)
			global, rules := shape(cfg)
			require.Equal(t, tc.global, global)
			require.Equal(t, tc.rules, rules)
			require.Equal(t, tc.warnings, cfg.Warnings)
		})
	}
}

// TestParse_SharedEntryParsedOnce: two rules naming one entry share its
// block (one pool), and its warnings appear once.
func TestParse_SharedEntryParsedOnce(t *testing.T) {
	cfg, err := Parse([]byte(`{"providers": [{"id": "a", "type": "deepseek", "apiTokens": ["k"], "timeout": 5}],
		"_rules_": [{"_match_route_": ["r1"], "activeProviderId": "a"}, {"_match_route_": ["r2"], "activeProviderId": "a"}]}`))
	require.NoError(t, err)
	require.Same(t, cfg.Rules[0].Block, cfg.Rules[1].Block)
	require.Equal(t, []string{
		"providers[0].timeout: ignored: in Higress it bounds only context-file fetches",
		"activeProviderId: absent: requests that no rule matches pass through untouched (as in Higress)"}, cfg.Warnings)
}

// TestParse_RuleCategories: a rule keeps only its category's lists, as
// Higress matches it (route with service, else domain, else service, else
// route prefix); single strings and empty entries are read leniently.
func TestParse_RuleCategories(t *testing.T) {
	const p = `provider: {type: deepseek, apiTokens: [k]}`
	tests := []struct {
		name, rule string
		want       Rule
		warnings   []string
	}{
		{"route beats domain and prefix", `{_match_route_: [r], _match_domain_: [d], _match_route_prefix_: [p], ` + p + `}`,
			Rule{Routes: []string{"r"}}, []string{
				"_rules_[0]._match_domain_: ignored because the rule has _match_route_ (Higress matches a rule by one category: route (with service), else domain, else service, else route prefix)",
				"_rules_[0]._match_route_prefix_: ignored because the rule has _match_route_ (Higress matches a rule by one category: route (with service), else domain, else service, else route prefix)"}},
		{"route and service both kept", `{_match_route_: [r], _match_service_: ["s.dns:80"], ` + p + `}`,
			Rule{Routes: []string{"r"}, Services: []string{"s.dns:80"}}, nil},
		{"domain beats service", `{_match_domain_: [d], _match_service_: [s], ` + p + `}`,
			Rule{Domains: []string{"d"}}, []string{
				"_rules_[0]._match_service_: ignored because the rule has _match_domain_ (Higress matches a rule by one category: route (with service), else domain, else service, else route prefix)"}},
		{"service beats route prefix", `{_match_service_: [s], _match_route_prefix_: [p], ` + p + `}`,
			Rule{Services: []string{"s"}}, []string{
				"_rules_[0]._match_route_prefix_: ignored because the rule has _match_service_ (Higress matches a rule by one category: route (with service), else domain, else service, else route prefix)"}},
		{"route prefix alone", `{_match_route_prefix_: [ns/], ` + p + `}`, Rule{RoutePrefixes: []string{"ns/"}}, nil},
		{"single string and empty entry", `{_match_route_: r, _match_domain_: ["", "*.x"], ` + p + `}`,
			Rule{Routes: []string{"r"}}, []string{
				`_rules_[0]._match_route_: string "r", read as a list of one`,
				"_rules_[0]._match_domain_[0]: empty, dropped",
				"_rules_[0]._match_domain_: ignored because the rule has _match_route_ (Higress matches a rule by one category: route (with service), else domain, else service, else route prefix)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("_rules_: [" + tc.rule + "]"))
			require.NoError(t, err)
			got := cfg.Rules[0]
			got.Block = nil
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.warnings, cfg.Warnings)
		})
	}
}

// countingRoute is a Route that counts the property reads.
type countingRoute struct {
	route, cluster string
	calls          int
}

func (r *countingRoute) RouteName() string   { r.calls++; return r.route }
func (r *countingRoute) ClusterName() string { r.calls++; return r.cluster }

// TestRule_Matches pins each category's semantics (see Rule).
func TestRule_Matches(t *testing.T) {
	const cluster = "outbound|443||llm-a.internal.dns"
	tests := []struct {
		name                      string
		rule                      Rule
		authority, route, cluster string
		want                      bool
	}{
		{"route exact", Rule{Routes: []string{"ns/r"}}, "h", "ns/r", "", true},
		{"route is case-sensitive", Rule{Routes: []string{"ns/r"}}, "h", "NS/r", "", false},
		{"route prefix", Rule{RoutePrefixes: []string{"ns/"}}, "h", "ns/r", "", true},
		{"route prefix miss", Rule{RoutePrefixes: []string{"ns/"}}, "h", "other/r", "", false},
		{"domain suffix, port stripped", Rule{Domains: []string{"*.example.com"}}, "api.example.com:8443", "", "", true},
		{"domain suffix without dot", Rule{Domains: []string{"*example.com"}}, "badexample.com", "", "", true},
		{"domain needs its dot", Rule{Domains: []string{"*.example.com"}}, "example.com", "", "", false},
		{"domain prefix", Rule{Domains: []string{"api.*"}}, "api.internal", "", "", true},
		{"domain ignores case", Rule{Domains: []string{"API.Example.com"}}, "api.example.COM", "", "", true},
		{"domain ipv6 keeps brackets", Rule{Domains: []string{"[::1]"}}, "[::1]:80", "", "", true},
		{"service fqdn, any port", Rule{Services: []string{"llm-a.internal.dns"}}, "h", "", cluster, true},
		{"service fqdn:port", Rule{Services: []string{"llm-a.internal.dns:443"}}, "h", "", cluster, true},
		{"service wrong port", Rule{Services: []string{"llm-a.internal.dns:80"}}, "h", "", cluster, false},
		{"service plain Envoy cluster", Rule{Services: []string{"llm"}}, "h", "", "llm", true},
		{"service is case-sensitive", Rule{Services: []string{"LLM-a.internal.dns"}}, "h", "", cluster, false},
		{"route and service: both", Rule{Routes: []string{"r"}, Services: []string{"llm-a.internal.dns"}}, "h", "r", cluster, true},
		{"route and service: service misses", Rule{Routes: []string{"r"}, Services: []string{"other.dns"}}, "h", "r", cluster, false},
		{"no lists never matches", Rule{}, "h", "r", cluster, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingRoute{route: tc.route, cluster: tc.cluster}
			require.Equal(t, tc.want, tc.rule.Matches(tc.authority, r))
			if len(tc.rule.Routes)+len(tc.rule.RoutePrefixes)+len(tc.rule.Services) == 0 {
				require.Zero(t, r.calls, "a domain rule reads no property")
			}
		})
	}
}

// TestParse_GenericHostAndTokens pins genericHost and host, the token
// exfiltration guard, no-token pass-through and the singular apiToken.
func TestParse_GenericHostAndTokens(t *testing.T) {
	cfg, err := Parse([]byte(`{"provider": {"type": "generic", "apiTokens": ["k"], "genericHost": "http://127.0.0.1:8080"}}`))
	require.NoError(t, err)
	require.Equal(t, []string{`provider.genericHost: a URL: http:// cut, read as the host "127.0.0.1:8080"`}, cfg.Warnings)

	_, err = Parse([]byte(`provider: {type: generic, apiTokens: [k], genericHost: a.internal, host: b.internal}`))
	require.EqualError(t, err, "provider.genericHost: and host differ: set one (host is this plugin's name for it)")

	cfg, err = Parse([]byte(`provider: {type: generic}`))
	require.NoError(t, err, "no tokens and no host: Higress keeps the client's host and auth; nothing of ours is sent")
	require.True(t, cfg.Global.PassClientAuth)
	require.Empty(t, cfg.Global.Tokens)
	require.Empty(t, cfg.Global.PoolID)
	require.Equal(t, "generic", cfg.Global.Name)

	cfg, err = Parse([]byte(`provider: {type: openai, apiToken: sk-1, authHeaderKey: X-My-Key, failover: {enabled: true}}`))
	require.NoError(t, err)
	require.Equal(t, []string{
		"provider.apiToken: unknown field, did you mean apiTokens?",
		"provider.apiTokens: none: the client's own auth header goes upstream, and this block does no failover (as in Higress): its failover and retryOnFailure settings are off",
	}, cfg.Warnings, "one warning says it all (issue 24 item 3)")
	require.True(t, cfg.Global.PassClientAuth)
	require.False(t, cfg.Global.Failover.Enabled)
	require.Equal(t, []string{"x-my-key", "x-api-key", "x-authorization", "authorization"}, cfg.Global.ClientKeyHeaders)

	_, err = Parse([]byte(`provider: {type: deepseek, apiToken: sk-1}`))
	require.EqualError(t, err, "provider.apiTokens: is required: a list of at least one token")

	cfg, err = Parse([]byte(`provider: {type: ollama, apiTokens: [k], ollamaServerHost: o.local, ollamaServerPort: "11434"}`))
	require.NoError(t, err)
	require.True(t, cfg.Global.PassClientAuth)
	require.Empty(t, cfg.Global.ClientKeyHeaders)
	require.Equal(t, []string{
		"provider.ollamaServerPort: string \"11434\", read as the number 11434",
		"provider.apiTokens: ignored for type ollama: Higress sets no auth header for it, so the client's own header passes",
	}, cfg.Warnings)
}

// TestParse_DuplicateTokensDropped: a later duplicate is dropped, naming
// both positions; the tokens after it move up.
func TestParse_DuplicateTokensDropped(t *testing.T) {
	cfg, err := Parse([]byte(`provider: {type: deepseek, apiTokens: [ka, kb, ka, kc]}`))
	require.NoError(t, err)
	b := cfg.Global
	require.Len(t, b.Tokens, 3)
	require.Equal(t, "kc", b.Tokens[2].Secret())
	require.Equal(t, 2, b.Tokens[2].Index)
	same, err := Parse([]byte(`provider: {type: deepseek, apiTokens: [ka, kb, kc]}`))
	require.NoError(t, err)
	require.Equal(t, same.Global.PoolID, b.PoolID, "the same kept tokens, the same pool")
	require.Equal(t, []string{"provider.apiTokens[2]: duplicates apiTokens[0] (fingerprint " + b.Tokens[0].Fingerprint +
		"): dropped, as a token's state is kept by position and the same key twice would fail over to itself (Higress keeps both); " +
		"the tokens after it are numbered one lower"}, cfg.Warnings)
}
