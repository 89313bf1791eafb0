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

// Probe sends a one-token chat completion when a model is configured, else
// lists models (free on every OpenAI-compatible API).
func (b bearer) Probe(t Head, secret, model string) Probe {
	p := Probe{Method: "GET", Authority: t.Authority, Path: b.basePath + "/models", Headers: b.Auth(t, secret)}
	if model != "" {
		p.Method, p.Path, p.Body = "POST", chatPath(t.Path, b.basePath+"/chat/completions"), chatProbeBody(model)
		p.Headers = append(p.Headers, HeaderPair{"content-type", "application/json"})
	}
	return p
}

// chatPath keeps the recorded path when it was a chat completion (so the
// probe follows the route the token failed on), else uses def.
func chatPath(recorded, def string) string {
	if len(recorded) >= len("/chat/completions") && recorded[len(recorded)-len("/chat/completions"):] == "/chat/completions" {
		return recorded
	}
	return def
}
