package plugin_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

func retryConfig(extra string) string {
	return `provider: {type: openai, apiTokens: [` + strings.Join(threeTokens, ", ") + `], modelMapping: {"gpt-4*": mapped},
  failover: {enabled: true, failureThreshold: 1000, healthCheckInterval: 1000},
  retryOnFailure: {enabled: true, maxRetries: 2` + extra + `}}`
}

func TestRetry_OneFailingTokenCostsNoClientErrors(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(1, wasmhost.Status(500))
	h := start(t, retryConfig(""), p)
	for i := 0; i < 1000; i++ {
		s := do(t, h.Workers()[i%4], wasmhost.Chat("gpt-4o"))
		require.NotNil(t, s.Response, "request %d was left held", i)
		require.Equal(t, 200, s.Response.Status, "request %d", i)
		require.Equal(t, `{"choices":[]}`, string(s.Response.Body))
		require.Equal(t, fmt.Sprint(len(s.Response.Body)), header(s.Response.Headers, "content-length"))
	}
	require.Positive(t, p.count(1, false))
	require.Positive(t, h.MetricValue("tokenfailover.openai-"+poolPrefix(h)+".retries"))
}

func TestRetry_AllFailingGivesTheLastUpstreamAnswer(t *testing.T) {
	p := newProvider(threeTokens...)
	for i := range threeTokens {
		i := i
		p.set(i, func(*wasmhost.UpstreamRequest) wasmhost.Reply {
			r := wasmhost.Status(500 + i)
			r.Body = []byte(fmt.Sprintf(`{"error":"token %d"}`, i))
			return r
		})
	}
	h := start(t, retryConfig(""), p)
	s := do(t, h.Workers()[0], wasmhost.Chat("gpt-4o"))
	require.Len(t, p.requests, 3, "the original and two retries")
	last := p.token(p.requests[2])
	require.Equal(t, 500+last, s.Response.Status, "the last upstream status")
	require.Equal(t, fmt.Sprintf(`{"error":"token %d"}`, last), string(s.Response.Body), "and body")
	seen := map[int]bool{}
	for _, r := range p.requests {
		require.False(t, seen[p.token(r)], "a retry reused a token that already failed this request")
		seen[p.token(r)] = true
	}
	st := state(t, h, 3)
	for i := range threeTokens {
		require.Equal(t, uint32(1), st.Tokens[i].Failures, "retry outcomes move the failure counters")
	}
}

func TestRetry_NonChatRequestIsResentUnchangedButForAuth(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(0, wasmhost.Status(503))
	h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  retryOnFailure: {enabled: true}}`, p)
	body := []byte(`{"model": "text-embedding-3-small", "input": ["a", "b"]}`)
	req := wasmhost.Request{Headers: []wasmhost.Pair{{":method", "POST"}, {":path", "/v1/embeddings"}, {":authority", "gw"},
		{"content-type", "application/json"}, {"x-trace", "t-1"}, {"content-length", fmt.Sprint(len(body))}}, Body: body}
	for p.count(0, false) == 0 {
		do(t, h.Workers()[0], req)
	}
	require.GreaterOrEqual(t, len(p.requests), 2)
	orig, retry := p.requests[len(p.requests)-2], p.requests[len(p.requests)-1]
	require.Equal(t, 0, p.token(orig))
	require.True(t, retry.HTTPCall)
	require.NotEqual(t, 0, p.token(retry))
	require.Equal(t, orig.Body, retry.Body, "body unchanged")
	for _, k := range []string{":method", ":path", ":authority", "content-type", "x-trace"} {
		require.Equal(t, orig.Header(k), retry.Header(k), k)
	}
	require.Equal(t, "/v1/embeddings", retry.Header(":path"), "not reshaped into a chat completion")
}

func TestRetry_OverMaxBodyIsNotRetried(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(0, wasmhost.Status(500))
	p.always(1, wasmhost.Status(500))
	p.always(2, wasmhost.Status(500))
	h := start(t, retryConfig(", maxBodyBytes: 16"), p)
	s := do(t, h.Workers()[0], wasmhost.Chat("gpt-4o"))
	require.Equal(t, 500, s.Response.Status)
	require.Len(t, p.requests, 1)
}

// TestSticky_SessionsKeepTheirTokenMoveOnDemotionAndReturn: 50 sessions
// of 20 requests each keep one token while it is healthy; when a session's
// token is demoted it moves, and it comes back after restoration.
func TestSticky_SessionsKeepTheirTokenMoveOnDemotionAndReturn(t *testing.T) {
	p := newProvider(threeTokens...)
	h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: sticky,
  stickyHeader: x-session-id, failover: {enabled: true, healthCheckInterval: 1000}}`, p)
	session := func(id int) wasmhost.Request {
		r := wasmhost.Chat("gpt-4o")
		r.Headers = append(r.Headers, wasmhost.Pair{"x-session-id", fmt.Sprintf("session-%d", id)})
		return r
	}
	home := map[int]int{}
	for i := 0; i < 1000; i++ {
		id := i % 50
		s := do(t, h.Workers()[i%4], session(id))
		tok := p.token(s.Upstream)
		if prev, ok := home[id]; ok {
			require.Equal(t, prev, tok, "session %d changed token while healthy", id)
		}
		home[id] = tok
	}
	counts := map[int]int{}
	for _, tok := range home {
		counts[tok]++
	}
	require.Len(t, counts, 3, "sessions spread over all tokens")

	p.always(0, wasmhost.Status(401))
	var moved []int
	for id, tok := range home {
		if tok == 0 {
			moved = append(moved, id)
		}
	}
	do(t, h.Workers()[0], session(moved[0])) // the 401 that demotes token 0
	require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[0].Status)
	for _, id := range moved {
		s := do(t, h.Workers()[id%4], session(id))
		require.NotEqual(t, 0, p.token(s.Upstream), "session %d must move off the demoted token", id)
		s2 := do(t, h.Workers()[(id+1)%4], session(id))
		require.Equal(t, p.token(s.Upstream), p.token(s2.Upstream), "and stay on its new token")
	}
	p.always(0, wasmhost.OK())
	advance(t, h, 2500*time.Millisecond)
	require.Equal(t, failover.Available, state(t, h, 3).Tokens[0].Status)
	for _, id := range moved {
		s := do(t, h.Workers()[id%4], session(id))
		require.Equal(t, 0, p.token(s.Upstream), "session %d comes back after restoration", id)
	}
}

func header(pairs []wasmhost.Pair, name string) string {
	for _, p := range pairs {
		if p[0] == name {
			return p[1]
		}
	}
	return ""
}

// poolPrefix is the 6-hex pool id prefix of the only pool.
func poolPrefix(h *wasmhost.Host) string {
	for _, k := range h.SharedKeys() {
		if strings.HasSuffix(k, "/state") {
			return strings.TrimPrefix(k, "token-failover/")[:6]
		}
	}
	return ""
}
