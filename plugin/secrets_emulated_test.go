package plugin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

// TestSecrets_NothingCapturedContainsAToken drives every path that logs,
// counts, stores or answers (demotion by 500, 401, 402, 429, probes that
// fail and succeed, lease takeover, all tokens down with reject, a refused
// config naming a duplicate token, a reload), then scans everything the
// emulator captured for any token string or a long piece of one.
func TestSecrets_NothingCapturedContainsAToken(t *testing.T) {
	secrets := []string{"sk-live-4f9b2c7e1a8d3f60", "sk-live-7d1e0a9c5b3f2e84", "sk-live-0c6a8e2d4f1b9a37"}
	p := newProvider(secrets...)
	p.always(0, wasmhost.Status(500))
	p.always(1, wasmhost.Status(401))
	p.always(2, wasmhost.Status(429, [2]string{"retry-after", "30"}))
	config := `provider: {type: openai, apiTokens: [` + strings.Join(secrets, ", ") + `], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 2, healthCheckInterval: 1000, healthCheckModel: gpt-4o, allTokensDown: reject}}`
	h := start(t, config, p)
	for i := 0; i < 30; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("gpt-4o"))
	}
	require.NotEmpty(t, h.LocalReplies(), "all tokens down: rejected locally")
	advance(t, h, 3*time.Second)
	p.always(0, wasmhost.OK())
	p.always(1, wasmhost.OK())
	h.Main().Freeze(true)
	advance(t, h, 20*time.Second)
	ok, err := h.Reload([]byte(config))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = h.Reload([]byte(`provider: {type: openai, apiTokens: [` + secrets[0] + `, ` + secrets[0] + `], failover: {failureThreshold: -1}}`))
	require.NoError(t, err)
	require.False(t, ok)
	require.Contains(t, h.LogText(), "duplicates apiTokens[0]")
	require.Contains(t, h.LogText(), "restored")

	text := captured(h)
	for _, s := range secrets {
		for i := 0; i+12 <= len(s); i++ { // no 12-byte window of any token
			require.NotContains(t, text, s[i:i+12])
		}
	}
}
