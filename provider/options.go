package provider

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Options are the provider settings of one configuration block, under
// their Higress names. The zero value is every type's default.
type Options struct {
	// Host replaces the type's default authority (our "host"; generic's
	// "genericHost"). Example: "llm.internal:8080".
	Host string
	// Original is Higress's protocol: original: the body is not touched
	// (the configuration drops the mapping) and qwen and azure keep the
	// client's path; other types route as usual (see compat.route).
	Original bool
	// BasePath with BasePathPrepend false (Higress's default
	// "removePrefix") is cut from the front of the client's path before
	// the provider routes it; with BasePathPrepend it is joined in front
	// of the routed path unless already there.
	BasePath        string
	BasePathPrepend bool
	// ProviderDomain replaces the authority after everything else, for
	// every type; ProviderBasePath is put in front of the final path
	// unless already there. Example: "gw.example.com", "/llm".
	ProviderDomain   string
	ProviderBasePath string
	// Capabilities are Higress's per-API path overrides, by Higress API
	// name ("openai/v1/chatcompletions": "/my/chat").
	Capabilities map[string]string

	// AzureServiceURL is azure's service URL (forms: see newAzure).
	AzureServiceURL string
	// AzureDeployment is the deployment of a domain-only azureServiceUrl:
	// the one model the mapping sends every request to.
	AzureDeployment string
	// ClaudeVersion is the anthropic-version header (claudeVersion, else
	// apiVersion; default 2023-06-01).
	ClaudeVersion string
	// GeminiAPIVersion is gemini's API version for probes (apiVersion;
	// default v1beta).
	GeminiAPIVersion string
	// AuthHeader and AuthPrefix configure the generic provider (ours; not
	// Higress fields).
	AuthHeader string
	AuthPrefix string
	// OpenAICustomURL is openai's openaiCustomUrl.
	OpenAICustomURL string
	// QwenNative is qwenEnableCompatible: false (refused).
	QwenNative bool
	// QwenDomain, ZhipuDomain and DoubaoDomain replace those types' hosts.
	QwenDomain   string
	ZhipuDomain  string
	DoubaoDomain string
	// ZhipuCodePlan is zhipuCodePlanMode: chat goes to
	// /api/coding/paas/v4/chat/completions.
	ZhipuCodePlan bool
	// CloudflareAccountID is cloudflare's account, part of every path.
	CloudflareAccountID string
	// MinimaxPro is minimaxApiType: pro (refused unless Original), and
	// MinimaxGroupID its minimaxGroupId (required with pro, as Higress does).
	MinimaxPro     bool
	MinimaxGroupID string
	// HunyuanSigned is set when hunyuanAuthId or hunyuanAuthKey is (TC3
	// signing; refused).
	HunyuanSigned bool
	// OllamaHost and OllamaPort are ollama's server.
	OllamaHost string
	OllamaPort int64
	// VLLMCustomURL and VLLMServerHost locate a vllm server.
	VLLMCustomURL  string
	VLLMServerHost string
	// AWSRegion is bedrock's awsRegion ("us-east-1").
	AWSRegion string
	// VertexOpenAICompatible is vertex's vertexOpenAICompatible; with a
	// service-account key, VertexRegion, VertexProjectID and
	// VertexAuthCluster are its vertexRegion, vertexProjectId and
	// vertexAuthServiceName (the Envoy cluster of the token endpoint).
	VertexOpenAICompatible bool
	VertexRegion           string
	VertexProjectID        string
	VertexAuthCluster      string
	// DifyAPIURL and DifyBotType are dify's difyApiUrl (its host replaces
	// api.dify.ai) and botType (Chat, Agent, Completion or Workflow: the
	// path of every request).
	DifyAPIURL  string
	DifyBotType string
	// SignedBy names the field of a credential that is not a bearer token,
	// set when the block has no apiTokens and signs with it instead
	// (bedrock "awsAccessKey", vertex "vertexAuthKey", kling
	// "klingAccessKey"); "" for apiTokens.
	SignedBy string
}

