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

// TestOutcome_OnlyTheProvidersFailuresCount: of Envoy's own local replies,
// only those that say the provider failed count against the token; its
// refusals (circuit breaker, no healthy host, maintenance, a local reset)
// never do, however many (24 concurrent overflows used to demote all three
// tokens in 0.1 s). Timeouts count towards failureThreshold, never at once.
func TestOutcome_OnlyTheProvidersFailuresCount(t *testing.T) {
	tests := []struct {
		fault  wasmhost.Fault
		counts bool
	}{
		{wasmhost.FaultRouteTimeout, true},
		{wasmhost.FaultPerTryTimeout, true},
		{wasmhost.FaultConnectFailure, true},
		{wasmhost.FaultRemoteReset, true},
		{wasmhost.FaultConnectionTermination, true},
		{wasmhost.FaultOverflow, false},
		{wasmhost.FaultNoHealthyUpstream, false},
		{wasmhost.FaultMaintenance, false},
		{wasmhost.FaultLocalReset, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.fault), func(t *testing.T) {
			p := newProvider(threeTokens...)
			for i := range threeTokens {
				p.always(i, wasmhost.Reply{Fault: tc.fault})
			}
			h := start(t, cfg(""), p)
			var inflight []*wasmhost.Stream
			for i := 0; i < 24; i++ { // 24 at once, as under load
				s, err := h.Workers()[i%4].Start(wasmhost.Chat("m"))
				require.NoError(t, err)
				inflight = append(inflight, s)
			}
			for i, s := range inflight {
				require.NoError(t, s.Respond(p.cluster(s.Upstream)))
				if i == 1 && tc.counts {
					require.Equal(t, 0, unhealthy(state(t, h, 3)), "two timeouts or resets do not demote (threshold 3)")
				}
			}
			st := state(t, h, 3)
			if tc.counts {
				require.Equal(t, 3, unhealthy(st), "the provider's failures demote at the threshold")
				return
			}
			require.Equal(t, failover.NewPool(3).Tokens, st.Tokens, "Envoy's own refusal is nobody's fault")
		})
	}
}

func unhealthy(p failover.Pool) int {
	n := 0
	for _, t := range p.Tokens {
		if t.Status == failover.Unhealthy {
			n++
		}
	}
	return n
}

// TestOutcome_StreamThatDiesAfterIts200Fails: a token whose streams are
// reset mid-body used to reset its failure count at the 200 and never be
// demoted. It is judged when the stream ends; the client leaving mid-stream
// is nobody's fault.
func TestOutcome_StreamThatDiesAfterIts200Fails(t *testing.T) {
	p := newProvider(threeTokens...)
	sse := wasmhost.OK()
	sse.Headers = []wasmhost.Pair{{"content-type", "text/event-stream"}}
	sse.Body = []byte("data: {\"choices\":[]}\n\ndata: {\"choices\":[]}\n\ndata: [DONE]\n\n")
	broken := sse
	broken.MidStreamReset, broken.ResetAfter = true, 20
	p.always(0, broken)
	h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 2, healthCheckInterval: 1000}}`, p)
	for i := 0; p.count(0, false) < 2 && i < 40; i++ {
		s := do(t, h.Workers()[i%4], wasmhost.Chat("m"))
		if p.token(s.Upstream) == 0 {
			require.True(t, s.Response.Reset)
			require.Equal(t, 200, s.Response.Status, "the client got the 200 and part of the stream")
		}
	}
	st := state(t, h, 3)
	require.Equal(t, failover.Unhealthy, st.Tokens[0].Status, "two streams reset mid-body demote (threshold 2)")
	require.Equal(t, failover.ReasonUpstream, st.Tokens[0].Reason)

	// Clients leaving, before the answer or in the middle of the stream,
	// charge nobody (not even a success: the answer never ended).
	p2 := newProvider(threeTokens...)
	slow := sse
	slow.Chunks = []int{10}
	for i := range threeTokens {
		p2.always(i, slow)
	}
	h2 := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 1, healthCheckInterval: 1000}}`, p2)
	before := state(t, h2, 3).Tokens
	for i := 0; i < 12; i++ {
		req := wasmhost.Chat("m")
		req.ClientLeavesMidResponse = i%2 == 1
		s, err := h2.Workers()[i%4].Start(req)
		require.NoError(t, err)
		if i%2 == 0 {
			require.NoError(t, s.ResetByClient())
			continue
		}
		require.NoError(t, s.Respond(p2.cluster(s.Upstream)))
		require.True(t, s.Response.Reset)
		require.Equal(t, "downstream_remote_disconnect", s.Response.Details)
	}
	require.Equal(t, before, state(t, h2, 3).Tokens, "clients leaving charge nobody")
}

