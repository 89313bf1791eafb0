package provider

// compatTypes are the OpenAI-compatible types, with the hosts and paths
// Higress ai-proxy uses for them (higress-facts.md section 3.1).
var compatTypes = map[string]*compatSpec{
	"openai": {host: "api.openai.com", base: "/v1", apis: openAIAPIs},
	"qwen": {host: "dashscope.aliyuncs.com", base: "/compatible-mode/v1",
		apis: apis(apiChat, apiEmbeddings, apiCompletion, apiResponses, apiFiles, apiFile, apiFileContent,
			apiBatches, apiBatch, apiReranks, apiConversations, apiMessages),
		paths: map[api]string{apiReranks: "/compatible-api/v1/reranks", apiMessages: "/apps/anthropic/v1/messages"}},
	"deepseek": {host: "api.deepseek.com", base: "/v1", apis: apis(apiChat, apiModels, apiMessages),
		paths: map[api]string{apiMessages: "/anthropic/v1/messages"}},
	"moonshot":    {host: "api.moonshot.cn", base: "/v1", apis: apis(apiChat, apiModels)},
	"zhipuai":     {host: "open.bigmodel.cn", base: "/api/paas/v4", apis: apis(apiChat, apiEmbeddings), native: true},
	"groq":        {host: "api.groq.com", base: "/openai/v1", apis: apis(apiChat, apiResponses), native: true},
	"mistral":     {host: "api.mistral.ai", base: "/v1", keepPath: true},
	"openrouter":  {host: "openrouter.ai", base: "/api/v1", apis: apis(apiChat, apiCompletion), native: true},
	"grok":        {host: "api.x.ai", base: "/v1", apis: apis(apiChat), native: true},
	"baichuan":    {host: "api.baichuan-ai.com", base: "/v1", apis: apis(apiChat, apiEmbeddings)},
	"yi":          {host: "api.lingyiwanwu.com", base: "/v1", apis: apis(apiChat)},
	"stepfun":     {host: "api.stepfun.com", base: "/v1", apis: apis(apiChat)},
	"together-ai": {host: "api.together.xyz", base: "/v1", apis: apis(apiChat), native: true},
	"fireworks":   {host: "api.fireworks.ai", base: "/v1", apis: apis(apiChat, apiCompletion, apiModels), native: true},
	"galadriel":   {host: "api.galadriel.com", base: "/v1", apis: apis(apiChat, apiModels), native: true},
	"longcat":     {host: "api.longcat.chat", base: "/v1", apis: apis(apiChat, apiEmbeddings, apiModels)},
	"doubao": {host: "ark.cn-beijing.volces.com", base: "/api/v3",
		apis: apis(apiChat, apiEmbeddings, apiImageGeneration, apiResponses), native: true},
	"baidu":  {host: "qianfan.baidubce.com", base: "/v2", apis: apis(apiChat, apiEmbeddings), native: true},
	"spark":  {host: "spark-api-open.xf-yun.com", base: "/v1", apis: apis(apiChat)},
	"ai360":  {host: "api.360.cn", base: "/v1", apis: apis(apiChat, apiEmbeddings), auth: authRaw},
	"github": {host: "models.inference.ai.azure.com", base: "", apis: apis(apiChat, apiEmbeddings), auth: authRaw, native: true},
	// hunyuan's OpenAI-compatible endpoint (no hunyuanAuthId/Key).
	"hunyuan": {host: "api.hunyuan.cloud.tencent.com", base: "/v1", apis: apis(apiChat, apiEmbeddings), native: true},
	// cloudflare sends every request to one path (set in New).
	"cloudflare": {host: "api.cloudflare.com"},
	"minimax": {host: "api.minimax.chat", base: "/v1", apis: apis(apiChat), native: true,
		paths: map[api]string{apiChat: "/v1/text/chatcompletion_v2"}},
	"ollama": {base: "/v1", apis: apis(apiChat, apiEmbeddings, apiModels), auth: authNone},
	"vllm": {host: "vllm-service.cluster.local", base: "/v1", native: true,
		apis: apis(apiChat, apiCompletion, apiModels, apiEmbeddings, apiRerank, apiMessages, apiCountTokens,
			apiResponses, apiAudioTranscription, apiAudioTranslation)},
	"coze": {host: "api.coze.cn", base: "/v1", keepPath: true},
	// Served under protocol original only: with protocol openai Higress
	// converts what converts names (see compat.configure).
	"cohere": {host: "api.cohere.com", base: "/v1", apis: apis(apiChat), native: true,
		paths: map[api]string{apiChat: "/v1/chat"}, converts: "OpenAI chat completions to Cohere's /v1/chat"},
	"deepl": {host: "api-free.deepl.com", apis: apis(apiChat), native: true, auth: authDeepL, models: "/v2/usage",
		paths: map[api]string{apiChat: "/v2/translate"}, converts: "OpenAI chat completions to DeepL's /v2/translate"},
	// dify's path is its botType's (see compat.configure), else kept.
	"dify": {host: "api.dify.ai", keepPath: true, models: "/v1/info",
		converts: "OpenAI chat completions to Dify's chat-messages, completion-messages or workflows API"},
}

// TypeInfo is what the configuration must know of a provider type.
type TypeInfo struct {
	// TokensOptional: Higress accepts the type with no apiTokens, and the
	// client's own auth header then passes (openai, generic, ollama, vllm,
	// hunyuan, spark, deepl).
	TokensOptional bool
	// TokensIgnored: the type sets no auth header at all (ollama); tokens
	// would never be sent.
	TokensIgnored bool
	// MapsModel: Higress maps the body's model for this type (not for
	// generic, coze and hunyuan's OpenAI mode).
	MapsModel bool
}

// Info describes a supported type; ok is false for an unknown or
// unsupported one.
func Info(typ string) (TypeInfo, bool) {
	if !known(typ) {
		return TypeInfo{}, false
	}
	i := TypeInfo{MapsModel: true}
	switch typ {
	case "openai", "generic", "vllm", "hunyuan", "spark", "deepl":
		i.TokensOptional = true
	case "ollama":
		i.TokensOptional, i.TokensIgnored = true, true
	}
	switch typ {
	case "generic", "coze", "hunyuan":
		i.MapsModel = false
	}
	return i, true
}

func known(typ string) bool {
	_, ok := compatTypes[typ]
	switch typ {
	case "azure", "claude", "gemini", "generic", "bedrock", "vertex", "kling":
		return true
	}
	return ok
}
