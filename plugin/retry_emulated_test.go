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
  failover: {enabled: true, healthCheckInterval: 1000},
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
	require.GreaterOrEqual(t, p.count(1, false), 3, "the failing token served until its demotion")
	require.GreaterOrEqual(t, h.MetricValue("tokenfailover.openai-"+poolPrefix(h)+".retries"), uint64(3), "and each failure was retried")
	require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[1].Status)
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

// TestRetry_OnlyTheWholeRequestIsRetried: an upstream that answers 429
// before it read the request used to make the plugin retry with the body
// seen so far (56 of 65,596 bytes, and a content-length to match): the
// provider got a request the client never made. The failed answer goes to
// the client instead.
func TestRetry_OnlyTheWholeRequestIsRetried(t *testing.T) {
	p := newProvider(threeTokens...)
	for i := range threeTokens {
		p.always(i, wasmhost.Status(429, [2]string{"retry-after", "3"}))
	}
	h := start(t, retryConfig(""), p)
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 65536) + `"}]}`
	s, err := h.Workers()[0].Open(chatRequest(body, 56, 4096))
	require.NoError(t, err)
	_, err = s.SendBody() // the first 56 bytes
	require.NoError(t, err)
	require.NoError(t, s.Respond(p.cluster(s.Upstream))) // answered early
	require.Equal(t, 429, s.Response.Status)
	require.Equal(t, "3", header(s.Response.Headers, "retry-after"))
	for _, r := range p.requests {
		require.False(t, r.HTTPCall, "no retry of a request the plugin did not see whole")
	}
}

// TestRetry_TimedOutRetryLetsTheOriginalThroughAndChargesNobody: a slow
// healthy retry used to time out into a 504 for the client and a failure
// for the healthy token.
func TestRetry_TimedOutRetryLetsTheOriginalThroughAndChargesNobody(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(0, wasmhost.Status(429, [2]string{"retry-after", "7"}))
	slow := wasmhost.OK()
	slow.Delay = 5 * time.Second
	p.always(1, slow)
	p.always(2, slow)
	h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  failover: {enabled: true, healthCheckInterval: 1000}, retryOnFailure: {enabled: true, maxRetries: 1, retryTimeout: 2000}}`, p)
	s := answeredOnToken(t, h, p, 0)
	require.True(t, s.Held(), "the 429 is held while the retry runs")
	advance(t, h, 2500*time.Millisecond)
	require.True(t, s.Ended())
	require.Equal(t, 429, s.Response.Status, "the original answer, not a 504")
	require.Equal(t, "7", header(s.Response.Headers, "retry-after"))
	st := state(t, h, 3)
	require.Equal(t, failover.Cooling, st.Tokens[0].Status, "the 429 counts")
	for _, i := range []int{1, 2} {
		require.Equal(t, failover.Token{}, st.Tokens[i], "the slow retry's token is charged nothing")
	}
}

// TestRetry_ClientLeavingDuringARetryKeepsTheFailure (issue 20 B9): the
// failure that started a retry counts against its token even when the
// client goes away before the retry answers (before, it was never
// recorded).
func TestRetry_ClientLeavingDuringARetryKeepsTheFailure(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(0, wasmhost.Status(500))
	slow := wasmhost.OK() // a route answer comes at once; a retry's after a second
	slow.Delay = time.Second
	p.always(1, slow)
	p.always(2, slow)
	h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 3, healthCheckInterval: 1000}, retryOnFailure: {enabled: true, maxRetries: 1}}`, p)
	s := answeredOnToken(t, h, p, 0)
	require.True(t, s.Held(), "the 500 is held while the retry runs")
	require.NoError(t, s.ResetByClient())
	advance(t, h, 1500*time.Millisecond) // the retry answers to nobody
	require.Equal(t, 1, p.count(1, true)+p.count(2, true), "the retry was sent and answered")
	require.EqualValues(t, 1, state(t, h, 3).Tokens[0].Failures, "the 500 that started the retry counts")
}

