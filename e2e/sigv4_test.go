package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/credential"
	"github.com/token-failover/token-failover/wasmhost"
)

// bedrockMock checks every request's SigV4 signature as AWS does: it signs
// what it received (method, path, query, host, x-amz-date, the body's
// SHA-256) with the key pair and compares; 403 when it differs or the key
// is revoked.
type bedrockMock struct {
	key     credential.AWSKey
	mu      sync.Mutex
	revoked bool
	ok, bad int
	bodies  [][]byte
}

func (b *bedrockMock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	at, err := time.Parse("20060102T150405Z", r.Header.Get("x-amz-date"))
	var want credential.SigV4Headers
	if err == nil {
		want, err = b.key.SignV4(credential.SigV4Request{Region: "us-east-1", Service: "bedrock", Method: r.Method,
			Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Headers: []credential.HeaderPair{{"host", r.Host}},
			PayloadHash: credential.PayloadHash(body)}, at)
	}
	if err != nil || r.Host != "bedrock-runtime.us-east-1.amazonaws.com" || r.Header.Get("authorization") != want.Pairs()[0][1] {
		b.bad++
		w.WriteHeader(403)
		_, _ = w.Write([]byte(`{"message":"The request signature we calculated does not match the signature you provided."}`))
		return
	}
	if b.revoked {
		w.WriteHeader(403)
		_, _ = w.Write([]byte(`{"message":"The security token included in the request is invalid."}`))
		return
	}
	b.ok++
	b.bodies = append(b.bodies, body)
	w.Header().Set("content-type", "application/json")
	_, _ = w.Write([]byte(`{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}}}`))
}

// TestEnvoy_BedrockKeyPairSignsTheWholeBody: in a real Envoy whose wasm
// filter sets allow_on_headers_stop_iteration, a Bedrock access-key pair
// signs each request with SigV4 over its whole body: large streamed
// (chunked) bodies arrive with a signature that verifies over exactly what
// the provider received, a request without a body is signed too, a
// provider 403 demotes the pair and a signed probe restores it; the secret
// key never reaches the log or the stats.
func TestEnvoy_BedrockKeyPairSignsTheWholeBody(t *testing.T) {
	bin := envoyBinary(t)
	wasm, err := wasmhost.ModulePath()
	require.NoError(t, err)
	const ak, sk = "AKIDE2EEXAMPLE", "e2e/Secret+Key/wJalrXUtnFEMIK7MDENG"
	key, err := credential.NewAWSKey(ak, sk, "")
	require.NoError(t, err)
	mock := &bedrockMock{key: key}
	addr := serve(t, mock)
	config := `provider:
  type: bedrock
  id: e2e
  protocol: original
  awsRegion: us-east-1
  awsAccessKey: ` + ak + `
  awsSecretKey: "` + sk + `"
  failover: {enabled: true, healthCheckInterval: 1000, healthCheckModel: anthropic.claude-3-haiku-20240307-v1:0}
`
	hold := func(cfg string) string {
		return strings.Replace(cfg, "                failure_policy: FAIL_RELOAD\n",
			"                failure_policy: FAIL_RELOAD\n                allow_on_headers_stop_iteration: true\n", 1)
	}
	env := withUpstream(t, bin, wasm, config, addr, hold)
	e, c := env.envoy, env.c
	send := func(method, path string, body []byte) int {
		t.Helper()
		var r io.Reader
		if body != nil {
			r = io.MultiReader(bytes.NewReader(body)) // no length: sent chunked, read by the filter in several callbacks
		}
		req, err := http.NewRequest(method, "http://"+e.Listen+path, r)
		require.NoError(t, err)
		req.Header.Set("content-type", "application/json")
		req.Header.Set("authorization", "Bearer client-own")
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	big := []byte(`{"messages":[{"role":"user","content":[{"text":"` + strings.Repeat("x", 200_000) + `"}]}]}`)
	for i := 0; i < 6; i++ {
		require.Equal(t, 200, send("POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", big))
	}
	require.Equal(t, 200, send("GET", "/async-invoke?maxResults=2", nil), "a request without a body is signed too")
	mock.mu.Lock()
	require.Zero(t, mock.bad, "every signature verified")
	require.Equal(t, 7, mock.ok)
	require.Equal(t, big, mock.bodies[0], "the body signed is the body sent")
	mock.revoked = true
	mock.mu.Unlock()

	require.Equal(t, 403, send("POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", big))
	eventually(t, 5*time.Second, "the pair demoted", func() bool { return env.stat(t, tokenStat(0, "state")) == 2 })
	mock.mu.Lock()
	mock.revoked = false
	mock.mu.Unlock()
	eventually(t, 20*time.Second, "a signed probe restoring it", func() bool { return env.stat(t, tokenStat(0, "state")) == 0 })
	mock.mu.Lock()
	require.Zero(t, mock.bad, "the probes' signatures verified too")
	mock.mu.Unlock()
	stats, err := e.AdminGet("/stats")
	require.NoError(t, err)
	require.NotContains(t, e.Log()+stats, sk)
}
