package provider

import "strings"

// api is an API a client may call, recognised as Higress recognises it: by
// the end of the request path (query excluded), so "/v1/chat/completions"
// and "/proxy/v1/chat/completions" are both chat completions. A provider
// sends a recognised API to its own path for it; any other path is kept.
type api uint8

const (
	apiNone api = iota
	apiChat
	apiCompletion
	apiEmbeddings
	apiModels
	apiResponses
	apiImageGeneration
	apiImageEdit
	apiImageVariation
	apiAudioSpeech
	apiAudioTranscription
	apiAudioTranslation
	apiRealtime
	apiFiles
	apiFile        // /v1/files/{id}
	apiFileContent // /v1/files/{id}/content
	apiBatches
	apiBatch       // /v1/batches/{id}
	apiBatchCancel // /v1/batches/{id}/cancel
	apiFineTuningJobs
	apiFineTuning // every /v1/fine_tuning/... path with an id in it
	apiVideos
	apiVideo       // /v1/videos/{id}, .../content, .../remix
	apiMessages    // Anthropic /v1/messages
	apiCountTokens // Anthropic /v1/messages/count_tokens
	apiComplete    // Anthropic /v1/complete
	apiRerank      // Cohere-style /v1/rerank
	apiReranks     // Qwen /v1/reranks
	apiConversations
)

// String names the API by its path after "/v1" ("images/generations",
// "files/{id}"), for messages.
func (a api) String() string {
	for _, s := range apiSuffixes {
		if s.api == a {
			return s.rel[1:]
		}
	}
	return idAPINames[a]
}

// idAPINames name the APIs whose path carries an id (see withID).
var idAPINames = map[api]string{
	apiFile: "files/{id}", apiFileContent: "files/{id}/content", apiBatch: "batches/{id}",
	apiBatchCancel: "batches/{id}/cancel", apiFineTuning: "fine_tuning/jobs/{id}/...", apiVideo: "videos/{id}",
}

// apiSet is a set of apis.
type apiSet uint64

func apis(list ...api) apiSet {
	var s apiSet
	for _, a := range list {
		s |= 1 << a
	}
	return s
}

func (s apiSet) has(a api) bool { return a != apiNone && s&(1<<a) != 0 }

// openAIAPIs is every OpenAI API: what openai and azure serve.
var openAIAPIs = apis(apiChat, apiCompletion, apiEmbeddings, apiModels, apiResponses, apiImageGeneration,
	apiImageEdit, apiImageVariation, apiAudioSpeech, apiAudioTranscription, apiAudioTranslation, apiRealtime,
	apiFiles, apiFile, apiFileContent, apiBatches, apiBatch, apiBatchCancel, apiFineTuningJobs, apiFineTuning,
	apiVideos, apiVideo)

// apiSuffixes are the fixed API paths, in the order Higress tries them (a
// path ending "/v1/chat/completions" is a chat completion before it could
// be a legacy completion).
var apiSuffixes = [...]struct {
	rel string // the path after "/v1"
	api api
}{
	{"/chat/completions", apiChat},
	{"/completions", apiCompletion},
	{"/embeddings", apiEmbeddings},
	{"/audio/speech", apiAudioSpeech},
	{"/audio/transcriptions", apiAudioTranscription},
	{"/audio/translations", apiAudioTranslation},
	{"/realtime", apiRealtime},
	{"/images/generations", apiImageGeneration},
	{"/images/variations", apiImageVariation},
	{"/images/edits", apiImageEdit},
	{"/batches", apiBatches},
	{"/files", apiFiles},
	{"/models", apiModels},
	{"/fine_tuning/jobs", apiFineTuningJobs},
	{"/responses", apiResponses},
	{"/videos", apiVideos},
	{"/messages/count_tokens", apiCountTokens},
	{"/messages", apiMessages},
	{"/complete", apiComplete},
	{"/rerank", apiRerank},
	{"/reranks", apiReranks},
	{"/conversations", apiConversations},
}

// detectAPI names the API of a path (without its query) and returns the
// part of the path after its "/v1" ("/chat/completions", "/files/f-1"),
// which a provider appends to its own base path. apiNone: not recognised.
func detectAPI(path string) (api, string) {
	for _, s := range apiSuffixes {
		if strings.HasSuffix(path, s.rel) && strings.HasSuffix(path[:len(path)-len(s.rel)], "/v1") {
			return s.api, s.rel
		}
	}
	// Paths with an id: the last "/v1/" after which the rest fits.
	for i := strings.LastIndex(path, "/v1/"); i >= 0; i = strings.LastIndex(path[:i], "/v1/") {
		if a := withID(path[i+3:]); a != apiNone {
			return a, path[i+3:]
		}
	}
	return apiNone, ""
}

// withID recognises the OpenAI paths that carry an id ("/files/f-1/content").
func withID(rel string) api {
	seg := strings.Split(rel[1:], "/")
	for _, s := range seg {
		if s == "" {
			return apiNone
		}
	}
	n, last := len(seg), seg[len(seg)-1]
	switch seg[0] {
	case "files":
		switch {
		case n == 2:
			return apiFile
		case n == 3 && last == "content":
			return apiFileContent
		}
	case "batches":
		switch {
		case n == 2:
			return apiBatch
		case n == 3 && last == "cancel":
			return apiBatchCancel
		}
	case "videos":
		if n == 2 || n == 3 && (last == "content" || last == "remix") {
			return apiVideo
		}
	case "fine_tuning":
		switch {
		case n == 3 && seg[1] == "jobs",
			n == 4 && seg[1] == "jobs" && strings.Contains("|events|checkpoints|cancel|resume|pause|", "|"+last+"|"),
			n == 4 && seg[1] == "checkpoints" && last == "permissions",
			n == 5 && seg[1] == "checkpoints" && seg[3] == "permissions":
			return apiFineTuning
		}
	}
	return apiNone
}

// splitQuery cuts a path at its query: ("/a", "?x=1").
func splitQuery(path string) (string, string) {
	if q := strings.IndexByte(path, '?'); q >= 0 {
		return path[:q], path[q:]
	}
	return path, ""
}

// withQuery appends a query ("?x=1", or "" for none) to a path that may
// already have one.
func withQuery(path, query string) string {
	switch {
	case query == "" || query == "?":
		return path
	case strings.Contains(path, "?"):
		return path + "&" + query[1:]
	}
	return path + query
}

// statefulAPIs are the APIs whose objects belong to the key that created
// them (Higress's isStatefulAPI): a file uploaded with one key, a batch or
// fine-tuning job it started, a response it stored, cannot be seen with
// another.
var statefulAPIs = apis(apiResponses, apiFiles, apiFile, apiFileContent, apiBatches, apiBatch, apiBatchCancel,
	apiFineTuningJobs, apiFineTuning)

// Stateful tells whether a request path (as the client sent it) calls a
// stateful API: one of statefulAPIs, or a stored response or its input
// items (/v1/responses/{id}..., which Higress does not recognise).
func Stateful(path string) bool {
	only, _ := splitQuery(path)
	if a, _ := detectAPI(only); statefulAPIs.has(a) {
		return true
	}
	i := strings.LastIndex(only, "/v1/responses/")
	return i >= 0 && len(only) > i+len("/v1/responses/")
}