// TestRules_BlocksWithTheSameTokensKeepTheirOwnSettings: two Azure
// deployments with the same resource key used to collapse into one runtime
// (the second deployment's traffic went to the first). Each block keeps its
// own URL and mapping; the two share the token's state.
func TestRules_BlocksWithTheSameTokensKeepTheirOwnSettings(t *testing.T) {
	p := newProvider()
	var got []*wasmhost.UpstreamRequest
	cluster := func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		got = append(got, r)
		if strings.Contains(r.Header(":path"), "dep-b") {
			return wasmhost.Status(401)
		}
		return wasmhost.OK()
	}
	h, err := wasmhost.New(wasmhost.Options{Workers: 1, SkipCanary: true, Clusters: map[string]wasmhost.Cluster{"llm": cluster},
		Config: []byte(`_rules_:
- _match_route_: [route-a]
  provider: {type: azure, apiTokens: [same-key-0001], azureServiceUrl: "https://res.openai.azure.com/openai/deployments/dep-a/chat/completions?api-version=2024-06-01",
    modelMapping: {"*": model-a}, failover: {enabled: true}}
- _match_route_: [route-b]
  provider: {type: azure, apiTokens: [same-key-0001], azureServiceUrl: "https://res.openai.azure.com/openai/deployments/dep-b/chat/completions?api-version=2024-06-01",
    modelMapping: {"*": model-b}, failover: {enabled: true}}`)})
	require.NoError(t, err)
	defer h.Close()
	_ = p
	for _, route := range []string{"route-a", "route-b"} {
		req := wasmhost.Chat("gpt-4o")
		req.Route = route
		_, err := h.Workers()[0].Do(req)
		require.NoError(t, err)
	}
	require.Len(t, got, 2)
	require.Equal(t, "/openai/deployments/dep-a/chat/completions?api-version=2024-06-01", got[0].Header(":path"))
	require.Contains(t, string(got[0].Body), `"model-a"`)
	require.Equal(t, "/openai/deployments/dep-b/chat/completions?api-version=2024-06-01", got[1].Header(":path"), "route-b goes to its own deployment")
	require.Contains(t, string(got[1].Body), `"model-b"`)
	keys := 0
	for _, k := range h.SharedKeys() {
		if strings.HasSuffix(k, "/state") {
			keys++
		}
	}
	require.Equal(t, 1, keys, "the same key shares one state")
	require.Equal(t, failover.Unhealthy, state(t, h, 1).Tokens[0].Status, "the 401 on route-b demotes the shared key")
}

