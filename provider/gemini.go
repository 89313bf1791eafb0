package provider

import "strings"

// gemini uses x-goog-api-key on the native API, where the model sits in the
// path (/v1beta/models/{model}:generateContent), and Bearer on its
// OpenAI-compatible endpoint (/v1beta/openai/...), where it is in the body.
type gemini struct {
	host string
}

const geminiOpenAIPrefix = "/v1beta/openai/"

func (g gemini) Type() string { return "gemini" }

func (g gemini) Rewrite(h *Head) { h.Authority = g.host }

func (g gemini) Auth(h Head, secret string) []HeaderPair {
	if strings.HasPrefix(h.Path, geminiOpenAIPrefix) {
		return []HeaderPair{{"authorization", "Bearer " + secret}}
	}
	return []HeaderPair{{"x-goog-api-key", secret}}
}

func (g gemini) ModelInPath(path string) bool {
	_, _, ok := PathModel(path)
	return ok && !strings.HasPrefix(path, geminiOpenAIPrefix)
}

// PathModel finds the model in a Gemini native path: the segment after
// "/models/" up to ":" (the method). start and end index it in path.
func PathModel(path string) (start, end int, ok bool) {
	i := strings.Index(path, "/models/")
	if i < 0 {
		return 0, 0, false
	}
	start = i + len("/models/")
	j := strings.IndexByte(path[start:], ':')
	if j <= 0 {
		return 0, 0, false
	}
	return start, start + j, true
}

// Probe lists models (free) unless a model is configured, then asks that
// model for one token.
func (g gemini) Probe(t Head, secret, model string) Probe {
	h := Head{Path: "/v1beta/models"}
	p := Probe{Method: "GET", Authority: t.Authority, Path: "/v1beta/models", Headers: g.Auth(h, secret)}
	if model != "" {
		p.Method, p.Path = "POST", "/v1beta/models/"+model+":generateContent"
		p.Headers = append(p.Headers, HeaderPair{"content-type", "application/json"})
		p.Body = []byte(`{"contents":[{"parts":[{"text":"ping"}]}],"generationConfig":{"maxOutputTokens":1}}`)
	}
	return p
}
