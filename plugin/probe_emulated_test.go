package plugin_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// holderVM maps the holder of the lease at key (any lease key when "") to
// the VM that logged taking it; false when the lease is absent or expired.
func holderVM(t testing.TB, h *wasmhost.Host, key string) (string, bool) {
	t.Helper()
	for _, k := range h.SharedKeys() {
		if !strings.HasSuffix(k, "/lease") || (key != "" && k != key) {
			continue
		}
		v, _, _ := h.SharedData(k)
		var l failover.Lease
		require.NoError(t, json.Unmarshal(v, &l))
		if l.Expires <= h.ProcessMs() {
			return "", false
		}
		for _, vm := range h.VMs() {
			logs := vm.Logs()
			for i := len(logs) - 1; i >= 0; i-- {
				if strings.Contains(logs[i].Message, "probe lease") {
					if strings.Contains(logs[i].Message, "now holds") && strings.Contains(logs[i].Message, "("+l.Holder[:8]+",") {
						return vm.Name(), true
					}
					break
				}
			}
		}
		t.Fatalf("lease held by %s, but no VM says it holds it", l.Holder)
	}
	return "", false
}

func TestProbes_OneHolderTakeoverAndConsecutiveSuccesses(t *testing.T) {
	p := newProvider(threeTokens...)
	var probes []*wasmhost.UpstreamRequest
	var h *wasmhost.Host
	script := []int{500, 200, 500} // then healthy: restoration needs 2 in a row
	p.set(1, func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		if !r.HTTPCall {
			return wasmhost.Status(401)
		}
		holder, ok := holderVM(t, h, "")
		require.True(t, ok, "a probe was sent with no live lease")
		require.Equal(t, holder, r.From, "only the lease holder probes")
		probes = append(probes, r)
		if len(probes) <= len(script) {
			return wasmhost.Status(script[len(probes)-1])
		}
		return wasmhost.OK()
	})
	h = start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  modelMapping: {"gpt-3": "mapped-probe-model"},
  failover: {enabled: true, successThreshold: 2, healthCheckInterval: 1000, healthCheckModel: gpt-3}}`, p)
	for i := 0; p.count(1, false) == 0; i++ {
		do(t, h.Workers()[i%4], wasmhost.Request{Headers: wasmhost.Chat("m").Headers, Body: wasmhost.Chat("m").Body, Cluster: "llm"})
	}
	require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[1].Status)

	advance(t, h, 1500*time.Millisecond)
	require.Len(t, probes, 1)
	first := probes[0]
	require.Equal(t, "llm", first.Cluster, "through the route's cluster")
	require.Equal(t, "api.openai.com", first.Header(":authority"))
	require.Equal(t, "/v1/chat/completions", first.Header(":path"), "probed with healthCheckModel")
	require.Contains(t, string(first.Body), `"model":"mapped-probe-model"`)
	require.Equal(t, "Bearer "+threeTokens[1], first.Header("authorization"), "the token's own auth")

	// The holder's thread gets stuck: another VM takes the lease within the TTL.
	holder, _ := holderVM(t, h, "")
	for _, vm := range h.VMs() {
		if vm.Name() == holder {
			vm.Freeze(true)
		}
	}
	advance(t, h, 3500*time.Millisecond) // TTL is 3 ticks of 1 s
	newHolder, ok := holderVM(t, h, "")
	require.True(t, ok)
	require.NotEqual(t, holder, newHolder)

	for i := 0; i < 40 && state(t, h, 3).Tokens[1].Status != failover.Available; i++ {
		advance(t, h, time.Second)
	}
	require.Equal(t, failover.Available, state(t, h, 3).Tokens[1].Status)
	require.Len(t, probes, 5, "500, 200, 500: the lone success does not restore; the 4th and 5th (two in a row) do")
	froms := map[string]bool{}
	for _, pr := range probes {
		froms[pr.From] = true
	}
	require.Len(t, froms, 2, "probing continued on the new holder")
	require.Contains(t, h.LogText(), fmt.Sprintf("token #1(%s) restored: probe succeeded (status 200)", fp(threeTokens[1])))
}

func TestReload_SamePoolKeepsStateChangedListKeepsEachKeysState(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(0, wasmhost.Status(401))
	config := cfg("")
	h := start(t, config, p)
	for i := 0; p.count(0, false) == 0; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("m"))
	}
	keys := h.SharedKeys()
	ok, err := h.Reload([]byte(config + "\n# comment changes nothing\n"))
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, keys, h.SharedKeys(), "same pool, same key")
	require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[0].Status, "reload keeps the demotion")
	n := p.count(0, false)
	for i := 0; i < 20; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("m"))
	}
	require.Equal(t, n, p.count(0, false), "and every VM still avoids the token")

	p.always(0, wasmhost.OK())
	ok, err = h.Reload([]byte(strings.Replace(config, threeTokens[2], "tok-delta-0004", 1)))
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, h.SharedKeys(), len(keys)+1, "a changed token list is a new pool")
	fresh := stateOf(t, h, newStateKey(t, h, keys), 3)
	require.Equal(t, failover.Unhealthy, fresh.Tokens[0].Status, "a key in both lists keeps its demotion (issue 25)")
	require.Equal(t, failover.Available, fresh.Tokens[2].Status, "the new key starts available")
}

func newStateKey(t testing.TB, h *wasmhost.Host, old []string) string {
	for _, k := range h.SharedKeys() {
		found := false
		for _, o := range old {
			found = found || o == k
		}
		if !found && strings.HasSuffix(k, "/state") {
			return k
		}
	}
	t.Fatal("no new state key")
	return ""
}

func TestReload_BadConfigIsRefusedNamingTheField(t *testing.T) {
	p := newProvider(threeTokens...)
	h := start(t, cfg(""), p)
	ok, err := h.Reload([]byte(`provider: {type: openai, apiTokens: [a], failover: {failureThreshold: -1}}`))
	require.NoError(t, err)
	require.False(t, ok)
	require.Contains(t, h.LogText(), "[worker-0 error] invalid configuration: provider.failover.failureThreshold: must be >= 1, got -1")
}

func TestCorruptState_IsLoggedAndRewritten(t *testing.T) {
	p := newProvider(threeTokens...)
	h := start(t, cfg(""), p)
	key := stateKeyOf(t, h)
	require.True(t, h.SetSharedData(key, []byte("{not json"), 0))
	ok, err := h.Reload([]byte(cfg("")))
	require.NoError(t, err)
	require.True(t, ok)
	require.Contains(t, h.LogText(), "shared state was unreadable")
	require.Equal(t, failover.NewPool(3), state(t, h, 3))
}

func TestMetrics_BoundedNamesAndCounts(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(1, wasmhost.Status(401))
	h := start(t, `provider: {type: openai, id: main, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin, failover: {enabled: true}}`, p)
	for i := 0; i < 30; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("m"))
	}
	advance(t, h, 1100*time.Millisecond)
	names := map[string]uint64{}
	for _, m := range h.Metrics() {
		require.Regexp(t, `^tokenfailover\.main\.(token[0-2]\.[a-z_]+|available_tokens|lease_changes|all_tokens_down|retries|probes_not_sent|model_unmapped|requests_refused|requests_rerouted|fleet_adopted)$`, m.Name)
		names[m.Name] = m.Value
	}
	require.Len(t, names, 9+3*10, "a fixed set per pool and token")
	require.Equal(t, uint64(30), names["tokenfailover.main.token0.requests"]+names["tokenfailover.main.token1.requests"]+names["tokenfailover.main.token2.requests"])
	require.Equal(t, uint64(1), names["tokenfailover.main.token1.failures_auth"])
	require.Equal(t, uint64(1), names["tokenfailover.main.token1.demotions"])
	require.Equal(t, uint64(2), names["tokenfailover.main.available_tokens"])
	require.Equal(t, uint64(1), names["tokenfailover.main.lease_changes"])
	require.Equal(t, uint64(2), names["tokenfailover.main.token1.state"], "unhealthy")
	require.Equal(t, uint64(0), names["tokenfailover.main.token0.state"])
}

// TestProbes_AskWhatFailed (issue 20 B5, B6): with healthCheckModel set, a
// probe is a one-token chat completion with it (mapped), whatever failed;
// without it, a probe asks for one token of the model the token failed on,
// on the path it failed on. With no model known, only an auth or upstream
// demotion is probed, by the free model list; a quota demotion is not (the
// list answers 200 while the quota is still gone): before, such a token
// was restored by the model list on every interval.
func TestProbes_AskWhatFailed(t *testing.T) {
	const withModel = `modelMapping: {"gpt-3": "mapped-probe-model", "gpt-4o": "mapped-4o"},
  failover: {enabled: true, failureThreshold: 1, healthCheckInterval: 1000, healthCheckModel: gpt-3}`
	const noHealthCheckModel = `modelMapping: {"gpt-4o": "mapped-4o"},
  failover: {enabled: true, failureThreshold: 1, healthCheckInterval: 1000}`
	const noMapping = `failover: {enabled: true, failureThreshold: 1, healthCheckInterval: 1000}`
	chat := `{"model":"gpt-4o","messages":[]}`
	tests := []struct {
		name       string
		config     string
		status     int
		path, body string
		probePath  string // "" = no probe is sent
		probeModel string // "" = a GET of the model list
	}{
		{"401: healthCheckModel", withModel, 401, "/v1/chat/completions", chat, "/v1/chat/completions", `"model":"mapped-probe-model"`},
		{"402: healthCheckModel", withModel, 402, "/v1/chat/completions", chat, "/v1/chat/completions", `"model":"mapped-probe-model"`},
		{"5xx on embeddings: healthCheckModel on chat", withModel, 500, "/v1/embeddings", `{"model":"text-embedding-3-small","input":"x"}`,
			"/v1/chat/completions", `"model":"mapped-probe-model","messages"`},
		{"401: the failed model", noHealthCheckModel, 401, "/v1/chat/completions", chat, "/v1/chat/completions", `"model":"mapped-4o"`},
		{"5xx on embeddings: the failed model and API", noHealthCheckModel, 500, "/v1/embeddings", `{"model":"text-embedding-3-small","input":"x"}`,
			"/v1/embeddings", `"model":"text-embedding-3-small","input":"ping"`},
		{"401, no model known: free list", noHealthCheckModel, 401, "/v1/chat/completions", `{"messages":[]}`, "/v1/models", ""},
		{"402, no model known: not probed", noHealthCheckModel, 402, "/v1/chat/completions", `{"messages":[]}`, "", ""},
		{"402, body not scanned: not probed", noMapping, 402, "/v1/chat/completions", chat, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(threeTokens...)
			var probes []*wasmhost.UpstreamRequest
			p.set(0, func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
				if r.HTTPCall {
					probes = append(probes, r)
					return wasmhost.OK()
				}
				return wasmhost.Status(tc.status)
			})
			h := start(t, `provider: {type: openai, id: pr, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: round-robin,
  `+tc.config+`}`, p)
			req := wasmhost.Request{Headers: []wasmhost.Pair{{":method", "POST"}, {":path", tc.path}, {":authority", "gw"},
				{"content-type", "application/json"}}, Body: []byte(tc.body)}
			for i := 0; p.count(0, false) == 0; i++ {
				do(t, h.Workers()[i%4], req)
			}
			require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[0].Status)
			advance(t, h, 1500*time.Millisecond)
			if tc.probePath == "" {
				advance(t, h, 10*time.Second)
				require.Empty(t, probes, "nothing a probe can ask shows the quota is back")
				require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[0].Status, "so the token stays out")
				require.Positive(t, h.MetricValue("tokenfailover.pr.probes_not_sent"))
				return
			}
			require.Len(t, probes, 1)
			require.Equal(t, tc.probePath, probes[0].Header(":path"))
			require.Equal(t, "Bearer "+threeTokens[0], probes[0].Header("authorization"))
			if tc.probeModel == "" {
				require.Equal(t, "GET", probes[0].Header(":method"))
				require.Empty(t, probes[0].Body)
			} else {
				require.Equal(t, "POST", probes[0].Header(":method"))
				require.Contains(t, string(probes[0].Body), tc.probeModel)
			}
			require.Equal(t, failover.Available, state(t, h, 3).Tokens[0].Status, "restored by the probe")
		})
	}
}
