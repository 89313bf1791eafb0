package mockllm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Behaviour is how the mock answers one token.
type Behaviour struct {
	// Status is the HTTP status to answer (0 = 200 with a completion).
	Status int
	// RetryAfter is sent as Retry-After (seconds) when > 0.
	RetryAfter int
	// Body replaces the answer's body (an error object, say).
	Body string
	// Headers are added to the answer.
	Headers map[string]string
	// Delay is waited before answering.
	Delay time.Duration
	// Reset closes the connection without answering.
	Reset bool
	// Early answers before reading the request body (an upstream that
	// rejects a request at its headers).
	Early bool
	// Chunks sends the body in this many chunks, ChunkDelay apart.
	Chunks     int
	ChunkDelay time.Duration
	// Trailers are sent after the body (HTTP/2, or HTTP/1.1 chunked).
	Trailers map[string]string
	// ResetAfter > 0 sends the headers and that many body bytes, then
	// resets the stream.
	ResetAfter int
	// ResetInMs > 0 sends x-ratelimit-reset as a millisecond epoch (13
	// digits) this many ms after the answer, read off Request.Now: how some
	// providers say when a rate limit resets.
	ResetInMs int
	// FailEvery > 0 makes every FailEvery-th request with this token
	// (probes included) a 500, the others as above: a key that fails often
	// but never twice in a row (the HTTP server only; Plan ignores it).
	FailEvery int
}

// Healthy is the default behaviour.
var Healthy = Behaviour{}

// Answer is what the mock does for one request: the same plan drives the
// HTTP server and the emulator's fake cluster, so both hosts see the same
// upstream.
type Answer struct {
	Status     int
	Headers    [][2]string
	Body       []byte
	Chunks     []int
	ChunkDelay time.Duration
	Trailers   [][2]string
	Delay      time.Duration
	Early      bool
	// ResetBefore closes the connection before any answer; ResetAfter
	// (with MidStreamReset) after the headers and that many body bytes.
	ResetBefore    bool
	MidStreamReset bool
	ResetAfter     int
}

// Request is what a plan needs to know of a request.
type Request struct {
	Method, Path string
	Body         []byte
	Header       func(string) string
	// Now is the answer's wall clock (nil: time.Now): the emulator plays
	// the mock on its own virtual clock.
	Now func() time.Time
}

// ShapeHeader lets a client choose one request's answer shape (for the
// differential tests): a JSON Behaviour, applied over the token's own.
const ShapeHeader = "x-mock-shape"

// Plan decides the answer to r under behaviour b (and the request's own
// ShapeHeader, if any).
func Plan(b Behaviour, r Request) (Answer, string) {
	if r.Header != nil {
		if v := r.Header(ShapeHeader); v != "" {
			var over Behaviour
			if err := json.Unmarshal([]byte(v), &over); err == nil {
				b = over
			}
		}
	}
	var body struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.Unmarshal(r.Body, &body)
	model := body.Model
	if i := strings.Index(r.Path, "/models/"); i >= 0 && strings.Contains(r.Path, ":") {
		model = r.Path[i+len("/models/") : strings.LastIndex(r.Path, ":")]
	}
	a := Answer{Status: b.Status, Delay: b.Delay, Early: b.Early, ChunkDelay: b.ChunkDelay}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	if b.Reset {
		return Answer{ResetBefore: true, Delay: b.Delay}, model
	}
	a.Headers = [][2]string{{"content-type", "application/json"}}
	if b.RetryAfter > 0 {
		a.Headers = append(a.Headers, [2]string{"retry-after", strconv.Itoa(b.RetryAfter)})
	}
	if b.ResetInMs > 0 {
		now := time.Now
		if r.Now != nil {
			now = r.Now
		}
		reset := now().Add(time.Duration(b.ResetInMs) * time.Millisecond).UnixMilli()
		a.Headers = append(a.Headers, [2]string{"x-ratelimit-reset", strconv.FormatInt(reset, 10)})
	}
	a.Headers = append(a.Headers, sortedPairs(b.Headers)...)
	switch {
	case b.Body != "":
		a.Body = []byte(b.Body)
	case a.Status != http.StatusOK:
		a.Body = []byte(fmt.Sprintf(`{"error":{"message":"mock status %d","type":"mock_error"}}`, a.Status))
	case strings.HasSuffix(r.Path, "/models") && r.Method == http.MethodGet:
		a.Body = []byte(`{"object":"list","data":[{"id":"mock-model","object":"model"}]}`)
	case strings.HasSuffix(r.Path, "/embeddings"):
		a.Body = []byte(fmt.Sprintf(`{"object":"list","model":%q,"data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}]}`, model))
	case strings.HasSuffix(r.Path, "/messages"):
		a.Body = []byte(fmt.Sprintf(`{"type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"pong"}]}`, model))
	case strings.Contains(r.Path, ":generateContent") || strings.Contains(r.Path, ":streamGenerateContent"):
		a.Body = []byte(`{"candidates":[{"content":{"parts":[{"text":"pong"}]}}]}`)
	case body.Stream:
		a.Headers[0][1] = "text/event-stream"
		var sb strings.Builder
		for _, part := range []string{"po", "ng"} {
			fmt.Fprintf(&sb, "data: {\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", model, part)
		}
		sb.WriteString("data: [DONE]\n\n")
		a.Body = []byte(sb.String())
		if b.Chunks == 0 {
			b.Chunks = 3
		}
	default:
		a.Body = []byte(fmt.Sprintf(`{"object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"pong"}}]}`, model))
	}
	if b.Chunks > 1 {
		size := (len(a.Body) + b.Chunks - 1) / b.Chunks
		for i := 0; i < b.Chunks-1; i++ {
			a.Chunks = append(a.Chunks, size)
		}
	}
	a.Trailers = sortedPairs(b.Trailers)
	if b.ResetAfter > 0 {
		a.MidStreamReset, a.ResetAfter = true, min(b.ResetAfter, len(a.Body))
	}
	return a, model
}

// sortedPairs lists a map's entries by key, names lower-cased.
func sortedPairs(m map[string]string) [][2]string {
	if len(m) == 0 {
		return nil
	}
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		out = append(out, [2]string{strings.ToLower(k), v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// IsProbe tells whether a request is the plugin's health probe: a model
// list, or a one-token request asking "ping".
func IsProbe(method, path string, body []byte) bool {
	if method == http.MethodGet && strings.HasSuffix(path, "/models") {
		return true
	}
	var p struct {
		MaxTokens int             `json:"max_tokens"`
		Messages  json.RawMessage `json:"messages"`
		Input     string          `json:"input"`
		Prompt    string          `json:"prompt"`
	}
	if json.Unmarshal(body, &p) != nil {
		return false
	}
	return (p.MaxTokens == 1 && (strings.Contains(string(p.Messages), `"ping"`) || p.Prompt == "ping")) || p.Input == "ping" ||
		strings.Contains(string(body), `"parts":[{"text":"ping"}]`)
}
