package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

func chatBody(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
}

// ask is a plain chat-completion step.
func ask() step { return step{body: chatBody("gpt-4o")} }

func asks(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func on(route string) step { s := ask(); s.route = route; return s }

// tokensOf lists the token index of each step's first hop (-1: none).
func tokensOf(steps []outcome) []int {
	var out []int
	for _, s := range steps {
		if len(s.Hops) == 0 {
			out = append(out, -1)
			continue
		}
		out = append(out, s.Hops[0].Token)
	}
	return out
}

func count(xs []int, v int) int {
	n := 0
	for _, x := range xs {
		if x == v {
			n++
		}
	}
	return n
}

var (
	tokenMetrics = []string{"token0.failures_upstream", "token0.failures_auth", "token0.failures_quota", "token0.failures_ratelimit",
		"token0.demotions", "token0.state", "token1.failures_upstream", "token1.failures_auth", "token1.failures_ratelimit",
		"token1.demotions", "token1.state", "token2.failures_upstream", "token2.demotions", "token2.state",
		"token0.requests", "token1.requests", "token2.requests", "available_tokens", "requests_refused", "model_unmapped", "retries"}
	nested    = `{"model":"gpt-4o","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
	bigBody   = `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("z", 3<<20) + `"}]}`
	longModel = `{"model":"` + strings.Repeat("m", 300) + `","messages":[]}`
	utf16Body = func() string {
		b := []byte{0xff, 0xfe}
		for _, r := range chatBody("gpt-4o") {
			b = append(b, byte(r), 0)
		}
		return string(b)
	}()
	sse = mockllm.Behaviour{Chunks: 4, ChunkDelay: 150 * time.Millisecond}
)

func withBody(body string, chunks ...int) step { return step{body: body, chunks: chunks} }

// heal is a scenario's second half: every token healthy again, a wait of
// about three probe intervals, then n requests.
func heal(n int) []step {
	healthy := map[int]mockllm.Behaviour{0: {}, 1: {}, 2: {}}
	return append([]step{{wait: 3 * time.Second, behave: healthy, body: chatBody("gpt-4o")}}, asks(n-1, ask())...)
}

// probeMetrics are the counters of a scenario about probes.
var probeMetrics = append([]string{"token0.restorations", "token1.restorations", "token2.restorations",
	"token0.probes_ok", "token1.probes_ok", "requests_rerouted"}, tokenMetrics...)

// scenarios is the differential table: every defect class of issues 10-12
// and 20 (and the plain behaviours around them) has a scenario here.
var scenarios = []scenario{
	{name: "spread_rewrite_and_strip_client_credentials", steps: asks(3, step{body: chatBody("gpt-4o"), headers: [][2]string{
		{"authorization", "Bearer client-own-key"}, {"x-api-key", "client-x"}, {"openai-organization", "client-org"}, {"openai-project", "client-proj"}}}),
		metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			require.ElementsMatch(t, []int{0, 1, 2}, tokensOf(s))
			for _, o := range s {
				require.Equal(t, "mapped-4o", o.Hops[0].Model)
				require.Equal(t, "authorization:own", o.Hops[0].Auth, "only the operator's credential reaches the provider")
			}
		}},
	{name: "body_in_chunks_cut_inside_the_model", steps: []step{withBody(chatBody("gpt-4o"), 5, 8, 3), withBody(chatBody("gpt-4o"), 11, 1, 1, 1),
		withBody(chatBody("gpt-4o-mini"), 14)}, metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
		require.Equal(t, "mapped-4o", s[0].Hops[0].Model)
		require.Equal(t, "mapped-4o", s[1].Hops[0].Model)
		require.Equal(t, "mapped-mini", s[2].Hops[0].Model)
	}},
	{name: "second_model_key_refused", steps: []step{withBody(`{"model":"gpt-4o-mini","messages":[],"model":"o1-pro"}`),
		withBody(`{"model":"gpt-4o-mini","messages":[],"MODEL":"o1-pro"}`, 30), ask()}, metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) {
			for _, o := range s[:2] {
				require.Equal(t, 400, o.Status)
				require.Empty(t, o.Hops, "the provider never gets the request whole")
			}
			require.Equal(t, 200, s[2].Status)
		}},
	{name: "deep_nesting_does_not_kill_the_vm", steps: []step{withBody(nested, 4096), ask()}, metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) {
			require.Equal(t, sha([]byte(strings.Replace(nested, "gpt-4o", "mapped-4o", 1))), s[0].Hops[0].BodySHA, "mapped")
			require.Equal(t, 200, s[1].Status)
		}},
	{name: "long_model_refused", steps: []step{withBody(longModel)}, metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
		require.Equal(t, 400, s[0].Status, "a model over 256 bytes would slip past the mapping")
		require.Empty(t, s[0].Hops)
	}},
	{name: "form_labelled_json_refused", steps: []step{{body: chatBody("gpt-4o"),
		headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}}, {body: "model=gpt-4o",
		headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}}}, metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) {
			require.Equal(t, 415, s[0].Status, "a JSON body labelled as a form would reach a lenient server unmapped")
			require.Empty(t, s[0].Hops)
			require.Equal(t, 200, s[1].Status, "a real form passes")
			require.Len(t, s[1].Hops, 1)
		}},
	{name: "three_mib_body_streams_without_413", steps: []step{withBody(bigBody, 65536, 65536)}, metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) {
			require.Equal(t, 200, s[0].Status)
			require.Equal(t, sha([]byte(strings.Replace(bigBody, "gpt-4o", "mapped-4o", 1))), s[0].Hops[0].BodySHA)
		}},
	{name: "utf16_body_refused", steps: []step{withBody(utf16Body)}, metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
		require.Equal(t, 400, s[0].Status)
	}},
	{name: "encoded_body_refused", steps: []step{{body: chatBody("gpt-4o"), headers: [][2]string{{"content-encoding", "gzip"}}}},
		metrics: tokenMetrics, check: func(t *testing.T, s []outcome) { require.Equal(t, 415, s[0].Status) }},
	{name: "not_json_passes_untouched", steps: []step{withBody("plain text, not json")}, metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) {
			require.Equal(t, sha([]byte("plain text, not json")), s[0].Hops[0].BodySHA)
		}},
	{name: "401_demotes_at_once", behave: map[int]mockllm.Behaviour{1: {Status: 401}}, steps: asks(6, ask()), metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) { require.Equal(t, 1, count(tokensOf(s), 1)) }},
	{name: "500_demotes_at_the_threshold", behave: map[int]mockllm.Behaviour{0: {Status: 500}}, steps: asks(9, ask()), metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) { require.Equal(t, 2, count(tokensOf(s), 0)) }},
	{name: "429_cools_for_retry_after_and_returns", behave: map[int]mockllm.Behaviour{2: {Status: 429, RetryAfter: 1}},
		steps: append(asks(5, ask()), step{wait: 1500 * time.Millisecond, behave: map[int]mockllm.Behaviour{2: {}}, body: chatBody("gpt-4o")},
			ask(), ask(), ask()), metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) {
			toks := tokensOf(s)
			require.Equal(t, 1, count(toks[:5], 2), "cooling after its 429")
			require.Positive(t, count(toks[5:], 2), "back after Retry-After")
		}},
	{name: "429_out_of_credit_is_a_quota_demotion", behave: map[int]mockllm.Behaviour{0: {Status: 429,
		Body: `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`}},
		steps: asks(4, ask()), metrics: tokenMetrics},
	{name: "429_request_too_large_charges_nobody", behave: map[int]mockllm.Behaviour{0: {Status: 429, Body: `{"error":{"message":` +
		`"Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 50000.","type":"tokens","code":"rate_limit_exceeded"}}`}},
		steps: asks(6, ask()), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) { require.Equal(t, 2, count(tokensOf(s), 0)) }},
	{name: "403_region_charges_nobody", behave: map[int]mockllm.Behaviour{1: {Status: 403,
		Body: `{"error":{"code":"unsupported_country_region_territory","message":"Country, region, or territory not supported","type":"request_forbidden"}}`}},
		steps: asks(6, ask()), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) { require.Equal(t, 2, count(tokensOf(s), 1)) }},
	{name: "400_quoting_the_client_charges_nobody", behave: map[int]mockllm.Behaviour{0: {Status: 400, Body: `{"error":{"message":` +
		`"Unrecognized request argument supplied: Your credit balance is too low; API key not valid","type":"invalid_request_error","param":null,"code":null}}`}},
		steps: asks(6, ask()), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			require.Equal(t, 2, count(tokensOf(s), 0), "a client's words in a 400 never demote the token")
		}},
	{name: "503_retry_after_cools", behave: map[int]mockllm.Behaviour{0: {Status: 503, RetryAfter: 30}}, steps: asks(6, ask()),
		metrics: tokenMetrics, check: func(t *testing.T, s []outcome) { require.Equal(t, 1, count(tokensOf(s), 0)) }},
	{name: "route_timeout_counts_towards_the_threshold", behave: map[int]mockllm.Behaviour{0: {Delay: time.Second}},
		steps: asks(6, on("timeout")), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			require.Equal(t, 2, count(tokensOf(s), 0))
			for _, o := range s {
				if o.Hops[0].Token == 0 {
					require.Equal(t, 504, o.Status)
				}
			}
		}},
	{name: "per_try_timeout_counts", behave: map[int]mockllm.Behaviour{0: {Delay: time.Second}}, steps: asks(6, on("pertry")),
		metrics: tokenMetrics, check: func(t *testing.T, s []outcome) { require.Equal(t, 2, count(tokensOf(s), 0)) }},
	{name: "connect_failure_counts", steps: asks(6, on("dead")), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
		require.Equal(t, 503, s[0].Status)
	}},
	{name: "retry_through_a_dead_cluster_relays_envoys_503", retry: ", maxRetries: 1", steps: []step{on("dead")}, metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) {
			require.Equal(t, 503, s[0].Status)
			require.Contains(t, s[0].Body, "connection failure", "the retry call's answer is Envoy's own 503, with its body")
		}},
	{name: "circuit_breaker_overflow_charges_nobody", steps: asks(6, on("overflow")), metrics: tokenMetrics},
	{name: "no_healthy_upstream_charges_nobody", steps: asks(4, on("empty")), metrics: tokenMetrics},
	{name: "maintenance_mode_charges_nobody", steps: asks(4, on("maint")), metrics: tokenMetrics},
	{name: "stream_reset_after_its_200_fails", behave: map[int]mockllm.Behaviour{0: {Chunks: 2, ResetAfter: 20}},
		steps: asks(6, step{body: `{"model":"gpt-4o","stream":true}`}), metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) { require.Equal(t, 2, count(tokensOf(s), 0)) }},
	{name: "client_leaving_mid_stream_charges_nobody", steps: asks(4, step{body: `{"model":"gpt-4o","stream":true}`, shape: &sse, leave: true}),
		metrics: tokenMetrics},
	{name: "early_429_is_not_retried_with_part_of_the_body", retry: ", maxRetries: 2",
		behave: map[int]mockllm.Behaviour{0: {Status: 429, RetryAfter: 9, Early: true}, 1: {Status: 429, RetryAfter: 9, Early: true},
			2: {Status: 429, RetryAfter: 9, Early: true}},
		steps:   []step{withBody(`{"model":"gpt-4o","messages":[{"role":"user","content":"`+strings.Repeat("q", 65536)+`"}]}`, 56, 4096)},
		metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			require.Equal(t, 429, s[0].Status)
			require.Len(t, s[0].Hops, 1, "no retry")
		}},
	{name: "retry_hides_a_failing_token", retry: ", maxRetries: 1", behave: map[int]mockllm.Behaviour{1: {Status: 500}},
		steps: asks(6, ask()), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			for _, o := range s {
				require.Equal(t, 200, o.Status)
			}
		}},
	{name: "retry_all_failing_gives_the_last_answer", retry: ", maxRetries: 2", behave: map[int]mockllm.Behaviour{0: {Status: 503},
		1: {Status: 502}, 2: {Status: 500}}, steps: []step{ask()}, metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
		require.Len(t, s[0].Hops, 3)
		require.Contains(t, s[0].Body, "mock status")
	}},
	{name: "request_trailers_reach_the_provider", steps: []step{{route: "h2", body: chatBody("gpt-4o"), chunks: []int{10},
		trailers: [][2]string{{"x-checksum", "abc"}}}}, metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
		require.Equal(t, "x-checksum=abc;", s[0].Hops[0].Trailers)
		require.Equal(t, "mapped-4o", s[0].Hops[0].Model)
	}},
	{name: "all_tokens_down_reject", failover: ", allTokensDown: reject",
		behave: map[int]mockllm.Behaviour{0: {Status: 401}, 1: {Status: 401}, 2: {Status: 401}}, steps: asks(4, ask()), metrics: tokenMetrics,
		check: func(t *testing.T, s []outcome) {
			require.Equal(t, 503, s[3].Status)
			require.Empty(t, s[3].Hops)
		}},
	{name: "embeddings_and_non_chat_apis_pass", steps: []step{{path: "/v1/embeddings", body: `{"model":"gpt-4o","input":["a"]}`},
		{method: "GET", path: "/v1/models"}}, metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
		require.Equal(t, "mapped-4o", s[0].Hops[0].Model)
		require.Equal(t, 200, s[1].Status)
	}},
	// Issue 20, in the deployments users write (A1) and for each defect (B).
	{name: "B1_rewrite_leaving_its_virtual_host_is_refused_after_the_first",
		vhost: []wasmhost.Route{{Name: "gateway-v1", Prefix: "/v1/", Cluster: "llm"}}, steps: asks(3, ask()),
		metrics: probeMetrics, want: map[string]int64{"requests_rerouted": 1}, check: func(t *testing.T, s []outcome) {
			require.Equal(t, 200, s[0].Status, "the first request goes where Envoy sends it: a filter cannot see the router's choice")
			require.Len(t, s[0].Hops, 1)
			for _, o := range s[1:] {
				require.Equal(t, 500, o.Status, "then the route is refused with what to change")
				require.Contains(t, o.Body, "mode: upstream")
				require.Empty(t, o.Hops, "the operator's key goes nowhere")
			}
		}},
	{name: "B2_main_listener_pool_heals", interval: 1000, behave: map[int]mockllm.Behaviour{0: {Status: 401}},
		steps: append(asks(3, ask()), heal(3)...), metrics: probeMetrics, want: map[string]int64{"token0.restorations": 1},
		wantProbes: []string{"token0 POST /v1/chat/completions mapped-4o"},
		check:      func(t *testing.T, s []outcome) { require.Equal(t, 1, count(tokensOf(s[3:]), 0), "back in rotation") }},
	{name: "B2_second_listener_pool_heals_through_an_istio_cluster", listener: "second", interval: 1000,
		behave: map[int]mockllm.Behaviour{0: {Status: 401}}, steps: append(asks(3, ask()), heal(3)...), metrics: probeMetrics,
		want: map[string]int64{"token0.restorations": 1}, wantProbes: []string{"token0 POST /v1/chat/completions mapped-4o"},
		check: func(t *testing.T, s []outcome) { require.Equal(t, 1, count(tokensOf(s[3:]), 0), "back in rotation") }},
	{name: "B5_quota_demotion_is_not_lifted_by_the_free_model_list", noMapping: true, interval: 1000,
		behave: map[int]mockllm.Behaviour{0: {Status: 402}, 1: {Status: 401}}, steps: append(asks(3, ask()), heal(6)...),
		metrics: probeMetrics, want: map[string]int64{"token0.restorations": 0, "token1.restorations": 1},
		wantProbes: []string{"token1 GET /v1/models "}, check: func(t *testing.T, s []outcome) {
			toks := tokensOf(s[3:])
			require.Zero(t, count(toks, 0), "out of quota: nothing shows the quota is back")
			require.Positive(t, count(toks, 1), "refused key: the model list shows it works")
		}},
	{name: "B6_probes_ask_with_healthCheckModel", failover: ", healthCheckModel: gpt-4o-mini", interval: 1000,
		behave: map[int]mockllm.Behaviour{0: {Status: 401}}, steps: append(asks(3, ask()), heal(3)...), metrics: probeMetrics,
		want: map[string]int64{"token0.restorations": 1}, wantProbes: []string{"token0 POST /v1/chat/completions mapped-mini"}},
	{name: "B7_escaped_model_is_mapped_and_bounded_decoded", steps: []step{withBody(`{"model":"\u0067pt-4o","messages":[]}`),
		withBody(`{"model":"` + strings.Repeat(`\u006d`, 300) + `","messages":[]}`), withBody(`{"model":"` + strings.Repeat(`\u006d`, 60) + `","messages":[]}`)},
		metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			require.Equal(t, "mapped-4o", s[0].Hops[0].Model)
			require.Equal(t, 400, s[1].Status, "300 characters once decoded")
			require.Empty(t, s[1].Hops)
			require.Equal(t, strings.Repeat("m", 60), s[2].Hops[0].Model, "60 characters pass, checked against the mapping")
		}},
	{name: "B8_millisecond_epoch_reset_cools_until_then", behave: map[int]mockllm.Behaviour{1: {Status: 429, ResetInMs: 1500}},
		steps: append(asks(4, ask()), step{wait: 2500 * time.Millisecond, behave: map[int]mockllm.Behaviour{1: {}}, body: chatBody("gpt-4o")},
			ask(), ask()), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			toks := tokensOf(s)
			require.Equal(t, 1, count(toks[:4], 1), "cooling after its 429")
			require.Positive(t, count(toks[4:], 1), "back once the 13-digit reset passed (read as seconds, it cooled for an hour)")
		}},
	{name: "B9_client_leaving_during_a_retry_keeps_the_failure", retry: ", maxRetries: 1",
		behave:  map[int]mockllm.Behaviour{1: {Status: 500}, 0: {Delay: time.Second}, 2: {Delay: time.Second}},
		steps:   []step{{body: chatBody("gpt-4o"), leaveAfter: 300 * time.Millisecond, settle: 1500 * time.Millisecond}},
		metrics: tokenMetrics, want: map[string]int64{"token1.failures_upstream": 1}, check: func(t *testing.T, s []outcome) {
			// Round-robin starts a fresh pool at token 1; the retry takes an untried one.
			require.Equal(t, []int{1, 0}, []int{s[0].Hops[0].Token, s[0].Hops[1].Token}, "the retry went on to another token")
		}},
}