// configure applies the type's own settings; an error names the field.
func (c *compat) configure(o Options) error {
	if c.spec.converts != "" && !o.Original {
		return fieldErr("protocol", "openai (the default) is not supported for type %s: Higress converts %s, this plugin "+
			"converts no protocol; set protocol: original to send %s's own API with the tokens, as Higress does then",
			c.name, c.spec.converts, c.name)
	}
	switch c.name {
	case "openai":
		if o.OpenAICustomURL != "" {
			if err := c.customURL("openaiCustomUrl", o.OpenAICustomURL, isOpenAIEndpoint); err != nil {
				return err
			}
		}
	case "vllm":
		switch {
		case o.VLLMCustomURL != "":
			if err := c.customURL("vllmCustomUrl", o.VLLMCustomURL, isVLLMEndpoint); err != nil {
				return err
			}
		case o.VLLMServerHost != "":
			// As Higress: any ":port" is cut (the cluster decides the port).
			h, _, _ := strings.Cut(o.VLLMServerHost, ":")
			c.host = h
		}
	case "qwen":
		if o.QwenNative && !o.Original {
			return fieldErr("qwenEnableCompatible", "false (DashScope's native protocol) is not supported with protocol openai "+
				"(the default): Higress converts OpenAI chat completions and embeddings to DashScope's native text-generation "+
				"and text-embedding APIs, this plugin converts no protocol, and in that mode Higress serves no Responses, "+
				"Files or Batches API; leave it true (the default) for DashScope's OpenAI-compatible endpoint, which serves "+
				"those and /v1/reranks, or set protocol: original to send DashScope's native API as the client wrote it, as "+
				"Higress does then")
		}
		c.host = orDefault(o.QwenDomain, c.host)
		c.keepOriginal = true
	case "zhipuai":
		c.host = orDefault(o.ZhipuDomain, c.host)
		if o.ZhipuCodePlan {
			c.override(apiChat, "/api/coding/paas/v4/chat/completions")
		}
	case "doubao":
		c.host = orDefault(o.DoubaoDomain, c.host)
	case "dify":
		c.host = orDefault(difyHost(o.DifyAPIURL), c.host)
		// As Higress: the bot type decides the path of every request; an
		// unknown or absent one keeps the client's.
		c.fixed = map[string]string{"Chat": "/v1/chat-messages", "Agent": "/v1/chat-messages",
			"Completion": "/v1/completion-messages", "Workflow": "/v1/workflows/run"}[o.DifyBotType]
	case "cloudflare":
		id := o.CloudflareAccountID
		if id == "" {
			return fieldErr("cloudflareAccountId", "is required for type cloudflare: it is part of every path "+
				"(Higress does not check it and sends /client/v4/accounts//ai/v1/chat/completions, which Cloudflare cannot serve)")
		}
		if strings.ContainsAny(id, "/?#") {
			return fieldErr("cloudflareAccountId", "must not contain '/', '?' or '#'")
		}
		c.fixed = "/client/v4/accounts/" + id + "/ai/v1/chat/completions"
		c.models = "/client/v4/accounts/" + id + "/ai/models/search"
	case "minimax":
		switch {
		case o.MinimaxPro && o.MinimaxGroupID == "":
			return fieldErr("minimaxGroupId", "is required with minimaxApiType pro (Higress refuses the configuration without it too)")
		case o.MinimaxPro && !o.Original:
			return fieldErr("minimaxApiType", "pro is not supported with protocol openai (the default): Higress converts OpenAI "+
				"chat completions to MiniMax's ChatCompletion Pro protocol, this plugin converts no protocol; leave it unset for "+
				"the v2 (OpenAI-compatible) API, or set protocol: original to send MiniMax's own API as the client wrote it, "+
				"as Higress does then")
		}
	case "hunyuan":
		if o.HunyuanSigned {
			return fieldErr("hunyuanAuthId", "hunyuanAuthId and hunyuanAuthKey select Tencent Cloud's TC3-HMAC-SHA256 "+
				"signed API, which this plugin does not support; leave both empty and put hunyuan API keys in apiTokens "+
				"for the OpenAI-compatible endpoint")
		}
	case "ollama":
		if o.OllamaHost == "" {
			return fieldErr("ollamaServerHost", "is required for type ollama")
		}
		if o.OllamaPort <= 0 || o.OllamaPort > 65535 {
			return fieldErr("ollamaServerPort", "is required for type ollama, a port in 1-65535 (Ollama's usual port is 11434; Higress refuses 0 too)")
		}
		c.host = net.JoinHostPort(o.OllamaHost, strconv.FormatInt(o.OllamaPort, 10))
	}
	return c.capabilities(o.Capabilities)
}

