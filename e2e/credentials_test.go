package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/wasmhost"
)

// googleMock is Google's token endpoint and Vertex in one plain-HTTP
// server: /token checks each RS256 assertion with the service account's
// public key and issues access tokens (or refuses the key when revoked);
// any other path answers 200 to a bearer it issued, 401 otherwise.
type googleMock struct {
	pub     *rsa.PublicKey
	mu      sync.Mutex
	revoked bool
	issued  map[string]bool
	calls   int
	bad     int
}

func (g *googleMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	defer g.mu.Unlock()
	w.Header().Set("content-type", "application/json")
	if r.URL.Path == "/token" {
		g.calls++
		form, err := url.ParseQuery(string(body))
		if err != nil || r.Host != "oauth2.googleapis.com" || !g.verify(form.Get("assertion")) {
			g.bad++
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_request"}`))
			return
		}
		if g.revoked {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`))
			return
		}
		tok := fmt.Sprintf("ya29.e2e-access-%d", len(g.issued))
		g.issued[tok] = true
		_, _ = w.Write([]byte(`{"access_token":"` + tok + `","expires_in":3600,"token_type":"Bearer"}`))
		return
	}
	if !g.issued[strings.TrimPrefix(r.Header.Get("authorization"), "Bearer ")] || r.Host != "us-central1-aiplatform.googleapis.com" {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":{"code":401,"status":"UNAUTHENTICATED"}}`))
		return
	}
	_, _ = w.Write([]byte(`{"candidates":[]}`))
}

func (g *googleMock) verify(jwt string) bool {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return err == nil && rsa.VerifyPKCS1v15(g.pub, crypto.SHA256, digest[:], sig) == nil
}

// TestEnvoy_VertexServiceAccountKeyIsExchangedHeldAndFailedOver: in a real
// Envoy (--concurrency 4), a Vertex service-account key is exchanged
// through the auth cluster while the request's headers are held, each VM
// keeps its token (at most one exchange per VM for many requests), a
// revoked key's exchange answers the waiting request 503 locally from the
// http-call callback and demotes the credential, and once the key works
// again a probe restores it; no piece of the key or of a token reaches the
// log or the stats.
func TestEnvoy_VertexServiceAccountKeyIsExchangedHeldAndFailedOver(t *testing.T) {
	bin := envoyBinary(t)
	wasm, err := wasmhost.ModulePath()
	require.NoError(t, err)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	sa, err := json.Marshal(map[string]string{"type": "service_account", "private_key_id": "k1",
		"client_email": "gateway@test-project-id.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	require.NoError(t, err)
	g := &googleMock{pub: &key.PublicKey, issued: map[string]bool{}, revoked: true}
	addr := serve(t, g)
	config, err := json.Marshal(map[string]any{"provider": map[string]any{"type": "vertex", "id": "e2e", "protocol": "original",
		"vertexAuthKey": string(sa), "vertexRegion": "us-central1", "vertexProjectId": "test-project-id",
		"vertexAuthServiceName": "oauth", "failover": map[string]any{"enabled": true, "healthCheckInterval": 1000}}})
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(addr)
	oauth := func(cfg string) string { // the token endpoint's cluster, beside llm
		return strings.Replace(cfg, "  clusters:\n", "  clusters:\n  - name: oauth\n    type: STATIC\n    connect_timeout: 2s\n"+
			"    load_assignment:\n      cluster_name: oauth\n      endpoints:\n      - lb_endpoints:\n        - endpoint:\n"+
			"            address:\n              socket_address: {address: 127.0.0.1, port_value: "+port+"}\n", 1)
	}
	env := withUpstream(t, bin, wasm, string(config), addr, oauth)
	e := env.envoy

	code, err := env.chat("gemini-2.0-flash")
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, code, "a revoked key: the held request is answered locally")
	eventually(t, 5*time.Second, "the credential demoted", func() bool { return env.stat(t, tokenStat(0, "state")) == 2 })

	g.mu.Lock()
	g.revoked = false
	g.mu.Unlock()
	eventually(t, 20*time.Second, "a probe restoring the key", func() bool { return env.stat(t, tokenStat(0, "state")) == 0 })
	// The VM that saw the refusal tries the key again a second after it.
	eventually(t, 5*time.Second, "the key serving again", func() bool { code, err := env.chat("gemini-2.0-flash"); return err == nil && code == 200 })
	for i := 0; i < 24; i++ {
		code, err := env.chat("gemini-2.0-flash")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code)
	}
	g.mu.Lock()
	calls, bad := g.calls, g.bad
	tokens := make([]string, 0, len(g.issued))
	for tok := range g.issued {
		tokens = append(tokens, tok)
	}
	g.mu.Unlock()
	require.Zero(t, bad, "every assertion verified")
	require.LessOrEqual(t, calls, 20, "each VM keeps its token: a few exchanges, not one per request")

	stats, err := e.AdminGet("/stats")
	require.NoError(t, err)
	text := e.Log() + stats
	require.NotContains(t, text, base64.StdEncoding.EncodeToString(der)[100:140])
	for _, tok := range tokens {
		require.NotContains(t, text, tok)
	}
}

// withUpstream starts a real Envoy with the shipped envoy.yaml (edited by
// edit), the plugin configuration and the llm cluster on upstream, and an
// env for it; Envoy's log is printed when the test fails.
func withUpstream(t *testing.T, bin, wasm, config, upstream string, edit func(string) string) *env {
	t.Helper()
	e, err := startEnv(t, envoyrun.Options{Bin: bin, Wasm: wasm, PluginConfig: config, Upstream: upstream, Edit: edit})
	require.NoError(t, err)
	return e
}
