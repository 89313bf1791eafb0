package plugin_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/abi/abitest"
	"github.com/token-failover/token-failover/plugin"
	"github.com/token-failover/token-failover/wasmhost"
)

// higressCase is one request through a Higress configuration of
// testdata/higress, and what must reach upstream: what the file's header
// says Higress sends, except where why says we differ on purpose.
type higressCase struct {
	name, file string
	// raw is the configuration when the case has no file.
	raw string
	// edit changes the file before use (nil: as written).
	edit func(raw []byte) []byte
	// The client's request: path (default /v1/chat/completions), host
	// (default gateway.local), route name (default "chat"), body model.
	path, host, route, model string
	// Upstream: authority, path, the auth header and its value (or one of
	// several), and the body's model ("" : the body is sent untouched).
	authority, upPath string
	authHeader        string
	authValues        []string
	upModel           string
	// extra headers upstream must carry, and headers it must not.
	extra  map[string]string
	absent []string
	why    string
}

// credentials the client sends on every case; ours replace them.
var clientCreds = []abi.HeaderPair{{"authorization", "Bearer client-own"}, {"x-api-key", "client-x"}}

var higressCases = []higressCase{
	{name: "ai360 raw token", file: "01-e2e-ai360.yaml", model: "gpt-3", authority: "api.360.cn", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"fake_token"}, upModel: "360gpt-turbo", absent: []string{"x-api-key"}},
	{name: "ai360 star", file: "01-e2e-ai360.yaml", model: "other", authority: "api.360.cn", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"fake_token"}, upModel: "360gpt-pro"},
	{name: "github", file: "02-e2e-github.yaml", model: "gpt-3", authority: "models.inference.ai.azure.com", upPath: "/chat/completions",
		authHeader: "authorization", authValues: []string{"fake_token"}, upModel: "cohere-command-r-08-2024"},
	{name: "groq", file: "03-e2e-groq.yaml", model: "gpt-3", authority: "api.groq.com", upPath: "/openai/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer fake_token"}, upModel: "llama3-8b-8192"},
	{name: "doubao", file: "04-e2e-doubao.yaml", model: "gpt-3", authority: "ark.cn-beijing.volces.com", upPath: "/api/v3/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer fake_token"}, upModel: "fake_doubao_endpoint"},
	{name: "qwen prefix key", file: "05-e2e-qwen-compatible.yaml", model: "gpt-4-turbo", authority: "dashscope.aliyuncs.com",
		upPath: "/compatible-mode/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer fake_token"}, upModel: "qwen-max"},
	{name: "cloudflare with an account", file: "06-e2e-cloudflare-no-account-id.yaml", edit: appendLine("  cloudflareAccountId: acc-1"),
		model: "gpt-3", authority: "api.cloudflare.com", upPath: "/client/v4/accounts/acc-1/ai/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer fake_token"}, upModel: "meta/llama-3.1-8b-instruct",
		why: "as written the file is refused (Higress would send accounts//ai); with the account added the rest is Higress's"},
	{name: "wasmplugin: matched route", file: "07-e2e-openai-wasmplugin.yaml", edit: wasmPluginRules,
		route: "higress-conformance-ai-backend/wasmplugin-ai-proxy-openai", model: "gpt-3", authority: "api.openai.com",
		upPath: "/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer fake_token"}, upModel: "gpt-3"},
	{name: "wasmplugin: other route untouched", file: "07-e2e-openai-wasmplugin.yaml", edit: wasmPluginRules,
		route: "other", model: "gpt-3", authority: "gateway.local", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer client-own"}, extra: map[string]string{"x-api-key": "client-x"}},
	{name: "azure v1 base, comma removed", file: "08-readme-azure-v1-base-invalid-yaml.yaml", edit: removeTrailingComma,
		model: "gpt-3", authority: "YOUR_RESOURCE_NAME.openai.azure.com", upPath: "/openai/v1/chat/completions",
		authHeader: "api-key", authValues: []string{"YOUR_AZURE_OPENAI_API_TOKEN"}, absent: []string{"authorization", "x-api-key"}},
	{name: "qwen original", file: "09-readme-qwen-original-providers.yaml", model: "gpt-3", authority: "dashscope.aliyuncs.com",
		upPath: "/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer YOUR_DASHSCOPE_API_TOKEN"}},
	{name: "qwen original, a DashScope path", file: "09-readme-qwen-original-providers.yaml", path: "/api/v1/apps/app-1/completion",
		model: "gpt-3", authority: "dashscope.aliyuncs.com", upPath: "/api/v1/apps/app-1/completion",
		authHeader: "authorization", authValues: []string{"Bearer YOUR_DASHSCOPE_API_TOKEN"}},
	{name: "doubao providers", file: "10-readme-doubao-providers.yaml", model: "gpt-3", authority: "ark.cn-beijing.volces.com",
		upPath: "/api/v3/chat/completions", authHeader: "authorization", authValues: []string{"Bearer YOUR_DOUBAO_API_KEY"}, upModel: "YOUR_DOUBAO_ENDPOINT"},
	{name: "claude messages", file: "11-readme-claude-auto-protocol.yaml", path: "/v1/messages", model: "claude-3-opus-20240229",
		authority: "api.anthropic.com", upPath: "/v1/messages", authHeader: "x-api-key", authValues: []string{"YOUR_CLAUDE_API_TOKEN"},
		extra: map[string]string{"anthropic-version": "2023-06-01"}, absent: []string{"authorization"}},
	{name: "claude chat completion", file: "11-readme-claude-auto-protocol.yaml", model: "claude-3-opus-20240229",
		authority: "api.anthropic.com", upPath: "/v1/chat/completions", authHeader: "x-api-key", authValues: []string{"YOUR_CLAUDE_API_TOKEN"},
		extra: map[string]string{"anthropic-version": "2023-06-01"}, absent: []string{"authorization"},
		why: "Higress converts an OpenAI chat request to /v1/messages with an Anthropic body; we convert no protocol and send it as it is"},
	{name: "spark", file: "12-readme-spark.yaml", model: "gpt-4o", authority: "spark-api-open.xf-yun.com", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer APIKey:APISecret"}, upModel: "generalv3.5"},
	{name: "openrouter", file: "13-readme-openrouter.yaml", model: "gpt-4", authority: "openrouter.ai", upPath: "/api/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer YOUR_OPENROUTER_API_TOKEN"}, upModel: "openai/gpt-4-turbo-preview"},
	{name: "no active provider: untouched", file: "14-readme-triton-providers-no-active.yaml", model: "gpt-3", authority: "gateway.local",
		upPath: "/v1/chat/completions", authHeader: "authorization", authValues: []string{"Bearer client-own"}, extra: map[string]string{"x-api-key": "client-x"}},
	{name: "moonshot providers", file: "15-envoy-moonshot-providers.yaml", model: "gpt-3", authority: "api.moonshot.cn", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer ****"}, upModel: "moonshot-v1-8k"},
	{name: "azure v1 base", file: "16-test-azure-v1-base.yaml", model: "gpt-3.5-turbo", authority: "v1-base-resource.openai.azure.com",
		upPath: "/openai/v1/chat/completions", authHeader: "api-key", authValues: []string{"sk-azure-v1-base"}, upModel: "gpt-4.1", absent: []string{"authorization"}},
	{name: "azure deployment", file: "17-test-azure-deployment-only.yaml", model: "gpt-3.5-turbo", authority: "deployment-resource.openai.azure.com",
		upPath: "/openai/deployments/deployment-only/chat/completions?api-version=2024-02-15-preview", authHeader: "api-key",
		authValues: []string{"sk-azure-deployment"}, upModel: "gpt-3.5-turbo", absent: []string{"authorization"}},
	{name: "azure domain only", file: "18-test-azure-domain-only.yaml", model: "gpt-4", authority: "domain-resource.openai.azure.com",
		upPath: "/openai/deployments/gpt-3.5-turbo/chat/completions?api-version=2024-02-15-preview", authHeader: "api-key",
		authValues: []string{"sk-azure-domain"}, upModel: "gpt-3.5-turbo", absent: []string{"authorization"}},
	{name: "generic basePath", file: "19-test-generic-basepath.yaml", path: "/proxy/v1/chat/completions", host: "client.local",
		model: "gpt-any", authority: "basepath.backend.internal", upPath: "/v1/chat/completions", authHeader: "authorization",
		authValues: []string{"Bearer sk-generic-basepath"}},
	{name: "openai failover", file: "20-test-openai-failover-cooldown.yaml", model: "gpt-4", authority: "api.openai.com", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer sk-token-a", "Bearer sk-token-b"}, upModel: "gpt-3.5-turbo"},
	{name: "bedrock original, API key", file: "21-test-bedrock-original-apitoken.yaml", path: "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream",
		model: "m", authority: "bedrock-runtime.us-east-1.amazonaws.com", upPath: "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream",
		authHeader: "authorization", authValues: []string{"Bearer test-token-for-unit-test"}, absent: []string{"x-amz-date", "x-api-key"}},
	{name: "vertex express endpoint", file: "23-test-vertex-raw-express.yaml", path: "/v1/publishers/google/models/gemini-3.1-flash-lite-preview:streamGenerateContent",
		model: "m", authority: "aiplatform.googleapis.com", upPath: "/v1/publishers/google/models/gemini-3.1-flash-lite-preview:streamGenerateContent",
		authHeader: "x-goog-api-key", authValues: []string{"test-api-key-for-raw-mode"}, absent: []string{"authorization", "x-api-key"},
		why: "Higress appends ?key=test-api-key-for-raw-mode to the path; the key goes in x-goog-api-key here, out of access logs"},
	{name: "vertex project path, streaming", file: "23-test-vertex-raw-express.yaml",
		path:  "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
		model: "m", authority: "aiplatform.googleapis.com", upPath: "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
		authHeader: "x-goog-api-key", authValues: []string{"test-api-key-for-raw-mode"}, absent: []string{"authorization"},
		why: "Higress sends ?alt=sse&key=...; the key goes in x-goog-api-key here"},
	{name: "vertex anthropic model", file: "23-test-vertex-raw-express.yaml",
		path:  "/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict",
		model: "m", authority: "aiplatform.googleapis.com", upPath: "/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict",
		authHeader: "x-goog-api-key", authValues: []string{"test-api-key-for-raw-mode"}, absent: []string{"authorization", "x-api-key"},
		why: "Higress appends ?key=...; the key goes in x-goog-api-key here"},
	{name: "vertex basePath removed", file: "24-test-vertex-raw-express-basepath.yaml",
		path:  "/vertex-proxy/v1/projects/test-project/locations/us-central1/publishers/google/models/imagen-4.0-generate-preview-06-06:predict",
		model: "m", authority: "aiplatform.googleapis.com", upPath: "/v1/projects/test-project/locations/us-central1/publishers/google/models/imagen-4.0-generate-preview-06-06:predict",
		authHeader: "x-goog-api-key", authValues: []string{"test-api-key-for-raw-mode"}, why: "Higress appends ?key=...; the key goes in x-goog-api-key here"},
	{name: "minimax pro, original", file: "26-test-minimax-pro-original-basepath.yaml", path: "/minimax-api/v1/chat/completions",
		model: "custom-model", authority: "api.minimax.chat", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer sk-minimax-test"}},
	{name: "generic, no tokens", file: "28-test-generic-no-token.yaml", model: "m", authority: "gateway.local", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer client-own"}, extra: map[string]string{"x-api-key": "client-x"}},
	{name: "ai360 chat", file: "29-test-ai360-basic.yaml", model: "gpt-3", authority: "api.360.cn", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"sk-ai360-test123456789"}, upModel: "360GPT_S2_V9"},
	{name: "dify, protocol original", file: "32-e2e-dify-completion.yaml", edit: appendLine("  protocol: original"), model: "gpt-3",
		authority: "api.dify.ai", upPath: "/v1/completion-messages", authHeader: "authorization", authValues: []string{"Bearer fake_token"},
		why: "as written the file is refused (protocol openai converts the body); with protocol original Higress sets host, path and token and keeps the body, as here"},
	{name: "galadriel chat", file: "30-test-galadriel-basic.yaml", model: "gpt-3.5-turbo", authority: "api.galadriel.com", upPath: "/v1/chat/completions",
		authHeader: "authorization", authValues: []string{"Bearer gal-test123456789"}, upModel: "llama3.1"},
}

func (c higressCase) config(t testing.TB) []byte {
	if c.raw != "" {
		return []byte(c.raw)
	}
	raw, err := os.ReadFile("../testdata/higress/" + c.file)
	require.NoError(t, err)
	if c.edit != nil {
		raw = c.edit(raw)
	}
	return raw
}

func (c higressCase) request() ([]abi.HeaderPair, []byte) {
	path, host := orDefault(c.path, "/v1/chat/completions"), orDefault(c.host, "gateway.local")
	body := []byte(`{"model":"` + c.model + `","messages":[{"role":"user","content":"hi"}],"stream":false}`)
	h := []abi.HeaderPair{{":method", "POST"}, {":path", path}, {":authority", host}, {"content-type", "application/json"}}
	return append(h, clientCreds...), body
}

// check compares what reached upstream with the case.
func (c higressCase) check(t *testing.T, headers []abi.HeaderPair, body, sentBody []byte) {
	t.Helper()
	get := func(k string) (string, bool) { return headerValue(headers, k) }
	authority, _ := get(":authority")
	path, _ := get(":path")
	require.Equal(t, c.authority, authority)
	require.Equal(t, c.upPath, path)
	auth, _ := get(c.authHeader)
	require.Contains(t, c.authValues, auth, c.authHeader)
	for k, v := range c.extra {
		got, _ := get(k)
		require.Equal(t, v, got, k)
	}
	for _, k := range c.absent {
		_, present := get(k)
		require.False(t, present, "%s must not reach the provider", k)
	}
	if c.upModel == "" {
		require.Equal(t, string(sentBody), string(body), "the body goes untouched")
		return
	}
	var m struct {
		Model string `json:"model"`
	}
	require.NoError(t, json.Unmarshal(body, &m))
	require.Equal(t, c.upModel, m.Model)
}

// TestHigressConfigs_Native sends each case's chat completion through the
// plugin compiled natively.
func TestHigressConfigs_Native(t *testing.T) {
	for _, c := range higressCases {
		t.Run(c.name, func(t *testing.T) {
			config := c.config(t)
			headers, body := c.request()
			host := &abitest.FakeHost{Config: config, RequestHeaders: headers, RequestBody: body,
				Properties: map[string]string{"xds.cluster_name": "llm", "xds.route_name": orDefault(c.route, "chat")}}
			d := abi.NewDispatcher(host, plugin.NewVM(host))
			d.OnContextCreate(1, 0)
			require.True(t, d.OnVMStart(1, 0))
			require.True(t, d.OnConfigure(1, len(config)), strings.Join(host.Logs, "\n"))
			d.OnContextCreate(2, 1)
			require.Equal(t, abi.ActionContinue, d.OnRequestHeaders(2, len(host.RequestHeaders), false))
			sent := append([]abi.HeaderPair(nil), host.RequestHeaders...)
			host.HeadersSent = true
			require.Equal(t, abi.ActionContinue, d.OnRequestBody(2, len(host.RequestBody), true))
			c.check(t, sent, host.RequestBody, body)
		})
	}
}

// TestHigressConfigs_Wasm sends the same cases through the built .wasm in
// the emulator.
func TestHigressConfigs_Wasm(t *testing.T) {
	for _, c := range higressCases {
		t.Run(c.name, func(t *testing.T) {
			h, err := wasmhost.New(wasmhost.Options{Config: c.config(t), Workers: 1, SkipCanary: true})
			require.NoError(t, err)
			defer h.Close()
			headers, body := c.request()
			s, err := h.Workers()[0].Start(wasmhost.Request{Headers: headers, Body: body, Route: c.route})
			require.NoError(t, err)
			require.NotNil(t, s.Upstream)
			c.check(t, s.Upstream.Headers, s.Upstream.Body, body)
		})
	}
}

// TestHigressConfigs_RefusedAtStart: the Higress configurations refused
// here are refused by the built .wasm, each with its reason in the log:
// file 06 because Higress would start and send accounts//ai, the others
// for the protocol conversion Higress does, named for the mode (issue 24
// item 6).
func TestHigressConfigs_RefusedAtStart(t *testing.T) {
	for file, reason := range map[string]string{
		"06-e2e-cloudflare-no-account-id.yaml":     "provider.cloudflareAccountId: is required for type cloudflare",
		"22-test-bedrock-apitoken-openai.yaml":     "provider.protocol: openai (the default) is not supported for type bedrock: Higress converts OpenAI chat completions to the Bedrock Converse API",
		"25-test-vertex-express-openai.yaml":       "provider.protocol: openai (the default) is not supported for type vertex with apiTokens (express mode)",
		"27-test-minimax-pro-openai-basepath.yaml": "provider.minimaxApiType: pro is not supported with protocol openai (the default): Higress converts OpenAI chat completions to MiniMax's ChatCompletion Pro protocol",
		"31-test-qwen-native.yaml":                 "provider.qwenEnableCompatible: false (DashScope's native protocol) is not supported with protocol openai (the default)",
		"34-test-kling-official.yaml":              "provider.protocol: openai (the default) is not supported for type kling: Higress converts OpenAI video requests",
		"32-e2e-dify-completion.yaml":              "provider.protocol: openai (the default) is not supported for type dify: Higress converts OpenAI chat completions to Dify's",
	} {
		t.Run(file, func(t *testing.T) {
			h, err := wasmhost.New(wasmhost.Options{Config: higressCase{file: file}.config(t), Workers: 1, SkipCanary: true})
			require.NoError(t, err)
			defer h.Close()
			require.False(t, h.Workers()[0].ConfigAccepted(), "refused at start")
			require.Contains(t, h.LogText(), "[worker-0 error] invalid configuration: "+reason)
		})
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func appendLine(line string) func([]byte) []byte {
	return func(raw []byte) []byte { return append(raw, []byte("\n"+line+"\n")...) }
}

func removeTrailingComma(raw []byte) []byte {
	return []byte(strings.Replace(string(raw), `/openai/v1",`, `/openai/v1"`, 1))
}

// wasmPluginRules does what Higress's controller does with a WasmPlugin
// resource (higress-facts.md section 1.2): each matchRules[] entry becomes
// a _rules_ entry, its config beside _match_route_ (ingress),
// _match_domain_ (domain) and _match_service_ (service); defaultConfig is
// the top level unless defaultConfigDisable.
func wasmPluginRules(raw []byte) []byte {
	var cr struct {
		Spec struct {
			DefaultConfig        map[string]any `yaml:"defaultConfig"`
			DefaultConfigDisable bool           `yaml:"defaultConfigDisable"`
			MatchRules           []struct {
				Config  map[string]any `yaml:"config"`
				Ingress []string       `yaml:"ingress"`
				Domain  []string       `yaml:"domain"`
				Service []string       `yaml:"service"`
			} `yaml:"matchRules"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &cr); err != nil {
		panic(err)
	}
	out := map[string]any{}
	if !cr.Spec.DefaultConfigDisable {
		for k, v := range cr.Spec.DefaultConfig {
			out[k] = v
		}
	}
	var rules []map[string]any
	for _, m := range cr.Spec.MatchRules {
		rule := map[string]any{}
		for k, v := range m.Config {
			rule[k] = v
		}
		for key, list := range map[string][]string{"_match_route_": m.Ingress, "_match_domain_": m.Domain, "_match_service_": m.Service} {
			if len(list) > 0 {
				rule[key] = list
			}
		}
		rules = append(rules, rule)
	}
	out["_rules_"] = rules
	b, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	return b
}
