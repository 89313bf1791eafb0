package provider

// DefaultClaudeVersion is the anthropic-version sent when none is configured.
const DefaultClaudeVersion = "2023-06-01"

// claude uses x-api-key plus anthropic-version; the client speaks
// Anthropic's own /v1/messages API, so the path is kept.
type claude struct {
	host    string
	version string
}

func (c claude) Type() string { return "claude" }

func (c claude) Rewrite(h *Head) { h.Authority = c.host }

func (c claude) Auth(_ Head, secret string) []HeaderPair {
	return []HeaderPair{{"x-api-key", secret}, {"anthropic-version", c.version}}
}

func (c claude) ModelInPath(string) bool { return false }

// Probe lists models (free) unless a model is configured, then sends a
// one-token message.
func (c claude) Probe(t Head, secret, model string) Probe {
	p := Probe{Method: "GET", Authority: t.Authority, Path: "/v1/models", Headers: c.Auth(t, secret)}
	if model != "" {
		p.Method, p.Path = "POST", "/v1/messages"
		p.Headers = append(p.Headers, HeaderPair{"content-type", "application/json"})
		p.Body = []byte(`{"model":` + jsonString(model) + `,"max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`)
	}
	return p
}
