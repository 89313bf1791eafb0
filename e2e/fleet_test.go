package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/etcdrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

// fleetOf is several Envoy replicas (envoy-fleet.yaml) sharing one etcd
// cluster; each replica has a mock provider of its own (the same script),
// so a test sees which replica sent what.
type fleetOf struct {
	etcd     *etcdrun.Cluster
	replicas []*env
}

// startEtcdCluster starts a real etcd of n members, failing under
// REQUIRE_ENVOY=1 when etcd is missing.
func startEtcdCluster(t *testing.T, n int) *etcdrun.Cluster {
	t.Helper()
	c, err := etcdrun.Start(n, t.TempDir())
	if err == etcdrun.ErrNotInstalled {
		if os.Getenv("REQUIRE_ENVOY") == "1" {
			t.Fatalf("REQUIRE_ENVOY=1 but etcd is missing: %v", err)
		}
		t.Skipf("%v; ./build.sh etcd builds it", err)
	}
	require.NoError(t, err)
	t.Cleanup(c.Stop)
	return c
}

// fleetPluginConfig is the e2e pool with a fleet block.
func fleetPluginConfig() string {
	return "fleet: {etcdCluster: etcd, timeout: 1000, proberTTL: 3}\n" + pluginConfig("")
}

// startFleet starts n replicas against a three-member etcd; each lists
// every etcd member in its cluster "etcd".
func startFleet(t *testing.T, n int) *fleetOf {
	t.Helper()
	bin := envoyBinary(t)
	wasm, err := wasmhost.ModulePath()
	require.NoError(t, err)
	f := &fleetOf{etcd: startEtcdCluster(t, 3)}
	var endpoints []string
	for _, m := range f.etcd.Members {
		host, port, _ := strings.Cut(m.Client, ":")
		endpoints = append(endpoints, fmt.Sprintf("        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}", host, port))
	}
	for i := 0; i < n; i++ {
		mock := mockllm.New()
		addr, err := mock.Start("127.0.0.1:0")
		require.NoError(t, err)
		e, err := envoyrun.Start(envoyrun.Options{Bin: bin, Wasm: wasm, PluginConfig: fleetPluginConfig(), Upstream: addr,
			Template: "envoy-fleet.yaml", Concurrency: 2, Upstreams: map[int]string{2379: f.etcd.Members[0].Client},
			Edit: func(cfg string) string {
				one := fmt.Sprintf("        - endpoint:\n            address:\n              socket_address: {address: 127.0.0.1, port_value: %s}",
					strings.Split(f.etcd.Members[0].Client, ":")[1])
				return strings.Replace(cfg, one, strings.Join(endpoints, "\n"), 1)
			}})
		r := &env{mock: mock, envoy: e, c: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
		t.Cleanup(func() {
			if e != nil {
				_ = e.Stop()
				if t.Failed() {
					t.Logf("Envoy replica log (%s):\n%s", e.LogPath, e.Tail(60))
				}
			}
			_ = mock.Close()
		})
		require.NoError(t, err)
		f.replicas = append(f.replicas, r)
	}
	return f
}

// setAll scripts token i on every replica's mock.
func (f *fleetOf) setAll(i int, b mockllm.Behaviour) {
	for _, r := range f.replicas {
		r.mock.Set(tokens[i], b)
	}
}

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
