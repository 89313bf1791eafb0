package credential

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTokenResponse_ReadsGooglesAnswer(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, c := range []struct {
		name       string
		body       string
		wantExpiry time.Time
	}{
		{name: "google", body: `{"access_token":"ya29.c.tok","expires_in":3599,"token_type":"Bearer"}`, wantExpiry: now.Add(3599 * time.Second)},
		{name: "expires_in as a string", body: `{"access_token":"ya29.c.tok","expires_in":"120","token_type":"bearer"}`, wantExpiry: now.Add(2 * time.Minute)},
		{name: "no expires_in means an hour", body: `{"access_token":"ya29.c.tok"}`, wantExpiry: now.Add(time.Hour)},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := ParseTokenResponse(200, []byte(c.body), now)
			require.NoError(t, err)
			require.Equal(t, "Bearer ya29.c.tok", tok.Authorization())
			require.Equal(t, c.wantExpiry, tok.Expiry())
		})
	}
}

func TestParseTokenResponse_ClassifiesFailures(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		want   string
		fault  Fault
	}{
		{name: "deleted or revoked key", status: 400, body: `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`,
			want: `token endpoint: HTTP 400 invalid_grant "Invalid JWT Signature." (fault: credential)`, fault: FaultCredential},
		{name: "deleted service account", status: 400, body: `{"error":"invalid_grant","error_description":"Invalid grant: account not found"}`,
			want: `token endpoint: HTTP 400 invalid_grant "Invalid grant: account not found" (fault: credential)`, fault: FaultCredential},
		{name: "clock skew", status: 400, body: `{"error":"invalid_grant","error_description":"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}`,
			want: `token endpoint: HTTP 400 invalid_grant "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim." (fault: clock)`, fault: FaultClock},
		{name: "disabled client", status: 401, body: `{"error":"disabled_client","error_description":"The OAuth client was disabled."}`,
			want: `token endpoint: HTTP 401 disabled_client "The OAuth client was disabled." (fault: credential)`, fault: FaultCredential},
		{name: "unauthorized client", status: 401, body: `{"error":"unauthorized_client"}`,
			want: `token endpoint: HTTP 401 unauthorized_client (fault: credential)`, fault: FaultCredential},
		{name: "server error", status: 500, body: `{"error":"internal_failure"}`,
			want: `token endpoint: HTTP 500 internal_failure (fault: transient)`, fault: FaultTransient},
		{name: "rate limited even if the code blames the grant", status: 429, body: `{"error":"invalid_grant"}`,
			want: `token endpoint: HTTP 429 invalid_grant (fault: transient)`, fault: FaultTransient},
		{name: "envoy local reply", status: 503, body: `upstream connect error or disconnect/reset before headers`,
			want: `token endpoint: HTTP 503 "answer is not a JSON object" (fault: transient)`, fault: FaultTransient},
		{name: "no answer", status: 0, body: ``,
			want: `token endpoint: HTTP 0 "answer is not a JSON object" (fault: transient)`, fault: FaultTransient},
		{name: "unknown code", status: 400, body: `{"error":"invalid_request","error_description":"Bad Request"}`,
			want: `token endpoint: HTTP 400 invalid_request "Bad Request" (fault: transient)`, fault: FaultTransient},
		{name: "description sanitised and cut", status: 400, body: `{"error":"invalid_grant","error_description":"a\nb\u0000` + strings.Repeat("x", 300) + `"}`,
			want: `token endpoint: HTTP 400 invalid_grant "ab` + strings.Repeat("x", 158) + `" (fault: credential)`, fault: FaultCredential},
		{name: "200 but an error field", status: 200, body: `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`,
			want: `token endpoint: HTTP 200 invalid_grant "Invalid JWT Signature." (fault: credential)`, fault: FaultCredential},
		{name: "200 not JSON", status: 200, body: `<html>`,
			want: `token endpoint: HTTP 200 "answer is not a JSON object" (fault: transient)`, fault: FaultTransient},
		{name: "200 without a token", status: 200, body: `{"expires_in":3599}`,
			want: `token endpoint: HTTP 200 "answer has no access_token" (fault: transient)`, fault: FaultTransient},
		{name: "200 with a token of another type", status: 200, body: `{"access_token":"ya29.secret","token_type":"MAC"}`,
			want: `token endpoint: HTTP 200 "token_type is not Bearer" (fault: transient)`, fault: FaultTransient},
		{name: "200 with a token that would break the header", status: 200, body: `{"access_token":"ya29.secret\r\nx-evil: 1"}`,
			want: `token endpoint: HTTP 200 "access_token has bytes a header cannot carry" (fault: transient)`, fault: FaultTransient},
		{name: "200 with a bad lifetime", status: 200, body: `{"access_token":"ya29.secret","expires_in":-5}`,
			want: `token endpoint: HTTP 200 "expires_in is not a positive number of seconds up to a day" (fault: transient)`, fault: FaultTransient},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := ParseTokenResponse(c.status, []byte(c.body), time.Unix(0, 0))
			require.EqualError(t, err, c.want)
			require.NotContains(t, err.Error(), "ya29")
			var te *TokenError
			require.True(t, errors.As(err, &te))
			require.Equal(t, c.fault, te.Fault)
			require.Equal(t, BearerToken{}, tok)
		})
	}
}

func TestBearerToken_RefreshDue(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tok, err := ParseTokenResponse(200, []byte(`{"access_token":"t","expires_in":3600}`), now)
	require.NoError(t, err)
	for _, c := range []struct {
		name string
		at   time.Time
		due  bool
	}{
		{name: "fresh", at: now, due: false},
		{name: "just before the margin", at: now.Add(time.Hour - RefreshBefore - time.Second), due: false},
		{name: "at the margin", at: now.Add(time.Hour - RefreshBefore), due: true},
		{name: "expired", at: now.Add(2 * time.Hour), due: true},
	} {
		t.Run(c.name, func(t *testing.T) { require.Equal(t, c.due, tok.RefreshDue(c.at)) })
	}
	require.True(t, BearerToken{}.RefreshDue(now), "the zero token is always due")
	require.Equal(t, "credential", FaultCredential.String())
	require.Equal(t, "Fault(7)", Fault(7).String())
}
