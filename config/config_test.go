package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse_HigressFailoverYAMLAndJSONAgree(t *testing.T) {
	var pools []*ProviderBlock
	for _, f := range []string{"higress-failover.yaml", "higress-failover.json"} {
		raw, err := os.ReadFile("../testdata/config/" + f)
		require.NoError(t, err)
		cfg, err := Parse(raw)
		require.NoError(t, err, f)
		require.Empty(t, cfg.Warnings, f)
		p := cfg.Global
		require.Equal(t, "qwen", p.Provider.Type())
		require.Len(t, p.Tokens, 3)
		require.True(t, p.Failover.Enabled)
		require.Equal(t, uint32(3), p.Failover.Settings.FailureThreshold)
		require.Equal(t, int64(5000), p.Failover.Settings.HealthCheckInterval)
		require.Equal(t, "gpt-3", p.Failover.HealthCheckModel)
		for in, want := range map[string]string{"gpt-3": "qwen-turbo", "gpt-4-turbo": "qwen-max", "other": "qwen-turbo"} {
			require.Equal(t, want, p.Mapping.Map(in), f)
		}
		pools = append(pools, p)
	}
	require.Equal(t, pools[0].PoolID, pools[1].PoolID, "same config, same pool identity, same shared state")
}

func TestParse_DefaultsOnlyForAbsentFields(t *testing.T) {
	cfg, err := Parse([]byte("provider: {type: openai, apiTokens: [a], failover: {enabled: true, cooldownDuration: 0}}"))
	require.NoError(t, err)
	f := cfg.Global.Failover
	require.Equal(t, uint32(DefaultFailureThreshold), f.Settings.FailureThreshold)
	require.Equal(t, uint32(DefaultSuccessThreshold), f.Settings.SuccessThreshold)
	require.Equal(t, int64(DefaultHealthCheckInterval), f.Settings.HealthCheckInterval)
	require.Equal(t, int64(0), f.Settings.CooldownDuration)
	require.False(t, f.RejectWhenAllDown)
	require.Equal(t, "random", cfg.Global.Selection)
}

