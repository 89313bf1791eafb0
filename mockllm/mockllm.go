// Package mockllm is a small OpenAI-compatible upstream for tests and the
// demo. Each token's behaviour can be scripted while it runs (healthy, an
// error status with optional Retry-After, slow, connection reset), and every
// request is recorded (token, model, path, probe or not) so tests can count.
//
// It serves any path ending in /chat/completions (streaming as SSE when the
// body says "stream": true), /embeddings, /models, Anthropic's /v1/messages
// and Gemini's /v1beta/models/{model}:generateContent. Plan decides each
// answer, so the emulator's fake cluster can answer exactly as it does.
//
// Start serves plain HTTP (HTTP/1.1 and h2c). StartTLS serves TLS as a real
// provider does (api.openai.com:443), with a certificate from a CA made at
// start (CACertPEM, WriteCACert) and HTTP/1.1 or HTTP/2 by ALPN;
// StartStrictTLS also answers 421 to a request whose SNI or Host is not
// one of its names. Every record carries the SNI and Host it arrived with.
package mockllm

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

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
	// Body, Header and Trailer are the request as received (Body is empty
	// when the mock answered early without reading it).
	Body    []byte
	Header  http.Header
	Trailer http.Header
	// SNI is the TLS server name the client sent: empty over plain HTTP
	// (Start) and when the client sent none (Go and Envoy send none for an
	// IP address). Example: "api.openai.com".
	SNI string
	// Host is the request's Host header (:authority in HTTP/2) as received,
	// port included if the client sent one. Example: "api.openai.com".
	Host string
}

// Server is the mock provider.
type Server struct {
	mu         sync.Mutex
	behave     map[string]Behaviour
	seen       map[string]int // requests per token, for FailEvery
	records    []Record
	listener   net.Listener
	srv        *http.Server
	tlsServers []*http.Server // one per StartTLS or StartStrictTLS
	ca         *authority     // made by the first StartTLS or StartStrictTLS
}

// New returns a server with every token healthy.
func New() *Server {
	s := &Server{behave: map[string]Behaviour{}, seen: map[string]int{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	// HTTP/1.1 and cleartext HTTP/2 (h2c), so a cluster may use either
	// (trailers need HTTP/2 or chunked HTTP/1.1).
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s.srv.Protocols = &protocols
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

// Close stops the server and its TLS listeners.
func (s *Server) Close() error {
	s.mu.Lock()
	servers := append([]*http.Server{s.srv}, s.tlsServers...)
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Close())
	}
	return errors.Join(errs...)
}

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

// ServeHTTP implements http.Handler: it plans the answer from the token's
// behaviour and carries it out over the wire (early, chunked, with
// trailers, reset before or during the answer).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, nil) }

// serve is ServeHTTP for a listener that serves only names (nil: any
// name): a request for another name is answered 421 (misdirected).
func (s *Server) serve(w http.ResponseWriter, r *http.Request, names []string) {
	token := tokenOf(r)
	s.mu.Lock()
	b := s.behave[token]
	s.seen[token]++
	if b.FailEvery > 0 && s.seen[token]%b.FailEvery == 0 {
		b = Behaviour{Status: http.StatusInternalServerError}
	}
	s.mu.Unlock()
	var body []byte
	early := b.Early || strings.Contains(r.Header.Get(ShapeHeader), `"Early":true`)
	if early {
		// Go's HTTP/1 server holds a response until the request body is
		// read unless full duplex is on.
		_ = http.NewResponseController(w).EnableFullDuplex()
	} else {
		var err error
		if body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20)); err != nil {
			return // the request never arrived whole (Envoy reset it): nothing was received
		}
	}
	a, model := Plan(b, Request{Method: r.Method, Path: r.URL.Path, Body: body, Header: r.Header.Get})
	isProbe := IsProbe(r.Method, r.URL.Path, body)
	status := a.Status
	if a.ResetBefore {
		status = 0
	}
	if token == "" && !a.ResetBefore {
		status = http.StatusUnauthorized
		a = Answer{Status: status, Headers: [][2]string{{"content-type", "application/json"}},
			Body: []byte(`{"error":{"message":"no token","type":"mock_error"}}`)}
	}
	if why := misdirected(r, names); why != "" { // the edge answers before the scripted behaviour
		status = http.StatusMisdirectedRequest
		msg, _ := json.Marshal(why)
		a = Answer{Status: status, Headers: [][2]string{{"content-type", "application/json"}},
			Body: []byte(`{"error":{"message":` + string(msg) + `,"type":"mock_misdirected"}}`)}
	}
	sni := ""
	if r.TLS != nil {
		sni = r.TLS.ServerName
	}
	s.mu.Lock()
	s.records = append(s.records, Record{Time: time.Now(), Token: token, Model: model, Method: r.Method,
		Path: r.URL.Path, Status: status, Probe: isProbe, Body: body, Header: r.Header.Clone(), Trailer: r.Trailer.Clone(),
		SNI: sni, Host: r.Host})
	s.mu.Unlock()
	if a.Delay > 0 { // recorded on arrival: a request that then times out was still received
		time.Sleep(a.Delay)
	}
	if a.ResetBefore {
		hangUp(w)
		return
	}
	for _, h := range a.Headers {
		w.Header().Set(h[0], h[1])
	}
	for _, t := range a.Trailers {
		w.Header().Add("Trailer", t[0])
	}
	if len(a.Chunks) == 0 && !a.MidStreamReset && len(a.Trailers) == 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(a.Body)))
	}
	w.WriteHeader(a.Status)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	flush()
	sent := 0
	for i, n := range append(append([]int(nil), a.Chunks...), len(a.Body)) {
		if i > 0 && a.ChunkDelay > 0 {
			time.Sleep(a.ChunkDelay)
		}
		n = min(n, len(a.Body)-sent)
		if a.MidStreamReset && sent+n >= a.ResetAfter {
			_, _ = w.Write(a.Body[sent:a.ResetAfter])
			flush()
			time.Sleep(20 * time.Millisecond) // let the bytes leave before the reset
			hangUp(w)
			return
		}
		_, _ = w.Write(a.Body[sent : sent+n])
		flush()
		sent += n
	}
	for _, t := range a.Trailers {
		w.Header().Set(t[0], t[1])
	}
}

// hangUp closes the connection without a (complete) answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset, not a clean close
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
