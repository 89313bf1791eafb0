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

// Probe lists models (free) for the free probe or when no model is known,
// else sends a one-token message.
func (c claude) Probe(t ProbeTarget, secret string) Probe {
	auth := c.Auth(Head{}, secret)
	if t.Free || t.Model == "" {
		return Probe{Method: "GET", Authority: t.Authority, Path: "/v1/models", Headers: auth}
	}
	path, body := oneTokenRequest(t.Path, "/v1/messages", t.Model)
	return jsonProbe(t, path, body, auth)
}
