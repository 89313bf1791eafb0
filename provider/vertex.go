package provider

import "strings"

// vertex is Vertex AI as Higress serves it without a protocol conversion:
//
//   - express mode (apiTokens), protocol original: Vertex's own REST API
//     (/v1/publishers/google/models/{model}:generateContent,
//     /v1/projects/{p}/locations/{l}/publishers/{pub}/models/{model}:{action})
//     goes as the client wrote it to aiplatform.googleapis.com, the API key
//     in x-goog-api-key (Higress appends ?key=, which lands in access logs);
//   - a service-account key (vertexAuthKey): the same REST API under protocol
//     original, or with vertexOpenAICompatible OpenAI chat completions on
//     Vertex's OpenAI-compatible endpoint, to <vertexRegion>-aiplatform.
//     googleapis.com, with an OAuth access token the plugin gets by
//     exchanging the key through authCluster (see TokenExchange): Auth sets
//     nothing then.
type vertex struct {
	host string
	// authCluster is vertexAuthServiceName: the Envoy cluster of the token
	// endpoint; set for a service-account key only.
	authCluster string
	// openAIPath is the chat path of vertexOpenAICompatible ("" otherwise).
	openAIPath string
	// prefix is where a probe asks a model with no path recorded.
	prefix string
}

// vertexExpressHost is express mode's host: it has no region.
const vertexExpressHost = "aiplatform.googleapis.com"

// vertexProbeModel names no model: see bedrockProbeModel.
const vertexProbeModel = "token-failover-probe"

func newVertex(o Options) (Provider, error) {
	if o.SignedBy != "" {
		return newVertexServiceAccount(o)
	}
	switch {
	case o.VertexOpenAICompatible:
		return nil, fieldErr("vertexOpenAICompatible", "true cannot be combined with apiTokens (express mode); Higress refuses "+
			"the configuration too")
	case !o.Original:
		return nil, fieldErr("protocol", "openai (the default) is not supported for type vertex with apiTokens (express mode): "+
			"Higress converts OpenAI requests to Vertex's generateContent, predict or rawPredict bodies, this plugin converts "+
			"no protocol; set protocol: original to send Vertex's own REST API "+
			"(/v1/publishers/google/models/{model}:generateContent, ...) with the keys, as Higress does then")
	}
	return vertex{host: vertexExpressHost, prefix: "/v1/publishers/google/models/"}, nil
}

// newVertexServiceAccount is vertex with a service-account key, checked as
// Higress checks it.
func newVertexServiceAccount(o Options) (Provider, error) {
	switch {
	case !o.Original && !o.VertexOpenAICompatible:
		return nil, fieldErr("protocol", "openai (the default) is not supported for type vertex with vertexAuthKey unless "+
			"vertexOpenAICompatible is true: Higress converts OpenAI requests to Vertex's generateContent, predict or "+
			"rawPredict bodies, this plugin converts no protocol; set vertexOpenAICompatible: true for Vertex's "+
			"OpenAI-compatible chat endpoint, or protocol: original for Vertex's own REST API, as Higress does then")
	case o.VertexRegion == "" || o.VertexProjectID == "":
		return nil, fieldErr("vertexRegion", "and vertexProjectId are required with vertexAuthKey (Higress refuses the "+
			"configuration without them too)")
	case !regionName(o.VertexRegion) || strings.ContainsAny(o.VertexProjectID, "/?#% "):
		return nil, fieldErr("vertexRegion", "must be a region such as us-central1, and vertexProjectId a project id")
	case o.VertexAuthCluster == "":
		return nil, fieldErr("vertexAuthServiceName", "is required with vertexAuthKey: the Envoy cluster that reaches the "+
			"service account's token_uri (oauth2.googleapis.com:443 over TLS), through which the key is exchanged for "+
			"access tokens (Higress refuses the configuration without it too)")
	}
	v := vertex{host: o.VertexRegion + "-" + vertexExpressHost, authCluster: o.VertexAuthCluster,
		prefix: "/v1/projects/" + o.VertexProjectID + "/locations/" + o.VertexRegion + "/publishers/google/models/"}
	if o.VertexRegion == "global" {
		v.host = vertexExpressHost
	}
	if !o.Original {
		v.openAIPath = "/v1beta1/projects/" + o.VertexProjectID + "/locations/" + o.VertexRegion +
			"/endpoints/openapi/chat/completions"
	}
	return v, nil
}

// TokenExchange tells whether p's credentials are exchanged for access
// tokens before use (a Vertex service-account key), and through which
// Envoy cluster.
func TokenExchange(p Provider) (cluster string, ok bool) {
	if r, isRouted := p.(routed); isRouted {
		p = r.Provider
	}
	v, isVertex := p.(vertex)
	return v.authCluster, isVertex && v.authCluster != ""
}

func (v vertex) Type() string { return "vertex" }

// Rewrite sets the authority and drops a ?key= query credential, as for
// gemini; with vertexOpenAICompatible a chat completion goes to the
// OpenAI-compatible endpoint.
func (v vertex) Rewrite(h *Head) {
	h.Authority = v.host
	h.Path = StripQueryParam(h.Path, "key")
	if v.openAIPath == "" {
		return
	}
	only, query := splitQuery(h.Path)
	if a, _ := detectAPI(only); a == apiChat {
		h.Path = withQuery(v.openAIPath, query)
	}
}

// serves tells whether the OpenAI-compatible endpoint serves API a (see
// Unserved): chat completions only; Vertex's own API serves every path.
func (v vertex) serves(a api) bool { return v.openAIPath == "" || a == apiChat }

// Auth is the API key in x-goog-api-key; nothing for a service-account key,
// whose access token the plugin sets.
func (v vertex) Auth(_ Head, secret string) []HeaderPair {
	if v.authCluster != "" {
		return nil
	}
	return []HeaderPair{{"x-goog-api-key", secret}}
}

func (v vertex) ModelInPath(path string) bool {
	_, _, ok := PathModel(path)
	return ok
}

// Probe asks the model for one token on the publisher's own method
// (generateContent for Google's models, rawPredict for Anthropic's), on the
// path prefix of the request that failed, or on the OpenAI-compatible
// endpoint; with no model known it asks vertexProbeModel.
func (v vertex) Probe(t ProbeTarget, secret string) Probe {
	model := t.Model
	if model == "" {
		model = vertexProbeModel
	}
	auth := v.Auth(Head{}, secret)
	if v.openAIPath != "" {
		path, body := oneTokenRequest(v.openAIPath, v.openAIPath, model)
		return jsonProbe(t, path, body, auth)
	}
	prefix := v.prefix
	if i := strings.Index(t.Path, "/models/"); i >= 0 && !t.Free {
		prefix = t.Path[:i+len("/models/")]
	}
	if strings.Contains(prefix, "/publishers/anthropic/") {
		return jsonProbe(t, prefix+model+":rawPredict",
			[]byte(`{"anthropic_version":"vertex-2023-10-16","max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`), auth)
	}
	return jsonProbe(t, prefix+model+":generateContent",
		[]byte(`{"contents":[{"role":"user","parts":[{"text":"ping"}]}],"generationConfig":{"maxOutputTokens":1}}`), auth)
}