// TestRetry_FailedCallsAreBoundedAndClassified: with maxRetries 1 and five
// tokens, retries that failed without an answer used to go on to every
// token. Each of Envoy's shapes of a failed call (docs/envoy-details.md)
// is one attempt at most: a connection failure is Envoy's 503, relayed and
// charged to the retry's token; a reset after the headers has no answer,
// so the original failure goes out; a circuit breaker refuses the call at
// dispatch, so nothing was sent and nobody is charged for it.
func TestRetry_FailedCallsAreBoundedAndClassified(t *testing.T) {
	reset := wasmhost.OK()
	reset.MidStreamReset = true
	for _, tc := range []struct {
		name        string
		reply       wasmhost.Reply
		status      int
		retryCharge bool
	}{
		{"connect failure", wasmhost.Reply{Fault: wasmhost.FaultConnectFailure}, 503, true},
		{"reset after headers", reset, 500, true},
		{"circuit breaker", wasmhost.Reply{Fault: wasmhost.FaultOverflow}, 500, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := []string{"tok-1-aaaa", "tok-2-bbbb", "tok-3-cccc", "tok-4-dddd", "tok-5-eeee"}
			p := newProvider(tokens...)
			for i := range tokens {
				p.set(i, func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
					if r.HTTPCall {
						return tc.reply
					}
					return wasmhost.Status(500)
				})
			}
			h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(tokens, ", ")+`],
  failover: {enabled: true}, retryOnFailure: {enabled: true, maxRetries: 1}}`, p)
			s := do(t, h.Workers()[0], wasmhost.Chat("m"))
			require.Equal(t, tc.status, s.Response.Status)
			var retried []int
			for _, r := range p.requests {
				if r.HTTPCall {
					retried = append(retried, p.token(r))
				}
			}
			require.Len(t, retried, 1, "maxRetries 1")
			st := state(t, h, len(tokens))
			require.Equal(t, uint32(1), st.Tokens[p.token(s.Upstream)].Failures, "the original 500 counts")
			charged := uint32(0)
			if tc.retryCharge {
				charged = 1
			}
			require.Equal(t, charged, st.Tokens[retried[0]].Failures, "the retry's token")
		})
	}
}

// TestRetry_KeptBodyIsDroppedOnceNoRetryCanHappen: the copy of the request
// kept for a retry used to live as long as the stream (SSE streams last
// minutes; wasm memory never shrinks). It goes at the answer's headers.
func TestRetry_KeptBodyIsDroppedOnceNoRetryCanHappen(t *testing.T) {
	p := newProvider(threeTokens...)
	h := start(t, retryConfig(""), p, func(o *wasmhost.Options) { o.Workers = 1 })
	w := h.Workers()[0]
	prompt := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("y", 200<<10) + `"}]}`
	do(t, w, chatRequest(prompt, 16384)) // warm up
	before := w.MemoryBytes()
	var open []*wasmhost.Stream
	for i := 0; i < 150; i++ { // 150 streams with 200 KB prompts, all still streaming
		s, err := w.Start(chatRequest(prompt, 16384))
		require.NoError(t, err)
		require.NoError(t, s.Respond(wasmhost.Reply{Status: 200, Headers: []wasmhost.Pair{{"content-type", "text/event-stream"}},
			Body: []byte("data: a\n\n"), Open: true}))
		require.False(t, s.Ended())
		open = append(open, s)
	}
	grown := int64(w.MemoryBytes()) - int64(before)
	t.Logf("VM memory %d -> %d bytes (+%d) with 150 open streams of 200 KB prompts", before, w.MemoryBytes(), grown)
	require.Less(t, grown, int64(16<<20), "kept bodies would be 150 x 200 KB = 30 MB")
	for _, s := range open {
		require.NoError(t, s.ResetByClient())
	}
}

