package provider

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// route runs a request through a provider of typ built from o.
func route(t *testing.T, typ string, o Options, method, path string) (Head, []HeaderPair) {
	t.Helper()
	p, err := New(typ, o)
	require.NoError(t, err)
	h := Head{Method: method, Authority: "gateway.local", Path: path}
	p.Rewrite(&h)
	return h, p.Auth(h, "tok")
}

// TestNew_RoutesEveryTypeAsHigress pins host, path and auth for a chat
// completion on every supported type (higress-facts.md section 3.1).
func TestNew_RoutesEveryTypeAsHigress(t *testing.T) {
	bearer := []HeaderPair{{"authorization", "Bearer tok"}}
	tests := []struct {
		typ        string
		opts       Options
		host, path string
		auth       []HeaderPair
	}{
		{"openai", Options{}, "api.openai.com", "/v1/chat/completions", bearer},
		{"qwen", Options{}, "dashscope.aliyuncs.com", "/compatible-mode/v1/chat/completions", bearer},
		{"qwen", Options{QwenDomain: "dashscope-intl.aliyuncs.com"}, "dashscope-intl.aliyuncs.com", "/compatible-mode/v1/chat/completions", bearer},
		{"deepseek", Options{}, "api.deepseek.com", "/v1/chat/completions", bearer},
		{"moonshot", Options{}, "api.moonshot.cn", "/v1/chat/completions", bearer},
		{"zhipuai", Options{}, "open.bigmodel.cn", "/api/paas/v4/chat/completions", bearer},
		{"zhipuai", Options{ZhipuDomain: "api.z.ai", ZhipuCodePlan: true}, "api.z.ai", "/api/coding/paas/v4/chat/completions", bearer},
		{"groq", Options{}, "api.groq.com", "/openai/v1/chat/completions", bearer},
		{"mistral", Options{}, "api.mistral.ai", "/v1/chat/completions", bearer},
		{"openrouter", Options{}, "openrouter.ai", "/api/v1/chat/completions", bearer},
		{"grok", Options{}, "api.x.ai", "/v1/chat/completions", bearer},
		{"baichuan", Options{}, "api.baichuan-ai.com", "/v1/chat/completions", bearer},
		{"yi", Options{}, "api.lingyiwanwu.com", "/v1/chat/completions", bearer},
		{"stepfun", Options{}, "api.stepfun.com", "/v1/chat/completions", bearer},
		{"together-ai", Options{}, "api.together.xyz", "/v1/chat/completions", bearer},
		{"fireworks", Options{}, "api.fireworks.ai", "/v1/chat/completions", bearer},
		{"galadriel", Options{}, "api.galadriel.com", "/v1/chat/completions", bearer},
		{"longcat", Options{}, "api.longcat.chat", "/v1/chat/completions", bearer},
		{"doubao", Options{}, "ark.cn-beijing.volces.com", "/api/v3/chat/completions", bearer},
		{"doubao", Options{DoubaoDomain: "ark.ap-southeast.bytepluses.com"}, "ark.ap-southeast.bytepluses.com", "/api/v3/chat/completions", bearer},
		{"baidu", Options{}, "qianfan.baidubce.com", "/v2/chat/completions", bearer},
		{"spark", Options{}, "spark-api-open.xf-yun.com", "/v1/chat/completions", bearer},
		{"ai360", Options{}, "api.360.cn", "/v1/chat/completions", []HeaderPair{{"authorization", "tok"}}},
		{"github", Options{}, "models.inference.ai.azure.com", "/chat/completions", []HeaderPair{{"authorization", "tok"}}},
		{"hunyuan", Options{}, "api.hunyuan.cloud.tencent.com", "/v1/chat/completions", bearer},
		{"cloudflare", Options{CloudflareAccountID: "acc1"}, "api.cloudflare.com", "/client/v4/accounts/acc1/ai/v1/chat/completions", bearer},
		{"minimax", Options{}, "api.minimax.chat", "/v1/text/chatcompletion_v2", bearer},
		{"ollama", Options{OllamaHost: "ollama.local", OllamaPort: 11434}, "ollama.local:11434", "/v1/chat/completions", nil},
		{"vllm", Options{}, "vllm-service.cluster.local", "/v1/chat/completions", bearer},
		{"vllm", Options{VLLMServerHost: "vllm.internal:8000"}, "vllm.internal", "/v1/chat/completions", bearer},
		{"vllm", Options{VLLMCustomURL: "https://vllm.example.com:8443/serving/v1"}, "vllm.example.com:8443", "/serving/v1/chat/completions", bearer},
		{"coze", Options{}, "api.coze.cn", "/v1/chat/completions", bearer},
		{"claude", Options{}, "api.anthropic.com", "/v1/chat/completions", []HeaderPair{{"x-api-key", "tok"}, {"anthropic-version", "2023-06-01"}}},
		{"generic", Options{Host: "llm.internal"}, "llm.internal", "/v1/chat/completions", bearer},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"/"+tc.host, func(t *testing.T) {
			h, auth := route(t, tc.typ, tc.opts, "POST", "/v1/chat/completions")
			require.Equal(t, tc.host, h.Authority)
			require.Equal(t, tc.path, h.Path)
			require.Equal(t, tc.auth, auth)
			_, ok := Info(tc.typ)
			require.True(t, ok)
		})
	}
}

