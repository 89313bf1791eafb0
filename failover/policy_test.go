package failover

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func headers(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestClassify_DefaultPolicy(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	body := func(s string) []byte { return []byte(s) }
	tests := []struct {
		name    string
		resp    Response
		class   Class
		retryMs int64
		has     bool
	}{
		{"200 is success", Response{Status: 200}, ClassSuccess, 0, false},
		{"204 is success", Response{Status: 204, CodeDetails: "via_upstream"}, ClassSuccess, 0, false},
		{"400 is the client's", Response{Status: 400}, ClassIgnore, 0, false},
		{"404 is the client's", Response{Status: 404}, ClassIgnore, 0, false},
		{"413 is the client's", Response{Status: 413}, ClassIgnore, 0, false},
		{"422 is the client's", Response{Status: 422}, ClassIgnore, 0, false},
		{"401 is auth", Response{Status: 401}, ClassAuth, 0, false},
		{"403 is auth", Response{Status: 403}, ClassAuth, 0, false},
		{"402 is quota", Response{Status: 402}, ClassQuota, 0, false},
		{"408 is upstream", Response{Status: 408}, ClassUpstream, 0, false},
		{"500 is upstream", Response{Status: 500}, ClassUpstream, 0, false},
		{"503 via upstream", Response{Status: 503, CodeDetails: "via_upstream"}, ClassUpstream, 0, false},
		{"503 with retry-after cools", Response{Status: 503, Header: headers("retry-after", "7")}, ClassUpstream, 7000, true},
		{"529 with retry-after cools", Response{Status: 529, Header: headers("retry-after", "3")}, ClassUpstream, 3000, true},
		{"500 retry-after is not read", Response{Status: 500, Header: headers("retry-after", "3")}, ClassUpstream, 0, false},
		{"429 retry-after seconds", Response{Status: 429, Header: headers("retry-after", "2")}, ClassRateLimit, 2000, true},
		{"429 retry-after 0 is 0, not the default", Response{Status: 429, Header: headers("retry-after", "0")}, ClassRateLimit, 0, true},
		{"429 retry-after date", Response{Status: 429, Header: headers("retry-after", "Thu, 01 Jan 2026 00:00:05 GMT")}, ClassRateLimit, 5000, true},
		{"429 past date falls through to x-ratelimit", Response{Status: 429, Header: headers("retry-after", "Wed, 31 Dec 2025 23:00:00 GMT",
			"x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "4s")}, ClassRateLimit, 4000, true},
		{"429 azure retry-after-ms first", Response{Status: 429, Header: headers("retry-after-ms", "1500", "retry-after", "2")}, ClassRateLimit, 1500, true},
		{"429 openai: the exhausted counter's reset, not the largest", Response{Status: 429, Header: headers(
			"x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1s",
			"x-ratelimit-remaining-tokens", "5000", "x-ratelimit-reset-tokens", "6m0s")}, ClassRateLimit, 1000, true},
		{"429 groq: tokens exhausted, day-long request window ignored", Response{Status: 429, Header: headers(
			"x-ratelimit-remaining-requests", "14000", "x-ratelimit-reset-requests", "2m59.56s",
			"x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "7.66s")}, ClassRateLimit, 7660, true},
		{"429 anthropic RFC 3339 reset", Response{Status: 429, Header: headers(
			"anthropic-ratelimit-requests-remaining", "0", "anthropic-ratelimit-requests-reset", "2026-01-01T00:00:12Z",
			"anthropic-ratelimit-tokens-remaining", "900", "anthropic-ratelimit-tokens-reset", "2026-01-01T00:01:00Z")}, ClassRateLimit, 12000, true},
		{"429 gemini RetryInfo", Response{Status: 429, Body: body(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[` +
			`{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"31s"}]}}`)},
			ClassRateLimit, 31000, true},
		{"429 reset epoch", Response{Status: 429, Header: headers("x-ratelimit-reset", "1767225610")}, ClassRateLimit, 10000, true},
		{"429 no hint", Response{Status: 429, Header: headers()}, ClassRateLimit, 0, false},
		{"429 huge hint is capped", Response{Status: 429, Header: headers("retry-after", "999999")}, ClassRateLimit, MaxCooldownMs, true},
		{"429 garbage hint", Response{Status: 429, Header: headers("retry-after", "soon")}, ClassRateLimit, 0, false},
		{"429 insufficient_quota is quota", Response{Status: 429, Body: body(`{"error":{"message":"You exceeded your current quota",` +
			`"type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`)}, ClassQuota, 0, false},
		{"429 one request over the TPM limit is the request's", Response{Status: 429, Body: body(`{"error":{"message":` +
			`"Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 50000.",` +
			`"type":"tokens","param":null,"code":"rate_limit_exceeded"}}`)}, ClassIgnore, 0, false},
		{"403 region is the request's", Response{Status: 403, Body: body(`{"error":{"code":"unsupported_country_region_territory",` +
			`"message":"Country, region, or territory not supported","type":"request_forbidden"}}`)}, ClassIgnore, 0, false},
		{"404 model_not_found stays the client's", Response{Status: 404, Body: body(`{"error":{"code":"model_not_found"}}`)}, ClassIgnore, 0, false},
		{"401 invalid_api_key", Response{Status: 401, Body: body(`{"error":{"type":"invalid_request_error","code":"invalid_api_key"}}`)}, ClassAuth, 0, false},
		{"400 gemini API_KEY_INVALID is auth", Response{Status: 400, Body: body(`{"error":{"code":400,"status":"INVALID_ARGUMENT",` +
			`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`)}, ClassAuth, 0, false},
		{"deeply nested error body is not parsed", Response{Status: 429, Body: body(strings.Repeat("[", 5000))}, ClassRateLimit, 0, false},
		{"route timeout counts", Response{Status: 504, CodeDetails: "response_timeout"}, ClassUpstream, 0, false},
		{"per-try timeout counts", Response{Status: 504, CodeDetails: "upstream_per_try_timeout"}, ClassUpstream, 0, false},
		{"connect failure counts", Response{Status: 503, CodeDetails: "upstream_reset_before_response_started{connection_failure}"}, ClassUpstream, 0, false},
		{"connect failure with transport detail counts", Response{Status: 503,
			CodeDetails: "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:_Connection_refused}"}, ClassUpstream, 0, false},
		{"termination counts", Response{Status: 503, CodeDetails: "upstream_reset_before_response_started{connection_termination}"}, ClassUpstream, 0, false},
		{"remote reset counts", Response{Status: 503, CodeDetails: "upstream_reset_before_response_started{remote_reset}"}, ClassUpstream, 0, false},
		{"mid-stream remote reset counts", Response{Status: 200, CodeDetails: "upstream_reset_after_response_started{remote_reset}"}, ClassUpstream, 0, false},
		{"circuit-breaker overflow is Envoy's", Response{Status: 503, CodeDetails: "upstream_reset_before_response_started{overflow}"}, ClassIgnore, 0, false},
		{"local reset is Envoy's", Response{Status: 503, CodeDetails: "upstream_reset_before_response_started{local_reset}"}, ClassIgnore, 0, false},
		{"no healthy upstream is not the token's", Response{Status: 503, CodeDetails: "no_healthy_upstream"}, ClassIgnore, 0, false},
		{"maintenance mode is not the token's", Response{Status: 503, CodeDetails: "maintenance_mode"}, ClassIgnore, 0, false},
		{"buffer limit 413 is not the token's", Response{Status: 413, CodeDetails: "request_payload_too_large"}, ClassIgnore, 0, false},
		{"client gone is not the token's", Response{Status: 0, CodeDetails: "downstream_remote_disconnect"}, ClassIgnore, 0, false},
		{"another filter's 403 is not the token's", Response{Status: 403, CodeDetails: "rbac_access_denied"}, ClassIgnore, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Classify(tc.resp, nil, now)
			require.Equal(t, tc.class, o.Class)
			require.Equal(t, tc.retryMs, o.RetryAfterMs)
			require.Equal(t, tc.has, o.HasRetryAfter)
		})
	}
}

func TestClassify_NamesTheAccount(t *testing.T) {
	o := Classify(Response{Status: 429, Header: headers("openai-organization", "org-abc", "openai-project", "proj_1")}, nil, 0)
	require.Equal(t, "org-abc/proj_1", o.Account)
	o = Classify(Response{Status: 401, Header: headers("anthropic-organization-id", "8f1e")}, nil, 0)
	require.Equal(t, "8f1e", o.Account)
}

func TestClassify_FailoverOnStatusIsAnchored(t *testing.T) {
	ps, err := CompileStatusPatterns([]string{"5xx", "429", "4.1"})
	require.NoError(t, err)
	tests := []struct {
		status int
		class  Class
	}{
		{500, ClassUpstream}, {599, ClassUpstream}, {429, ClassRateLimit}, {401, ClassAuth},
		{403, ClassIgnore}, {4290, ClassIgnore}, {1500, ClassIgnore}, {402, ClassIgnore}, {200, ClassSuccess},
	}
	for _, tc := range tests {
		require.Equal(t, tc.class, Classify(Response{Status: tc.status}, ps, 0).Class, "status %d", tc.status)
	}
	_, err = CompileStatusPatterns([]string{"5(x"})
	require.ErrorContains(t, err, `"5(x" is not a valid pattern`)
}

// TestStatusPatterns_TableAgreesWithTheExpressions: the table built at
// compile time answers as the expressions do, inside and outside its range,
// and a pattern that names a 2xx keeps a 2xx from the success fast path.
func TestStatusPatterns_TableAgreesWithTheExpressions(t *testing.T) {
	ps, err := CompileStatusPatterns([]string{"5xx", "2.4", "60[0-9]", "99"})
	require.NoError(t, err)
	for _, s := range []int{99, 100, 200, 204, 214, 299, 404, 500, 599, 600, 609, 610, 1204} {
		require.Equal(t, ps.matchText(s), ps.Match(s), "status %d", s)
	}
	require.True(t, ps.Match(609))
	require.True(t, ps.Match(99))
	require.False(t, ps.Match(200))
	require.Equal(t, ClassSuccess, Classify(Response{Status: 200}, ps, 0).Class)
	require.NotEqual(t, ClassSuccess, Classify(Response{Status: 204}, ps, 0).Class, "204 is configured as failing")
	var none *StatusPatterns
	require.False(t, none.Match(500), "no list matches nothing")
	require.True(t, none.Failing(500), "but fails by the default set")
}

// TestClassify_ErrorBodiesSayWhoseFault pins the provider error bodies the
// policy reads (docs/outcomes.md gives each one's source).
func TestClassify_ErrorBodiesSayWhoseFault(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		dialect string
		body    string
		class   Class
		retryMs int64
	}{
		{"anthropic credit too low arrives as 400", 400, "claude",
			`{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. ` +
				`Please go to Plans & Billing to upgrade or purchase credits."},"request_id":"req_011CZ47RMLnx1JoJXRrzzSde"}`, ClassQuota, 0},
		{"anthropic monthly spend cap", 429, "claude",
			`{"type":"error","error":{"type":"rate_limit_error","message":"spend cap","details":{"error_code":"enforced_spend_limit_reached"}}}`, ClassQuota, 0},
		{"anthropic model access is the request's", 403, "claude",
			`{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}`, ClassIgnore, 0},
		{"anthropic overloaded 529 counts", 529, "claude", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, ClassUpstream, 0},
		{"dashscope arrears arrive as 400", 400, "qwen",
			`{"error":{"message":"Access denied, please make sure your account is in good standing.","type":"Arrearage","code":"Arrearage"}}`, ClassQuota, 0},
		{"dashscope insufficient_quota is its TPM limit", 429, "qwen",
			`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`, ClassRateLimit, 0},
		{"openai insufficient_quota is billing", 429, "openai",
			`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`, ClassQuota, 0},
		{"openai try again in", 429, "openai",
			`{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 9.816s. Visit ...","type":"tokens","code":"rate_limit_exceeded"}}`,
			ClassRateLimit, 9816},
		{"gemini truncated body: retry in the message", 429, "gemini",
			`{"error":{"code":429,"message":"Quota exceeded for metric: x, limit: 15. Please retry in 1.68s.","status":"RESOURCE_EXHAUSTED","details":[`, ClassRateLimit, 1680},
		{"gemini openai endpoint wraps in a list", 400, "gemini",
			`[{"error":{"code":400,"status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}]`, ClassAuth, 0},
		{"gemini leaked key", 403, "gemini", `{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}`, ClassAuth, 0},
		{"gemini region is the gateway's", 400, "gemini",
			`{"error":{"code":400,"message":"Gemini API free tier is not available in your country.","status":"FAILED_PRECONDITION"}}`, ClassIgnore, 0},
		{"moonshot overload is the provider's", 429, "moonshot", `{"error":{"type":"engine_overloaded_error","message":"busy"}}`, ClassUpstream, 0},
		{"moonshot balance", 429, "moonshot", `{"error":{"type":"exceeded_current_quota_error","message":"insufficient balance"}}`, ClassQuota, 0},
		{"zhipu arrears as 429", 429, "zhipuai", `{"error":{"code":"1113","message":"arrears"}}`, ClassQuota, 0},
		{"zhipu rate limit", 429, "zhipuai", `{"error":{"code":"1302","message":"too fast"}}`, ClassRateLimit, 0},
		{"zhipu no access is the request's", 403, "zhipuai", `{"error":{"code":"1220","message":"no access"}}`, ClassIgnore, 0},
		{"mistral flat body", 429, "mistral", `{"object":"error","message":"Rate limit exceeded","type":"rate_limited","param":null,"code":"1300"}`, ClassRateLimit, 0},
		{"deepseek swapped type and code", 401, "deepseek",
			`{"error":{"message":"Authentication Fails","type":"authentication_error","param":null,"code":"invalid_request_error"}}`, ClassAuth, 0},
		{"plain-text body", 503, "deepseek", `Service Unavailable`, ClassUpstream, 0},
		{"a 400 that is only the request's", 400, "openai", `{"error":{"code":"context_length_exceeded","type":"invalid_request_error"}}`, ClassIgnore, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Classify(Response{Status: tc.status, Body: []byte(tc.body), Dialect: tc.dialect}, nil, 0)
			require.Equal(t, tc.class, o.Class, o.Why)
			require.Equal(t, tc.retryMs, o.RetryAfterMs)
			require.NotContains(t, o.Why, "message", "the reason names a code, never the message")
		})
	}
}

func TestClassify_BodyMarkersOn400OnlyWithTheDefaultSet(t *testing.T) {
	ps, err := CompileStatusPatterns([]string{"5xx"})
	require.NoError(t, err)
	body := []byte(`{"error":{"status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}`)
	require.Equal(t, ClassIgnore, Classify(Response{Status: 400, Body: body}, ps, 0).Class, "failoverOnStatus decides which statuses count")
}