// TestRetry_HeldAnswerWithTrailersGetsTheRetrysBodyAndTrailers: a held
// answer that ends with trailers never saw end-of-stream in its body
// callback, so the retry's body was never swapped in.
func TestRetry_HeldAnswerWithTrailersGetsTheRetrysBodyAndTrailers(t *testing.T) {
	p := newProvider(threeTokens...)
	failed := wasmhost.Status(500)
	failed.Trailers = []wasmhost.Pair{{"x-failed", "1"}}
	p.always(0, failed)
	good := wasmhost.OK()
	good.Body = []byte(`{"choices":[{"retried":true}]}`)
	p.always(1, good)
	p.always(2, good)
	h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  failover: {enabled: true}, retryOnFailure: {enabled: true}}`, p)
	var s *wasmhost.Stream
	for i := 0; i < 3 && (s == nil || p.token(s.Upstream) != 0); i++ {
		s = do(t, h.Workers()[0], wasmhost.Chat("m"))
	}
	require.Equal(t, 200, s.Response.Status)
	require.Equal(t, string(good.Body), string(s.Response.Body))
	require.Equal(t, fmt.Sprint(len(good.Body)), header(s.Response.Headers, "content-length"))
	require.Empty(t, s.Response.Trailers, "the failed answer's trailers are gone")
}

// TestRetry_RetriedBodyIsTheMappedBodyWhereverItSplits: the copy of the
// body a retry sends is the body as it went upstream, model mapped,
// whether the chunks cut the model's value (held and re-read) or not,
// and in a body larger than one read (1 MiB) with the model at its end.
func TestRetry_RetriedBodyIsTheMappedBodyWhereverItSplits(t *testing.T) {
	pad := strings.Repeat("p", 70<<10)
	huge := strings.Repeat("h", 1100<<10) // over one read of the body (1 MiB)
	cuts := func(body string) [][]int {
		var splits [][]int
		for _, cut := range []int{1, 5, 12, strings.Index(body, `"gpt`) + 3, len(body) - 9, len(body) - 1} {
			splits = append(splits, []int{cut})
		}
		return append(splits, nil, []int{3000, 3000, 3000})
	}
	var sixtyFour []int // Envoy's reads: no callback holds more than its buffer limit
	for n := 0; n < len(huge); n += 64 << 10 {
		sixtyFour = append(sixtyFour, 64<<10)
	}
	for _, tc := range []struct {
		body   string
		splits [][]int
	}{
		{`{"messages":[{"role":"user","content":"h\u00e9llo"}],"model":"gpt-4o","stream":false}`, nil},
		{`{"model":"gpt-4o","messages":[{"role":"user","content":"` + pad + `"}]}`, nil},
		{`{"messages":[{"role":"user","content":"` + pad + `"}],"model":"gpt-4o-mini"}`, nil},
		{`{"messages":[{"role":"user","content":"` + huge + `"}],"model":"gpt-4o-mini"}`, [][]int{nil, sixtyFour}},
	} {
		body, splits := tc.body, tc.splits
		if splits == nil {
			splits = cuts(body)
		}
		want := strings.Replace(strings.Replace(body, `"gpt-4o"`, `"mapped"`, 1), `"gpt-4o-mini"`, `"mapped"`, 1)
		for _, chunks := range splits {
			p := newProvider(threeTokens...)
			p.always(0, wasmhost.Status(500))
			h := start(t, retryConfig(", maxBodyBytes: 2000000"), p, func(o *wasmhost.Options) { o.Workers = 1 })
			var s *wasmhost.Stream
			for i := 0; i < 3 && (s == nil || p.token(s.Upstream) != 0); i++ {
				s = do(t, h.Workers()[0], chatRequest(body, chunks...))
			}
			require.Equal(t, 0, p.token(s.Upstream))
			if got := string(s.Upstream.Body); got != want {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Fatalf("chunks %v: the first attempt differs at %d of %d/%d: got %q want %q", chunks, i, len(got), len(want),
					got[max(0, i-20):min(len(got), i+40)], want[max(0, i-20):min(len(want), i+40)])
			}
			var retried *wasmhost.UpstreamRequest
			for _, r := range p.requests {
				if r.HTTPCall {
					retried = r
				}
			}
			require.NotNil(t, retried, "chunks %v", chunks)
			require.Equal(t, want, string(retried.Body), "chunks %v: the retry", chunks)
			require.Equal(t, 200, s.Response.Status)
		}
	}
}

// answeredOnToken sends round-robin requests through worker 0 until one
// goes to token tok, and answers each as the provider scripts it; it
// returns that last stream (held, when its answer is being retried).
func answeredOnToken(t *testing.T, h *wasmhost.Host, p *provider, tok int) *wasmhost.Stream {
	t.Helper()
	var s *wasmhost.Stream
	for i := 0; i < len(p.tokens) && (s == nil || p.token(s.Upstream) != tok); i++ {
		var err error
		s, err = h.Workers()[0].Start(wasmhost.Chat("m"))
		require.NoError(t, err)
		require.NoError(t, s.Respond(p.cluster(s.Upstream)))
	}
	require.Equal(t, tok, p.token(s.Upstream))
	return s
}
