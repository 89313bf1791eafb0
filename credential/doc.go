// Package credential signs requests with credentials that are not bearer
// tokens, so that each can be a pool member like an API key:
//
//	credential kind      per request                      per refresh (about hourly)
//	-------------------  -------------------------------  ------------------------------------
//	AWSKey  (Bedrock)    SignV4: SigV4 headers            -
//	KlingKey (Kling)     Token: HS256 JWT, 30 min         -
//	ServiceAccountKey    BearerToken from the cache       TokenRequest: RS256 JWT assertion,
//	(Vertex AI)                                           ParseTokenResponse: access token
//
// Everything here is pure: no hostcalls, no clock (callers pass now), no
// global state, standard library crypto only, so it runs the same natively
// and under GOOS=wasip1. The caller owns token caching, refresh and
// failover; the one cache inside is AWSKey's signing key, derived once per
// day and scope and shared, race-free, by copies of the key.
//
// Secrets never leave by accident: every type that holds a secret or a
// derived secret (signature, JWT, access token) keeps it in unexported
// fields and prints only its kind and a fingerprint for every fmt verb,
// %#v and slog included. Errors never quote secret material.
package credential

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"
)

// HeaderPair is one header (name, value), identical to abi.HeaderPair.
type HeaderPair = [2]string

// Fingerprint is the first 8 hex digits of the SHA-256 of secret, the same
// scheme as provider.Fingerprint: enough to tell credentials apart in logs,
// useless for recovering them. Example: Fingerprint("sk-a") is 8 hex digits.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// redacted is embedded by every secret-holding type: it answers every fmt
// verb (%v %+v %#v %s %q %x %d ...) and slog with the same safe label.
type redacted struct{ label string }

// String is the safe label, e.g. "aws(1a2b3c4d)"; "[REDACTED]" for a zero value.
func (r redacted) String() string {
	if r.label == "" {
		return "[REDACTED]"
	}
	return r.label
}

// GoString keeps %#v from printing fields.
func (r redacted) GoString() string { return r.String() }

// Format prints the label for every verb, so %d or %x cannot reach a field.
func (r redacted) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, r.String()) }

// LogValue keeps slog from printing fields.
func (r redacted) LogValue() slog.Value { return slog.StringValue(r.String()) }

// RefreshBefore is how long before its expiry a BearerToken counts as due
// for refresh: Google's tokens live 3600 s, so refreshing 5 min early leaves
// room for a failed refresh to be retried while the old token still works.
const RefreshBefore = 5 * time.Minute

// BearerToken is a derived secret sent as "Authorization: Bearer <value>":
// a Vertex access token or a Kling JWT. It prints as "bearer(<fingerprint>)".
type BearerToken struct {
	redacted
	value  string
	expiry time.Time
}

func newBearerToken(value string, expiry time.Time) BearerToken {
	return BearerToken{redacted{"bearer(" + Fingerprint(value) + ")"}, value, expiry}
}

// Authorization is the header value "Bearer <token>", for the request
// header only: never log it.
func (t BearerToken) Authorization() string { return "Bearer " + t.value }

// Expiry is when the token stops being accepted (zero for the zero token).
func (t BearerToken) Expiry() time.Time { return t.expiry }

// RefreshDue reports whether now is within RefreshBefore of the expiry (or
// the token is the zero value).
func (t BearerToken) RefreshDue(now time.Time) bool {
	return t.value == "" || !now.Before(t.expiry.Add(-RefreshBefore))
}
