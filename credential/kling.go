package credential

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Kling's token rules, from its API reference "General Information >
// Authentication" (app.klingai.com/global/dev/document-api/apiReference/
// commonInfo): header {"alg":"HS256","typ":"JWT"}, claims iss = access key,
// exp = now+1800 s, nbf = now-5 s, signed with the secret key, sent as
// "Authorization: Bearer <token>". A token outside exp/nbf is refused with
// 401 and code 1004 (expired) or 1003 (not yet valid).
const (
	// KlingTokenLifetime is how long a Kling JWT is valid: 30 min.
	KlingTokenLifetime = 1800 * time.Second
	// KlingNotBeforeSkew backdates nbf by 5 s, as Kling's examples do, so a
	// server clock slightly behind ours still accepts the token.
	KlingNotBeforeSkew = 5 * time.Second
)

// klingHeader is the JWT header, encoded once.
var klingHeader = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// KlingKey is a Kling access/secret key pair. It prints as
// "kling(<fingerprint of the secret key>)".
type KlingKey struct {
	redacted
	issJSON []byte // the access key as a JSON string, quotes included
	secret  []byte
}

// NewKlingKey checks the pair. Surrounding spaces are trimmed, as Higress
// does. Example: NewKlingKey("ak-...", "sk-...").
func NewKlingKey(accessKey, secretKey string) (KlingKey, error) {
	accessKey, secretKey = strings.TrimSpace(accessKey), strings.TrimSpace(secretKey)
	var errs []error
	if accessKey == "" {
		errs = append(errs, errors.New("kling: access key is empty"))
	}
	if secretKey == "" {
		errs = append(errs, errors.New("kling: secret key is empty"))
	}
	if len(errs) > 0 {
		return KlingKey{}, errors.Join(errs...)
	}
	iss, err := json.Marshal(accessKey)
	if err != nil { // a string always marshals; kept for safety
		return KlingKey{}, errors.New("kling: access key cannot be encoded")
	}
	return KlingKey{redacted{"kling(" + Fingerprint(secretKey) + ")"}, iss, []byte(secretKey)}, nil
}

// Token is the JWT for a request sent at now: exp = now+KlingTokenLifetime,
// nbf = now-KlingNotBeforeSkew (whole seconds). It is cheap enough to make
// per request (see BenchmarkKlingToken); its Expiry allows caching instead.
func (k KlingKey) Token(now time.Time) BearerToken {
	if k.secret == nil {
		return BearerToken{}
	}
	sec := now.Unix()
	exp := sec + int64(KlingTokenLifetime/time.Second)
	claims := make([]byte, 0, 32+len(k.issJSON))
	claims = append(claims, `{"iss":`...)
	claims = append(claims, k.issJSON...)
	claims = append(claims, `,"exp":`...)
	claims = strconv.AppendInt(claims, exp, 10)
	claims = append(claims, `,"nbf":`...)
	claims = strconv.AppendInt(claims, sec-int64(KlingNotBeforeSkew/time.Second), 10)
	claims = append(claims, '}')

	input := make([]byte, 0, len(klingHeader)+1+b64.EncodedLen(len(claims))+1+43)
	input = append(input, klingHeader...)
	input = append(input, '.')
	input = b64.AppendEncode(input, claims)
	return newBearerToken(signHS256(k.secret, input), time.Unix(exp, 0))
}
