package provider

import "strings"

// ProbeTarget is what a health probe asks and where: the authority, path and
// model of the request that failed, so that a probe tries exactly what
// failed (a quota or model-access failure is not hidden behind a free model
// list that still answers 200).
type ProbeTarget struct {
	Authority string
	Path      string
	// Model is the model as sent upstream; empty when none is known.
	Model string
	// Free asks for the provider's free probe (its model list) where it has
	// one: enough to prove that a key is accepted again after a 401.
	Free bool
}

// Probe is a ready-to-send health-check request.
type Probe struct {
	Method    string
	Authority string
	Path      string
	Headers   []HeaderPair
	Body      []byte
}

// oneTokenRequest builds the smallest request of the same API as path: a
// chat completion, embedding, legacy completion, Responses API or Anthropic
// message asking model for one token. Any other path gets a chat
// completion on chat, the provider's chat path.
func oneTokenRequest(path, chat, model string) (string, []byte) {
	p := path
	if q := strings.IndexByte(p, '?'); q >= 0 {
		p = p[:q]
	}
	m := jsonString(model)
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return path, []byte(`{"model":` + m + `,"messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)
	case strings.HasSuffix(p, "/embeddings"):
		return path, []byte(`{"model":` + m + `,"input":"ping"}`)
	case strings.HasSuffix(p, "/completions"):
		return path, []byte(`{"model":` + m + `,"prompt":"ping","max_tokens":1}`)
	case strings.HasSuffix(p, "/responses"):
		return path, []byte(`{"model":` + m + `,"input":"ping","max_output_tokens":16}`)
	case strings.HasSuffix(p, "/messages"):
		return path, []byte(`{"model":` + m + `,"max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`)
	}
	return chat, []byte(`{"model":` + m + `,"messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)
}

// jsonProbe is a POST of body to path with the auth headers.
func jsonProbe(t ProbeTarget, path string, body []byte, auth []HeaderPair) Probe {
	return Probe{Method: "POST", Authority: t.Authority, Path: path, Body: body,
		Headers: append(auth, HeaderPair{"content-type", "application/json"})}
}
