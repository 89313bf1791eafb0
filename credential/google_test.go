package credential

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testRSAKey is generated once: 2048-bit generation takes a noticeable time.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pemPKCS8(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func keyFile(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	f := map[string]any{
		"type": "service_account", "project_id": "proj-1", "private_key_id": "0123abcd",
		"private_key": pemPKCS8(t, testRSAKey()), "client_email": "sa@proj-1.iam.gserviceaccount.com",
		"token_uri": "https://oauth2.googleapis.com/token",
	}
	for k, v := range fields {
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
	data, err := json.Marshal(f)
	require.NoError(t, err)
	return data
}

func decodeSegment(t *testing.T, seg string, into any) {
	t.Helper()
	raw, err := b64.DecodeString(seg)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, into))
}

func TestServiceAccountKey_TokenRequestCarriesAVerifiableAssertion(t *testing.T) {
	for _, c := range []struct{ name, tokenURI, authority, path string }{
		{name: "google", tokenURI: "https://oauth2.googleapis.com/token", authority: "oauth2.googleapis.com", path: "/token"},
		{name: "default when absent", tokenURI: "", authority: "oauth2.googleapis.com", path: "/token"},
		{name: "local mock with port and query", tokenURI: "http://127.0.0.1:18080/mock/token?v=1", authority: "127.0.0.1:18080", path: "/mock/token?v=1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var fields map[string]any
			if c.tokenURI == "" {
				fields = map[string]any{"token_uri": nil}
			} else {
				fields = map[string]any{"token_uri": c.tokenURI}
			}
			key, err := ParseServiceAccountKey(keyFile(t, fields))
			require.NoError(t, err)
			require.Equal(t, "sa@proj-1.iam.gserviceaccount.com", key.ClientEmail())
			require.Equal(t, "proj-1", key.ProjectID())

			now := time.Unix(1_700_000_000, 0)
			req, err := key.TokenRequest(now)
			require.NoError(t, err)
			require.Equal(t, "POST", req.Method())
			require.Equal(t, "application/x-www-form-urlencoded", req.ContentType())
			require.Equal(t, c.authority, req.Authority)
			require.Equal(t, c.path, req.Path)

			form, err := url.ParseQuery(string(req.Body()))
			require.NoError(t, err)
			require.Equal(t, []string{"urn:ietf:params:oauth:grant-type:jwt-bearer"}, form["grant_type"])
			parts := strings.Split(form.Get("assertion"), ".")
			require.Len(t, parts, 3)

			var header map[string]string
			decodeSegment(t, parts[0], &header)
			require.Equal(t, map[string]string{"alg": "RS256", "typ": "JWT", "kid": "0123abcd"}, header)
			var claims map[string]any
			decodeSegment(t, parts[1], &claims)
			aud := c.tokenURI
			if aud == "" {
				aud = DefaultTokenURI
			}
			iat := float64(now.Unix() - 10)
			require.Equal(t, map[string]any{"iss": "sa@proj-1.iam.gserviceaccount.com", "scope": CloudPlatformScope,
				"aud": aud, "iat": iat, "exp": iat + 3600}, claims)

			sig, err := b64.DecodeString(parts[2])
			require.NoError(t, err)
			digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
			require.NoError(t, rsa.VerifyPKCS1v15(&testRSAKey().PublicKey, crypto.SHA256, digest[:], sig))
		})
	}
}

// RFC 7515 appendix A.2: RS256 over a fixed input with a published key has
// one right answer (PKCS #1 v1.5 is deterministic). The key goes through
// both PEM forms this package reads.
func TestParseRSAPrivateKey_SignsRFC7515A2(t *testing.T) {
	n := func(s string) *big.Int { return new(big.Int).SetBytes(must(b64.DecodeString(s))) }
	key := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{E: 65537, N: n("ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ")},
		D:         n("Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ"),
		Primes: []*big.Int{
			n("4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc"),
			n("uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc"),
		},
	}
	const input = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	const want = "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
	for _, c := range []struct{ name, pem string }{
		{name: "PKCS #8", pem: pemPKCS8(t, key)},
		{name: "PKCS #1", pem: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))},
	} {
		t.Run(c.name, func(t *testing.T) {
			parsed, err := parseRSAPrivateKey(c.pem)
			require.NoError(t, err)
			got, err := signRS256(parsed, []byte(input))
			require.NoError(t, err)
			require.Equal(t, input+"."+want, got)
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestParseServiceAccountKey_ErrorsNeverQuoteTheKey(t *testing.T) {
	good := pemPKCS8(t, testRSAKey())
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	block, _ := pem.Decode([]byte(good))
	truncated := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: block.Bytes[:len(block.Bytes)/2]}))
	const badKey = "service account key: private_key is not a PEM \"PRIVATE KEY\" (PKCS #8) or \"RSA PRIVATE KEY\" (PKCS #1) holding a 2-prime RSA key of at least 2048 bits"

	for _, c := range []struct {
		name   string
		data   []byte
		secret string // must not appear, even in part
		want   string
	}{
		{name: "raw newlines pasted into the JSON string", secret: good,
			data: []byte(`{"type":"service_account","private_key":"` + good + `"}`),
			want: "service account key: not valid JSON (at byte 69)"},
		{name: "truncated file", secret: good, data: keyFile(t, nil)[:900], want: "service account key: not valid JSON (at byte 900)"},
		{name: "number where a string belongs", data: []byte(`{"private_key": 42}`), want: "service account key: not a JSON object of strings"},
		{name: "private_key not PEM", secret: "MIIEvAIBADANBgkqhkiG9w0BAQEFAASC", data: keyFile(t, map[string]any{"private_key": "MIIEvAIBADANBgkqhkiG9w0BAQEFAASC"}), want: badKey},
		{name: "truncated DER", secret: truncated, data: keyFile(t, map[string]any{"private_key": truncated}), want: badKey},
		{name: "EC key", secret: pemPKCS8(t, ec), data: keyFile(t, map[string]any{"private_key": pemPKCS8(t, ec)}), want: badKey},
		{name: "1024-bit RSA key", secret: pemPKCS8(t, small), data: keyFile(t, map[string]any{"private_key": pemPKCS8(t, small)}), want: badKey},
		{name: "every field wrong at once", data: keyFile(t, map[string]any{"type": "authorized_user", "client_email": "nobody",
			"private_key_id": nil, "private_key": nil, "token_uri": "ftp://x"}),
			want: `service account key: "type" is not "service_account"` + "\n" +
				`service account key: "client_email" is missing or not an email address` + "\n" +
				`service account key: "private_key_id" is missing` + "\n" +
				`service account key: "token_uri" is not an http(s) URL with a host` + "\n" +
				`service account key: "private_key" is missing`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseServiceAccountKey(c.data)
			require.EqualError(t, err, c.want)
			requireNoFragment(t, err.Error(), c.secret)
		})
	}
}

// requireNoFragment fails if msg holds any 8-byte piece of the base64 body
// of secret (PEM armour lines excluded: "PRIVATE KEY" is fine to name).
func requireNoFragment(t *testing.T, msg, secret string) {
	t.Helper()
	var body strings.Builder
	for _, line := range strings.Split(secret, "\n") {
		if !strings.HasPrefix(line, "-----") {
			body.WriteString(line)
		}
	}
	s := body.String()
	for i := 0; i+8 <= len(s); i++ {
		require.NotContains(t, msg, s[i:i+8])
	}
}