// upstreamScenarios run with the plugin as the cluster's upstream filter
// (envoy-upstream.yaml: the router retries resets and failing statuses up
// to twice, each attempt a new filter stream).
var upstreamScenarios = []scenario{
	{name: "B4_reset_connection_is_charged_like_a_5xx", behave: map[int]mockllm.Behaviour{1: {Reset: true}}, steps: asks(6, ask()),
		metrics: tokenMetrics, want: map[string]int64{"token1.demotions": 1, "token1.failures_upstream": 2}, check: func(t *testing.T, s []outcome) {
			hits := 0
			for _, o := range s {
				require.Equal(t, 200, o.Status, "the router's retry hides the reset")
				for _, h := range o.Hops {
					if h.Token == 1 {
						hits++
					}
				}
			}
			require.Equal(t, 2, hits, "two resets demote it (failureThreshold 2)")
		}},
	{name: "B10_no_internal_header_reaches_the_provider", behave: map[int]mockllm.Behaviour{1: {Status: 500}, 2: {Status: 500}},
		steps: asks(4, ask()), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			retried := false
			for _, o := range s {
				require.Equal(t, 200, o.Status)
				retried = retried || len(o.Hops) > 1
				for _, h := range o.Hops {
					require.Empty(t, h.Internal, "a header of the plugin's reached the provider")
				}
			}
			require.True(t, retried, "the router retried on another token")
		}},
	{name: "router_retry_is_matched_and_mapped_like_the_first", behave: map[int]mockllm.Behaviour{1: {Status: 503}},
		steps: asks(3, ask()), metrics: tokenMetrics, check: func(t *testing.T, s []outcome) {
			require.Len(t, s[0].Hops, 2, "round-robin's first pick fails and the router retries")
			for _, o := range s {
				require.Equal(t, 200, o.Status)
				seen := map[int]bool{}
				for _, h := range o.Hops {
					require.NotEqual(t, -1, h.Token, "every attempt carries one of the pool's keys")
					require.False(t, seen[h.Token], "a retry goes to a token the request has not tried")
					seen[h.Token] = true
					require.Equal(t, "mapped-4o", h.Model, "every attempt is mapped")
				}
			}
		}},
}
