package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/config"
)

func TestChatBody_ExactSizeAndModelPosition(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		first bool
	}{
		{"1 KiB first", 1 << 10, true},
		{"1 KiB last", 1 << 10, false},
		{"64 KiB first", 64 << 10, true},
		{"64 KiB last, odd size", 64<<10 + 3, false},
		{"smaller than the skeleton", 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := chatBody(tc.size, tc.first)
			if tc.size >= 100 {
				require.Len(t, b, tc.size)
			}
			var v struct {
				Model    string
				Messages []struct{ Role, Content string }
			}
			require.NoError(t, json.Unmarshal(b, &v), "valid JSON")
			require.Equal(t, "gpt-4o", v.Model)
			require.Equal(t, tc.first, strings.HasPrefix(string(b), `{"model"`))
		})
	}
}

func TestVariants_ConfigsParse(t *testing.T) {
	vs, err := variants("plugin.wasm", "null.wasm", "probe.wasm")
	require.NoError(t, err)
	letters := ""
	for _, v := range vs {
		letters += v.letter
	}
	require.Equal(t, "abcdefghijklmnopqrstuvwxy", letters)
	by := map[string]*config.Config{}
	for _, v := range vs[3:9] { // the plugin's variants; j-n are the cost probe's
		c, err := config.Parse([]byte(v.config))
		require.NoError(t, err, v.label())
		require.Empty(t, c.Warnings, v.label())
		by[v.letter] = c
	}
	require.Nil(t, by["d"].Global, "d: no rule matches, so nothing is served")
	require.Len(t, by["e"].Global.Tokens, 3)
	require.True(t, by["e"].Global.Failover.Enabled)
	require.True(t, by["f"].Global.Retry.Enabled)
	require.Equal(t, "sticky", by["g"].Global.Selection)
	require.Equal(t, "x-session-id", by["g"].Global.StickyHeader)
	r := vs[17]
	require.Equal(t, vs[4].config, r.config, "r is e")
	require.Contains(t, r.edit("                  vm_id: token-failover\n"), `GOGC: "off"`)
	y := vs[24] // e's configuration with the fleet block, from envoy-fleet.yaml
	require.Equal(t, "envoy-fleet.yaml", y.template)
	require.True(t, y.etcd)
	require.Empty(t, y.config, "the template's own plugin configuration")
}

func TestQuantile_Interpolates(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []float64{7}, 0.25, 7},
		{"median of even", []float64{4, 1, 3, 2}, 0.5, 2.5},
		{"first quartile", []float64{1, 2, 3, 4, 5}, 0.25, 2},
		{"third quartile", []float64{5, 1, 4, 2, 3}, 0.75, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.InDelta(t, tc.want, quantile(tc.xs, tc.q), 1e-9)
		})
	}
}

func TestParseStats_ReadsKeyValues(t *testing.T) {
	got := parseStats("streams=2000 cb.proxy_on_log=2000 bytes_to_host=123 junk")
	require.Equal(t, map[string]float64{"streams": 2000, "cb.proxy_on_log": 2000, "bytes_to_host": 123}, got)
}

func TestCPUTime_OwnProcess(t *testing.T) {
	sum := 0
	for i := 0; i < 50_000_000; i++ { // burn a few clock ticks
		sum += i
	}
	d, err := cpuTime(os.Getpid())
	require.NoError(t, err)
	require.Positive(t, d, "sum %d", sum)
}
