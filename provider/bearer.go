package provider

// bearer is every OpenAI-compatible provider: Authorization: Bearer, a
// default host, and a base path that "/v1/..." maps onto.
type bearer struct {
	name     string
	host     string
	basePath string
}

var bearerFamilies = map[string]bearer{
	"openai":     {"openai", "api.openai.com", "/v1"},
	"qwen":       {"qwen", "dashscope.aliyuncs.com", "/compatible-mode/v1"},
	"deepseek":   {"deepseek", "api.deepseek.com", "/v1"},
	"moonshot":   {"moonshot", "api.moonshot.cn", "/v1"},
	"zhipuai":    {"zhipuai", "open.bigmodel.cn", "/api/paas/v4"},
	"groq":       {"groq", "api.groq.com", "/openai/v1"},
	"mistral":    {"mistral", "api.mistral.ai", "/v1"},
	"openrouter": {"openrouter", "openrouter.ai", "/api/v1"},
}

func (b bearer) Type() string { return b.name }

func (b bearer) Rewrite(h *Head) {
	h.Authority = b.host
	h.Path = withBasePath(h.Path, b.basePath)
}

func (b bearer) Auth(_ Head, secret string) []HeaderPair {
	return []HeaderPair{{"authorization", "Bearer " + secret}}
}

func (b bearer) ModelInPath(string) bool { return false }

// Probe lists models (free on every OpenAI-compatible API) when asked for
// the free probe or when no model is known, else asks the model for one
// token on the API that failed.
func (b bearer) Probe(t ProbeTarget, secret string) Probe {
	auth := b.Auth(Head{}, secret)
	if t.Free || t.Model == "" {
		return Probe{Method: "GET", Authority: t.Authority, Path: b.basePath + "/models", Headers: auth}
	}
	path, body := oneTokenRequest(t.Path, b.basePath+"/chat/completions", t.Model)
	return jsonProbe(t, path, body, auth)
}
