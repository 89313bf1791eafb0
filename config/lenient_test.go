package config

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/provider"
)

// TestParse_LenientValuesLikeHigress pins each lenient form Higress takes
// (higress-facts.md section 2): accepted, with one warning naming the
// field and what it was read as.
func TestParse_LenientValuesLikeHigress(t *testing.T) {
	tests := []struct {
		name, config string
		check        func(t *testing.T, b *ProviderBlock)
		warnings     []string
	}{
		{"integer as a string", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "failover": {"failureThreshold": "5"}}}`,
			func(t *testing.T, b *ProviderBlock) {
				require.Equal(t, uint32(5), b.Failover.Settings.FailureThreshold)
			},
			[]string{`provider.failover.failureThreshold: string "5", read as the number 5`}},
		{"boolean as a string", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "failover": {"enabled": "true"}}}`,
			func(t *testing.T, b *ProviderBlock) { require.True(t, b.Failover.Enabled) },
			[]string{`provider.failover.enabled: string "true", read as true`}},
		{"boolean as 1", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "retryOnFailure": {"enabled": 1}}}`,
			func(t *testing.T, b *ProviderBlock) { require.True(t, b.Retry.Enabled) },
			[]string{`provider.retryOnFailure.enabled: number 1, read as true`}},
		{"boolean as \"FALSE\"", `{"provider": {"type": "qwen", "apiTokens": ["k"], "qwenEnableCompatible": "TRUE"}}`,
			func(t *testing.T, b *ProviderBlock) { require.Equal(t, "qwen", b.Provider.Type()) },
			[]string{`provider.qwenEnableCompatible: string "TRUE", read as true`}},
		{"null console fields", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "failover": {"enabled": true,
			"failureThreshold": null, "successThreshold": null, "healthCheckInterval": null, "healthCheckTimeout": null,
			"healthCheckModel": null}, "retryOnFailure": {"enabled": true}}}`,
			func(t *testing.T, b *ProviderBlock) {
				require.Equal(t, uint32(DefaultFailureThreshold), b.Failover.Settings.FailureThreshold)
				require.Equal(t, "", b.Failover.HealthCheckModel)
			},
			[]string{"provider.failover.failureThreshold: null, read as absent", "provider.failover.successThreshold: null, read as absent",
				"provider.failover.healthCheckInterval: null, read as absent", "provider.failover.healthCheckTimeout: null, read as absent",
				"provider.failover.healthCheckModel: null, read as absent"}},
		{"0 means the default", `provider: {type: deepseek, apiTokens: [k], failover: {failureThreshold: 0, successThreshold: 0,
			healthCheckInterval: 0, healthCheckTimeout: 0}, retryOnFailure: {maxRetries: 0, retryTimeout: 0}}`,
			func(t *testing.T, b *ProviderBlock) {
				require.Equal(t, uint32(DefaultFailureThreshold), b.Failover.Settings.FailureThreshold)
				require.Equal(t, uint32(DefaultSuccessThreshold), b.Failover.Settings.SuccessThreshold)
				require.Equal(t, int64(DefaultHealthCheckInterval), b.Failover.Settings.HealthCheckInterval)
				require.Equal(t, int64(DefaultHealthCheckTimeout), b.Failover.HealthCheckTimeout)
				require.Equal(t, int64(1), b.Retry.MaxRetries)
				require.Equal(t, int64(DefaultRetryTimeout), b.Retry.TimeoutMs)
			},
			[]string{"provider.failover.failureThreshold: 0, read as the default 3 (as Higress does)",
				"provider.failover.successThreshold: 0, read as the default 1 (as Higress does)",
				"provider.failover.healthCheckInterval: 0, read as the default 5000 (as Higress does)",
				"provider.failover.healthCheckTimeout: 0, read as the default 5000 (as Higress does)",
				"provider.retryOnFailure.maxRetries: 0, read as the default 1 (as Higress does)",
				"provider.retryOnFailure.retryTimeout: 0, read as the default 30000 (as Higress does)"}},
		{"cooldownDuration 0 stays off", `provider: {type: deepseek, apiTokens: [k], failover: {cooldownDuration: "0"}}`,
			func(t *testing.T, b *ProviderBlock) { require.Zero(t, b.Failover.Settings.CooldownDuration) },
			[]string{`provider.failover.cooldownDuration: string "0", read as the number 0`}},
		{"single status string", `provider: {type: deepseek, apiTokens: [k], failover: {failoverOnStatus: "5xx"}}`,
			func(t *testing.T, b *ProviderBlock) { require.True(t, b.Failover.Patterns.Match(503)) },
			[]string{`provider.failover.failoverOnStatus: string "5xx", read as a list of one`}},
		{"status numbers", `provider: {type: deepseek, apiTokens: [k], retryOnFailure: {retryOnStatus: [503, "429"]}}`,
			func(t *testing.T, b *ProviderBlock) {
				require.True(t, b.Retry.Patterns.Match(503))
				require.False(t, b.Retry.Patterns.Match(500))
			},
			[]string{`provider.retryOnFailure.retryOnStatus[0]: number 503, read as the string "503"`}},
		{"single status number", `provider: {type: deepseek, apiTokens: [k], retryOnFailure: {retryOnStatus: 503}}`,
			func(t *testing.T, b *ProviderBlock) { require.True(t, b.Retry.Patterns.Match(503)) },
			[]string{`provider.retryOnFailure.retryOnStatus: number 503, read as a list of one`}},
		{"empty status list is the default", `provider: {type: deepseek, apiTokens: [k], failover: {failoverOnStatus: []}}`,
			func(t *testing.T, b *ProviderBlock) { require.Nil(t, b.Failover.Patterns) },
			[]string{"provider.failover.failoverOnStatus: an empty list, read as absent: the default failure statuses apply"}},
		{"single token string", `provider: {type: deepseek, apiTokens: sk-single}`,
			func(t *testing.T, b *ProviderBlock) { require.Len(t, b.Tokens, 1) },
			[]string{"provider.apiTokens: a single string, read as a list of one token"}},
		{"null mapping target keeps the model", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "modelMapping": {"gpt-4": null, "*": "x"}}}`,
			func(t *testing.T, b *ProviderBlock) { require.Equal(t, "gpt-4", b.Mapping.Map("gpt-4")) },
			[]string{"provider.modelMapping.gpt-4: null, read as an empty target (the model is kept)"}},
		{"null failover object", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "failover": null}}`,
			func(t *testing.T, b *ProviderBlock) { require.False(t, b.Failover.Enabled) },
			[]string{"provider.failover: null, read as absent"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.config))
			require.NoError(t, err)
			tc.check(t, cfg.Global)
			require.Equal(t, tc.warnings, cfg.Warnings)
		})
	}
}

