package plugin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// rotationCfg is a pool of the given tokens with failover on.
func rotationCfg(tokens ...string) string {
	return `provider: {type: openai, apiTokens: [` + strings.Join(tokens, ", ") + `], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 3, healthCheckInterval: 1000}}`
}

// stateKeys lists the pools' state keys that hold a value.
func stateKeys(h *wasmhost.Host) []string {
	var keys []string
	for _, k := range h.SharedKeys() {
		if v, _, _ := h.SharedData(k); strings.HasSuffix(k, "/state") && len(v) > 0 {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestRotation_AddingAKeyKeepsTheDemotedOneDown: a revoked key stays out
// when another key is added to apiTokens (a new pool), keeps being probed,
// and the added key serves at once.
func TestRotation_AddingAKeyKeepsTheDemotedOneDown(t *testing.T) {
	four := append(append([]string(nil), threeTokens...), "tok-delta-0004")
	p := newProvider(four...)
	p.always(1, wasmhost.Status(401))
	h := start(t, rotationCfg(threeTokens...), p)
	for i := 0; i < 3; i++ {
		do(t, h.Workers()[0], wasmhost.Chat("gpt-4o"))
	}
	require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[1].Status)
	old := stateKeyOf(t, h)

	ok, err := h.Reload([]byte(rotationCfg(four...)))
	require.NoError(t, err)
	require.True(t, ok)
	var fresh string
	for _, k := range stateKeys(h) {
		if k != old {
			fresh = k
		}
	}
	require.NotEmpty(t, fresh, "a new token list is a new pool")
	st := stateOf(t, h, fresh, 4)
	require.Equal(t, failover.Unhealthy, st.Tokens[1].Status, "the revoked key stays out")
	require.Equal(t, failover.ReasonAuth, st.Tokens[1].Reason)
	require.Equal(t, failover.Available, st.Tokens[3].Status)
	require.Contains(t, h.LogText(), "3 of its 4 tokens keep the state they had in pool")

	before := p.count(1, false)
	for i := 0; i < 40; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("gpt-4o"))
	}
	require.Equal(t, before, p.count(1, false), "no worker sends the revoked key after the rotation")
	require.Positive(t, p.count(3, false), "the added key serves")
	probes := p.count(1, true)
	advance(t, h, 5*time.Second)
	require.Greater(t, p.count(1, true), probes, "the revoked key is still probed")
}

// TestRotation_RemovingAKeyKeepsTheOthersCooldowns: removing one key keeps
// another's cooldown (its Until) and a third's failure count.
func TestRotation_RemovingAKeyKeepsTheOthersCooldowns(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(0, wasmhost.Reply{Status: 429, Headers: []wasmhost.Pair{{"retry-after", "600"}}})
	p.always(2, wasmhost.Status(500))
	h := start(t, rotationCfg(threeTokens...), p)
	for i := 0; i < 3; i++ { // 0 → 429, 1 → ok, 2 → 500
		do(t, h.Workers()[0], wasmhost.Chat("gpt-4o"))
	}
	st := state(t, h, 3)
	require.Equal(t, failover.Cooling, st.Tokens[0].Status)
	require.Equal(t, uint32(1), st.Tokens[2].Failures)
	until := st.Tokens[0].Until

	ok, err := h.Reload([]byte(rotationCfg(threeTokens[0], threeTokens[2])))
	require.NoError(t, err)
	require.True(t, ok)
	var now failover.Pool
	for _, k := range stateKeys(h) {
		if v, _, _ := h.SharedData(k); len(v) > 0 {
			if p2, err := failover.Decode(v, 2); err == nil {
				now = p2
			}
		}
	}
	require.Len(t, now.Tokens, 2)
	require.Equal(t, failover.Cooling, now.Tokens[0].Status, "the cooldown survives the removal of another key")
	require.Equal(t, until, now.Tokens[0].Until)
	require.Equal(t, uint32(1), now.Tokens[1].Failures, "so does a failure count")
}

// TestRotation_OldPoolsAreClearedAfterAnHour: the pool a reload replaced
// keeps its state while a root may still use it, and is cleared from
// shared data and the registry an hour after no root registers it.
func TestRotation_OldPoolsAreClearedAfterAnHour(t *testing.T) {
	h := start(t, rotationCfg(threeTokens...), newProvider(threeTokens...))
	old := stateKeyOf(t, h)
	ok, err := h.Reload([]byte(rotationCfg(threeTokens[0], threeTokens[1])))
	require.NoError(t, err)
	require.True(t, ok)
	require.Len(t, stateKeys(h), 2, "the old pool's state is kept for now")
	advance(t, h, 30*time.Minute)
	require.Contains(t, stateKeys(h), old)
	advance(t, h, 32*time.Minute)
	require.NotContains(t, stateKeys(h), old, "cleared an hour after its last registration")
	require.Len(t, stateKeys(h), 1, "the pool in use keeps its state")
	reg, _, _ := h.SharedData("token-failover/pools")
	require.NotContains(t, string(reg), strings.TrimSuffix(strings.TrimPrefix(old, "token-failover/"), "/state"))
	require.Contains(t, h.LogText(), "no configuration has used it for an hour; its shared state is cleared")
}
