package provider

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/credential"
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
		{"minimax", Options{MinimaxPro: true, MinimaxGroupID: "g"}, "minimaxApiType", "pro is not supported with protocol openai (the default): Higress converts OpenAI chat completions to MiniMax's ChatCompletion Pro protocol, this plugin converts no protocol; leave it unset for the v2 (OpenAI-compatible) API, or set protocol: original to send MiniMax's own API as the client wrote it, as Higress does then"},
		{"minimax", Options{MinimaxPro: true, Original: true}, "minimaxGroupId", "is required with minimaxApiType pro (Higress refuses the configuration without it too)"},
		{"qwen", Options{QwenNative: true}, "qwenEnableCompatible", "false (DashScope's native protocol) is not supported with protocol openai (the default): Higress converts OpenAI chat completions and embeddings to DashScope's native text-generation and text-embedding APIs, this plugin converts no protocol, and in that mode Higress serves no Responses, Files or Batches API; leave it true (the default) for DashScope's OpenAI-compatible endpoint, which serves those and /v1/reranks, or set protocol: original to send DashScope's native API as the client wrote it, as Higress does then"},
		{"cohere", Options{}, "protocol", "openai (the default) is not supported for type cohere: Higress converts OpenAI chat completions to Cohere's /v1/chat, this plugin converts no protocol; set protocol: original to send cohere's own API with the tokens, as Higress does then"},
		{"deepl", Options{}, "protocol", "openai (the default) is not supported for type deepl: Higress converts OpenAI chat completions to DeepL's /v2/translate, this plugin converts no protocol; set protocol: original to send deepl's own API with the tokens, as Higress does then"},
		{"dify", Options{DifyBotType: "Chat"}, "protocol", "openai (the default) is not supported for type dify: Higress converts OpenAI chat completions to Dify's chat-messages, completion-messages or workflows API, this plugin converts no protocol; set protocol: original to send dify's own API with the tokens, as Higress does then"},
		{"triton", Options{}, "protocol", "openai (the default) is not supported for type triton: Higress converts OpenAI chat completions to Triton's /v2/models/<model>/generate, this plugin converts no protocol"},
		{"triton", Options{Original: true}, "protocol", "original is not supported for type triton: Higress then sets neither the host nor a token (only its conversion does), so the request goes where the client sent it, without a key; to send tokens to a Triton server use type generic with genericHost"},
		{"hunyuan", Options{HunyuanSigned: true}, "hunyuanAuthId", "hunyuanAuthId and hunyuanAuthKey select Tencent Cloud's TC3-HMAC-SHA256 signed API, which this plugin does not support; leave both empty and put hunyuan API keys in apiTokens for the OpenAI-compatible endpoint"},
		{"ollama", Options{OllamaPort: 11434}, "ollamaServerHost", "is required for type ollama"},
		{"ollama", Options{OllamaHost: "o"}, "ollamaServerPort", "is required for type ollama, a port in 1-65535 (Ollama's usual port is 11434; Higress refuses 0 too)"},
		{"openai", Options{OpenAICustomURL: "https://x.example.com/v1?k=1"}, "openaiCustomUrl", "must not have a query or fragment"},
		{"azure", Options{AzureServiceURL: "https://r.openai.azure.com?api-version=1"}, "azureServiceUrl", "names no deployment: with protocol openai (the default) Higress puts the request's mapped model in the path, which this plugin cannot (it rewrites the path before the body arrives); name the deployment (https://<resource>/openai/deployments/<name>?api-version=...), map every model to one deployment with modelMapping {\"*\": <name>}, or set protocol: original (the path is then the client's)"},
		{"bedrock", Options{AWSRegion: "us-east-1"}, "protocol", "openai (the default) is not supported for type bedrock: Higress converts OpenAI chat completions to the Bedrock Converse API (and image generations to InvokeModel), this plugin converts no protocol; set protocol: original to send Bedrock's own API (/model/{modelId}/converse, /invoke, ...) with the keys, as Higress does then"},
		{"bedrock", Options{Original: true}, "awsRegion", "is required for type bedrock: the host is bedrock-runtime.<awsRegion>.amazonaws.com (Higress refuses the configuration without it too)"},
		{"bedrock", Options{Original: true, AWSRegion: "us-east-1.evil.com/"}, "awsRegion", "must be an AWS region such as us-east-1 (lower-case letters, digits and '-')"},
		{"vertex", Options{}, "protocol", "openai (the default) is not supported for type vertex with apiTokens (express mode): Higress converts OpenAI requests to Vertex's generateContent, predict or rawPredict bodies, this plugin converts no protocol; set protocol: original to send Vertex's own REST API (/v1/publishers/google/models/{model}:generateContent, ...) with the keys, as Higress does then"},
		{"vertex", Options{Original: true, VertexOpenAICompatible: true}, "vertexOpenAICompatible", "true cannot be combined with apiTokens (express mode); Higress refuses the configuration too"},
		{"vertex", Options{Original: true, SignedBy: "vertexAuthKey", VertexAuthCluster: "oauth"}, "vertexRegion", "and vertexProjectId are required with vertexAuthKey (Higress refuses the configuration without them too)"},
		{"vertex", Options{Original: true, SignedBy: "vertexAuthKey", VertexRegion: "us-central1", VertexProjectID: "p"}, "vertexAuthServiceName", "is required with vertexAuthKey: the Envoy cluster that reaches the service account's token_uri (oauth2.googleapis.com:443 over TLS), through which the key is exchanged for access tokens (Higress refuses the configuration without it too)"},
		{"vertex", Options{SignedBy: "vertexAuthKey", VertexRegion: "us-central1", VertexProjectID: "p", VertexAuthCluster: "oauth"}, "protocol", "openai (the default) is not supported for type vertex with vertexAuthKey unless vertexOpenAICompatible is true: Higress converts OpenAI requests to Vertex's generateContent, predict or rawPredict bodies, this plugin converts no protocol; set vertexOpenAICompatible: true for Vertex's OpenAI-compatible chat endpoint, or protocol: original for Vertex's own REST API, as Higress does then"},
		{"kling", Options{}, "protocol", "openai (the default) is not supported for type kling: Higress converts OpenAI video requests (/v1/videos) to Kling's text2video and image2video API, this plugin converts no protocol; set protocol: original to send Kling's own API with the tokens, as Higress does then"},
	}
	for _, tc := range tests {
		t.Run(tc.typ+"/"+tc.field, func(t *testing.T) {
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

// TestNew_OriginalProtocolCredentials pins the types Higress serves under
// protocol original with apiTokens and no conversion (issue 24 item 1): the
// path and body go as written, the key as Higress sends it, except that a
// Google API key travels in x-goog-api-key, never in the URL.
func TestNew_OriginalProtocolCredentials(t *testing.T) {
	tests := []struct {
		name, typ  string
		opts       Options
		in         string
		host, path string
		auth       []HeaderPair
	}{
		{"bedrock converse-stream (Higress test/bedrock.go)", "bedrock", Options{Original: true, AWSRegion: "us-east-1"},
			"/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream", "bedrock-runtime.us-east-1.amazonaws.com",
			"/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream", []HeaderPair{{"authorization", "Bearer tok"}}},
		{"bedrock invoke", "bedrock", Options{Original: true, AWSRegion: "eu-west-3"}, "/model/amazon.titan-embed-text-v2:0/invoke",
			"bedrock-runtime.eu-west-3.amazonaws.com", "/model/amazon.titan-embed-text-v2:0/invoke", []HeaderPair{{"authorization", "Bearer tok"}}},
		{"vertex express endpoint (Higress test/vertex.go)", "vertex", Options{Original: true},
			"/v1/publishers/google/models/gemini-3.1-flash-lite-preview:streamGenerateContent", "aiplatform.googleapis.com",
			"/v1/publishers/google/models/gemini-3.1-flash-lite-preview:streamGenerateContent", []HeaderPair{{"x-goog-api-key", "tok"}}},
		{"vertex project path, the client's ?key= dropped", "vertex", Options{Original: true},
			"/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse&key=client",
			"aiplatform.googleapis.com", "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
			[]HeaderPair{{"x-goog-api-key", "tok"}}},
		{"vertex basePath removePrefix (Higress test/vertex.go)", "vertex", Options{Original: true, BasePath: "/vertex-proxy"},
			"/vertex-proxy/v1/projects/p/locations/us-central1/publishers/google/models/imagen-4.0-generate-preview-06-06:predict",
			"aiplatform.googleapis.com", "/v1/projects/p/locations/us-central1/publishers/google/models/imagen-4.0-generate-preview-06-06:predict",
			[]HeaderPair{{"x-goog-api-key", "tok"}}},
		{"kling", "kling", Options{Original: true}, "/v1/videos/text2video", "api-singapore.klingai.com", "/v1/videos/text2video",
			[]HeaderPair{{"authorization", "Bearer tok"}}},
		{"cohere chat", "cohere", Options{Original: true}, "/x/v1/chat", "api.cohere.com", "/v1/chat", []HeaderPair{{"authorization", "Bearer tok"}}},
		{"cohere other path kept", "cohere", Options{Original: true}, "/v2/embed", "api.cohere.com", "/v2/embed", []HeaderPair{{"authorization", "Bearer tok"}}},
		{"deepl translate", "deepl", Options{Original: true}, "/proxy/v2/translate", "api-free.deepl.com", "/v2/translate", []HeaderPair{{"authorization", "DeepL-Auth-Key tok"}}},
		{"dify completion bot (Higress e2e)", "dify", Options{Original: true, DifyBotType: "Completion"}, "/v1/chat/completions", "api.dify.ai",
			"/v1/completion-messages", []HeaderPair{{"authorization", "Bearer tok"}}},
		{"dify own host, no bot type: path kept", "dify", Options{Original: true, DifyAPIURL: "https://dify.internal:8443/v1"}, "/v1/workflows/run",
			"dify.internal:8443", "/v1/workflows/run", []HeaderPair{{"authorization", "Bearer tok"}}},
		{"minimax pro keeps path (Higress test/minimax.go)", "minimax", Options{Original: true, MinimaxPro: true, MinimaxGroupID: "g", BasePath: "/minimax-api"},
			"/minimax-api/v1/chat/completions", "api.minimax.chat", "/v1/chat/completions", []HeaderPair{{"authorization", "Bearer tok"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, auth := route(t, tc.typ, tc.opts, "POST", tc.in)
			require.Equal(t, tc.host, h.Authority)
			require.Equal(t, tc.path, h.Path)
			require.Equal(t, tc.auth, auth)
		})
	}
}

// TestProbe_OriginalProtocolTypes pins what a probe asks for the types of
// TestNew_OriginalProtocolCredentials: the model of the request that
// failed on its own API, and a model that does not exist when none is known
// (the key is checked first), never a generation for kling.
func TestProbe_OriginalProtocolTypes(t *testing.T) {
	tests := []struct {
		name, typ string
		target    ProbeTarget
		method    string
		path      string
		body      string
		auth      HeaderPair
	}{
		{"bedrock, model from the failed path", "bedrock", ProbeTarget{Authority: "h", Path: "/model/anthropic.claude-v2%3A1/invoke", Model: "anthropic.claude-v2%3A1"},
			"POST", "/model/anthropic.claude-v2%3A1/converse", `{"messages":[{"role":"user","content":[{"text":"ping"}]}],"inferenceConfig":{"maxTokens":1}}`,
			HeaderPair{"authorization", "Bearer tok"}},
		{"bedrock, healthCheckModel escaped", "bedrock", ProbeTarget{Authority: "h", Model: "anthropic.claude-v2:1"},
			"POST", "/model/anthropic.claude-v2%3A1/converse", `{"messages":[{"role":"user","content":[{"text":"ping"}]}],"inferenceConfig":{"maxTokens":1}}`,
			HeaderPair{"authorization", "Bearer tok"}},
		{"bedrock, no model", "bedrock", ProbeTarget{Authority: "h", Free: true},
			"POST", "/model/token-failover-probe/converse", `{"messages":[{"role":"user","content":[{"text":"ping"}]}],"inferenceConfig":{"maxTokens":1}}`,
			HeaderPair{"authorization", "Bearer tok"}},
		{"vertex google model", "vertex", ProbeTarget{Authority: "h", Path: "/v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse", Model: "gemini-2.0-flash"},
			"POST", "/v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash:generateContent",
			`{"contents":[{"role":"user","parts":[{"text":"ping"}]}],"generationConfig":{"maxOutputTokens":1}}`, HeaderPair{"x-goog-api-key", "tok"}},
		{"vertex anthropic model", "vertex", ProbeTarget{Authority: "h", Path: "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict", Model: "claude-sonnet-4@20250514"},
			"POST", "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict",
			`{"anthropic_version":"vertex-2023-10-16","max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`, HeaderPair{"x-goog-api-key", "tok"}},
		{"vertex, no model", "vertex", ProbeTarget{Authority: "h", Free: true},
			"POST", "/v1/publishers/google/models/token-failover-probe:generateContent",
			`{"contents":[{"role":"user","parts":[{"text":"ping"}]}],"generationConfig":{"maxOutputTokens":1}}`, HeaderPair{"x-goog-api-key", "tok"}},
		{"kling queries a task that does not exist", "kling", ProbeTarget{Authority: "h", Path: "/v1/videos/text2video", Model: "kling-v1"},
			"GET", "/v1/videos/text2video/token-failover-probe", "", HeaderPair{"authorization", "Bearer tok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.typ, Options{Original: true, AWSRegion: "us-east-1"})
			require.NoError(t, err)
			pr := p.Probe(tc.target, "tok")
			require.Equal(t, tc.method, pr.Method)
			require.Equal(t, "h", pr.Authority)
			require.Equal(t, tc.path, pr.Path)
			require.Equal(t, tc.body, string(pr.Body))
			require.Equal(t, tc.auth, pr.Headers[0])
		})
	}
}

// TestModelSpan_ByType: the model a path carries, for the types that keep
// it there.
func TestModelSpan_ByType(t *testing.T) {
	tests := []struct {
		typ, path, model string
	}{
		{"bedrock", "/model/anthropic.claude-v2%3A1/invoke-with-response-stream", "anthropic.claude-v2%3A1"},
		{"bedrock", "/model//converse", ""},
		{"vertex", "/v1/publishers/google/models/gemini-2.0-flash:generateContent?key=x", "gemini-2.0-flash"},
		{"gemini", "/v1beta/models/gemini-pro:generateContent", "gemini-pro"},
		{"openai", "/v1/models/gpt-4:x", ""},
	}
	for _, tc := range tests {
		p, err := New(tc.typ, Options{Original: true, AWSRegion: "us-east-1"})
		require.NoError(t, err)
		s, e, ok := ModelSpan(p, tc.path)
		require.Equal(t, tc.model != "", ok, tc.path)
		require.Equal(t, tc.model != "", p.ModelInPath(tc.path), tc.path)
		if ok {
			require.Equal(t, tc.model, tc.path[s:e])
		}
	}
}

// TestKling_SignedJWTPerRequest: with a klingAccessKey/klingSecretKey pair
// (issue 24 item 2) every request and probe carries a fresh HS256 JWT
// signed with the secret key (credential.KlingKey, checked there against
// an independent HMAC), issued by the clock at that moment; the headers
// are never cached.
func TestKling_SignedJWTPerRequest(t *testing.T) {
	p, err := New("kling", Options{Original: true, SignedBy: "klingAccessKey"})
	require.NoError(t, err)
	require.False(t, AuthIgnoresHead(p), "a JWT per request")
	k := p.(kling)
	at := time.Unix(1_700_000_000, 0)
	k.now = func() time.Time { return at }
	secret := PairSecret("AKexample", "SKexample")
	want, err := credential.NewKlingKey("AKexample", "SKexample")
	require.NoError(t, err)
	require.Equal(t, []HeaderPair{{"authorization", want.Token(at).Authorization()}}, k.Auth(Head{}, secret))
	require.Equal(t, HeaderPair{"authorization", want.Token(at).Authorization()}, k.Probe(ProbeTarget{Authority: "h"}, secret).Headers[0])
	at = at.Add(time.Minute)
	require.Equal(t, want.Token(at).Authorization(), k.Auth(Head{}, secret)[0][1], "issued anew")
}

// TestVertex_ServiceAccountRoutes: with a service-account key, Vertex's own
// REST API goes to the region's host under protocol original, and with
// vertexOpenAICompatible a chat completion goes to the OpenAI-compatible
// endpoint, as Higress sends them (test/vertex.go); the plugin sets the
// access token (Auth sets nothing) obtained through the auth cluster.
func TestVertex_ServiceAccountRoutes(t *testing.T) {
	sa := Options{SignedBy: "vertexAuthKey", VertexRegion: "us-central1", VertexProjectID: "test-project-id", VertexAuthCluster: "oauth"}
	raw := sa
	raw.Original = true
	h, auth := route(t, "vertex", raw, "POST", "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:countTokens")
	require.Equal(t, "us-central1-aiplatform.googleapis.com", h.Authority)
	require.Equal(t, "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:countTokens", h.Path)
	require.Empty(t, auth)
	compat := sa
	compat.VertexOpenAICompatible = true
	h, _ = route(t, "vertex", compat, "POST", "/v1/chat/completions")
	require.Equal(t, "/v1beta1/projects/test-project-id/locations/us-central1/endpoints/openapi/chat/completions", h.Path)
	p, err := New("vertex", compat)
	require.NoError(t, err)
	require.Equal(t, "embeddings", Unserved(p, "/v1/embeddings"))
	cluster, ok := TokenExchange(p)
	require.True(t, ok)
	require.Equal(t, "oauth", cluster)
	global := raw
	global.VertexRegion = "global"
	h, _ = route(t, "vertex", global, "POST", "/v1/projects/p/locations/global/publishers/google/models/m:generateContent")
	require.Equal(t, "aiplatform.googleapis.com", h.Authority)
	express, _ := New("vertex", Options{Original: true})
	_, ok = TokenExchange(express)
	require.False(t, ok)
	pr := p.Probe(ProbeTarget{Authority: "h", Model: "google/gemini-2.0-flash"}, "sa")
	require.Equal(t, "/v1beta1/projects/test-project-id/locations/us-central1/endpoints/openapi/chat/completions", pr.Path)
	require.Equal(t, []HeaderPair{{"content-type", "application/json"}}, pr.Headers, "the plugin adds the access token")
}

// TestBedrock_KeyPairSignsInThePlugin: with an access-key pair the bedrock
// provider sets no header of its own (the plugin signs with SigV4 over the
// body) and tells the region to sign for; with an API key it signs
// nothing.
func TestBedrock_KeyPairSignsInThePlugin(t *testing.T) {
	p, err := New("bedrock", Options{Original: true, AWSRegion: "eu-west-3", SignedBy: "awsAccessKey"})
	require.NoError(t, err)
	region, ok := SigV4(p)
	require.True(t, ok)
	require.Equal(t, "eu-west-3", region)
	require.Empty(t, p.Auth(Head{}, PairSecret("AKID", "secret")))
	pr := p.Probe(ProbeTarget{Authority: "h", Model: "m"}, PairSecret("AKID", "secret"))
	require.Equal(t, []HeaderPair{{"content-type", "application/json"}}, pr.Headers, "the plugin adds the signature")
	key, err := New("bedrock", Options{Original: true, AWSRegion: "eu-west-3"})
	require.NoError(t, err)
	_, ok = SigV4(key)
	require.False(t, ok)
	id, secret := SplitPair(PairSecret("AKID", "s/e:cret"))
	require.Equal(t, "AKID", id)
	require.Equal(t, "s/e:cret", secret)
}
