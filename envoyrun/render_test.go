package envoyrun

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRender_FilterVariants(t *testing.T) {
	tests := []struct {
		filter      string
		wasm, lua   bool
		pluginValue string
	}{
		{"", true, false, "id: demo"},
		{"wasm", true, false, "id: demo"},
		{"none", false, false, ""},
		{"lua", false, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			cfg, err := Render(Options{Upstream: "127.0.0.1:1234", Filter: tc.filter, Wasm: "/abs/p.wasm"}, 1111, 2222)
			require.NoError(t, err)
			require.Equal(t, tc.wasm, strings.Contains(cfg, "filename: /abs/p.wasm"))
			require.Equal(t, tc.lua, strings.Contains(cfg, "envoy_on_request"))
			require.Contains(t, cfg, "envoy.filters.http.router")
			require.Contains(t, cfg, "port_value: 1111")
			require.Contains(t, cfg, "port_value: 1234")
			if tc.pluginValue != "" {
				require.Contains(t, cfg, tc.pluginValue)
			}
		})
	}
	cfg, err := Render(Options{Upstream: "127.0.0.1:1", PluginConfig: "provider: {type: qwen, apiTokens: [x]}"}, 1, 2)
	require.NoError(t, err)
	require.Contains(t, cfg, "                    provider: {type: qwen, apiTokens: [x]}\n          - name: envoy.filters.http.router")
	require.NotContains(t, cfg, "id: demo")
}
