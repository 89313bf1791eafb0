package provider

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUnserved_ByType pins which recognised APIs each kind of type refuses
// (issue 24 item 5): the APIs Higress routes for it are served, so are
// unrecognised paths, fixed and kept paths, and protocol original.
func TestUnserved_ByType(t *testing.T) {
	azure := "https://r.openai.azure.com/openai/deployments/d?api-version=1"
	tests := []struct {
		typ  string
		opts Options
		path string
		want string
	}{
		{"ai360", Options{}, "/v1/images/generations", "images/generations"},
		{"ai360", Options{}, "/v1/chat/completions?x=1", ""},
		{"ai360", Options{}, "/proxy/v1/embeddings", ""},
		{"ai360", Options{BasePath: "/p"}, "/p/v1/audio/speech", "audio/speech"},
		{"deepseek", Options{}, "/v1/embeddings", "embeddings"},
		{"deepseek", Options{Capabilities: map[string]string{"openai/v1/embeddings": "/beta/embed"}}, "/v1/embeddings", ""},
		{"qwen", Options{}, "/v1/models", "models"},
		{"qwen", Options{}, "/v1/files/f-1/content", ""},
		{"qwen", Options{Original: true}, "/v1/images/generations", ""},
		{"openai", Options{}, "/v1/messages", "messages"},
		{"openai", Options{OpenAICustomURL: "https://o.example.com/x/chat/completions"}, "/v1/messages", ""},
		{"mistral", Options{}, "/v1/images/generations", ""},
		{"cloudflare", Options{CloudflareAccountID: "a"}, "/v1/embeddings", ""},
		{"vllm", Options{}, "/v1/batches/b-1/cancel", "batches/{id}/cancel"},
		{"doubao", Options{}, "/api/v3/contents/generations/tasks", ""},
		{"azure", Options{AzureServiceURL: azure}, "/v1/messages", "messages"},
		{"azure", Options{AzureServiceURL: azure}, "/v1/fine_tuning/jobs/ft-1/events", ""},
		{"azure", Options{AzureServiceURL: "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=1"}, "/v1/messages", ""},
		{"gemini", Options{}, "/v1/audio/speech", "audio/speech"},
		{"gemini", Options{}, "/v1/chat/completions", ""},
		{"gemini", Options{}, "/v1beta/models/gemini-pro:generateContent", ""},
		{"claude", Options{}, "/v1/embeddings", ""},
		{"generic", Options{}, "/v1/images/generations", ""},
		{"bedrock", Options{Original: true, AWSRegion: "us-east-1"}, "/v1/chat/completions", ""},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" "+tc.path, func(t *testing.T) {
			p, err := New(tc.typ, tc.opts)
			require.NoError(t, err)
			require.Equal(t, tc.want, Unserved(p, tc.path))
		})
	}
}

// TestGemini_OpenAIPathsGoToItsOpenAIEndpoint: an OpenAI-format path of an
// API Gemini's OpenAI-compatible endpoint serves goes there, with a bearer
// token and the model left in the body (issue 24 item 5); a native path
// keeps its path and x-goog-api-key.
func TestGemini_OpenAIPathsGoToItsOpenAIEndpoint(t *testing.T) {
	tests := []struct {
		in, want string
		auth     HeaderPair
		inPath   bool
	}{
		{"/v1/chat/completions", "/v1beta/openai/chat/completions", HeaderPair{"authorization", "Bearer tok"}, false},
		{"/proxy/v1/embeddings?x=1&key=client", "/v1beta/openai/embeddings?x=1", HeaderPair{"authorization", "Bearer tok"}, false},
		{"/v1/files/f-1/content", "/v1beta/openai/files/f-1/content", HeaderPair{"authorization", "Bearer tok"}, false},
		{"/v1/batches/b-1/cancel", "/v1beta/openai/batches/b-1/cancel", HeaderPair{"authorization", "Bearer tok"}, false},
		{"/v1beta/openai/chat/completions", "/v1beta/openai/chat/completions", HeaderPair{"authorization", "Bearer tok"}, false},
		{"/v1beta/models/gemini-pro:generateContent?key=client", "/v1beta/models/gemini-pro:generateContent", HeaderPair{"x-goog-api-key", "tok"}, true},
	}
	for _, tc := range tests {
		h, auth := route(t, "gemini", Options{}, "POST", tc.in)
		require.Equal(t, "generativelanguage.googleapis.com", h.Authority)
		require.Equal(t, tc.want, h.Path, tc.in)
		require.Equal(t, []HeaderPair{tc.auth}, auth, tc.in)
		p, _ := New("gemini", Options{})
		require.Equal(t, tc.inPath, p.ModelInPath(h.Path), tc.in)
	}
}

// TestStateful_Paths: the APIs Higress keeps on a consumer's token (issue
// 24 item 4), and a stored response's own paths.
func TestStateful_Paths(t *testing.T) {
	for path, want := range map[string]bool{
		"/v1/responses": true, "/v1/responses/resp_1": true, "/v1/responses/resp_1/input_items?limit=2": true,
		"/v1/files": true, "/proxy/v1/files/f-1/content": true, "/v1/batches": true, "/v1/batches/b-1/cancel": true,
		"/v1/fine_tuning/jobs": true, "/v1/fine_tuning/jobs/ft-1/events": true,
		"/v1/chat/completions": false, "/v1/embeddings": false, "/v1/models": false, "/v1/responses/": false,
		"/v1beta/models/gemini-pro:generateContent": false,
	} {
		require.Equal(t, want, Stateful(path), path)
	}
}