// TestNew_RoutesOtherAPIsAndPaths pins API recognition by path suffix, the
// client query, kept paths, and the types' special paths.
func TestNew_RoutesOtherAPIsAndPaths(t *testing.T) {
	tests := []struct {
		name, typ string
		opts      Options
		method    string
		in, want  string
	}{
		{"prefixed client path is still chat", "doubao", Options{}, "POST", "/proxy/v1/chat/completions", "/api/v3/chat/completions"},
		{"client query kept", "groq", Options{}, "POST", "/v1/chat/completions?trace=1", "/openai/v1/chat/completions?trace=1"},
		{"api the type lacks keeps its path", "deepseek", Options{}, "POST", "/v1/embeddings", "/v1/embeddings"},
		{"unknown path kept", "doubao", Options{}, "POST", "/api/v3/contents/generations/tasks", "/api/v3/contents/generations/tasks"},
		{"qwen models kept", "qwen", Options{}, "GET", "/v1/models", "/v1/models"},
		{"qwen file content", "qwen", Options{}, "GET", "/v1/files/f-1/content", "/compatible-mode/v1/files/f-1/content"},
		{"qwen anthropic messages", "qwen", Options{}, "POST", "/v1/messages", "/apps/anthropic/v1/messages"},
		{"qwen reranks", "qwen", Options{}, "POST", "/v1/reranks", "/compatible-api/v1/reranks"},
		{"deepseek anthropic messages", "deepseek", Options{}, "POST", "/v1/messages", "/anthropic/v1/messages"},
		{"zhipu models kept", "zhipuai", Options{}, "GET", "/v1/models", "/v1/models"},
		{"github embeddings", "github", Options{}, "POST", "/v1/embeddings", "/embeddings"},
		{"mistral keeps any path", "mistral", Options{}, "POST", "/mistral/v1/chat/completions", "/mistral/v1/chat/completions"},
		{"coze keeps its path", "coze", Options{}, "POST", "/v3/chat", "/v3/chat"},
		{"cloudflare: one path for everything", "cloudflare", Options{CloudflareAccountID: "a"}, "GET", "/v1/models?x=1", "/client/v4/accounts/a/ai/v1/chat/completions"},
		{"openai batch cancel", "openai", Options{}, "POST", "/v1/batches/b-1/cancel", "/v1/batches/b-1/cancel"},
		{"openai fine-tuning job keeps its id", "openai", Options{OpenAICustomURL: "https://oai.example.com/api"}, "GET", "/v1/fine_tuning/jobs/ft-1/events", "/api/fine_tuning/jobs/ft-1/events"},
		{"openaiCustomUrl base", "openai", Options{OpenAICustomURL: "https://custom.example.com/api"}, "POST", "/v1/audio/transcriptions", "/api/audio/transcriptions"},
		{"openaiCustomUrl domain only loses /v1", "openai", Options{OpenAICustomURL: "custom.example.com"}, "POST", "/v1/chat/completions", "/chat/completions"},
		{"openaiCustomUrl endpoint takes every request", "openai", Options{OpenAICustomURL: "http://custom.example.com/x/chat/completions"}, "POST", "/v1/embeddings", "/x/chat/completions"},
		{"vllm endpoint", "vllm", Options{VLLMCustomURL: "vllm.example.com/v1/responses"}, "POST", "/v1/chat/completions", "/v1/responses"},
		{"capabilities override", "deepseek", Options{Capabilities: map[string]string{"openai/v1/embeddings": "/beta/embed"}}, "POST", "/v1/embeddings", "/beta/embed"},
		{"original: qwen keeps the path", "qwen", Options{Original: true}, "POST", "/v1/chat/completions", "/v1/chat/completions"},
		{"original: a type with its own detector keeps /v1", "groq", Options{Original: true}, "POST", "/v1/chat/completions", "/v1/chat/completions"},
		{"original: its own path still recognised", "groq", Options{Original: true}, "POST", "/x/openai/v1/chat/completions?a=1", "/openai/v1/chat/completions?a=1"},
		{"original: openai still routes", "openai", Options{Original: true, OpenAICustomURL: "https://o.example.com/api"}, "POST", "/v1/chat/completions", "/api/chat/completions"},
		{"basePath removePrefix on a kept path", "generic", Options{Host: "h", BasePath: "/proxy"}, "POST", "/proxy/service/echo", "/service/echo"},
		{"basePath removePrefix, routed api", "openrouter", Options{BasePath: "/or"}, "POST", "/or/v1/chat/completions", "/api/v1/chat/completions"},
		{"basePath removePrefix under original", "doubao", Options{BasePath: "/proxy", Original: true}, "POST", "/proxy/api/v3/chat/completions", "/api/v3/chat/completions"},
		{"basePath prepend", "generic", Options{Host: "h", BasePath: "/custom", BasePathPrepend: true}, "POST", "/v1/echo", "/custom/v1/echo"},
		{"basePath prepend not doubled", "generic", Options{Host: "h", BasePath: "/custom", BasePathPrepend: true}, "POST", "/custom/v1/echo", "/custom/v1/echo"},
		{"basePath prepend lost where Higress sets the path again", "qwen", Options{BasePath: "/custom", BasePathPrepend: true}, "POST", "/v1/chat/completions", "/compatible-mode/v1/chat/completions"},
		{"providerBasePath", "openai", Options{ProviderBasePath: "/gw"}, "POST", "/v1/chat/completions", "/gw/v1/chat/completions"},
		{"providerBasePath not doubled", "openai", Options{ProviderBasePath: "/v1"}, "POST", "/v1/chat/completions", "/v1/chat/completions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := route(t, tc.typ, tc.opts, tc.method, tc.in)
			require.Equal(t, tc.want, h.Path)
		})
	}
}

