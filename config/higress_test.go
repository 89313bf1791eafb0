package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// higressFiles are the Higress configurations of testdata/higress (each
// file's header says where it comes from and what Higress sends upstream;
// plugin/higress_fixtures_test.go checks the upstream request). Here: the
// verdict and every warning.
var higressFiles = []struct {
	file string
	// err is the whole error when refused: where Higress refuses too, or
	// where we deliberately differ (why: in the comment).
	err      string
	warnings []string
	check    func(t *testing.T, c *Config)
}{
	{file: "01-e2e-ai360.yaml", check: global("ai360", 1)},
	{file: "02-e2e-github.yaml", check: global("github", 1)},
	{file: "03-e2e-groq.yaml", check: global("groq", 1)},
	{file: "04-e2e-doubao.yaml", check: global("doubao", 1)},
	{file: "05-e2e-qwen-compatible.yaml", check: global("qwen", 1)},
	// Refused on purpose: Higress starts and sends every request to
	// /client/v4/accounts//ai/..., which Cloudflare cannot serve.
	{file: "06-e2e-cloudflare-no-account-id.yaml",
		err: "provider.cloudflareAccountId: is required for type cloudflare: it is part of every path (Higress does not check it and sends /client/v4/accounts//ai/v1/chat/completions, which Cloudflare cannot serve)"},
	// The whole WasmPlugin resource is not a plugin configuration (Higress's
	// controller hands the plugin its rules); see TestParse_HigressWasmPluginRules.
	{file: "07-e2e-openai-wasmplugin.yaml",
		err: `(root): is a Kubernetes resource (kind "WasmPlugin"), not the plugin's configuration: give the plugin spec.defaultConfig, with each spec.matchRules[] entry as a _rules_ entry (its config fields beside _match_route_ for ingress, _match_domain_ for domain, _match_service_ for service)`},
	// Invalid YAML as written (Higress never sees it either: the controller
	// sends JSON); see TestParse_HigressAzureReadmeWithoutTheComma.
	{file: "08-readme-azure-v1-base-invalid-yaml.yaml", err: "configuration is not valid YAML: yaml: line 12: did not find expected key"},
	{file: "09-readme-qwen-original-providers.yaml", check: func(t *testing.T, c *Config) {
		global("qwen", 1)(t, c)
		require.Nil(t, c.Global.Mapping, "protocol original leaves the body alone")
	}},
	{file: "10-readme-doubao-providers.yaml", check: global("doubao", 1),
		warnings: []string{"providers[0].timeout: ignored: in Higress it bounds only context-file fetches"}},
	{file: "11-readme-claude-auto-protocol.yaml", check: global("claude", 1),
		warnings: []string{"provider.version: has no effect: Higress does not read it either; the anthropic-version header comes from claudeVersion, else apiVersion (default 2023-06-01)"}},
	{file: "12-readme-spark.yaml", check: global("spark", 1)},
	{file: "13-readme-openrouter.yaml", check: global("openrouter", 1)},
	// Accepted and inactive, as in Higress: triton (unsupported here) is
	// never read because no activeProviderId names it.
	{file: "14-readme-triton-providers-no-active.yaml",
		warnings: []string{
			"providers[0]: not checked and never used: it has no id for activeProviderId to name (Higress ignores it too)",
			"(root): no provider is active: every request passes through untouched (as in Higress)"},
		check: func(t *testing.T, c *Config) { require.Nil(t, c.Global) }},
	// The second "****" is dropped (Higress keeps both; the same key twice
	// would fail over to itself).
	{file: "15-envoy-moonshot-providers.yaml", check: global("moonshot", 1),
		warnings: []string{
			"providers[0].domain: unknown field, did you mean providerDomain?",
			"providers[0].timeout: ignored: in Higress it bounds only context-file fetches",
			"providers[0].apiTokens[1]: duplicates apiTokens[0] (fingerprint 69bf0bc4): dropped, as a token's state is kept by position and the same key twice would fail over to itself (Higress keeps both); the tokens after it are numbered one lower"}},
	{file: "16-test-azure-v1-base.yaml", check: global("azure", 1)},
	{file: "17-test-azure-deployment-only.yaml", check: global("azure", 1)},
	{file: "18-test-azure-domain-only.yaml", check: global("azure", 1)},
	{file: "19-test-generic-basepath.yaml", check: global("generic", 1)},
	{file: "20-test-openai-failover-cooldown.yaml", check: func(t *testing.T, c *Config) {
		global("openai", 2)(t, c)
		f := c.Global.Failover
		require.True(t, f.Enabled)
		require.Equal(t, uint32(1), f.Settings.FailureThreshold)
		require.Equal(t, int64(100), f.Settings.CooldownDuration)
		require.True(t, f.Patterns.Match(429))
	}},
	{file: "21-test-bedrock-original-apitoken.yaml", check: global("bedrock", 1)},
	// Refused: protocol openai converts OpenAI chat completions to Converse.
	{file: "22-test-bedrock-apitoken-openai.yaml",
		err: "provider.protocol: openai (the default) is not supported for type bedrock: Higress converts OpenAI chat completions to the Bedrock Converse API (and image generations to InvokeModel), this plugin converts no protocol; set protocol: original to send Bedrock's own API (/model/{modelId}/converse, /invoke, ...) with the keys, as Higress does then"},
	{file: "23-test-vertex-raw-express.yaml", check: global("vertex", 1)},
	{file: "24-test-vertex-raw-express-basepath.yaml", check: global("vertex", 1)},
	// Refused: protocol openai converts OpenAI requests to generateContent.
	{file: "25-test-vertex-express-openai.yaml",
		err: "provider.protocol: openai (the default) is not supported for type vertex with apiTokens (express mode): Higress converts OpenAI requests to Vertex's generateContent, predict or rawPredict bodies, this plugin converts no protocol; set protocol: original to send Vertex's own REST API (/v1/publishers/google/models/{model}:generateContent, ...) with the keys, as Higress does then"},
	{file: "26-test-minimax-pro-original-basepath.yaml", check: global("minimax", 1)},
	// Refused: protocol openai converts to the ChatCompletion Pro protocol.
	{file: "27-test-minimax-pro-openai-basepath.yaml",
		err: "provider.minimaxApiType: pro is not supported with protocol openai (the default): Higress converts OpenAI chat completions to MiniMax's ChatCompletion Pro protocol, this plugin converts no protocol; leave it unset for the v2 (OpenAI-compatible) API, or set protocol: original to send MiniMax's own API as the client wrote it, as Higress does then"},
	{file: "28-test-generic-no-token.yaml", check: func(t *testing.T, c *Config) {
		require.True(t, c.Global.PassClientAuth)
		require.Empty(t, c.Global.Tokens)
	}, warnings: []string{"provider.apiTokens: none: the client's own auth header goes upstream, and this block does no failover (as in Higress)"}},
	{file: "29-test-ai360-basic.yaml", check: global("ai360", 1)},
	{file: "30-test-galadriel-basic.yaml", check: global("galadriel", 1)},
	// Refused: DashScope's native protocol is a conversion under protocol openai.
	{file: "31-test-qwen-native.yaml",
		err: "provider.qwenEnableCompatible: false (DashScope's native protocol) is not supported with protocol openai (the default): Higress converts OpenAI chat completions and embeddings to DashScope's native text-generation and text-embedding APIs, this plugin converts no protocol, and in that mode Higress serves no Responses, Files or Batches API; leave it true (the default) for DashScope's OpenAI-compatible endpoint, which serves those and /v1/reranks, or set protocol: original to send DashScope's native API as the client wrote it, as Higress does then"},
	// Refused: a conversion under protocol openai (with protocol original, see
	// TestParse_ConversionTypesUnderOriginal).
	{file: "32-e2e-dify-completion.yaml",
		err: "provider.protocol: openai (the default) is not supported for type dify: Higress converts OpenAI chat completions to Dify's chat-messages, completion-messages or workflows API, this plugin converts no protocol; set protocol: original to send dify's own API with the tokens, as Higress does then"},
	{file: "33-test-bedrock-original-aksk.yaml", check: global("bedrock", 1),
		warnings: []string{"provider.awsAccessKey: requests are signed with SigV4 over their whole body: set allow_on_headers_stop_iteration: true in the wasm filter's config (Envoy 1.35+), so that Envoy holds a request's headers while the plugin reads its body; without it a request with a body waits for the route's timeout"}},
	// Refused: protocol openai converts OpenAI video requests.
	{file: "34-test-kling-official.yaml",
		err: "provider.protocol: openai (the default) is not supported for type kling: Higress converts OpenAI video requests (/v1/videos) to Kling's text2video and image2video API, this plugin converts no protocol; set protocol: original to send Kling's own API with the tokens, as Higress does then"},
}

