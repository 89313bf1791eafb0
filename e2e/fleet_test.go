package e2e

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/etcdrun"
	"github.com/token-failover/token-failover/fleetrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

// fleetOf is several Envoy replicas (envoy-fleet.yaml) sharing one etcd
// cluster, each with a mock provider of its own (fleetrun).
type fleetOf struct {
	etcd     *etcdrun.Cluster
	replicas []*env
	run      *fleetrun.Fleet
}

// fleetPluginConfig is the e2e pool with a fleet block.
func fleetPluginConfig() string {
	return "fleet: {etcdCluster: etcd, timeout: 1000, proberTTL: 3}\n" + pluginConfig("")
}

// startFleet starts n replicas (two workers each) against a three-member
// etcd, failing under REQUIRE_ENVOY=1 when Envoy or etcd is missing.
func startFleet(t *testing.T, n int) *fleetOf {
	t.Helper()
	bin := envoyBinary(t)
	wasm, err := wasmhost.ModulePath()
	require.NoError(t, err)
	run, err := fleetrun.Start(fleetrun.Options{Bin: bin, Wasm: wasm, Replicas: n, PluginConfig: fleetPluginConfig(), Dir: t.TempDir()})
	if err == etcdrun.ErrNotInstalled {
		if os.Getenv("REQUIRE_ENVOY") == "1" {
			t.Fatalf("REQUIRE_ENVOY=1 but etcd is missing: %v", err)
		}
		t.Skipf("%v; ./build.sh etcd builds it", err)
	}
	require.NoError(t, err)
	f := &fleetOf{etcd: run.Etcd, run: run}
	t.Cleanup(func() {
		if t.Failed() {
			for i, r := range run.Replicas {
				t.Logf("Envoy replica %d log (%s):\n%s", i, r.Envoy.LogPath, r.Envoy.Tail(60))
			}
		}
		run.Stop()
	})
	for _, r := range run.Replicas {
		f.replicas = append(f.replicas, &env{mock: r.Mock, envoy: r.Envoy,
			c: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}})
	}
	return f
}

// setAll scripts token i on every replica's mock.
func (f *fleetOf) setAll(i int, b mockllm.Behaviour) { f.run.SetAll(tokens[i], b) }

// TestEnvoyFleet_RevokedKeyStopsEverywhereAndHealsOnce (issue 21): three
// Envoy replicas (two workers each) and a three-member etcd. A key revoked
// is demoted by the replica that meets it, and the others never use it
// (they hear of it through the watch); healed, it is probed by one replica
// only and comes back on all of them. (Failed requests under concurrent
// load on every replica: ./build.sh bench fleet.)
func TestEnvoyFleet_RevokedKeyStopsEverywhereAndHealsOnce(t *testing.T) {
	f := startFleet(t, 3)
	time.Sleep(1500 * time.Millisecond) // the agents open their watches
	f.setAll(1, mockllm.Behaviour{Status: 401})
	revoked := time.Now()
	first := f.replicas[0]
	eventually(t, 10*time.Second, "the first replica meets the revoked key", func() bool {
		first.load(3, 1)
		return first.stat(t, tokenStat(1, "state")) == 2
	})
	time.Sleep(100 * time.Millisecond) // the watch delivers in milliseconds
	for _, r := range f.replicas[1:] {
		r.load(60, 3)
		require.Zero(t, r.mock.Count(tokens[1], false, revoked), "a replica that never met the key does not use it")
		require.EqualValues(t, 2, r.stat(t, tokenStat(1, "state")), "it is unhealthy there too")
	}
	healed := time.Now()
	f.setAll(1, mockllm.Healthy)
	for _, r := range f.replicas {
		eventually(t, 15*time.Second, "the key back on every replica", func() bool { return r.stat(t, tokenStat(1, "state")) == 0 })
	}
	probing := 0
	for _, r := range f.replicas {
		if r.mock.Count(tokens[1], true, healed) > 0 {
			probing++
		}
	}
	require.Equal(t, 1, probing, "one replica probed the healed key")
}

// TestEnvoyFleet_StoreDownChangesNothing (issue 21): with two of the three
// etcd members down the store cannot commit. The replicas go on as if
// alone: every request is answered by the provider (none fails or waits
// because of the store), each demotes on its own failures and probes on
// its own; once the members are back, the fleet agrees again.
func TestEnvoyFleet_StoreDownChangesNothing(t *testing.T) {
	f := startFleet(t, 2)
	time.Sleep(1500 * time.Millisecond)
	f.etcd.StopMember(1)
	f.etcd.StopMember(2)
	f.setAll(2, mockllm.Behaviour{Status: 401})
	start := time.Now()
	for _, r := range f.replicas {
		codes := r.load(40, 2)
		require.Zero(t, codes[0]+codes[500]+codes[503]+codes[504], "no request failed because of the store: %v", codes)
		require.Equal(t, 40, codes[200]+codes[401])
	}
	t.Logf("80 requests with the store down took %v", time.Since(start))
	for _, r := range f.replicas {
		eventually(t, 5*time.Second, "each replica demotes the key on its own", func() bool { return r.stat(t, tokenStat(2, "state")) == 2 })
	}
	eventually(t, 10*time.Second, "the outage said in the log", func() bool {
		return strings.Contains(f.replicas[0].envoy.Log(), "unreachable")
	})
	require.NoError(t, f.etcd.StartMember(1))
	require.NoError(t, f.etcd.StartMember(2))
	require.NoError(t, f.etcd.WaitHealthy(15*time.Second))
	f.setAll(2, mockllm.Healthy)
	for _, r := range f.replicas {
		eventually(t, 30*time.Second, "the key back on every replica", func() bool { return r.stat(t, tokenStat(2, "state")) == 0 })
	}
	kvs, err := f.etcd.Get("/token-failover/token/")
	require.NoError(t, err)
	require.NotEmpty(t, kvs, "the demotions reached the store once it was back")
	for _, v := range kvs {
		for _, tok := range tokens {
			require.NotContains(t, string(v), tok, "no secret in the store")
		}
	}
}
