package plugin_test

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
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// tokenEndpoint is a mock of Google's OAuth token endpoint: it checks each
// RS256 assertion with the service account's public key, as Google does,
// and answers as mode says.
type tokenEndpoint struct {
	h        *wasmhost.Host
	pub      *rsa.PublicKey
	email    string
	mode     string // "", "revoked" or "clock"
	issued   map[string]time.Time
	requests int
	bad      int // assertions that did not verify
}

func (e *tokenEndpoint) cluster(r *wasmhost.UpstreamRequest) wasmhost.Reply {
	e.requests++
	form, err := url.ParseQuery(string(r.Body))
	if err != nil || form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" ||
		r.Header(":path") != "/token" || r.Header(":authority") != "oauth2.googleapis.com" || !e.verify(form.Get("assertion")) {
		e.bad++
		return jsonReply(400, `{"error":"invalid_request"}`)
	}
	switch e.mode {
	case "revoked":
		return jsonReply(400, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`)
	case "clock":
		return jsonReply(400, `{"error":"invalid_grant","error_description":"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}`)
	}
	tok := fmt.Sprintf("ya29.access-token-%d-%x", len(e.issued), e.h.Now().UnixNano())
	e.issued[tok] = e.h.Now().Add(time.Hour)
	return jsonReply(200, `{"access_token":"`+tok+`","expires_in":3600,"token_type":"Bearer"}`)
}

// verify checks an assertion's RS256 signature and its claims against the
// emulator's clock.
func (e *tokenEndpoint) verify(jwt string) bool {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(e.pub, crypto.SHA256, digest[:], sig) != nil {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Iss, Aud, Scope string
		Iat, Exp        int64
	}
	if err != nil || json.Unmarshal(raw, &c) != nil {
		return false
	}
	now := e.h.Now().Unix()
	return c.Iss == e.email && c.Aud == "https://oauth2.googleapis.com/token" &&
		c.Scope == "https://www.googleapis.com/auth/cloud-platform" && c.Iat <= now && c.Iat >= now-60 && c.Exp == c.Iat+3600
}

func jsonReply(status int, body string) wasmhost.Reply {
	return wasmhost.Reply{Status: status, Headers: []wasmhost.Pair{{"content-type", "application/json"}}, Body: []byte(body)}
}

// serviceAccountJSON makes a service-account key file for key.
func serviceAccountJSON(t *testing.T, key *rsa.PrivateKey, email string) string {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	f, err := json.Marshal(map[string]string{"type": "service_account", "project_id": "test-project-id", "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": email,
		"token_uri": "https://oauth2.googleapis.com/token"})
	require.NoError(t, err)
	return string(f)
}

// TestVertexServiceAccount_ExchangedRefreshedAndFailedOver: a Vertex
// service-account key (issue 24 item 2) is exchanged, in the built .wasm,
// for an access token through the auth cluster (the assertion verifies
// with the key's public key), the first request waiting for it with its
// headers held; the token is kept in the VM and refreshed five minutes
// before it expires while still used; a clock Google finds off answers 503
// and charges nobody; a revoked key answers 503 and demotes the
// credential with its own reason; the probe exchanges the key again and
// restores it. No piece of the private key, an assertion or an access
// token reaches a log, a stat, shared data or a local reply.
func TestVertexServiceAccount_ExchangedRefreshedAndFailedOver(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	const email = "gateway@test-project-id.iam.gserviceaccount.com"
	sa := serviceAccountJSON(t, key, email)
	config, err := json.Marshal(map[string]any{"provider": map[string]any{"type": "vertex", "protocol": "original",
		"vertexAuthKey": sa, "vertexRegion": "us-central1", "vertexProjectId": "test-project-id", "vertexAuthServiceName": "oauth",
		"failover": map[string]any{"enabled": true, "healthCheckInterval": 1000}}})
	require.NoError(t, err)
	ep := &tokenEndpoint{pub: &key.PublicKey, email: email, issued: map[string]time.Time{}}
	var seen []string
	vertex := func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		auth := strings.TrimPrefix(r.Header("authorization"), "Bearer ")
		seen = append(seen, auth)
		if until, ok := ep.issued[auth]; !ok || !ep.h.Now().Before(until) {
			return jsonReply(401, `{"error":{"code":401,"status":"UNAUTHENTICATED","message":"Request had invalid authentication credentials."}}`)
		}
		return wasmhost.OK()
	}
	h := start(t, string(config), nil, func(o *wasmhost.Options) {
		o.Clusters = map[string]wasmhost.Cluster{"llm": vertex, "oauth": ep.cluster}
	})
	ep.h = h
	const path = "/v1/projects/test-project-id/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
	send := func(vm *wasmhost.VM) *wasmhost.Stream {
		t.Helper()
		s, err := vm.Start(wasmhost.Request{Headers: []wasmhost.Pair{{":method", "POST"}, {":path", path}, {":authority", "gateway.local"},
			{"content-type", "application/json"}, {"authorization", "Bearer client-own"}}, Body: []byte(`{"contents":[]}`)})
		require.NoError(t, err)
		advance(t, h, 0) // the exchange's answer, when one is out
		if s.Upstream != nil {
			require.NoError(t, s.Respond(vertex(s.Upstream)))
		}
		return s
	}
	w := h.Workers()[0]

	s := send(w)
	require.Equal(t, 200, s.Response.Status, "the first request waited for the exchange")
	require.Equal(t, "us-central1-aiplatform.googleapis.com", s.Upstream.Header(":authority"))
	require.Equal(t, 1, ep.requests)
	send(w)
	require.Equal(t, 1, ep.requests, "the token is kept in the VM")
	first := seen[len(seen)-1]
	send(h.Workers()[1])
	require.Equal(t, 2, ep.requests, "each VM exchanges for itself")

	advance(t, h, 56*time.Minute)
	s = send(w)
	require.Equal(t, 200, s.Response.Status)
	require.Equal(t, first, seen[len(seen)-1], "refresh due: the token still in use goes")
	require.Equal(t, 3, ep.requests, "and a refresh is made before it expires")
	send(w)
	require.NotEqual(t, first, seen[len(seen)-1], "then the new token")

	ep.mode = "clock"
	advance(t, h, 61*time.Minute)
	s = send(w)
	require.Equal(t, 503, s.Response.Status)
	require.Equal(t, failover.Available, state(t, h, 1).Tokens[0].Status, "a clock Google finds off charges nobody")
	require.Contains(t, h.LogText(), "(fault: clock)")

	ep.mode = "revoked"
	advance(t, h, 6*time.Second)
	s = send(w)
	require.Equal(t, 503, s.Response.Status)
	st := state(t, h, 1).Tokens[0]
	require.Equal(t, failover.Unhealthy, st.Status, "a revoked key is that credential's failure")
	require.Equal(t, failover.ReasonAuth, st.Reason)

	ep.mode = ""
	advance(t, h, 15*time.Second)
	require.Equal(t, failover.Available, state(t, h, 1).Tokens[0].Status, "a probe with a fresh exchange restored it")
	require.Zero(t, ep.bad, "every assertion verified")

	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	secrets := []string{base64.StdEncoding.EncodeToString(der)}
	for tok := range ep.issued {
		secrets = append(secrets, tok)
	}
	requireNoWindowOf(t, captured(h), secrets...)
}
