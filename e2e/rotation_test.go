package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/mockllm"
)

// ldsListener turns the rendered static configuration into one whose
// listener comes from a file (lds.yaml in dir, which Envoy watches), as
// an operator's reload or a control plane delivers it; lds holds the
// listener so a test can write it again with another plugin configuration.
type ldsListener struct {
	dir      string
	listener string // the listener as an LDS resource
}

func (l *ldsListener) edit(cfg string) string {
	start := strings.Index(cfg, "  listeners:\n")
	end := strings.Index(cfg, "  clusters:\n")
	if start < 0 || end < start {
		return cfg // the test fails on the missing listener
	}
	var b strings.Builder
	b.WriteString("resources:\n")
	for i, line := range strings.Split(strings.TrimSuffix(cfg[start+len("  listeners:\n"):end], "\n"), "\n") {
		line = strings.TrimPrefix(line, "  ")
		if i == 0 {
			line = "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n  " + strings.TrimPrefix(line, "- ")
		}
		b.WriteString(line + "\n")
	}
	l.listener = b.String()
	_ = os.WriteFile(filepath.Join(l.dir, "lds.yaml"), []byte(l.listener), 0o644)
	return "node: {id: e2e, cluster: e2e}\ndynamic_resources:\n  lds_config:\n    resource_api_version: V3\n    path_config_source:\n      path: " +
		filepath.Join(l.dir, "lds.yaml") + "\n" + cfg[:start] + cfg[end:]
}

// replace delivers the listener again with old replaced by new in it
// (written aside, then renamed over lds.yaml: Envoy reads whole files).
func (l *ldsListener) replace(t *testing.T, old, new string) {
	t.Helper()
	require.Contains(t, l.listener, old)
	l.listener = strings.Replace(l.listener, old, new, 1)
	tmp := filepath.Join(l.dir, "lds.yaml.new")
	require.NoError(t, os.WriteFile(tmp, []byte(l.listener), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(l.dir, "lds.yaml")))
}

// TestEnvoy_RotationKeepsEachKeysState adds a key to apiTokens through a
// real listener update (LDS from a file): the key revoked before stays out
// on every worker, the added key serves at once; then removes another key
// and the revoked one still stays out.
func TestEnvoy_RotationKeepsEachKeysState(t *testing.T) {
	l := &ldsListener{dir: t.TempDir()}
	e := setupEdit(t, pluginConfig(""), l.edit)
	e.mock.Set(tokens[1], mockllm.Behaviour{Status: 401})
	eventually(t, 10*time.Second, "token 1 demoted", func() bool {
		_, _ = e.chat("gpt-4o")
		return e.stat(t, tokenStat(1, "state")) == 2
	})
	updates := func() int64 {
		s, err := e.envoy.Stats("listener_manager.lds")
		require.NoError(t, err)
		return s["listener_manager.lds.update_success"]
	}
	before := updates()
	added := "e2e-token-delta-5ad1"
	list := "[" + strings.Join(tokens, ", ") + "]"
	l.replace(t, list, "["+strings.Join(tokens, ", ")+", "+added+"]")
	eventually(t, 15*time.Second, "the listener update", func() bool { return updates() > before })
	eventually(t, 15*time.Second, "the new configuration serving the added key", func() bool {
		_, _ = e.chat("gpt-4o")
		return e.mock.Count(added, false, time.Time{}) > 0
	})
	since := time.Now()
	for i := 0; i < 40; i++ {
		code, err := e.chat("gpt-4o")
		require.NoError(t, err)
		require.Equal(t, 200, code)
	}
	require.Zero(t, e.mock.Count(tokens[1], false, since), "the revoked key stays out after a key is added")
	require.Positive(t, e.mock.Count(added, false, since))
	require.Equal(t, int64(2), e.stat(t, tokenStat(1, "state")), "its gauge says so")

	// Remove token 2: token 1 (revoked) still stays out.
	before = updates()
	l.replace(t, tokens[2]+", ", "")
	eventually(t, 15*time.Second, "the second listener update", func() bool { return updates() > before })
	time.Sleep(500 * time.Millisecond) // the old listener's connections drain
	since = time.Now()
	for i := 0; i < 30; i++ {
		_, _ = e.chat("gpt-4o")
	}
	require.Zero(t, e.mock.Count(tokens[1], false, since), "still out after another key is removed")
	require.Zero(t, e.mock.Count(tokens[2], false, since), "the removed key is not used")
	require.Positive(t, e.mock.Count(tokens[0], false, since))
}

// TestEnvoy_FailureRateDemotesTheFlakyKeyWithinFortyOfItsRequests: in real
// Envoy (4 workers), a key whose every tenth request fails is demoted by
// failover.failureRate within 40 of its requests; the healthy keys never.
func TestEnvoy_FailureRateDemotesTheFlakyKeyWithinFortyOfItsRequests(t *testing.T) {
	e := setup(t, strings.Replace(pluginConfig(""), "    healthCheckModel: gpt-3\n",
		"    healthCheckModel: gpt-3\n    failureRate: {percent: 5, minRequests: 20}\n", 1))
	e.mock.Set(tokens[1], mockllm.Behaviour{FailEvery: 10})
	start := time.Now()
	demotedAt := -1
	for i := 0; i < 300 && demotedAt < 0; i++ {
		_, _ = e.chat("gpt-4o")
		if i%10 == 9 && e.stat(t, tokenStat(1, "state")) == 2 {
			demotedAt = e.mock.Count(tokens[1], false, start)
		}
		if i%30 == 29 {
			time.Sleep(1100 * time.Millisecond) // a tick adds every worker's counts
		}
	}
	if demotedAt < 0 {
		time.Sleep(1100 * time.Millisecond)
		if e.stat(t, tokenStat(1, "state")) == 2 {
			demotedAt = e.mock.Count(tokens[1], false, start)
		}
	}
	require.Positive(t, demotedAt, "the flaky key is demoted")
	require.LessOrEqual(t, demotedAt, 40, "within 40 of its requests")
	for _, i := range []int{0, 2} {
		require.Zero(t, e.stat(t, tokenStat(i, "demotions")), "a healthy key is never demoted")
	}
}

// TestEnvoy_SlowKeyLosesItsShare: a key answering 300 ms slower than its
// siblings stops being picked once marked slow (failover.slowToken).
func TestEnvoy_SlowKeyLosesItsShare(t *testing.T) {
	e := setup(t, strings.Replace(pluginConfig(""), "    healthCheckModel: gpt-3\n",
		"    healthCheckModel: gpt-3\n    slowToken: {factor: 3}\n    failureRate: {percent: 50, minRequests: 8}\n", 1))
	e.mock.Set(tokens[2], mockllm.Behaviour{Delay: 300 * time.Millisecond})
	for i := 0; i < 60; i++ {
		_, _ = e.chat("gpt-4o")
	}
	time.Sleep(1200 * time.Millisecond) // a tick judges the latencies
	since := time.Now()
	for i := 0; i < 60; i++ {
		code, err := e.chat("gpt-4o")
		require.NoError(t, err)
		require.Equal(t, 200, code)
	}
	require.Zero(t, e.mock.Count(tokens[2], false, since), "the slow key serves nothing while the others may")
	require.Positive(t, e.mock.Count(tokens[0], false, since))
	require.Zero(t, e.stat(t, tokenStat(2, "demotions")), "slow is not demoted")
}