func TestParse_RefusesBadConfigNamingTheField(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{"malformed json", `{"provider": {"type": "openai",}`, "configuration is not valid JSON"},
		{"malformed yaml", "provider:\n  type: [openai\n", "configuration is not valid YAML"},
		{"empty", "   ", "configuration is empty"},
		{"no provider", `{"other": 1}`, "provider: is required (or providers with activeProviderId, or _rules_, or a status alone)"},
		{"a WasmPlugin resource", "apiVersion: extensions.higress.io/v1alpha1\nkind: WasmPlugin\nspec: {defaultConfigDisable: true}", `(root): is a Kubernetes resource (kind "WasmPlugin"), not the plugin's configuration`},
		{"provider not object", `provider: openai`, "provider: must be an object, got string"},
		{"missing type", `provider: {apiTokens: [a]}`, "provider.type: is required"},
		{"unknown type", `provider: {type: opanai, apiTokens: [a]}`, `provider.type: unknown provider "opanai"`},
		{"missing apiTokens", `provider: {type: deepseek}`, "provider.apiTokens: is required"},
		{"empty apiTokens", `provider: {type: deepseek, apiTokens: []}`, "provider.apiTokens: must hold at least one token, got an empty list"},
		{"apiTokens not a list", `provider: {type: openai, apiTokens: 5}`, `provider.apiTokens: must be a list of strings, got number 5`},
		{"token with a control character", `{"provider": {"type": "openai", "apiTokens": ["ab\u0000c"]}}`, "provider.apiTokens[0]: has a character not allowed in a header (byte 0x00 at position 2)"},
		{"blank token", `provider: {type: openai, apiTokens: ["a", " "]}`, `provider.apiTokens[1]: must not be empty (it would send "Bearer " with no key)`},
		{"empty token", `provider: {type: openai, apiTokens: [""]}`, `provider.apiTokens[0]: must not be empty`},
		{"number token", `{"provider": {"type": "openai", "apiTokens": [12345678901234567890]}}`, "provider.apiTokens[0]: must be a string, got a number (quote it: a token read as a number may have lost digits)"},
		{"negative threshold", `provider: {type: openai, apiTokens: [a], failover: {enabled: true, failureThreshold: -1}}`, "provider.failover.failureThreshold: must be >= 1, got -1"},
		{"negative success threshold", `provider: {type: openai, apiTokens: [a], failover: {successThreshold: -2}}`, "provider.failover.successThreshold: must be >= 1, got -2"},
		{"threshold with unit", `provider: {type: openai, apiTokens: [a], failover: {failureThreshold: "3ms"}}`, `provider.failover.failureThreshold: must be a whole number, got string "3ms"`},
		{"threshold 3.0 string", `provider: {type: openai, apiTokens: [a], failover: {failureThreshold: "3.0"}}`, `provider.failover.failureThreshold: must be a whole number, got string "3.0"`},
		{"empty status pattern", `provider: {type: openai, apiTokens: [a], failover: {failoverOnStatus: [""]}}`, `provider.failover.failoverOnStatus[0]: must not be empty (Higress's unanchored match would count every status; write "[0-9]xx" for that)`},
		{"status pattern object", `provider: {type: openai, apiTokens: [a], retryOnFailure: {retryOnStatus: [{a: 1}]}}`, "provider.retryOnFailure.retryOnStatus[0]: must be a string, got an object"},
		{"negative interval", `provider: {type: openai, apiTokens: [a], failover: {healthCheckInterval: -5}}`, "provider.failover.healthCheckInterval: must be >= 1, got -5"},
		{"negative cooldown", `provider: {type: openai, apiTokens: [a], failover: {cooldownDuration: -1}}`, "provider.failover.cooldownDuration: must be >= 0, got -1"},
		{"threshold wrong type", `provider: {type: openai, apiTokens: [a], failover: {failureThreshold: "three"}}`, `provider.failover.failureThreshold: must be a whole number, got string "three"`},
		{"threshold fraction", `provider: {type: openai, apiTokens: [a], failover: {failureThreshold: 2.5}}`, "provider.failover.failureThreshold: must be a whole number, got number 2.5"},
		{"enabled wrong type", `{"provider": {"type": "openai", "apiTokens": ["a"], "failover": {"enabled": "yes"}}}`, `provider.failover.enabled: must be true or false, got string "yes"`},
		{"bad regex", `provider: {type: openai, apiTokens: [a], modelMapping: {"~gpt-(": x}}`, `provider.modelMapping: key "~gpt-(": invalid regex`},
		{"mapping target not string", `provider: {type: openai, apiTokens: [a], modelMapping: {gpt-4: 4}}`, "provider.modelMapping.gpt-4: target must be a string, got number 4"},
		{"bad status pattern", `provider: {type: openai, apiTokens: [a], failover: {failoverOnStatus: ["5(x"]}}`, "provider.failover.failoverOnStatus: \"5(x\" is not a valid pattern"},
		{"bad allTokensDown", `provider: {type: openai, apiTokens: [a], failover: {allTokensDown: drop}}`, `provider.failover.allTokensDown: must be one of fallback, reject, got "drop"`},
		{"azure without url", `provider: {type: azure, apiTokens: [a]}`, "provider.azureServiceUrl: is required for type azure"},
		{"azure without api-version", `provider: {type: azure, apiTokens: [a], azureServiceUrl: "https://x.openai.azure.com/openai/deployments/d/chat/completions"}`, "provider.azureServiceUrl: has no api-version query parameter (only /openai/v1 URLs may omit it)"},
		{"azure domain only, mapping not constant", `provider: {type: azure, apiTokens: [a], azureServiceUrl: "https://x.openai.azure.com?api-version=1", modelMapping: {gpt-4: d1, "*": d2}}`, "provider.azureServiceUrl: names no deployment: with protocol openai (the default) Higress puts the request's mapped model in the path"},
		{"protocol unknown", `provider: {type: openai, apiTokens: [a], protocol: openai/v1}`, `provider.protocol: must be one of openai, original, got "openai/v1"`},
		{"sticky without header", `provider: {type: openai, apiTokens: [a], tokenSelection: sticky}`, "provider.stickyHeader: is required when tokenSelection is sticky"},
		{"empty rules and no provider", `_rules_: []`, "_rules_: must hold at least one rule when there is no provider"},
		{"rules not a list", `{"_rules_": {"a": 1}}`, "_rules_: must be a list, got an object"},
		{"rule without matcher", `_rules_: [{provider: {type: openai, apiTokens: [a]}}]`, "_rules_[0]: needs _match_route_, _match_domain_, _match_service_ or _match_route_prefix_ with at least one non-empty entry"},
		{"rule with only empty matchers", `_rules_: [{_match_route_: [""], provider: {type: openai, apiTokens: [a]}}]`, "_rules_[0]: needs _match_route_"},
		{"rule bad provider", `_rules_: [{_match_route_: [r], provider: {type: deepseek, apiTokens: []}}]`, "_rules_[0].provider.apiTokens: must hold at least one token"},
		{"negative maxRetries", `provider: {type: openai, apiTokens: [a], retryOnFailure: {maxRetries: -1}}`, "provider.retryOnFailure.maxRetries: must be >= 1, got -1"},
		{"threshold that would wrap", `provider: {type: openai, apiTokens: [a], failover: {failureThreshold: 4294967296}}`, "provider.failover.failureThreshold: must be <= 1000000, got 4294967296"},
		{"timeout over a day", `provider: {type: openai, apiTokens: [a], failover: {healthCheckTimeout: 86400001}}`, "provider.failover.healthCheckTimeout: must be <= 86400000"},
		{"huge retry body", `provider: {type: openai, apiTokens: [a], retryOnFailure: {maxBodyBytes: 1073741824}}`, "provider.retryOnFailure.maxBodyBytes: must be <= 16777216"},
		{"control character in host", `{"provider": {"type": "openai", "apiTokens": ["a"], "host": "api.x\r\nx-evil: 1"}}`, "provider.host: has a character not allowed in a header (byte 0x0d at position 5)"},
		{"bad auth header name", `provider: {type: generic, apiTokens: [a], host: h, authHeader: "x key"}`, "provider.authHeader: must be a header name"},
		{"generic without host", `provider: {type: generic, apiTokens: [a]}`, "provider.genericHost: is required for type generic with apiTokens (or host): without it the token goes to whatever host the client names (Higress keeps the client's :authority and sends the token there)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg *Config
			var err error
			require.NotPanics(t, func() { cfg, err = Parse([]byte(tc.config)) })
			require.ErrorContains(t, err, tc.want)
			require.True(t, cfg.Global == nil && cfg.Rules == nil, "a refused config carries only its warnings")
		})
	}
}

