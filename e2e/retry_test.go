package e2e

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/mockllm"
)

const retryOn = "  retryOnFailure: {enabled: true, maxRetries: 2}\n"

// TestEnvoy_RetryHidesAFailingToken: token bravo answers 500 and is never
// demoted (threshold 1000), so every request that lands on it fails; with
// retryOnFailure the client sees none of those failures.
func TestEnvoy_RetryHidesAFailingToken(t *testing.T) {
	e := setup(t, strings.Replace(pluginConfig(retryOn), "failureThreshold: 3", "failureThreshold: 1000", 1))
	e.mock.Set(tokens[1], mockllm.Behaviour{Status: 500})
	start := time.Now()
	codes := e.load(1000, 8)
	require.Equal(t, map[int]int{200: 1000}, codes, "no client-visible errors")
	require.Greater(t, e.mock.Count(tokens[1], false, start), 20, "bravo kept failing requests")
	require.Equal(t, int64(e.mock.Count(tokens[1], false, start)), e.stat(t, tokenStat(1, "failures_upstream")))
	require.Positive(t, e.stat(t, "tokenfailover.e2e.retries"))

	// Sequentially, one keep-alive connection: the client gets the retried
	// answer whole, and a retried request costs one more upstream round trip.
	direct, retried := retryLatency(t, e)
	t.Logf("Envoy latency: direct p50 %v (%d requests), with one retry p50 %v (%d requests), extra %v",
		p50(direct), len(direct), p50(retried), len(retried), p50(retried)-p50(direct))
}

// retryLatency sends 200 chat requests one after another on one keep-alive
// connection and returns the latencies of those answered directly and of
// those retried once (two upstream records); each answer must be a whole
// 200 chat completion, and both kinds must occur.
func retryLatency(t *testing.T, e *env) (direct, retried []time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 200; i++ {
		before := len(e.mock.Records())
		req, _ := http.NewRequest("POST", "http://"+e.envoy.Listen+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		resp, err := c.Do(req)
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(t0)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Contains(t, string(got), `"object":"chat.completion"`)
		if len(e.mock.Records())-before == 2 {
			retried = append(retried, took)
		} else {
			direct = append(direct, took)
		}
	}
	require.NotEmpty(t, retried)
	require.NotEmpty(t, direct)
	return direct, retried
}

func p50(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func TestEnvoy_RetryAllFailingReturnsLastAnswerAndEmbeddingsStayIntact(t *testing.T) {
	e := setup(t, pluginConfig(retryOn))
	for _, tok := range tokens {
		e.mock.Set(tok, mockllm.Behaviour{Status: 503})
	}
	body := `{"model": "text-embedding-3-small", "input": "hello"}`
	req, _ := http.NewRequest("POST", "http://"+e.envoy.Listen+"/v1/embeddings", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.c.Do(req)
	require.NoError(t, err)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 503, resp.StatusCode, "the last upstream status")
	require.Contains(t, string(got), "mock status 503", "and its body")
	recs := e.mock.Records()
	require.Len(t, recs, 3, "the original and two retries")
	seen := map[string]bool{}
	for _, r := range recs {
		require.Equal(t, "/v1/embeddings", r.Path, "not reshaped")
		require.Equal(t, "text-embedding-3-small", r.Model)
		require.False(t, seen[r.Token], "a token was tried twice")
		seen[r.Token] = true
	}
}
