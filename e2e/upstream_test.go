package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
)

// upstreamConfig is envoy-upstream.yaml's plugin config with the e2e tokens.
func upstreamConfig(extra string) string {
	return "mode: upstream\n" + pluginConfig(extra)
}

// setupUpstream starts the mock and Envoy from envoy-upstream.yaml: the
// plugin as the cluster's upstream filter, the router retrying.
func setupUpstream(t *testing.T, config string) *env {
	t.Helper()
	return setupUpstreamEdit(t, config, nil)
}

// setupUpstreamEdit is setupUpstream with edit applied to the rendered
// Envoy configuration.
func setupUpstreamEdit(t *testing.T, config string, edit func(string) string) *env {
	t.Helper()
	e, err := startEnv(t, envoyrun.Options{PluginConfig: config, Template: "envoy-upstream.yaml", Edit: edit})
	require.NoError(t, err)
	e.c = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	return e
}

// attempts groups the mock's live (non-probe) records by request id.
func attempts(recs []mockllm.Record) map[string][]mockllm.Record {
	out := map[string][]mockllm.Record{}
	for _, r := range recs {
		if !r.Probe {
			id := r.Header.Get("x-request-id")
			out[id] = append(out[id], r)
		}
	}
	return out
}

// TestEnvoyUpstream_RouterRetriesOnAnotherToken: with one token answering
// 500 and another 429 (Retry-After 1), 1,000 requests through the router's
// retries reach the client without an error; no request tries a token
// twice; every attempt is counted against the token that served it; and no
// header of the plugin's reaches the provider (issue 20 B10: the signed
// list of tried tokens used to).
func TestEnvoyUpstream_RouterRetriesOnAnotherToken(t *testing.T) {
	e := setupUpstream(t, upstreamConfig(""))
	e.mock.Set(tokens[0], mockllm.Behaviour{Status: 500})
	e.mock.Set(tokens[1], mockllm.Behaviour{Status: 429, RetryAfter: 1})
	codes := e.load(1000, 8)
	if codes[200] != 1000 {
		for id, recs := range attempts(e.mock.Records()) {
			if recs[len(recs)-1].Status != 200 {
				var path []string
				for _, r := range recs {
					path = append(path, fmt.Sprintf("%s:%d", r.Token[len(r.Token)-4:], r.Status))
				}
				t.Logf("request %s: %v", id, path)
			}
		}
	}
	require.Equal(t, map[int]int{200: 1000}, codes, "no client-visible errors")
	retried := 0
	for id, recs := range attempts(e.mock.Records()) {
		seen := map[string]bool{}
		for _, r := range recs {
			require.False(t, seen[r.Token], "request %s tried a token twice", id)
			seen[r.Token] = true
		}
		if len(recs) > 1 {
			retried++
		}
	}
	require.Positive(t, retried)
	for _, r := range e.mock.Records() {
		for k := range r.Header {
			require.False(t, strings.HasPrefix(strings.ToLower(k), "x-token-failover"), "internal header %s reached the provider", k)
		}
	}
	time.Sleep(1200 * time.Millisecond) // request counters flush on the tick
	live := map[string]int{}
	for _, r := range e.mock.Records() {
		if !r.Probe {
			live[r.Token]++
		}
	}
	for i, tok := range tokens {
		require.Equal(t, int64(live[tok]), e.stat(t, tokenStat(i, "requests")), "every attempt on token %d counted", i)
	}
	require.Positive(t, e.stat(t, tokenStat(0, "failures_upstream")))
	require.Positive(t, e.stat(t, tokenStat(1, "failures_ratelimit")))
	t.Logf("%d of 1000 requests needed a retry", retried)
}