func TestParse_CollectsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`provider: {type: nope, apiTokens: [], failover: {failureThreshold: -1}}`))
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 3, err.Error())
}

func TestParse_WarnsOnUnknownFieldsWithSuggestion(t *testing.T) {
	cfg, err := Parse([]byte(`{"provider": {"type": "openai", "apiTokens": ["a"], "protocl": "openai",
		"failover": {"failureThreshhold": 2}}}`))
	require.NoError(t, err)
	require.Equal(t, []string{
		"provider.protocl: unknown field, did you mean protocol?",
		"provider.failover.failureThreshhold: unknown field, did you mean failureThreshold?",
	}, cfg.Warnings)
}

func TestParse_YAMLKeepsMappingOrder(t *testing.T) {
	cfg, err := Parse([]byte("provider:\n  type: openai\n  apiTokens: [a]\n  modelMapping:\n    '~^z(.*)': first-$1\n    '~^.*': second\n"))
	require.NoError(t, err)
	require.Equal(t, "first-abc", cfg.Global.Mapping.Map("zabc"), "regexes apply in the order written")
}

func TestParse_PoolIdentity(t *testing.T) {
	id := func(c string) string {
		cfg, err := Parse([]byte(c))
		require.NoError(t, err)
		return cfg.Global.PoolID
	}
	base := id(`provider: {type: openai, apiTokens: [a, b], failover: {enabled: true}}`)
	for name, same := range map[string]string{
		"mapping":   `provider: {type: openai, apiTokens: [a, b], failover: {enabled: true}, modelMapping: {x: y}}`,
		"threshold": `provider: {type: openai, apiTokens: [a, b], failover: {enabled: true, failureThreshold: 5}}`,
		"interval":  `provider: {type: openai, apiTokens: [a, b], failover: {enabled: true, healthCheckInterval: 900}}`,
		"id":        `provider: {type: openai, id: x, apiTokens: [a, b], failover: {enabled: true}}`,
	} {
		require.Equal(t, base, id(same), "a change of %s keeps the tokens' state", name)
	}
	require.NotEqual(t, base, id(`provider: {type: openai, apiTokens: [b, a], failover: {enabled: true}}`), "state is kept by position")
	require.NotEqual(t, base, id(`provider: {type: openai, apiTokens: [a, b, c], failover: {enabled: true}}`))
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"higress-failover.yaml", "higress-failover.json"} {
		raw, err := os.ReadFile("../testdata/config/" + name)
		if err == nil {
			f.Add(raw)
		}
	}
	higress, _ := filepath.Glob("../testdata/higress/*.yaml")
	for _, name := range higress {
		if raw, err := os.ReadFile(name); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte(`{"providers": [{"id": "a", "type": "ollama", "ollamaServerHost": "o", "ollamaServerPort": "1"}],
		"_rules_": [{"_match_service_": "s", "activeProviderId": "a"}, {"_match_route_prefix_": ["p"]}]}`))
	f.Add([]byte(`_rules_: [{_match_route_: [r], provider: {type: openai, apiTokens: [a]}}]`))
	f.Add([]byte(`{"provider":{"type":"azure","apiTokens":["k"],"azureServiceUrl":"https://a.b/openai/deployments/d/chat/completions?api-version=1"}}`))
	f.Add([]byte("a: &x [*x]"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := Parse(raw)
		if cfg == nil {
			t.Fatalf("Parse returned no Config (error %v)", err)
		}
		empty := cfg.Global == nil && len(cfg.Rules) == 0
		if err != nil && !empty {
			t.Fatalf("a refused config must carry only its warnings: %+v", cfg)
		}
		if err == nil && empty && len(cfg.Warnings) == 0 {
			t.Fatalf("accepted a config with nothing to do, and said nothing")
		}
	})
}