// TestRetry_DemotionByARetryIsProbedThroughTheStreamsCluster: a token
// demoted by a retry's answer used to record an empty probe cluster (the
// answer arrives on the root context) and was never probed again.
func TestRetry_DemotionByARetryIsProbedThroughTheStreamsCluster(t *testing.T) {
	p := newProvider(threeTokens...)
	healed := false
	for _, i := range []int{0, 1, 2} {
		i := i
		p.set(i, func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
			if healed && r.HTTPCall {
				return wasmhost.OK()
			}
			if r.HTTPCall && i != 0 && !strings.Contains(r.Header(":path"), "models") {
				return wasmhost.Status(401) // the retries fail with 401
			}
			if i == 0 && !r.HTTPCall {
				return wasmhost.Status(500)
			}
			return wasmhost.OK()
		})
	}
	h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 10, healthCheckInterval: 1000},
  retryOnFailure: {enabled: true, maxRetries: 1}}`, p)
	var s *wasmhost.Stream
	for i := 0; i < 3 && (s == nil || p.token(s.Upstream) != 0); i++ {
		s = do(t, h.Workers()[0], wasmhost.Chat("m"))
	}
	require.Equal(t, 0, p.token(s.Upstream))
	st := state(t, h, 3)
	demoted := -1
	for i, tok := range st.Tokens {
		if tok.Status == failover.Unhealthy {
			demoted = i
			require.Equal(t, "llm", tok.Target.Cluster, "the retry's answer records the stream's cluster")
		}
	}
	require.GreaterOrEqual(t, demoted, 1, "the retry's 401 demoted its token")
	healed = true
	advance(t, h, 2500*time.Millisecond)
	require.Positive(t, p.count(demoted, true), "and it is probed")
	require.Equal(t, failover.Available, state(t, h, 3).Tokens[demoted].Status)
}

// TestProbes_FallBackToThePoolsLastGoodCluster: a recorded cluster that CDS
// removed or renamed used to skip every probe, leaving the token down
// forever; the probe goes through the pool's last good cluster instead.
func TestProbes_FallBackToThePoolsLastGoodCluster(t *testing.T) {
	p := newProvider(threeTokens...)
	p.set(0, func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		if r.HTTPCall {
			return wasmhost.OK()
		}
		return wasmhost.Status(401)
	})
	h := start(t, cfg(""), p)
	ok := wasmhost.Chat("m")
	do(t, h.Workers()[0], ok) // a success on "llm" records the pool's cluster
	gone := wasmhost.Chat("m")
	gone.Cluster = "renamed-away"
	h2 := h // the route now names a cluster the host no longer has
	for i := 0; state(t, h2, 3).Tokens[0].Status != failover.Unhealthy && i < 10; i++ {
		s, err := h.Workers()[i%4].Start(gone)
		require.NoError(t, err)
		require.NoError(t, s.Respond(p.cluster(s.Upstream)))
	}
	require.Equal(t, "renamed-away", state(t, h, 3).Tokens[0].Target.Cluster)
	advance(t, h, 1500*time.Millisecond)
	require.Equal(t, 1, p.count(0, true), "probed through the pool's last good cluster")
	require.Equal(t, failover.Available, state(t, h, 3).Tokens[0].Status)
	require.Contains(t, h.LogText(), `via cluster "renamed-away" not sent`)
}

// TestReload_OldRootDoesNotProbeAndThresholdChangeKeepsState: during a
// reload the old root (still alive beside the new one in every VM) neither
// holds the lease nor probes, and a changed failureThreshold keeps the
// demoted token's state.
func TestReload_OldRootDoesNotProbeAndThresholdChangeKeepsState(t *testing.T) {
	p := newProvider(threeTokens...)
	var probeFrom []string
	p.set(0, func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		if r.HTTPCall {
			probeFrom = append(probeFrom, r.From)
			return wasmhost.Status(500)
		}
		return wasmhost.Status(401)
	})
	h := start(t, cfg(""), p)
	for i := 0; p.count(0, false) == 0; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("m"))
	}
	var held []*wasmhost.Stream // streams that keep the old roots alive
	for _, w := range h.Workers() {
		s, err := w.Start(wasmhost.Chat("m"))
		require.NoError(t, err)
		held = append(held, s)
	}
	ok, err := h.Reload([]byte(cfg(", failureThreshold: 5")))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[0].Status, "a threshold change keeps the state")
	for _, w := range h.Workers() {
		require.Len(t, w.Roots(), 2, "old and new root coexist")
	}
	advance(t, h, 6*time.Second)
	require.NotEmpty(t, probeFrom)
	leases := strings.Count(h.LogText(), "now holds the probe lease")
	require.GreaterOrEqual(t, leases, 1)
	holders := map[string]bool{}
	for _, l := range strings.Split(h.LogText(), "\n") {
		if strings.Contains(l, "now holds the probe lease") {
			holders[l[strings.Index(l, "root "):]] = true
		}
	}
	for h := range holders {
		require.NotContains(t, h, "root 1)", "the old root never takes the lease")
	}
	for _, s := range held {
		require.NoError(t, s.Respond(wasmhost.OK()))
	}
	for _, w := range h.Workers() {
		require.Len(t, w.Roots(), 1, "the old root went with its last stream")
	}
}

// TestState_CorruptValueMidRunIsLoggedAtErrorAndRewritten: a corrupt state
// met on the request path used to be read as all-available with only a
// debug line.
func TestState_CorruptValueMidRunIsLoggedAtErrorAndRewritten(t *testing.T) {
	p := newProvider(threeTokens...)
	h := start(t, cfg(""), p)
	key := stateKeyOf(t, h)
	require.True(t, h.SetSharedData(key, []byte("garbage"), 0))
	do(t, h.Workers()[1], wasmhost.Chat("m"))
	require.Contains(t, h.LogText(), "[worker-1 error] pool openai-d2b375: shared state unreadable")
	require.Equal(t, failover.NewPool(3).Tokens, state(t, h, 3).Tokens, "rewritten")
}