// TestParse_LenientStopsAtAmbiguity: forms whose meaning is not clear are
// still refused, naming the field, never quoting a secret.
func TestParse_LenientStopsAtAmbiguity(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"yes is not a boolean", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "failover": {"enabled": "yes"}}}`,
			`provider.failover.enabled: must be true or false, got string "yes"`},
		{"2 is not a boolean", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "failover": {"enabled": 2}}}`,
			"provider.failover.enabled: must be true or false, got number 2"},
		{"a fraction", `provider: {type: deepseek, apiTokens: [k], failover: {failureThreshold: 2.5}}`,
			"provider.failover.failureThreshold: must be a whole number, got number 2.5"},
		{"a unit", `provider: {type: deepseek, apiTokens: [k], failover: {healthCheckInterval: "5s"}}`,
			`provider.failover.healthCheckInterval: must be a whole number, got string "5s"`},
		{"negative string", `provider: {type: deepseek, apiTokens: [k], retryOnFailure: {maxRetries: "-1"}}`,
			"provider.retryOnFailure.maxRetries: must be >= 1, got -1"},
		{"invalid regex", `provider: {type: deepseek, apiTokens: [k], modelMapping: {"~(": x}}`,
			"provider.modelMapping: key \"~(\": invalid regex: error parsing regexp: missing closing ): `(`"},
		{"a providers object", `{"providers": {"id": "a", "type": "deepseek"}, "activeProviderId": "a"}`,
			"providers: must be a list of provider objects, got an object"},
		{"a list of lists for a match key", `_rules_: [{_match_route_: [[r]], provider: {type: deepseek, apiTokens: [k]}}]`,
			"_rules_[0]._match_route_[0]: must be a string, got a list\n_rules_[0]: needs _match_route_, _match_domain_, _match_service_ or _match_route_prefix_ with at least one non-empty entry"},
		{"a secret where a number goes", `{"provider": {"type": "deepseek", "apiTokens": ["k"], "failover": {"failureThreshold": "sk-Abc123def456GHI789"}}}`,
			"provider.failover.failureThreshold: must be a whole number, got a string of 21 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.config))
			require.EqualError(t, err, tc.want)
		})
	}
}

// TestParse_WarningsSurviveARefusal: every warning is returned with the
// error, so an operator fixing one error sees every unknown field too.
func TestParse_WarningsSurviveARefusal(t *testing.T) {
	cfg, err := Parse([]byte(`{"provider": {"type": "deepseek", "apiToken": "k", "timout": 5, "version": "2023-06-01",
		"failover": {"enabled": "true", "failureThreshhold": 2}}}`))
	require.EqualError(t, err, "provider.apiTokens: is required: a list of at least one token")
	require.Nil(t, cfg.Global)
	require.Equal(t, []string{
		"provider.apiToken: unknown field, did you mean apiTokens?",
		"provider.timout: unknown field, did you mean timeout?",
		"provider.version: has no effect: Higress does not read it either; the anthropic-version header comes from claudeVersion, else apiVersion (default 2023-06-01)",
		"provider.failover.failureThreshhold: unknown field, did you mean failureThreshold?",
		`provider.failover.enabled: string "true", read as true`,
	}, cfg.Warnings)
}

