package provider

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
)

// Token is one configured API token. Its String and LogValue show only the
// index and a short fingerprint, so an accidental %v or log cannot leak it.
type Token struct {
	Index       int
	Fingerprint string
	// ID is the first 16 hex digits of the secret's SHA-256: it names the
	// token in the fleet store, where keys of many pools and replicas meet
	// (8 digits could collide among thousands; 16 cannot in practice, and
	// a hash prefix still tells nothing of the key).
	ID     string
	secret string
}

// NewToken wraps the secret at position index of apiTokens.
func NewToken(index int, secret string) Token {
	sum := sha256.Sum256([]byte(secret))
	return Token{Index: index, Fingerprint: hex.EncodeToString(sum[:4]), ID: hex.EncodeToString(sum[:8]), secret: secret}
}

// Secret returns the raw token, for building the auth header only.
func (t Token) Secret() string { return t.secret }

// String is "#<index>(<fingerprint>)".
func (t Token) String() string { return fmt.Sprintf("#%d(%s)", t.Index, t.Fingerprint) }

// GoString keeps %#v from printing the secret.
func (t Token) GoString() string { return t.String() }

// LogValue keeps slog from printing the secret.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Fingerprint is the first 8 hex digits of the secret's SHA-256: enough to
// tell tokens apart in logs, useless for recovering them.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// PairSecret is the secret of a credential made of two parts (an access
// key and its secret key): both, NUL-separated, so that the pair has one
// fingerprint and one pool identity. Neither part holds a NUL (both come
// from JSON strings checked for it).
func PairSecret(id, secret string) string { return id + "\x00" + secret }

// SplitPair undoes PairSecret: the two parts of a pair's secret.
func SplitPair(s string) (id, secret string) {
	id, secret, _ = strings.Cut(s, "\x00")
	return id, secret
}
