package plugin_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/etcdrun"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/fleet"
	prov "github.com/token-failover/token-failover/provider"
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

func startReplicas(t *testing.T, n int, etcd *etcdrun.Cluster, config string, opts ...func(i int, o *wasmhost.Options)) *replicas {
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
			for _, f := range opts {
				f(i, o)
			}
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
			for i, h := range rs.hosts {
				t.Logf("replica %d:\n%s", i, h.LogText())
			}
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

// storeRecord reads token i's fleet record from etcd.
func storeRecord(t *testing.T, etcd *etcdrun.Cluster, i int) fleet.Record {
	t.Helper()
	kvs, err := etcd.Get("/token-failover/token/")
	require.NoError(t, err)
	for k, v := range kvs {
		if strings.HasSuffix(k, "/"+prov.NewToken(0, threeTokens[i]).ID) {
			r, err := fleet.DecodeRecord(v)
			require.NoError(t, err)
			return r
		}
	}
	return fleet.Record{}
}

// TestFleet_QuorumLostThenBack (issue 21): with two of three etcd members
// down, a write cannot commit. The replica that revoked a key works on
// with it demoted (no request waits for the store or fails because of it),
// logs once that the store is unreachable, and probes by itself; once the
// members are back, the pending demotion reaches the store and every
// replica, and a later restoration reaches them too: nothing is dropped,
// nothing stays down.
func TestFleet_QuorumLostThenBack(t *testing.T) {
	etcd := startEtcd(t, 3)
	rs := startReplicas(t, 3, etcd, fleetConfig(""))
	etcd.StopMember(1)
	etcd.StopMember(2)
	rs.p.always(1, wasmhost.Status(401))
	a := rs.hosts[0]
	for i := 0; rs.p.count(1, false) == 0; i++ {
		s := do(t, a.Workers()[i%2], wasmhost.Chat("m"))
		require.Contains(t, []int{200, 401}, s.Response.Status, "only the provider's answers")
	}
	require.Equal(t, failover.Unhealthy, statusOn(t, a, 1))
	for k := 0; k < 3; k++ {
		rs.tick(t, time.Second) // the agent retries; every call times out
	}
	require.Equal(t, 1, strings.Count(a.LogText(), "unreachable"), "said once")
	require.True(t, state(t, a, 3).Tokens[1].Fleet.Pending, "the demotion waits for the store")
	require.Equal(t, failover.Available, statusOn(t, rs.hosts[1], 1), "the others have not heard")

	require.NoError(t, etcd.StartMember(1))
	require.NoError(t, etcd.StartMember(2))
	require.NoError(t, etcd.WaitHealthy(10*time.Second))
	rs.until(t, 15*time.Second, "the pending demotion on every replica", func() bool {
		rs.tick(t, 500*time.Millisecond)
		return statusOn(t, rs.hosts[1], 1) == failover.Unhealthy && statusOn(t, rs.hosts[2], 1) == failover.Unhealthy
	})
	require.Equal(t, fleet.Record{Gen: 1, Reason: "auth"}, withoutBy(storeRecord(t, etcd, 1)))
	require.Contains(t, a.LogText(), "reachable again")

	rs.p.always(1, wasmhost.OK())
	rs.until(t, 15*time.Second, "the restoration on every replica", func() bool {
		rs.tick(t, 500*time.Millisecond)
		for _, h := range rs.hosts {
			if statusOn(t, h, 1) != failover.Available {
				return false
			}
		}
		return true
	})
	require.Equal(t, fleet.Record{Gen: 1, Restored: true}, withoutBy(storeRecord(t, etcd, 1)))
}

// withoutBy drops what differs by run (the writer, the probe target).
func withoutBy(r fleet.Record) fleet.Record {
	r.By, r.Target = "", nil
	return r
}

// TestFleet_CutReplicaCatchesUpPastCompaction (issue 21): a replica cut
// off the store keeps working alone (its own demotion waits, pending);
// meanwhile another replica demotes a key and the store's history is
// compacted past the cut replica's revision. Back on the store, the cut
// replica's watch finds its revision compacted, reads everything, adopts
// the other's demotion, and publishes its own, which the others adopt.
func TestFleet_CutReplicaCatchesUpPastCompaction(t *testing.T) {
	etcd := startEtcd(t, 1)
	rs := startReplicas(t, 3, etcd, fleetConfig(""))
	cut := rs.hosts[2]
	cut.CutGRPC(true)
	rs.p.always(0, wasmhost.Status(401))
	for i := 0; rs.p.count(0, false) == 0; i++ {
		do(t, cut.Workers()[i%2], wasmhost.Chat("m"))
	}
	rs.p.always(0, wasmhost.OK())
	rs.p.always(2, wasmhost.Status(402))
	for i := 0; statusOn(t, rs.hosts[0], 2) != failover.Unhealthy; i++ {
		do(t, rs.hosts[0].Workers()[i%2], wasmhost.Chat("m"))
	}
	rs.until(t, 3*time.Second, "replica 1 adopts token 2", func() bool {
		return statusOn(t, rs.hosts[1], 2) == failover.Unhealthy
	})
	for k := 0; k < 3; k++ {
		_, err := etcd.Put("/unrelated", []byte{byte(k)}) // history the compaction drops
		require.NoError(t, err)
	}
	_, err := etcd.Compact()
	require.NoError(t, err)
	require.Equal(t, failover.Available, statusOn(t, cut, 2), "the cut replica has not heard")

	cut.CutGRPC(false)
	adopted := "token #0(" + fp(threeTokens[0]) + ") unhealthy by the fleet"
	rs.until(t, 20*time.Second, "every replica agrees", func() bool {
		rs.tick(t, 500*time.Millisecond)
		// Token 0 is healthy again for the others: once adopted, the
		// fleet's prober restores it, so its demotion shows in the logs.
		return statusOn(t, cut, 2) == failover.Unhealthy && storeRecord(t, etcd, 0).Gen == 1 &&
			strings.Contains(rs.hosts[0].LogText(), adopted) && strings.Contains(rs.hosts[1].LogText(), adopted)
	})
	require.Contains(t, cut.LogText(), "was compacted; reading every token again")
}

// TestFleet_TwoReplicasDemoteAtOnce (issue 21): two replicas demote the
// same key before either hears of the other: one write wins, the other
// merges into it, and the store holds one demotion (generation 1).
func TestFleet_TwoReplicasDemoteAtOnce(t *testing.T) {
	etcd := startEtcd(t, 1)
	rs := startReplicas(t, 2, etcd, fleetConfig(""))
	rs.p.always(1, wasmhost.Status(401))
	var streams []*wasmhost.Stream
	for _, h := range rs.hosts {
		for i := 0; ; i++ {
			s, err := h.Workers()[0].Start(wasmhost.Chat("m"))
			require.NoError(t, err)
			require.NoError(t, s.Respond(rs.p.cluster(s.Upstream)))
			streams = append(streams, s)
			if rs.p.token(s.Upstream) == 1 {
				break
			}
		}
	}
	rs.until(t, 5*time.Second, "both answers and the merge", func() bool {
		r := storeRecord(t, etcd, 1)
		return r.Gen == 1 && !state(t, rs.hosts[0], 3).Tokens[1].Fleet.Pending && !state(t, rs.hosts[1], 3).Tokens[1].Fleet.Pending
	})
	require.Equal(t, uint32(1), storeRecord(t, etcd, 1).Gen, "one demotion, not two")
	for _, h := range rs.hosts {
		require.Equal(t, uint32(1), state(t, h, 3).Tokens[1].Fleet.Gen)
	}
}

// TestFleet_SkewedReplicaCannotParkAKey (issue 21): a replica whose wall
// clock runs ten minutes ahead cools a key for 5 s; the others rest it for
// at most those 5 s (the record carries the rest it was given), not ten
// minutes.
func TestFleet_SkewedReplicaCannotParkAKey(t *testing.T) {
	etcd := startEtcd(t, 1)
	rs := startReplicas(t, 2, etcd, fleetConfig(""), func(i int, o *wasmhost.Options) {
		if i == 1 {
			o.Start = time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC) // ten minutes ahead
		}
	})
	skewed, other := rs.hosts[1], rs.hosts[0]
	rs.p.always(2, wasmhost.Status(429, wasmhost.Pair{"retry-after", "5"}))
	for i := 0; statusOn(t, skewed, 2) != failover.Cooling; i++ {
		do(t, skewed.Workers()[i%2], wasmhost.Chat("m"))
	}
	rs.until(t, 3*time.Second, "the cooling on the other replica", func() bool { return statusOn(t, other, 2) == failover.Cooling })
	left := state(t, other, 3).Tokens[2].Until - other.ProcessMs()
	require.LessOrEqual(t, left, int64(5000))
	require.Greater(t, left, int64(3000))
}