// TestParse_ProviderFieldsByType pins the warnings for Higress fields that
// do nothing here or for this type, and the routing fields' refusals.
func TestParse_ProviderFieldsByType(t *testing.T) {
	cfg, err := Parse([]byte(`{"provider": {"type": "deepseek", "apiTokens": ["k"], "qwenDomain": "x.example.com",
		"customSettings": [], "awsRegion": "us-east-1", "capabilities": {"openai/v1/embeddings": "/e", "openai/v1/models": "/m",
		"kling/v1/image2video": "/k"}, "basePathHandling": "prepend"}}`))
	require.NoError(t, err)
	require.Equal(t, []string{
		"provider.qwenDomain: has no effect for type deepseek (only for qwen)",
		"provider.customSettings: ignored: a request-body edit; this plugin changes only the model",
		"provider.awsRegion: has no effect for type deepseek (only for bedrock)",
		"provider.basePathHandling: has no effect without basePath",
		"provider.capabilities.openai/v1/models: ignored: not an API name Higress accepts (it drops the entry too)",
		"provider.capabilities.kling/v1/image2video: ignored: not supported here (a video or kling API)",
	}, cfg.Warnings)

	cfg, err = Parse([]byte(`provider: {type: generic, modelMapping: {a: b}, basePath: /p, basePathHandling: strip}`))
	require.NoError(t, err)
	require.Equal(t, []string{
		`provider.basePathHandling: "strip" has no effect, and basePath is not applied (Higress knows only removePrefix, the default, and prepend)`,
		"provider.modelMapping: ignored: Higress does no model mapping for type generic (the body passes untouched)",
		"provider.apiTokens: none: the client's own auth header goes upstream, and this block does no failover (as in Higress)",
	}, cfg.Warnings)
	require.Nil(t, cfg.Global.Mapping)

	cfg, err = Parse([]byte(`provider: {type: qwen, apiTokens: [k], protocol: original, modelMapping: {a: b}}`))
	require.NoError(t, err)
	require.Equal(t, []string{"provider.modelMapping: ignored with protocol: original (the body passes untouched, as in Higress)"}, cfg.Warnings)
	require.Nil(t, cfg.Global.Mapping)

	for config, want := range map[string]string{
		`provider: {type: deepseek, apiTokens: [k], basePath: proxy}`:                           `provider.basePath: must start with '/', got "proxy"`,
		`provider: {type: deepseek, apiTokens: [k], providerDomain: "a.com/x"}`:                 `provider.providerDomain: must be a host or host:port, got "a.com/x"`,
		`provider: {type: claude, apiTokens: [k], claudeCodeMode: true}`:                        "provider.claudeCodeMode: true is not supported: it sends a Claude Code OAuth token as Bearer with the Claude CLI's own headers; use API keys with x-api-key (the default)",
		`provider: {type: triton, apiTokens: [k]}`:                                              "provider.protocol: openai (the default) is not supported for type triton: Higress converts OpenAI chat completions to Triton's /v2/models/<model>/generate, this plugin converts no protocol",
		`provider: {type: deepseek, apiTokens: [k], capabilities: {"openai/v1/embeddings": e}}`: `provider.capabilities.openai/v1/embeddings: must be a path starting with '/', got "e"`,
	} {
		_, err := Parse([]byte(config))
		require.EqualError(t, err, want, config)
	}
}

// TestParse_ClaudeVersionThenAPIVersion: claudeVersion wins, else
// apiVersion, else the default; "version" is not read (as in Higress).
func TestParse_ClaudeVersionThenAPIVersion(t *testing.T) {
	for config, want := range map[string]string{
		`provider: {type: claude, apiTokens: [k], claudeVersion: "2024-01-01", apiVersion: "2023-01-01"}`: "2024-01-01",
		`provider: {type: claude, apiTokens: [k], apiVersion: "2023-01-01"}`:                              "2023-01-01",
		`provider: {type: claude, apiTokens: [k], version: "2099-01-01"}`:                                 "2023-06-01",
	} {
		cfg, err := Parse([]byte(config))
		require.NoError(t, err)
		auth := cfg.Global.Provider.Auth(provider0(), "k")
		require.Equal(t, want, auth[1][1], config)
	}
}

func provider0() provider.Head { return provider.Head{Method: "POST", Path: "/v1/messages"} }

func TestParse_HostOfAzureAndOllamaWarns(t *testing.T) {
	cfg, err := Parse([]byte(`provider: {type: azure, apiTokens: [k], host: x.example.com, azureServiceUrl: "https://r.openai.azure.com/openai/v1"}`))
	require.NoError(t, err)
	require.Equal(t, []string{"provider.host: has no effect for type azure (its host comes from azureServiceUrl; providerDomain replaces any host)"}, cfg.Warnings)
}
