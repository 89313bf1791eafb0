package plugin_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// klingClaims verifies a Kling bearer JWT with the secret key, as Kling
// does, and returns its claims (ok false: not a valid HS256 token of that
// key).
func klingClaims(auth, secretKey string) (claims struct {
	Iss string `json:"iss"`
	Exp int64  `json:"exp"`
	Nbf int64  `json:"nbf"`
}, ok bool) {
	parts := strings.Split(strings.TrimPrefix(auth, "Bearer "), ".")
	if len(parts) != 3 {
		return claims, false
	}
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return claims, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	return claims, err == nil && json.Unmarshal(raw, &claims) == nil
}

// TestKling_KeyPairSignsEachRequestFailsOverAndIsProbed: a
// klingAccessKey/klingSecretKey pair (issue 24 item 2) is a pool member
// whose every request, in the built .wasm, carries a fresh HS256 JWT that
// verifies with the secret key, issued by Envoy's clock (iss the access
// key, exp 30 min on, nbf 5 s back); Kling's 401 demotes it like an API
// key, and a probe with a fresh JWT restores it. Neither the secret key nor
// any JWT reaches a log, a stat, shared data or a local reply.
func TestKling_KeyPairSignsEachRequestFailsOverAndIsProbed(t *testing.T) {
	const ak, sk = "AKklingexample0001", "SKklingsecret0001xyz"
	var jwts []string
	var h *wasmhost.Host
	revoked, stale := false, 0
	h = start(t, `provider: {type: kling, protocol: original, klingAccessKey: `+ak+`, klingSecretKey: `+sk+`,
  failover: {enabled: true, healthCheckInterval: 1000}}`, nil, func(o *wasmhost.Options) {
		o.Clusters = map[string]wasmhost.Cluster{"llm": func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
			auth := r.Header("authorization")
			jwts = append(jwts, auth)
			c, ok := klingClaims(auth, sk)
			if now := h.Now().Unix(); ok && (c.Exp != now+1800 || c.Nbf != now-5) {
				stale++ // not issued at the moment it was sent
			}
			if !ok || c.Iss != ak || revoked {
				return wasmhost.Reply{Status: 401, Headers: []wasmhost.Pair{{"content-type", "application/json"}},
					Body: []byte(`{"code":1000,"message":"Authentication failed"}`)}
			}
			return wasmhost.OK()
		}}
	})
	video := func() wasmhost.Request {
		return wasmhost.Request{Headers: []wasmhost.Pair{{":method", "POST"}, {":path", "/v1/videos/text2video"},
			{":authority", "gateway.local"}, {"content-type", "application/json"}, {"authorization", "Bearer client-own"}},
			Body: []byte(`{"model_name":"kling-v1","prompt":"a cat"}`)}
	}
	s := do(t, h.Workers()[0], video())
	require.Equal(t, 200, s.Response.Status)
	c, ok := klingClaims(s.Upstream.Header("authorization"), sk)
	require.True(t, ok, "signed with the secret key")
	require.Equal(t, ak, c.Iss)
	require.Equal(t, h.Now().Unix()+1800, c.Exp)
	require.Equal(t, h.Now().Unix()-5, c.Nbf)
	require.Equal(t, "api-singapore.klingai.com", s.Upstream.Header(":authority"))

	advance(t, h, 10*time.Minute)
	s = do(t, h.Workers()[1], video())
	c2, ok := klingClaims(s.Upstream.Header("authorization"), sk)
	require.True(t, ok)
	require.Equal(t, h.Now().Unix()+1800, c2.Exp, "a new token for each request")

	revoked = true
	s = do(t, h.Workers()[2], video())
	require.Equal(t, 401, s.Response.Status)
	require.Equal(t, failover.Unhealthy, state(t, h, 1).Tokens[0].Status, "Kling's 401 demotes the pair")
	revoked = false
	advance(t, h, 3*time.Second)
	require.Equal(t, failover.Available, state(t, h, 1).Tokens[0].Status, "a probe with a fresh JWT restored it")
	require.Zero(t, stale, "every request's and probe's token is issued when it is sent")

	secrets := []string{sk}
	for _, j := range jwts {
		secrets = append(secrets, strings.TrimPrefix(j, "Bearer "))
	}
	requireNoWindowOf(t, captured(h), secrets...)
}
