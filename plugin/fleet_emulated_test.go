package plugin_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/etcdrun"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// startEtcd starts a real etcd cluster of n members for a fleet test. It
// skips without etcd, unless REQUIRE_ENVOY=1 (CI), which fails instead.
func startEtcd(t testing.TB, n int) *etcdrun.Cluster {
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

// fleetConfig is a pool of three tokens shared through the fleet.
func fleetConfig(extra string) string {
	return `fleet: {etcdCluster: etcd, timeout: 1000, pollInterval: 5000, proberTTL: 3}
provider: {type: openai, id: fl, apiTokens: [` + strings.Join(threeTokens, ", ") + `], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 1, healthCheckInterval: 1000, healthCheckModel: m}` + extra + `}`
}

// replicas are Envoy processes (emulated) sharing one etcd.
type replicas struct {
	hosts []*wasmhost.Host
	p     *provider
	// replicaOf is which replica sent each request the provider saw.
	replicaOf map[*wasmhost.UpstreamRequest]int
}

func startReplicas(t *testing.T, n int, etcd *etcdrun.Cluster, config string) *replicas {
	t.Helper()
	addrs := map[string]string{"etcd": etcd.Members[0].Client}
	rs := &replicas{p: newProvider(threeTokens...), replicaOf: map[*wasmhost.UpstreamRequest]int{}}
	for i := 0; i < n; i++ {
		i := i
		h := start(t, config, rs.p, func(o *wasmhost.Options) {
			// Each replica its own randomness (its VMs' and its own uuids).
			o.Workers, o.GRPCClusters, o.GRPCWait, o.Seed = 2, addrs, 2*time.Second, int64(1000*(i+1))
			o.Clusters = map[string]wasmhost.Cluster{"llm": func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
				rs.replicaOf[r] = i
				return rs.p.cluster(r)
			}}
		})
		rs.hosts = append(rs.hosts, h)
	}
	rs.tick(t, 1100*time.Millisecond) // each replica's agent opens its watch
	return rs
}

// tick advances every replica's clock by d, one after the other.
func (rs *replicas) tick(t *testing.T, d time.Duration) {
	for _, h := range rs.hosts {
		advance(t, h, d)
	}
}

// until delivers gRPC answers on every replica until cond holds (real time).
func (rs *replicas) until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, h := range rs.hosts {
			require.NoError(t, h.DeliverGRPC(20*time.Millisecond))
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func statusOn(t *testing.T, h *wasmhost.Host, i int) failover.Status {
	return state(t, h, 3).Tokens[i].Status
}

// TestFleet_DemotionReachesEveryReplicaAndOneProbeHeals (issue 21): three
// replicas share one etcd. A key revoked on one replica is unhealthy on
// the others as soon as the watch delivers it, without any failed request
// of theirs; once the key is healed, one replica (the elected fleet
// prober) probes it and every replica takes it back.
func TestFleet_DemotionReachesEveryReplicaAndOneProbeHeals(t *testing.T) {
	etcd := startEtcd(t, 1)
	rs := startReplicas(t, 3, etcd, fleetConfig(""))
	rs.p.always(1, wasmhost.Status(401))
	first := rs.hosts[0]
	for i := 0; rs.p.count(1, false) == 0; i++ {
		do(t, first.Workers()[i%2], wasmhost.Chat("m"))
	}
	require.Equal(t, failover.Unhealthy, statusOn(t, first, 1))
	rs.until(t, 3*time.Second, "the demotion on every replica", func() bool {
		return statusOn(t, rs.hosts[1], 1) == failover.Unhealthy && statusOn(t, rs.hosts[2], 1) == failover.Unhealthy
	})
	before := rs.p.count(1, false)
	for _, h := range rs.hosts[1:] {
		for i := 0; i < 12; i++ {
			do(t, h.Workers()[i%2], wasmhost.Chat("m"))
		}
	}
	require.Equal(t, before, rs.p.count(1, false), "the other replicas never used the revoked key")
	require.Contains(t, rs.hosts[1].LogText(), "unhealthy by the fleet")

	rs.p.always(1, wasmhost.OK())
	for k := 0; k < 6 && !(statusOn(t, rs.hosts[0], 1) == failover.Available &&
		statusOn(t, rs.hosts[1], 1) == failover.Available && statusOn(t, rs.hosts[2], 1) == failover.Available); k++ {
		rs.tick(t, time.Second)
		rs.until(t, time.Second, "answers", func() bool { return true })
	}
	rs.until(t, 3*time.Second, "the restoration on every replica", func() bool {
		for _, h := range rs.hosts {
			if statusOn(t, h, 1) != failover.Available {
				return false
			}
		}
		return true
	})
	probers := map[int]bool{}
	for _, r := range rs.p.requests {
		if r.HTTPCall && rs.p.token(r) == 1 {
			probers[rs.replicaOf[r]] = true
		}
	}
	require.Len(t, probers, 1, "one replica probed the key")
	if os.Getenv("TF_SHOW") != "" {
		for _, h := range rs.hosts {
			t.Log(h.LogText())
		}
	}
}
