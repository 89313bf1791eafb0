package credential

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Fault says who is to blame for a failed token refresh, which decides what
// the pool does with the service-account key.
type Fault int

const (
	// FaultTransient: the endpoint or the path to it failed (5xx, 429, a
	// malformed or unknown answer). Retry with back-off; the key counts a
	// failure like any upstream error.
	FaultTransient Fault = iota
	// FaultClock: Google found iat/exp outside "a reasonable timeframe". The
	// host clock is wrong; every key would fail alike, so demoting this one
	// would not help. Alert instead.
	FaultClock
	// FaultCredential: the key itself is refused (revoked or deleted key,
	// deleted or disabled service account, wrong email, scope not allowed).
	// Retrying will not help until someone fixes it.
	FaultCredential
)

// String is the fault's name, e.g. "credential".
func (f Fault) String() string {
	switch f {
	case FaultTransient:
		return "transient"
	case FaultClock:
		return "clock"
	case FaultCredential:
		return "credential"
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// TokenError is a failed token exchange. Its message names the HTTP status
// and Google's error code and description (cut to maxDescription bytes),
// never the request or the body of a successful answer.
type TokenError struct {
	Status      int    // HTTP status; 0 when no answer arrived
	Code        string // the OAuth "error", e.g. "invalid_grant"; may be empty
	Description string // "error_description", sanitised and cut
	Fault       Fault
}

// maxDescription bounds what a remote answer can put in a log line.
const maxDescription = 160

// Error is e.g. `token endpoint: HTTP 400 invalid_grant "Invalid JWT
// Signature." (fault: credential)`.
func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("token endpoint: HTTP " + strconv.Itoa(e.Status))
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Description != "" {
		b.WriteString(" " + strconv.Quote(e.Description))
	}
	b.WriteString(" (fault: " + e.Fault.String() + ")")
	return b.String()
}

// credentialCodes are OAuth errors that blame the key or its account. Google
// answers invalid_grant "Invalid JWT Signature." for a deleted or revoked
// key, "Invalid grant: account not found" for a deleted account, and the
// *_client codes for a disabled or deleted one.
var credentialCodes = map[string]bool{
	"invalid_grant": true, "invalid_client": true, "unauthorized_client": true,
	"disabled_client": true, "deleted_client": true, "access_denied": true,
	"invalid_scope": true, "admin_policy_enforced": true, "org_internal": true,
}

// ParseTokenResponse reads the token endpoint's answer to a request made at
// now. On success the token expires expires_in seconds after now (3600
// assumed when absent, as Higress does).
func ParseTokenResponse(status int, body []byte, now time.Time) (BearerToken, error) {
	var ans struct {
		AccessToken      string          `json:"access_token"`
		ExpiresIn        json.RawMessage `json:"expires_in"`
		TokenType        string          `json:"token_type"`
		Error            string          `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	parsed := json.Unmarshal(body, &ans) == nil
	if status != 200 || (parsed && ans.Error != "") {
		return BearerToken{}, tokenFailure(status, ans.Error, ans.ErrorDescription, parsed)
	}
	fail := func(what string) error {
		return &TokenError{Status: status, Description: what, Fault: FaultTransient}
	}
	if !parsed {
		return BearerToken{}, fail("answer is not a JSON object")
	}
	if ans.AccessToken == "" {
		return BearerToken{}, fail("answer has no access_token")
	}
	if !headerSafe(ans.AccessToken) {
		return BearerToken{}, fail("access_token has bytes a header cannot carry")
	}
	if ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "Bearer") {
		return BearerToken{}, fail("token_type is not Bearer")
	}
	lifetime := int64(3600)
	if raw := bytes.Trim(ans.ExpiresIn, `"`); len(raw) > 0 {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil || n <= 0 || n > 86400 {
			return BearerToken{}, fail("expires_in is not a positive number of seconds up to a day")
		}
		lifetime = n
	}
	return newBearerToken(ans.AccessToken, now.Add(time.Duration(lifetime)*time.Second)), nil
}

// tokenFailure classifies a refused exchange.
func tokenFailure(status int, code, desc string, parsed bool) *TokenError {
	e := &TokenError{Status: status, Code: sanitise(code, 40), Description: sanitise(desc, maxDescription)}
	low := strings.ToLower(desc)
	switch {
	case status == 0 || status == 408 || status == 429 || status >= 500:
		e.Fault = FaultTransient
	case code == "invalid_grant" && (strings.Contains(low, "reasonable timeframe") || strings.Contains(low, "short-lived token")):
		e.Fault = FaultClock
	case credentialCodes[code]:
		e.Fault = FaultCredential
	default: // unknown code, invalid_request, or a body from something else (a proxy's 4xx)
		e.Fault = FaultTransient
	}
	if !parsed && e.Description == "" {
		e.Description = "answer is not a JSON object"
	}
	return e
}

// headerSafe reports whether s is visible ASCII only (no space, CR or LF),
// so "Bearer "+s cannot break or extend a header.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// sanitise keeps printable ASCII of s, cut to max bytes.
func sanitise(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}
