package plugin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

func rateCfg(extra string) string {
	return `provider: {type: openai, apiTokens: [` + strings.Join(threeTokens, ", ") + `], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 3, healthCheckInterval: 1000` + extra + `}}`
}

// TestFailureRate_TenPercentKeyDemotedWithinFortyOfItsRequests: a key
// whose every tenth request fails (never three in a row, so the
// consecutive count never trips) is demoted by failureRate (5 % over 20
// requests) within 40 of its own requests, on every worker; the healthy
// keys, over 600 requests, never are.
func TestFailureRate_TenPercentKeyDemotedWithinFortyOfItsRequests(t *testing.T) {
	p := newProvider(threeTokens...)
	n := 0
	p.set(1, func(*wasmhost.UpstreamRequest) wasmhost.Reply {
		if n++; n%10 == 0 {
			return wasmhost.Status(500)
		}
		return wasmhost.OK()
	})
	h := start(t, rateCfg(`, failureRate: {percent: 5, minRequests: 20, window: 60000}`), p)
	w := h.Workers()
	demotedAfter, why := -1, ""
	for i := 0; i < 600; i++ {
		do(t, w[i%len(w)], wasmhost.Chat("gpt-4o"))
		if i%12 == 11 {
			advance(t, h, time.Second) // a tick: every worker adds its counts
		}
		if st := state(t, h, 3); demotedAfter < 0 && st.Tokens[1].Status == failover.Unhealthy {
			demotedAfter, why = p.count(1, false), st.Tokens[1].Why
		}
	}
	require.Positive(t, demotedAfter, "the 10%% key was demoted")
	require.LessOrEqual(t, demotedAfter, 40, "within 40 of its own requests")
	require.Contains(t, why, "failure rate")
	st := state(t, h, 3)
	for _, i := range []int{0, 2} {
		require.Equal(t, failover.Available, st.Tokens[i].Status, "a healthy key is never demoted")
		require.Zero(t, st.Tokens[i].Demotions)
	}
	require.Contains(t, h.LogText(), "demoted to unhealthy (failure rate")
}

// TestSlowToken_LosesItsShare: a key that answers ten times slower than its
// siblings is marked slow once each has 10 answers in the window, and then
// serves no request while the others may; it is not demoted.
func TestSlowToken_LosesItsShare(t *testing.T) {
	p := newProvider(threeTokens...)
	h := start(t, rateCfg(`, slowToken: {factor: 3}, failureRate: {percent: 50, minRequests: 10}`), p)
	w := h.Workers()
	require.NotEmpty(t, w)
	delay := []time.Duration{40 * time.Millisecond, 50 * time.Millisecond, 500 * time.Millisecond}
	served := func(k int) []int {
		counts := make([]int, 3)
		for i := 0; i < k; i++ {
			s, err := w[0].Start(wasmhost.Chat("gpt-4o")) // one worker: its round-robin is exact
			require.NoError(t, err)
			tok := p.token(s.Upstream)
			counts[tok]++
			advance(t, h, delay[tok])
			require.NoError(t, s.Respond(p.cluster(s.Upstream)))
		}
		return counts
	}
	first := served(30)
	require.Equal(t, []int{10, 10, 10}, first, "round-robin until each key has 10 answers")
	advance(t, h, 1100*time.Millisecond)
	require.True(t, state(t, h, 3).Tokens[2].Window.Slow, "marked slow")
	later := served(60)
	require.Zero(t, later[2], "the slow key loses its share while the others may serve")
	require.Equal(t, failover.Available, state(t, h, 3).Tokens[2].Status, "slow is not demoted")
}
