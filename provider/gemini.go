package provider

import "strings"

// gemini uses x-goog-api-key on the native API, where the model sits in the
// path (/v1beta/models/{model}:generateContent), and Bearer on its
// OpenAI-compatible endpoint (/v1beta/openai/...), where it is in the body.
type gemini struct {
	host string
	// version is the API version of probes (apiVersion; default v1beta);
	// a client's own path keeps its version.
	version string
}

const geminiOpenAIPrefix = "/v1beta/openai/"

func (g gemini) Type() string { return "gemini" }

// geminiOpenAIAPIs are the OpenAI APIs Gemini's OpenAI-compatible
// endpoint serves (ai.google.dev/gemini-api/docs/openai): chat
// completions, embeddings, models, image generation, and the files and
// batches of its Batch API.
var geminiOpenAIAPIs = apis(apiChat, apiEmbeddings, apiModels, apiImageGeneration,
	apiFiles, apiFile, apiFileContent, apiBatches, apiBatch, apiBatchCancel)

// Rewrite sets the authority, sends an OpenAI-format path of an API the
// OpenAI-compatible endpoint serves there ("/v1/chat/completions" to
// "/v1beta/openai/chat/completions": Google answers the OpenAI path itself
// with 404), and drops a ?key= query credential: the client's own key must
// not reach Google beside the operator's, nor be recorded as a probe path.
func (g gemini) Rewrite(h *Head) {
	h.Authority = g.host
	p := StripQueryParam(h.Path, "key")
	only, query := splitQuery(p)
	if a, rel := detectAPI(only); geminiOpenAIAPIs.has(a) {
		p = withQuery(geminiOpenAIPrefix+rel[1:], query)
	}
	h.Path = p
}

// serves tells whether an OpenAI-format API has a Gemini endpoint (see
// Unserved); Gemini's native paths are recognised by no OpenAI API and
// always go.
func (g gemini) serves(a api) bool { return geminiOpenAIAPIs.has(a) }

// StripQueryParam removes every name=... parameter from a path's query.
func StripQueryParam(path, name string) string {
	q := strings.IndexByte(path, '?')
	if q < 0 {
		return path
	}
	var kept []string
	for _, kv := range strings.Split(path[q+1:], "&") {
		if k, _, _ := strings.Cut(kv, "="); k != name {
			kept = append(kept, kv)
		}
	}
	if len(kept) == 0 {
		return path[:q]
	}
	return path[:q+1] + strings.Join(kept, "&")
}

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
	return segmentAfter(path, "/models/", ':')
}

// segmentAfter finds the non-empty text between the first marker in path
// and the next stop byte.
func segmentAfter(path, marker string, stop byte) (start, end int, ok bool) {
	i := strings.Index(path, marker)
	if i < 0 {
		return 0, 0, false
	}
	start = i + len(marker)
	j := strings.IndexByte(path[start:], stop)
	if j <= 0 {
		return 0, 0, false
	}
	return start, start + j, true
}

// Probe lists models (free) for the free probe or when no model is known,
// else asks the model for one token: natively, or on the OpenAI-compatible
// endpoint when that is what failed.
func (g gemini) Probe(t ProbeTarget, secret string) Probe {
	if t.Free || t.Model == "" {
		p := "/" + g.version + "/models"
		return Probe{Method: "GET", Authority: t.Authority, Path: p, Headers: g.Auth(Head{Path: p}, secret)}
	}
	if strings.HasPrefix(t.Path, geminiOpenAIPrefix) {
		path, body := oneTokenRequest(t.Path, geminiOpenAIPrefix+"chat/completions", t.Model)
		return jsonProbe(t, path, body, g.Auth(Head{Path: path}, secret))
	}
	path := "/" + g.version + "/models/" + t.Model + ":generateContent"
	return jsonProbe(t, path, []byte(`{"contents":[{"parts":[{"text":"ping"}]}],"generationConfig":{"maxOutputTokens":1}}`),
		g.Auth(Head{Path: path}, secret))
}