// TestParse_ConversionTypesUnderOriginal: files 31 and 32 with protocol
// original, where Higress converts nothing, are accepted, each with the
// one warning about what only the conversion reads.
func TestParse_ConversionTypesUnderOriginal(t *testing.T) {
	for file, want := range map[string][]string{
		"31-test-qwen-native.yaml": {"provider.qwenEnableCompatible: false has no effect with protocol original: the path and body pass as the client sent them (as in Higress)",
			"provider.modelMapping: ignored with protocol: original (the body passes untouched, as in Higress)"},
		"32-e2e-dify-completion.yaml": {"provider.modelMapping: ignored with protocol: original (the body passes untouched, as in Higress)"},
	} {
		raw, err := os.ReadFile("../testdata/higress/" + file)
		require.NoError(t, err)
		cfg, err := Parse(withOriginal(raw))
		require.NoError(t, err, file)
		require.Equal(t, want, cfg.Warnings, file)
	}
}

// withOriginal adds protocol: original to a fixture's provider.
func withOriginal(raw []byte) []byte {
	s := string(raw)
	if i := strings.Index(s, `{"provider":{`); i >= 0 {
		return []byte(s[:i] + `{"provider":{"protocol":"original",` + s[i+len(`{"provider":{`):])
	}
	return []byte(strings.Replace(s, "provider:\n", "provider:\n  protocol: original\n", 1))
}