// TestEnvoyUpstream_StreamedAnswerAfterARetryIsStreamed: a stream whose
// first attempt fails before its first byte is retried by the router and
// reaches the client as a stream, its first chunk about as soon as a
// direct stream's.
func TestEnvoyUpstream_StreamedAnswerAfterARetryIsStreamed(t *testing.T) {
	e := setupUpstream(t, upstreamConfig(""))
	slow := mockllm.Behaviour{Chunks: 4, ChunkDelay: 300 * time.Millisecond}
	e.mock.Set(tokens[1], slow)
	e.mock.Set(tokens[2], slow)
	firstChunk := func() (time.Duration, time.Duration, int) {
		before := len(e.mock.Records())
		req, _ := http.NewRequest("POST", "http://"+e.envoy.Listen+"/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o","stream":true,"messages":[]}`))
		t0 := time.Now()
		resp, err := e.c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		_, err = bufio.NewReader(resp.Body).ReadString('\n')
		require.NoError(t, err)
		first := time.Since(t0)
		_, _ = io.Copy(io.Discard, resp.Body)
		return first, time.Since(t0), len(e.mock.Records()) - before
	}
	var direct, retried []time.Duration
	for i := 0; i < 30 && (len(direct) < 5 || len(retried) < 5); i++ {
		if i == 0 {
			e.mock.Set(tokens[0], mockllm.Behaviour{Status: 500})
		}
		first, whole, hops := firstChunk()
		require.Greater(t, whole, 800*time.Millisecond, "the answer took its time: it was streamed, not held")
		if hops > 1 {
			retried = append(retried, first)
		} else {
			direct = append(direct, first)
		}
	}
	require.NotEmpty(t, retried)
	require.NotEmpty(t, direct)
	d, r := p50(direct), p50(retried)
	t.Logf("time to first chunk: direct p50 %v, after a retry p50 %v", d, r)
	require.Less(t, r, d+150*time.Millisecond, "the retried stream's first chunk is not held back")
}

// TestEnvoyUpstream_LargeBodyIsReplayedWhole: the router replays a 3 MiB
// request to the next token whole (route per_request_buffer_limit_bytes),
// with the model mapped in each attempt.
func TestEnvoyUpstream_LargeBodyIsReplayedWhole(t *testing.T) {
	e := setupUpstream(t, upstreamConfig(""))
	e.mock.Set(tokens[0], mockllm.Behaviour{Status: 500})
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("w", 3<<20) + `"}]}`
	want := strings.Replace(body, "gpt-4o", "mapped-model", 1)
	replays := 0
	// Random selection picks the failing token first for about a third of
	// the requests: send until one was replayed (6 in a row missing it
	// happened 9% of the time; 40 would miss it once in 10^7).
	for i := 0; i < 40 && replays == 0; i++ {
		resp, err := e.c.Post("http://"+e.envoy.Listen+"/v1/chat/completions", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		replays = 0
		for _, recs := range attempts(e.mock.Records()) {
			for _, r := range recs {
				require.Equal(t, len(want), len(r.Body), "every attempt gets the whole body")
				require.Equal(t, "mapped-model", r.Model)
			}
			if len(recs) > 1 {
				replays++
			}
		}
	}
	require.Positive(t, replays, "some request was replayed to another token")
}

// TestEnvoyUpstream_ProbesKeepTheirTokenAndHeadersCannotBeForged: probes go
// through the cluster's upstream filter too and keep the token they probe;
// a client cannot forge the tried or the probe header to steer tokens.
func TestEnvoyUpstream_ProbesKeepTheirTokenAndHeadersCannotBeForged(t *testing.T) {
	e := setupUpstream(t, upstreamConfig(""))
	e.mock.Set(tokens[2], mockllm.Behaviour{Status: 401})
	eventually(t, 10*time.Second, "token 2 demoted", func() bool {
		e.load(3, 1)
		return e.stat(t, tokenStat(2, "demotions")) == 1
	})
	healed := time.Now()
	e.mock.Set(tokens[2], mockllm.Healthy)
	eventually(t, 15*time.Second, "a probe restoring token 2", func() bool { return e.stat(t, tokenStat(2, "restorations")) == 1 })
	probes := 0
	for _, r := range e.mock.Records() {
		if r.Probe && !r.Time.Before(healed) {
			require.Equal(t, tokens[2], r.Token, "the probe kept its own token through the upstream filter")
			require.Empty(t, r.Header.Get("x-token-failover-probe"), "the probe mark never reaches the provider")
			probes++
		}
	}
	require.Positive(t, probes)

	// Forged headers change nothing: every token still serves.
	after := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", "http://"+e.envoy.Listen+"/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o"}`))
			req.Header.Set("x-token-failover-tried", "0,1;0123456789abcdef")
			req.Header.Set("x-token-failover-probe", "0123456789abcdef")
			req.Header.Set("authorization", "Bearer client-own-key")
			resp, err := e.c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	used := map[string]bool{}
	for _, r := range e.mock.Records() {
		if !r.Probe && !r.Time.Before(after) {
			used[r.Token] = true
			require.NotEqual(t, "client-own-key", r.Token)
		}
	}
	var got []string
	for tok := range used {
		got = append(got, tok)
	}
	sort.Strings(got)
	require.Equal(t, []string{tokens[0], tokens[1], tokens[2]}, got, fmt.Sprintf("forged headers steered tokens: %v", got))
}

// TestEnvoy_ResetsCountInBothModes (issue 20 B4): a token whose provider
// closes the connection before answering is charged and demoted in the
// default mode and, through the router's retries, in mode: upstream, where
// an attempt that ends without an answer shows the filter no response and
// no details (before, upstream mode dropped it and never demoted the key).
func TestEnvoy_ResetsCountInBothModes(t *testing.T) {
	for _, mode := range []string{"downstream", "upstream"} {
		t.Run(mode, func(t *testing.T) {
			var e *env
			if mode == "upstream" {
				e = setupUpstream(t, upstreamConfig(""))
			} else {
				e = setup(t, pluginConfig(""))
			}
			e.mock.Set(tokens[2], mockllm.Behaviour{Reset: true})
			eventually(t, 15*time.Second, "token 2 demoted", func() bool {
				e.load(6, 2)
				return e.stat(t, tokenStat(2, "demotions")) == 1
			})
			require.GreaterOrEqual(t, e.stat(t, tokenStat(2, "failures_upstream")), int64(3), "failureThreshold resets counted")
			require.Zero(t, e.stat(t, tokenStat(0, "failures_upstream"))+e.stat(t, tokenStat(1, "failures_upstream")))
		})
	}
}

// TestEnvoyUpstream_OneRetryLatency prints what one router retry adds to a
// request in upstream mode, measured as TestEnvoy_RetryHidesAFailingToken
// measures the http_call mode: token bravo answers 500 and is never demoted
// (threshold 1000) so its requests keep being retried; sequential requests
// on one keep-alive connection, p50 of the direct ones against p50 of those
// retried once. It asserts only that every answer is the retried 200.
func TestEnvoyUpstream_OneRetryLatency(t *testing.T) {
	e := setupUpstream(t, strings.Replace(upstreamConfig(""), "failureThreshold: 3", "failureThreshold: 1000", 1))
	e.mock.Set(tokens[1], mockllm.Behaviour{Status: 500})
	direct, retried := retryLatency(t, e)
	t.Logf("Envoy latency, upstream mode: direct p50 %v (%d requests), with one router retry p50 %v (%d requests), extra %v",
		p50(direct), len(direct), p50(retried), len(retried), p50(retried)-p50(direct))
}