// TestParse_NeverQuotesASecret: config errors and warnings are logged by
// Envoy, so a token pasted into the wrong place (a scalar apiTokens, a
// typo'd key, a token in another field) is described, never quoted.
func TestParse_NeverQuotesASecret(t *testing.T) {
	const tok = "sk-proj-Abc123def456GHI789jkl"
	for _, cfg := range []string{
		`provider: {type: openai, apiTokens: {` + tok + `: 1}}`,
		`provider: {type: openai, apiTokens: [a], failover: {failureThreshold: ` + tok + `}}`,
		`provider: {type: openai, apiTokens: [a], ` + tok + `: 1}`,
		`provider: {type: ` + tok + `, apiTokens: [a]}`,
		`provider: {type: openai, apiTokens: [a], tokenSelection: ` + tok + `}`,
		`provider: {type: openai, apiTokens: [a], modelMapping: {x: 1}, azureServiceUrl: 5, id: [` + tok + `]}`,
	} {
		c, err := Parse([]byte(cfg))
		all := strings.Join(c.Warnings, "\n")
		if err != nil {
			all += "\n" + err.Error()
		}
		require.NotEmpty(t, all, cfg)
		require.NotContains(t, all, tok[3:15], cfg)
	}
}

func TestParse_TokensReadLikeHigressAndTrimmed(t *testing.T) {
	c, err := Parse([]byte("provider: {type: openai, apiTokens: sk-single}"))
	require.NoError(t, err)
	require.Len(t, c.Global.Tokens, 1)
	require.Contains(t, c.Warnings, "provider.apiTokens: a single string, read as a list of one token")
	c, err = Parse([]byte(`{"provider": {"type": "openai", "apiTokens": ["sk-one\n", " sk-two"]}}`))
	require.NoError(t, err)
	require.Equal(t, "sk-one", c.Global.Tokens[0].Secret())
	require.Equal(t, "sk-two", c.Global.Tokens[1].Secret())
	require.Equal(t, []string{"provider.apiTokens[0]: surrounding whitespace trimmed", "provider.apiTokens[1]: surrounding whitespace trimmed"}, c.Warnings)
}

func TestParse_UpstreamMode(t *testing.T) {
	c, err := Parse([]byte("mode: upstream\nprovider: {type: openai, apiTokens: [a]}"))
	require.NoError(t, err)
	require.True(t, c.Upstream)
	_, err = Parse([]byte("mode: upstream\nprovider: {type: openai, apiTokens: [a], retryOnFailure: {enabled: true}}"))
	require.ErrorContains(t, err, "provider.retryOnFailure.enabled: must be false with mode: upstream")
	_, err = Parse([]byte("mode: sideways\nprovider: {type: openai, apiTokens: [a]}"))
	require.ErrorContains(t, err, `mode: must be one of downstream, upstream, got "sideways"`)
}

// TestParse_ModelMappingAsWritten: a ~regex key is kept as written (its
// trailing * included) and an empty target keeps the model; Higress
// differs on both (see provider.Mapping). Precedence is ours, whatever the
// order written.
func TestParse_ModelMappingAsWritten(t *testing.T) {
	cfg, err := Parse([]byte(`{"provider": {"type": "deepseek", "apiTokens": ["k"], "modelMapping": {
		"~gpt-.*": "qwen", "~^o(\\d)": "", "gpt-4*": "prefix", "gpt-4o": "exact", "*": "rest"}}}`))
	require.NoError(t, err)
	require.Empty(t, cfg.Warnings)
	m := cfg.Global.Mapping
	for in, want := range map[string]string{"gpt-4o": "exact", "gpt-4-turbo": "prefix", "gpt-3.5": "qwen", "o1-mini": "o1-mini", "x": "rest"} {
		require.Equal(t, want, m.Map(in), in)
	}
}
