package plugin_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// TestUpstreamMode_ResetsCountAndNothingInternalLeaves (issue 20 B4, B10):
// the plugin as the cluster's upstream filter, Envoy's router retrying on
// resets and 5xx. A token whose connection is refused is charged like any
// failure (before, an attempt with no response headers and no details was
// dropped, so such a token was never demoted), each request's attempts
// use different tokens, and no header of the plugin's reaches the provider
// (before, the signed list of tried tokens did, and a client could replay
// it).
func TestUpstreamMode_ResetsCountAndNothingInternalLeaves(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(0, wasmhost.Reply{Fault: wasmhost.FaultConnectFailure})
	h := start(t, `mode: upstream
provider: {type: openai, id: up, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 2, healthCheckInterval: 60000}}`, p, func(o *wasmhost.Options) {
		o.UpstreamFilter = true
		o.RouterRetry = wasmhost.RouterRetry{NumRetries: 2, Resets: true, Statuses: []int{500, 502, 503}}
	})
	for i := 0; i < 12; i++ {
		before := len(p.requests)
		s := do(t, h.Workers()[i%4], wasmhost.Chat("m"))
		require.Equal(t, 200, s.Response.Status, "request %d", i)
		seen := map[int]bool{}
		for _, r := range p.requests[before:] {
			require.False(t, seen[p.token(r)], "request %d tried token %d twice", i, p.token(r))
			seen[p.token(r)] = true
		}
	}
	require.Positive(t, p.count(0, false), "token 0 was tried")
	st := state(t, h, 3)
	require.Equal(t, failover.Unhealthy, st.Tokens[0].Status, "refused connections demote the token")
	require.Equal(t, failover.ReasonUpstream, st.Tokens[0].Reason)
	require.Contains(t, h.LogText(), "attempt ended without an answer (delayed connect error: Connection refused)")
	for _, r := range p.requests {
		for _, hd := range r.Headers {
			require.False(t, strings.HasPrefix(hd[0], "x-token-failover"), "internal header %s reached the provider", hd[0])
		}
	}
}

// TestUpstreamMode_RouterRetryIsRewrittenLikeTheFirstAttempt: Envoy's
// router keeps one copy of the request headers for all its attempts, so a
// retry's filter starts from the headers the attempt before rewrote for
// the provider. Before, a retry of a rule-matched request (_match_domain_)
// matched no rule and went out with the failed attempt's key and the
// client's unmapped model, and a qwen retry was judged on the provider's
// path. Now every attempt matches on the client's :authority and :path
// (kept in the request's filter state), maps the model, and avoids the
// tokens tried before.
func TestUpstreamMode_RouterRetryIsRewrittenLikeTheFirstAttempt(t *testing.T) {
	for _, tc := range []struct {
		name, config, path, authority string
	}{
		{"domain rule", `_rules_:
- _match_domain_: [gateway.local]
  provider: {type: openai, id: up, apiTokens: [` + strings.Join(threeTokens, ", ") + `], tokenSelection: round-robin,
    modelMapping: {m: mapped-m}, failover: {enabled: true, failureThreshold: 5, healthCheckInterval: 60000}}`,
			"/v1/chat/completions", "api.openai.com"},
		{"provider path", `provider: {type: qwen, id: up, apiTokens: [` + strings.Join(threeTokens, ", ") + `], tokenSelection: round-robin,
  modelMapping: {m: mapped-m}, failover: {enabled: true, failureThreshold: 5, healthCheckInterval: 60000}}`,
			"/compatible-mode/v1/chat/completions", "dashscope.aliyuncs.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(threeTokens...)
			p.always(1, wasmhost.Status(500)) // round-robin's first pick in a fresh pool
			h := start(t, "mode: upstream\n"+tc.config, p, func(o *wasmhost.Options) {
				o.UpstreamFilter = true
				o.RouterRetry = wasmhost.RouterRetry{NumRetries: 2, Resets: true, Statuses: []int{500, 502, 503}}
			})
			s := do(t, h.Workers()[0], wasmhost.Chat("m"))
			require.Equal(t, 200, s.Response.Status)
			require.Len(t, p.requests, 2, "one failed attempt, one retry")
			require.Equal(t, 1, p.token(p.requests[0]))
			for k, r := range p.requests {
				require.NotEqual(t, -1, p.token(r), "attempt %d carries one of the operator's keys", k+1)
				require.Equal(t, tc.path, r.Header(":path"), "attempt %d", k+1)
				require.Equal(t, tc.authority, r.Header(":authority"), "attempt %d", k+1)
				require.Contains(t, string(r.Body), `"model":"mapped-m"`, "attempt %d is mapped", k+1)
			}
			require.NotEqual(t, 1, p.token(p.requests[1]), "the retry uses another token")
		})
	}
}

// TestUpstreamMode_RouterRetryOfAClientKeyRequestIsMapped: a block without
// apiTokens passes the client's own key; a router retry of its request must
// still match the rule and be mapped (before, it matched no rule on the
// rewritten headers and the client's model went to the provider unmapped).
func TestUpstreamMode_RouterRetryOfAClientKeyRequestIsMapped(t *testing.T) {
	var got []*wasmhost.UpstreamRequest
	cluster := func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		got = append(got, r)
		if len(got) == 1 {
			return wasmhost.Status(500)
		}
		return wasmhost.OK()
	}
	h, err := wasmhost.New(wasmhost.Options{Config: []byte(`mode: upstream
_rules_:
- _match_domain_: [gateway.local]
  provider: {type: vllm, vllmServerHost: vllm.internal, modelMapping: {"*": served}}`),
		Workers: 1, SkipCanary: true, Clusters: map[string]wasmhost.Cluster{"llm": cluster},
		UpstreamFilter: true, RouterRetry: wasmhost.RouterRetry{NumRetries: 1, Statuses: []int{500}}})
	require.NoError(t, err)
	defer h.Close()
	s := do(t, h.Workers()[0], wasmhost.Chat("m"))
	require.Equal(t, 200, s.Response.Status)
	require.Len(t, got, 2, "one failed attempt, one retry")
	for k, r := range got {
		require.Equal(t, "vllm.internal", r.Header(":authority"), "attempt %d", k+1)
		require.Equal(t, "Bearer client-own-key", r.Header("authorization"), "attempt %d", k+1)
		require.Contains(t, string(r.Body), `"model":"served"`, "attempt %d is mapped", k+1)
	}
}