// TestNew_AzureServiceURLForms pins the four azureServiceUrl forms
// (higress-facts.md section 3.3).
func TestNew_AzureServiceURLForms(t *testing.T) {
	const res = "https://r.openai.azure.com"
	tests := []struct {
		name, url, deployment, method, in, want string
	}{
		{"full: chat", res + "/openai/deployments/d/chat/completions?api-version=V", "", "POST", "/v1/chat/completions", "/openai/deployments/d/chat/completions?api-version=V"},
		{"full: every API to the fixed path", res + "/openai/deployments/d/chat/completions?api-version=V", "", "POST", "/v1/embeddings", "/openai/deployments/d/chat/completions?api-version=V"},
		{"full: unknown path too", res + "/openai/deployments/d/chat/completions?api-version=V", "", "GET", "/health", "/openai/deployments/d/chat/completions?api-version=V"},
		{"full: v1 subpath, no api-version", res + "/openai/v1/chat/completions", "", "POST", "/v1/chat/completions", "/openai/v1/chat/completions"},
		{"full: custom path", res + "/openai/responses?api-version=V", "", "POST", "/v1/responses", "/openai/responses?api-version=V"},
		{"deployment: chat", res + "/openai/deployments/dep?api-version=V", "", "POST", "/v1/chat/completions", "/openai/deployments/dep/chat/completions?api-version=V"},
		{"deployment: embeddings", res + "/openai/deployments/dep?api-version=V", "", "POST", "/v1/embeddings", "/openai/deployments/dep/embeddings?api-version=V"},
		{"deployment: models not under it", res + "/openai/deployments/dep?api-version=V", "", "GET", "/v1/models", "/openai/models?api-version=V"},
		{"deployment: client query first", res + "/openai/deployments/dep?api-version=V", "", "GET", "/v1/files?limit=10&purpose=assistants", "/openai/files?limit=10&purpose=assistants&api-version=V"},
		{"deployment: unknown path kept", res + "/openai/deployments/dep?api-version=V", "", "POST", "/v1/assistants", "/v1/assistants"},
		{"domain: the one mapped model", res + "?api-version=V", "gpt-35", "POST", "/v1/chat/completions", "/openai/deployments/gpt-35/chat/completions?api-version=V"},
		{"domain with slash", res + "/?api-version=V", "gpt-35", "POST", "/v1/chat/completions", "/openai/deployments/gpt-35/chat/completions?api-version=V"},
		{"v1 base: chat", res + "/openai/v1", "", "POST", "/v1/chat/completions", "/openai/v1/chat/completions"},
		{"v1 base: trailing slash", res + "/openai/v1/", "", "POST", "/v1/chat/completions", "/openai/v1/chat/completions"},
		{"v1 base: models", res + "/openai/v1", "", "GET", "/v1/models", "/openai/v1/models"},
		{"v1 base: file", res + "/openai/v1", "", "GET", "/v1/files/f-1", "/openai/v1/files/f-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, auth := route(t, "azure", Options{AzureServiceURL: tc.url, AzureDeployment: tc.deployment}, tc.method, tc.in)
			require.Equal(t, "r.openai.azure.com", h.Authority)
			require.Equal(t, tc.want, h.Path)
			require.Equal(t, []HeaderPair{{"api-key", "tok"}}, auth)
		})
	}
	h, _ := route(t, "azure", Options{AzureServiceURL: res + "/openai/deployments/d/chat/completions?api-version=V", Original: true}, "POST", "/azure-gpt4/v1/chat/completions")
	require.Equal(t, "/azure-gpt4/v1/chat/completions", h.Path, "protocol original keeps the path")
}

