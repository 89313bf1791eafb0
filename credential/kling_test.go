package credential

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The expected token was computed outside Go with OpenSSL 3.0:
//
//	H=base64url('{"alg":"HS256","typ":"JWT"}')
//	C=base64url('{"iss":"AKexample","exp":1700001800,"nbf":1699999995}')
//	S=base64url(openssl dgst -sha256 -hmac SKexample -binary <<< "$H.$C")
func TestKlingKey_TokenMatchesAnIndependentHMAC(t *testing.T) {
	const want = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." +
		"eyJpc3MiOiJBS2V4YW1wbGUiLCJleHAiOjE3MDAwMDE4MDAsIm5iZiI6MTY5OTk5OTk5NX0." +
		"hvRYhQ5dq-EMs8u6LbaXqVaKuxjYuK0_-FvgRu7iVhE"
	for _, c := range []struct{ name, ak, sk string }{
		{name: "as given", ak: "AKexample", sk: "SKexample"},
		{name: "surrounding spaces trimmed", ak: " AKexample\n", sk: "\tSKexample "},
	} {
		t.Run(c.name, func(t *testing.T) {
			key, err := NewKlingKey(c.ak, c.sk)
			require.NoError(t, err)
			now := time.Unix(1_700_000_000, 0)
			tok := key.Token(now)
			require.Equal(t, "Bearer "+want, tok.Authorization())
			require.Equal(t, time.Unix(1_700_001_800, 0), tok.Expiry())
		})
	}
}

func TestKlingKey_ClaimsFollowKlingsRules(t *testing.T) {
	key, err := NewKlingKey(`ak"with\quote`, "sk")
	require.NoError(t, err)
	now := time.Date(2025, 1, 2, 3, 4, 5, 999_000_000, time.UTC)
	parts := strings.Split(strings.TrimPrefix(key.Token(now).Authorization(), "Bearer "), ".")
	require.Len(t, parts, 3)

	var header map[string]string
	decodeSegment(t, parts[0], &header)
	require.Equal(t, map[string]string{"alg": "HS256", "typ": "JWT"}, header)
	var claims map[string]any
	decodeSegment(t, parts[1], &claims)
	require.Equal(t, map[string]any{"iss": `ak"with\quote`, "exp": float64(now.Unix() + 1800), "nbf": float64(now.Unix() - 5)}, claims)
}

// RFC 7515 appendix A.1: the published HS256 example.
func TestSignHS256_MatchesRFC7515A1(t *testing.T) {
	key := must(b64.DecodeString("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"))
	const input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	require.Equal(t, input+".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", signHS256(key, []byte(input)))
}

func TestNewKlingKey_RefusesEmptyHalves(t *testing.T) {
	_, err := NewKlingKey(" ", "")
	require.EqualError(t, err, "kling: access key is empty\nkling: secret key is empty")
	require.Equal(t, BearerToken{}, KlingKey{}.Token(time.Unix(0, 0)))
}
