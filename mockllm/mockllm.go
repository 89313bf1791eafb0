// Package mockllm is a small OpenAI-compatible upstream for tests and the
// demo. Each token's behaviour can be scripted while it runs (healthy, an
// error status with optional Retry-After, slow, connection reset), and every
// request is recorded (token, model, path, probe or not) so tests can count.
//
// It serves any path ending in /chat/completions (streaming as SSE when the
// body says "stream": true), /embeddings, /models, Anthropic's /v1/messages
// and Gemini's /v1beta/models/{model}:generateContent.
package mockllm

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Behaviour is how the mock answers one token.
type Behaviour struct {
	// Status is the HTTP status to answer (0 = 200 with a completion).
	Status int
	// RetryAfter is sent as Retry-After (seconds) when > 0.
	RetryAfter int
	// Delay is waited before answering.
	Delay time.Duration
	// Reset closes the connection without answering.
	Reset bool
}

// Healthy is the default behaviour.
var Healthy = Behaviour{}

// Record is one request the mock received.
type Record struct {
	Time   time.Time
	Token  string
	Model  string
	Method string
	Path   string
	Status int
	// Probe is true for requests whose body asks for max_tokens 1 with the
	// "ping" prompt (the plugin's health probe) or a GET of a model list.
	Probe bool
}

// Server is the mock provider.
type Server struct {
	mu       sync.Mutex
	behave   map[string]Behaviour
	records  []Record
	listener net.Listener
	srv      *http.Server
}

// New returns a server with every token healthy.
func New() *Server {
	s := &Server{behave: map[string]Behaviour{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Start listens on addr ("127.0.0.1:0" for a free port) and serves in the
// background; it returns the address.
func (s *Server) Start(addr string) (string, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.listener = l
	go func() { _ = s.srv.Serve(l) }()
	return l.Addr().String(), nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Set scripts the behaviour of a token.
func (s *Server) Set(token string, b Behaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behave[token] = b
}

// Records returns a copy of every request received so far.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// Count counts live requests (probe=false) or probes (probe=true) that
// reached token since t.
func (s *Server) Count(token string, probe bool, since time.Time) int {
	n := 0
	for _, r := range s.Records() {
		if r.Token == token && r.Probe == probe && !r.Time.Before(since) {
			n++
		}
	}
	return n
}

// tokenOf finds the credential in any of the providers' auth headers.
func tokenOf(r *http.Request) string {
	if v := r.Header.Get("Authorization"); strings.HasPrefix(v, "Bearer ") {
		return strings.TrimPrefix(v, "Bearer ")
	}
	for _, h := range []string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key"} {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	return ""
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Model     string          `json:"model"`
		Stream    bool            `json:"stream"`
		MaxTokens int             `json:"max_tokens"`
		Messages  json.RawMessage `json:"messages"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&body)
	model := body.Model
	if i := strings.Index(r.URL.Path, "/models/"); i >= 0 && strings.Contains(r.URL.Path, ":") {
		model = r.URL.Path[i+len("/models/") : strings.LastIndex(r.URL.Path, ":")]
	}
	token := tokenOf(r)
	probe := (body.MaxTokens == 1 && strings.Contains(string(body.Messages), `"ping"`)) ||
		(r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models"))
	s.mu.Lock()
	b := s.behave[token]
	s.mu.Unlock()
	if b.Delay > 0 {
		time.Sleep(b.Delay)
	}
	status := b.Status
	if status == 0 {
		status = http.StatusOK
	}
	if b.Reset {
		status = 0
	}
	s.mu.Lock()
	s.records = append(s.records, Record{Time: time.Now(), Token: token, Model: model, Method: r.Method,
		Path: r.URL.Path, Status: status, Probe: probe})
	s.mu.Unlock()
	if b.Reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if token == "" {
		status = http.StatusUnauthorized
	}
	w.Header().Set("Content-Type", "application/json")
	if b.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(b.RetryAfter))
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"message":"mock status %d","type":"mock_error"}}`, status)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/models") && r.Method == http.MethodGet:
		fmt.Fprint(w, `{"object":"list","data":[{"id":"mock-model","object":"model"}]}`)
	case strings.HasSuffix(r.URL.Path, "/embeddings"):
		fmt.Fprintf(w, `{"object":"list","model":%q,"data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}]}`, model)
	case strings.HasSuffix(r.URL.Path, "/messages"):
		fmt.Fprintf(w, `{"type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"pong"}]}`, model)
	case strings.Contains(r.URL.Path, ":generateContent") || strings.Contains(r.URL.Path, ":streamGenerateContent"):
		fmt.Fprint(w, `{"candidates":[{"content":{"parts":[{"text":"pong"}]}}]}`)
	case body.Stream:
		w.Header().Set("Content-Type", "text/event-stream")
		for _, part := range []string{"po", "ng"} {
			fmt.Fprintf(w, "data: {\"object\":\"chat.completion.chunk\",\"model\":%q,\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", model, part)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	default:
		fmt.Fprintf(w, `{"object":"chat.completion","model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"pong"}}]}`, model)
	}
}