// TestNew_RefusesWhatCannotWork pins each refused setting's field and message.
func TestNew_RefusesWhatCannotWork(t *testing.T) {
	tests := []struct {
		typ   string
		opts  Options
		field string
		msg   string
	}{
		{"cloudflare", Options{}, "cloudflareAccountId", "is required for type cloudflare: it is part of every path (Higress does not check it and sends /client/v4/accounts//ai/v1/chat/completions, which Cloudflare cannot serve)"},
		{"minimax", Options{MinimaxPro: true}, "minimaxApiType", "pro is not supported: Higress converts requests to MiniMax's ChatCompletion Pro protocol, this plugin converts no protocol; leave it unset for the v2 (OpenAI-compatible) API"},
		{"qwen", Options{QwenNative: true}, "qwenEnableCompatible", "false (DashScope's native protocol) is not supported: Higress converts OpenAI requests to it, this plugin converts no protocol; leave it true (the default) for DashScope's OpenAI-compatible endpoint"},
		{"hunyuan", Options{HunyuanSigned: true}, "hunyuanAuthId", "hunyuanAuthId and hunyuanAuthKey select Tencent Cloud's TC3-HMAC-SHA256 signed API, which this plugin does not support; leave both empty and put hunyuan API keys in apiTokens for the OpenAI-compatible endpoint"},
		{"ollama", Options{OllamaPort: 11434}, "ollamaServerHost", "is required for type ollama"},
		{"ollama", Options{OllamaHost: "o"}, "ollamaServerPort", "is required for type ollama, a port in 1-65535 (Ollama's usual port is 11434; Higress refuses 0 too)"},
		{"openai", Options{OpenAICustomURL: "https://x.example.com/v1?k=1"}, "openaiCustomUrl", "must not have a query or fragment"},
		{"azure", Options{AzureServiceURL: "https://r.openai.azure.com?api-version=1"}, "azureServiceUrl", "names no deployment: Higress puts the request's mapped model in the path, which this plugin cannot (it rewrites the path before the body arrives); name the deployment (https://<resource>/openai/deployments/<name>?api-version=...) or map every model to one deployment with modelMapping {\"*\": <name>}"},
		{"bedrock", Options{}, "type", "bedrock is a Higress type this plugin does not support: it converts requests to the Bedrock Converse API and signs them with AWS SigV4"},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			_, err := New(tc.typ, tc.opts)
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%v", err)
			require.Equal(t, tc.field, fe.Field)
			require.Equal(t, tc.msg, fe.Msg)
		})
	}
	_, err := New("opanai", Options{})
	require.ErrorIs(t, err, errUnknownType)
}

