package provider

import "strings"

// vertex is Vertex AI in express mode, as Higress serves apiTokens under
// protocol original: Vertex's own REST API
// (/v1/publishers/google/models/{model}:generateContent,
// /v1/projects/{p}/locations/{l}/publishers/{pub}/models/{model}:{action})
// goes as the client wrote it to aiplatform.googleapis.com, the API key in
// x-goog-api-key (Higress appends ?key=, which lands in access logs).
type vertex struct{}

// vertexExpressHost is express mode's host: it has no region.
const vertexExpressHost = "aiplatform.googleapis.com"

// vertexProbeModel names no model: see bedrockProbeModel.
const vertexProbeModel = "token-failover-probe"

func newVertex(o Options) (Provider, error) {
	switch {
	case o.SignedBy != "":
		return nil, fieldErr(o.SignedBy, "service-account keys (an OAuth token exchange) are not supported yet; use Vertex "+
			"express-mode API keys in apiTokens with protocol: original")
	case o.VertexOpenAICompatible:
		return nil, fieldErr("vertexOpenAICompatible", "true cannot be combined with apiTokens (express mode); Higress refuses "+
			"the configuration too")
	case !o.Original:
		return nil, fieldErr("protocol", "openai (the default) is not supported for type vertex with apiTokens (express mode): "+
			"Higress converts OpenAI requests to Vertex's generateContent, predict or rawPredict bodies, this plugin converts "+
			"no protocol; set protocol: original to send Vertex's own REST API "+
			"(/v1/publishers/google/models/{model}:generateContent, ...) with the keys, as Higress does then")
	}
	return vertex{}, nil
}

func (v vertex) Type() string { return "vertex" }

// Rewrite sets the authority and drops a ?key= query credential, as for
// gemini.
func (v vertex) Rewrite(h *Head) {
	h.Authority = vertexExpressHost
	h.Path = StripQueryParam(h.Path, "key")
}

func (v vertex) Auth(_ Head, secret string) []HeaderPair {
	return []HeaderPair{{"x-goog-api-key", secret}}
}

func (v vertex) ModelInPath(path string) bool {
	_, _, ok := PathModel(path)
	return ok
}

// Probe asks the model for one token on the publisher's own method
// (generateContent for Google's models, rawPredict for Anthropic's), on the
// path prefix of the request that failed; with no model known it asks
// vertexProbeModel.
func (v vertex) Probe(t ProbeTarget, secret string) Probe {
	model := t.Model
	if model == "" {
		model = vertexProbeModel
	}
	prefix := "/v1/publishers/google/models/"
	if i := strings.Index(t.Path, "/models/"); i >= 0 && !t.Free {
		prefix = t.Path[:i+len("/models/")]
	}
	auth := v.Auth(Head{}, secret)
	if strings.Contains(prefix, "/publishers/anthropic/") {
		return jsonProbe(t, prefix+model+":rawPredict",
			[]byte(`{"anthropic_version":"vertex-2023-10-16","max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`), auth)
	}
	return jsonProbe(t, prefix+model+":generateContent",
		[]byte(`{"contents":[{"role":"user","parts":[{"text":"ping"}]}],"generationConfig":{"maxOutputTokens":1}}`), auth)
}