// capabilityNames are the Higress API names a capabilities entry may set
// (Higress drops any other key).
var capabilityNames = map[string]api{
	"openai/v1/chatcompletions":      apiChat,
	"openai/v1/embeddings":           apiEmbeddings,
	"openai/v1/imagegeneration":      apiImageGeneration,
	"openai/v1/imagevariation":       apiImageVariation,
	"openai/v1/imageedit":            apiImageEdit,
	"openai/v1/audiospeech":          apiAudioSpeech,
	"openai/v1/audiotranscription":   apiAudioTranscription,
	"openai/v1/audiotranslation":     apiAudioTranslation,
	"openai/v1/realtime":             apiRealtime,
	"openai/v1/responses":            apiResponses,
	"cohere/v1/rerank":               apiRerank,
	"openai/v1/videos":               apiVideos,
	"openai/v1/retrievevideo":        apiNone,
	"openai/v1/retrievevideocontent": apiNone,
	"openai/v1/videoremix":           apiNone,
	"kling/v1/image2video":           apiNone,
	"kling/v1/retrieveimagevideo":    apiNone,
}

// CapabilityUse tells what a capabilities key does here: "" when it sets
// that API's path, else why it is ignored.
func CapabilityUse(name string) string {
	a, ok := capabilityNames[name]
	switch {
	case !ok:
		return "not an API name Higress accepts (it drops the entry too)"
	case a == apiNone:
		return "not supported here (a video or kling API)"
	}
	return ""
}

func (c *compat) capabilities(m map[string]string) error {
	if len(m) == 0 {
		return nil
	}
	if c.spec.keepPath || c.fixed != "" {
		return nil // Higress's type ignores capabilities too
	}
	for name, p := range m {
		a := capabilityNames[name]
		if a == apiNone {
			continue
		}
		if !strings.HasPrefix(p, "/") {
			return fieldErr("capabilities."+name, "must be a path starting with '/', got %s", strconv.Quote(p))
		}
		c.override(a, p)
	}
	return nil
}

// isOpenAIEndpoint tells whether an openaiCustomUrl path names one endpoint
// (every request goes there) rather than a base path.
func isOpenAIEndpoint(p string) bool {
	for _, s := range []string{"/completions", "/embeddings", "/audio/speech", "/audio/transcriptions",
		"/audio/translations", "/images/generations", "/images/variations", "/images/edits", "/models",
		"/responses", "/fine_tuning/jobs", "/fine_tuning/checkpoints", "/realtime", "/videos"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// isVLLMEndpoint is isOpenAIEndpoint for vllmCustomUrl.
func isVLLMEndpoint(p string) bool {
	for _, s := range []string{"/completions", "/rerank", "/responses", "/messages", "/count_tokens",
		"/transcriptions", "/translations"} {
		if strings.HasSuffix(p, s) {
			return true
		}
	}
	return false
}

// customURL applies an openaiCustomUrl or vllmCustomUrl: its host replaces
// the type's, and its path either names the endpoint of every request or
// replaces "/v1" as the base of every API.
func (c *compat) customURL(field, raw string, endpoint func(string) bool) error {
	rest := strings.TrimPrefix(strings.TrimPrefix(raw, "http://"), "https://")
	host, p, _ := strings.Cut(rest, "/")
	p = "/" + p
	switch {
	case host == "":
		return fieldErr(field, "has no host")
	case strings.ContainsAny(rest, "?#"):
		// Higress would glue the API path after the query.
		return fieldErr(field, "must not have a query or fragment")
	}
	c.host = host
	if endpoint(p) {
		c.fixed = p
		return nil
	}
	c.base = p
	c.models = joinPath(p, "/models")
	c.paths = nil
	if c.name == "openai" {
		c.apis = openAIAPIs
	}
	return nil
}

func joinPath(base, rel string) string {
	return strings.TrimSuffix(base, "/") + rel
}

// difyHost is the host of a difyApiUrl, as Higress reads it: a URL's
// host, else the text less a scheme, up to its first '/'.
func difyHost(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	h, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(raw, "http://"), "https://"), "/")
	return h
}