// TestFleet_ProberDiesAnotherTakesOverAndANewReplicaCatchesUp (issue 21):
// the replica holding the fleet prober's etcd lease dies; its lease runs
// out and another replica is elected and heals the key. A replica started
// afterwards reads every record at once and never serves a key the fleet
// has down.
func TestFleet_ProberDiesAnotherTakesOverAndANewReplicaCatchesUp(t *testing.T) {
	etcd := startEtcd(t, 1)
	rs := startReplicas(t, 3, etcd, fleetConfig(""))
	rs.tick(t, time.Second)
	rs.until(t, 3*time.Second, "an elected prober", func() bool { return strings.Contains(rs.hosts[0].LogText(), "is now the fleet's prober") })
	rs.p.always(1, wasmhost.Status(401))
	for i := 0; rs.p.count(1, false) == 0; i++ {
		do(t, rs.hosts[1].Workers()[i%2], wasmhost.Chat("m"))
	}
	dead := rs.hosts[0]
	dead.CutGRPC(true) // the prober's process is gone: no renewal, no probe
	rs.hosts = rs.hosts[1:]
	rs.p.always(1, wasmhost.OK())
	rs.until(t, 15*time.Second, "another replica elected, the key healed everywhere", func() bool {
		rs.tick(t, 500*time.Millisecond)
		time.Sleep(100 * time.Millisecond) // the dead prober's etcd lease runs out in real time
		return statusOn(t, rs.hosts[0], 1) == failover.Available && statusOn(t, rs.hosts[1], 1) == failover.Available
	})
	elected := 0
	for _, h := range rs.hosts {
		if strings.Contains(h.LogText(), "is now the fleet's prober") {
			elected++
		}
	}
	require.Equal(t, 1, elected)

	rs.p.always(2, wasmhost.Status(402))
	for i := 0; statusOn(t, rs.hosts[0], 2) != failover.Unhealthy; i++ {
		do(t, rs.hosts[0].Workers()[i%2], wasmhost.Chat("m"))
	}
	fresh := start(t, fleetConfig(""), rs.p, func(o *wasmhost.Options) {
		o.Workers, o.Seed = 2, 9000
		o.GRPCClusters = map[string]string{"etcd": etcd.Members[0].Client}
	})
	advance(t, fresh, 1100*time.Millisecond)
	require.NoError(t, fresh.DeliverGRPC(2*time.Second))
	require.Equal(t, failover.Unhealthy, statusOn(t, fresh, 2), "the new replica starts knowing")
	before := rs.p.count(2, false)
	for i := 0; i < 9; i++ {
		do(t, fresh.Workers()[i%2], wasmhost.Chat("m"))
	}
	require.Equal(t, before, rs.p.count(2, false))
}