func TestDetectAPI_ByPathSuffixAndIDs(t *testing.T) {
	tests := []struct {
		path string
		api  api
		rel  string
	}{
		{"/v1/chat/completions", apiChat, "/chat/completions"},
		{"/any/prefix/v1/completions", apiCompletion, "/completions"},
		{"/chat/completions", apiNone, ""},
		{"/v1/files/f-1", apiFile, "/files/f-1"},
		{"/v1/files/f-1/content", apiFileContent, "/files/f-1/content"},
		{"/v1/files//content", apiNone, ""},
		{"/v1/videos/v-1/remix", apiVideo, "/videos/v-1/remix"},
		{"/v1/fine_tuning/checkpoints/c/permissions/p", apiFineTuning, "/fine_tuning/checkpoints/c/permissions/p"},
		{"/v1/messages/count_tokens", apiCountTokens, "/messages/count_tokens"},
		{"/v1beta/models/g:generateContent", apiNone, ""},
	}
	for _, tc := range tests {
		a, rel := detectAPI(tc.path)
		require.Equal(t, tc.api, a, tc.path)
		require.Equal(t, tc.rel, rel, tc.path)
	}
}

func TestCompat_BearerNotDoubled(t *testing.T) {
	p, err := New("openai", Options{})
	require.NoError(t, err)
	require.Equal(t, []HeaderPair{{"authorization", "Bearer sk-x"}}, p.Auth(Head{}, "Bearer sk-x"))
}

// TestAuthIgnoresHead_HoldsForEveryType checks the promise callers cache
// on: a type that says its Auth ignores the head gives the same headers
// for every request path and host.
func TestAuthIgnoresHead_HoldsForEveryType(t *testing.T) {
	heads := []Head{
		{Method: "POST", Authority: "gw", Path: "/v1/chat/completions"},
		{Method: "POST", Authority: "other", Path: "/v1beta/openai/chat/completions"},
		{Method: "POST", Authority: "gw", Path: "/v1beta/models/gemini-pro:generateContent"},
		{Method: "GET", Authority: "gw", Path: "/v1/models?x=1"},
	}
	cached := 0
	for _, typ := range Types() {
		p, err := New(typ, Options{AzureServiceURL: "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-02-01"})
		if err != nil {
			continue // a type that needs more options than these
		}
		if !AuthIgnoresHead(p) {
			continue
		}
		cached++
		want := p.Auth(heads[0], "tok")
		for _, h := range heads[1:] {
			require.Equal(t, want, p.Auth(h, "tok"), "%s at %s", typ, h.Path)
		}
	}
	require.Greater(t, cached, 20, "the OpenAI-compatible types, azure and claude cache their headers")
	g, err := New("gemini", Options{})
	require.NoError(t, err)
	require.False(t, AuthIgnoresHead(g), "gemini's credential depends on the path")
}