func global(typ string, tokens int) func(*testing.T, *Config) {
	return func(t *testing.T, c *Config) {
		t.Helper()
		require.NotNil(t, c.Global)
		require.Equal(t, typ, c.Global.Provider.Type())
		require.Len(t, c.Global.Tokens, tokens)
		require.Empty(t, c.Rules)
	}
}

// TestParse_HigressConfigs parses every file of testdata/higress.
func TestParse_HigressConfigs(t *testing.T) {
	files, err := filepath.Glob("../testdata/higress/*.yaml")
	require.NoError(t, err)
	require.Len(t, files, len(higressFiles), "every file has a verdict")
	for i, tc := range higressFiles {
		require.Equal(t, tc.file, filepath.Base(files[i]))
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(files[i])
			require.NoError(t, err)
			cfg, err := Parse(raw)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
			} else {
				require.NoError(t, err)
				tc.check(t, cfg)
			}
			require.Equal(t, tc.warnings, cfg.Warnings)
		})
	}
}

// TestParse_HigressAzureReadmeWithoutTheComma: file 08 with its stray comma
// removed is accepted (the /openai/v1 form needs no api-version).
func TestParse_HigressAzureReadmeWithoutTheComma(t *testing.T) {
	raw, err := os.ReadFile("../testdata/higress/08-readme-azure-v1-base-invalid-yaml.yaml")
	require.NoError(t, err)
	fixed := strings.Replace(string(raw), `/openai/v1",`, `/openai/v1"`, 1)
	cfg, err := Parse([]byte(fixed))
	require.NoError(t, err)
	global("azure", 1)(t, cfg)
	require.Empty(t, cfg.Warnings)
}

// TestParse_HigressWasmPluginRules: what Higress's controller makes of file
// 07 (matchRules[0].ingress as _match_route_, no global part) is accepted.
func TestParse_HigressWasmPluginRules(t *testing.T) {
	cfg, err := Parse([]byte(`{"_rules_":[{"_match_route_":["higress-conformance-ai-backend/wasmplugin-ai-proxy-openai"],
		"provider":{"apiTokens":["fake_token"],"type":"openai"}}]}`))
	require.NoError(t, err)
	require.Nil(t, cfg.Global)
	require.Len(t, cfg.Rules, 1)
	require.Equal(t, []string{"higress-conformance-ai-backend/wasmplugin-ai-proxy-openai"}, cfg.Rules[0].Routes)
	require.Equal(t, "openai", cfg.Rules[0].Block.Provider.Type())
	require.Empty(t, cfg.Warnings)
}

// TestParse_StatusPatternsAreAnchored: Higress matches failoverOnStatus and
// retryOnStatus unanchored, so its "4.*" also counts 204 and 304; ours are
// whole-status patterns.
func TestParse_StatusPatternsAreAnchored(t *testing.T) {
	cfg, err := Parse([]byte(`provider: {type: deepseek, apiTokens: [k], failover: {failoverOnStatus: ["4.*", "5.*"]}}`))
	require.NoError(t, err)
	p := cfg.Global.Failover.Patterns
	for status, want := range map[int]bool{404: true, 429: true, 503: true, 204: false, 304: false, 205: false, 200: false} {
		require.Equal(t, want, p.Match(status), "%d", status)
	}
}
