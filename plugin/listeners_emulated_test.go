package plugin_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

// listenerConfig is a pool of three tokens named id, of a provider type,
// probed every second.
func listenerConfig(typ, id string, tokens []string, extra string) string {
	return fmt.Sprintf(`provider:
  type: %s
  id: %s
  apiTokens: [%s]
  failover: {enabled: true, failureThreshold: 1, healthCheckInterval: 1000, healthCheckModel: m}
%s`, typ, id, strings.Join(tokens, ", "), extra)
}

// TestListeners_EveryConfigurationHeals (issue 20 B2): two listeners whose
// filters share the VMs, each with its own plugin configuration (so each VM
// holds two roots). Tokens demoted on either listener are probed and
// restored, and each pool's gauges say what its state is. Before, only the
// newest root of a VM worked on pools: the older listener's pool was never
// probed and its gauges never published.
func TestListeners_EveryConfigurationHeals(t *testing.T) {
	first := []string{"first-tok-a-001", "first-tok-b-002", "first-tok-c-003"}
	second := []string{"second-tok-a-01", "second-tok-b-02", "second-tok-c-03"}
	p := newProvider(append(append([]string{}, first...), second...)...)
	h := start(t, listenerConfig("openai", "first", first, ""), p, func(o *wasmhost.Options) {
		o.Listeners = []wasmhost.Listener{{Name: "second", Config: []byte(listenerConfig("deepseek", "second", second, ""))}}
	})
	for _, vm := range h.VMs() {
		require.Len(t, vm.Roots(), 2, "two configurations, two roots in %s", vm.Name())
	}
	w := h.Workers()[0]
	// Every token of the first pool fails auth; the second pool loses one
	// token to auth and cools another for 3 s.
	for i := range first {
		p.always(i, wasmhost.Status(401))
	}
	p.always(3, wasmhost.Status(401))
	p.always(4, wasmhost.Status(429, wasmhost.Pair{"retry-after", "3"}))
	for i := 0; i < 40; i++ {
		do(t, w, wasmhost.Chat("m"))
		do(t, w, wasmhost.Request{Headers: wasmhost.Chat("m").Headers, Body: wasmhost.Chat("m").Body, Listener: "second"})
	}
	advance(t, h, 1100*time.Millisecond) // a tick publishes the gauges
	require.EqualValues(t, 0, h.MetricValue("tokenfailover.first.available_tokens"))
	require.EqualValues(t, 1, h.MetricValue("tokenfailover.second.available_tokens"))
	require.EqualValues(t, 2, h.MetricValue("tokenfailover.first.token0.state"))
	require.EqualValues(t, 2, h.MetricValue("tokenfailover.second.token0.state"))
	require.EqualValues(t, 1, h.MetricValue("tokenfailover.second.token1.state"), "the cooling token reads cooling")

	// The keys heal: both pools' probes restore them, the cooled one comes
	// back by itself.
	p.behave = map[string]func(*wasmhost.UpstreamRequest) wasmhost.Reply{}
	advance(t, h, 4*time.Second)
	for i := range p.tokens {
		if i == 4 || i == 5 {
			continue // never demoted (4 cooled)
		}
		require.Positive(t, p.count(i, true), "token %d was probed", i)
	}
	require.EqualValues(t, 3, h.MetricValue("tokenfailover.first.available_tokens"))
	require.EqualValues(t, 3, h.MetricValue("tokenfailover.second.available_tokens"))
	require.EqualValues(t, 0, h.MetricValue("tokenfailover.second.token1.state"))
}
