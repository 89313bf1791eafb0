package failover

import (
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
	tests := []struct {
		name    string
		resp    Response
		class   Class
		retryMs int64
	}{
		{"200 is success", Response{Status: 200}, ClassSuccess, 0},
		{"204 is success", Response{Status: 204, CodeDetails: "via_upstream"}, ClassSuccess, 0},
		{"400 is the client's", Response{Status: 400}, ClassIgnore, 0},
		{"404 is the client's", Response{Status: 404}, ClassIgnore, 0},
		{"413 is the client's", Response{Status: 413}, ClassIgnore, 0},
		{"422 is the client's", Response{Status: 422}, ClassIgnore, 0},
		{"401 is auth", Response{Status: 401}, ClassAuth, 0},
		{"403 is auth", Response{Status: 403}, ClassAuth, 0},
		{"402 is quota", Response{Status: 402}, ClassQuota, 0},
		{"408 is upstream", Response{Status: 408}, ClassUpstream, 0},
		{"500 is upstream", Response{Status: 500}, ClassUpstream, 0},
		{"503 via upstream", Response{Status: 503, CodeDetails: "via_upstream"}, ClassUpstream, 0},
		{"reset is upstream", Response{Status: 503, CodeDetails: "upstream_reset_before_response_started{connection_termination}"}, ClassUpstream, 0},
		{"connect failure is upstream", Response{Status: 503, CodeDetails: "upstream_reset_before_response_started{connection_failure}"}, ClassUpstream, 0},
		{"timeout is upstream", Response{Status: 504, CodeDetails: "upstream_response_timeout"}, ClassUpstream, 0},
		{"no healthy upstream is not the token's", Response{Status: 503, CodeDetails: "no_healthy_upstream"}, ClassIgnore, 0},
		{"another filter's 403 is not the token's", Response{Status: 403, CodeDetails: "rbac_access_denied"}, ClassIgnore, 0},
		{"429 retry-after seconds", Response{Status: 429, Header: headers("retry-after", "2")}, ClassRateLimit, 2000},
		{"429 retry-after date", Response{Status: 429, Header: headers("retry-after", "Thu, 01 Jan 2026 00:00:05 GMT")}, ClassRateLimit, 5000},
		{"429 openai reset", Response{Status: 429, Header: headers("x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s")}, ClassRateLimit, 360000},
		{"429 reset epoch", Response{Status: 429, Header: headers("x-ratelimit-reset", "1767225610")}, ClassRateLimit, 10000},
		{"429 no hint", Response{Status: 429, Header: headers()}, ClassRateLimit, 0},
		{"429 huge hint is capped", Response{Status: 429, Header: headers("retry-after", "999999")}, ClassRateLimit, MaxCooldownMs},
		{"429 garbage hint", Response{Status: 429, Header: headers("retry-after", "soon")}, ClassRateLimit, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Classify(tc.resp, nil, now)
			require.Equal(t, tc.class, o.Class)
			require.Equal(t, tc.retryMs, o.RetryAfterMs)
		})
	}
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
