package plugin

import (
	"strconv"

	"github.com/google/uuid"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/config"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/fleet"
)

// The fleet link: what one root does so that every Envoy replica shares
// token health through etcd (config fleet; package fleet has the records,
// the merge rule and the etcd messages). Nothing on the request path waits
// for the store: a transition is written to the local shared data first
// (marked Pending) and then sent; answers arrive in OnGRPCReceive.
//
//   - Publish: the VM that made a transition sends it at once, as a txn
//     against the revision it last saw; a lost race reads the current
//     record back, merges, and tries again.
//   - Watch: one VM per replica (the holder of the fleet lease in shared
//     data) holds a gRPC Watch on every token record and applies each to
//     the local state; it resumes from the last revision after a close,
//     reads everything when that revision was compacted, and reads
//     everything every pollInterval as a backstop. It also resends what is
//     still Pending.
//   - Probe: a pool's local lease holder also stands for the pool's fleet
//     prober (an etcd key bound to an etcd lease): only the elected replica
//     probes; while the store cannot be reached, every replica probes on
//     its own, as without a fleet.
//
// A failed store call backs off (storeBackoff) and is logged once per
// outage, never per request.

// Fleet timing.
const (
	// maxPublishAttempts bounds the read-merge-write loop of one transition.
	maxPublishAttempts = 8
	// maxStoreBackoffMs caps the wait between calls after failures.
	maxStoreBackoffMs = 30_000
	// storeDownAfterMs is how long without a successful call makes the
	// store count as unreachable (each replica then probes on its own).
	storeDownAfterMs = 5_000
)

// Shared-data keys of the fleet link.
const (
	fleetLeaseKey   = KeyPrefix + "fleet/lease"
	fleetRevKey     = KeyPrefix + "fleet/revision"
	fleetReplicaKey = KeyPrefix + "fleet/replica"
	// fleetOutageKey is "down" during an outage of the store, so that one
	// VM of the replica says so, once.
	fleetOutageKey = KeyPrefix + "fleet/outage"
)

// fleetLink is a root's side of the fleet.
type fleetLink struct {
	cfg *config.FleetConfig
	// service names the etcd cluster to Envoy's gRPC hostcalls.
	service []byte
	keys    fleet.Keys
	replica string
	calls   map[uint32]storeCall
	// watch is the token of this root's Watch stream (0: none); agent is
	// set while this root holds the fleet lease; polledAt is the last
	// full read.
	watch    uint32
	agent    bool
	polledAt int64
	// Store health, this VM's view: lastOK is the last successful answer;
	// failures in a row set retryAt; down is logged once per outage.
	lastOK   int64
	failures int
	retryAt  int64
	down     bool
	// prober is this replica's standing as each pool's fleet prober.
	prober map[string]proberTerm
}

// proberTerm is a fleet prober election held until until (process ms).
type proberTerm struct {
	held  bool
	until int64
	lease int64 // the etcd lease granted for the next term
}

// storeCall is a unary store call in flight.
type storeCall struct {
	kind    callKind
	pool    *pool
	token   int
	attempt int
	lease   int64
	// rec is the record a publish sent.
	rec fleet.Record
}

type callKind int

const (
	callPublish callKind = iota
	callRead
	callGrant
	callElect
)

func newFleetLink(cfg *config.FleetConfig) *fleetLink {
	return &fleetLink{cfg: cfg, service: fleet.GRPCService(cfg.Cluster), keys: fleet.Keys{Prefix: cfg.Prefix}, calls: map[uint32]storeCall{},
		prober: map[string]proberTerm{}}
}

// fleetClock reads both clocks.
func (r *Root) fleetClock() fleet.Clock {
	return fleet.Clock{ProcessMs: r.host.ProcessMs(), WallMs: r.host.WallMs()}
}

// replicaID is the process's name in the fleet, shared by its VMs.
func (r *Root) replicaID() string {
	f := r.fleet
	if f.replica != "" {
		return f.replica
	}
	if v, _, err := r.host.GetSharedData(fleetReplicaKey); err == nil && len(v) > 0 {
		f.replica = string(v)
		return f.replica
	}
	id := uuid.NewString()
	_ = r.host.SetSharedData(fleetReplicaKey, []byte(id), 0)
	if v, _, err := r.host.GetSharedData(fleetReplicaKey); err == nil && len(v) > 0 {
		id = string(v) // another VM's, written first
	}
	f.replica = id
	return id
}

// storeUsable tells whether a call may be sent now (not backing off).
func (f *fleetLink) storeUsable(now int64) bool { return now >= f.retryAt }

// storeUp tells whether the store answered lately: then only the elected
// fleet prober probes.
func (f *fleetLink) storeUp(now int64) bool {
	return !f.down && f.lastOK > 0 && now-f.lastOK < storeDownAfterMs
}

// storeAnswered notes a successful store answer.
func (r *Root) storeAnswered(now int64) {
	f := r.fleet
	if f.down && r.flipOutage("up") {
		r.logf(abi.LogInfo, "fleet store (cluster %s) reachable again", f.cfg.Cluster)
	}
	f.lastOK, f.failures, f.retryAt, f.down = now, 0, 0, false
}

// storeFailed notes a failed store call: back off, and say so once per
// outage in the whole replica.
func (r *Root) storeFailed(now int64, why string) {
	f := r.fleet
	f.failures++
	backoff := int64(250) << min(f.failures, 8)
	f.retryAt = now + min(backoff, maxStoreBackoffMs)
	if !f.down && (f.lastOK == 0 || now-f.lastOK >= storeDownAfterMs || f.failures >= 3) {
		f.down = true
		if r.flipOutage("down") {
			r.logf(abi.LogWarn, "fleet store (cluster %s) unreachable (%s): this replica works alone, probing its own "+
				"tokens, until it answers again", f.cfg.Cluster, why)
		}
	}
}

// flipOutage sets the replica's outage flag to to; true for the VM that
// changed it (the one that speaks for the replica).
func (r *Root) flipOutage(to string) bool {
	flipped := false
	_ = failover.Update(r.store, fleetOutageKey, func(old []byte, _ bool) ([]byte, bool) {
		flipped = string(old) != to && (to == "down" || string(old) == "down")
		return []byte(to), flipped
	})
	return flipped
}

// call sends one unary store call; false when it could not be sent.
func (r *Root) call(c storeCall, service, method string, msg []byte) bool {
	f := r.fleet
	now := r.host.ProcessMs()
	if !f.storeUsable(now) {
		return false
	}
	token, err := r.host.GRPCCall(f.service, service, method, msg, uint32(f.cfg.TimeoutMs))
	if err != nil {
		r.storeFailed(now, "call not sent: "+err.Error())
		return false
	}
	f.calls[token] = c
	return true
}

// publish sends token i's pending transition of pool p to the store.
func (r *Root) publish(p *pool, i int, attempt int) {
	if r.fleet == nil || attempt >= maxPublishAttempts {
		return
	}
	t := p.read(r).Tokens[i]
	if !t.Fleet.Pending {
		return
	}
	key := r.fleet.keys.Token(p.tokens[i].ID)
	cond := fleet.Compare{Key: key, Target: fleet.CompareMod, Revision: t.Fleet.Rev}
	if t.Fleet.Rev == 0 {
		cond = fleet.Compare{Key: key, Target: fleet.CompareCreate}
	}
	rec := fleet.RecordOf(t, r.fleetClock(), r.replicaID())
	txn := fleet.Txn{If: []fleet.Compare{cond}, Then: []fleet.Put{{Key: key, Value: rec.Encode()}}, ElseRangeKey: key}
	r.call(storeCall{kind: callPublish, pool: p, token: i, attempt: attempt, rec: rec}, fleet.ServiceKV, fleet.MethodTxn, txn.Marshal())
}

// published handles a publish's answer: done (not Pending any more), or a
// lost race: merge the record that won and try again.
func (r *Root) published(c storeCall, msg []byte) {
	res, err := fleet.UnmarshalTxn(msg)
	if err != nil {
		r.logf(abi.LogWarn, "fleet store: unreadable answer to a write: %v", err)
		return
	}
	p, i := c.pool, c.token
	clock := r.fleetClock()
	retry := false
	_, _, err = failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(st *failover.Pool) bool {
		t := &st.Tokens[i]
		if res.Succeeded {
			// Done, unless the token moved on meanwhile (then the newer
			// transition is still to be written, against this revision).
			now := fleet.RecordOf(*t, clock, "")
			if now.Gen == c.rec.Gen && now.Restored == c.rec.Restored && now.UntilMs <= c.rec.UntilMs+1000 {
				t.Fleet.Pending = false
			}
			t.Fleet.Rev = res.Header.Revision
			retry = t.Fleet.Pending
			return true
		}
		var rev int64
		var remote fleet.Record
		if len(res.KVs) > 0 {
			rev = res.KVs[0].ModRevision
			remote, _ = fleet.DecodeRecord(res.KVs[0].Value)
		}
		changed := fleet.Apply(st, i, remote, rev, clock, p.interval())
		if t.Fleet.Rev != rev {
			t.Fleet.Rev, changed = rev, true
		}
		retry = t.Fleet.Pending
		return changed
	})
	if err != nil {
		r.logf(abi.LogWarn, "pool %s: fleet answer for token %s dropped: %v", p.name, p.tokens[i], err)
		return
	}
	if retry {
		r.publish(p, i, c.attempt+1)
	}
}

// interval is the pool's health-check interval (a demoted token's first
// probe); 0 when failover is off.
func (p *pool) interval() int64 {
	if f := p.failover(); f != nil {
		return f.Settings.HealthCheckInterval
	}
	return 0
}

// applyRemote applies token records read or watched from the store to
// every pool of this root that has the token.
func (r *Root) applyRemote(kvs []fleet.KeyValue) {
	clock := r.fleetClock()
	for _, p := range r.pools {
		if p.failover() == nil {
			continue
		}
		var hits []int
		var recs []fleet.Record
		var revs []int64
		for _, kv := range kvs {
			id := r.fleet.keys.FingerprintOf(kv.Key)
			for i, t := range p.tokens {
				if t.ID != id || id == "" {
					continue
				}
				rec, err := fleet.DecodeRecord(kv.Value)
				if err != nil {
					continue
				}
				hits, recs, revs = append(hits, i), append(recs, rec), append(revs, kv.ModRevision)
			}
		}
		if len(hits) == 0 {
			continue
		}
		var before failover.Pool
		state, _, err := failover.UpdatePool(r.store, p.stateKey, len(p.tokens), func(st *failover.Pool) bool {
			before = failover.Pool{Tokens: append([]failover.Token(nil), st.Tokens...)}
			changed := false
			for k, i := range hits {
				changed = fleet.Apply(st, i, recs[k], revs[k], clock, p.interval()) || changed
			}
			return changed
		})
		if err != nil {
			r.logf(abi.LogWarn, "pool %s: fleet records dropped: %v", p.name, err)
			continue
		}
		r.reportAdopted(p, before, state, recs, hits)
	}
}

// reportAdopted logs and counts the transitions another replica made.
func (r *Root) reportAdopted(p *pool, before, after failover.Pool, recs []fleet.Record, hits []int) {
	if len(before.Tokens) != len(after.Tokens) {
		return
	}
	for k, i := range hits {
		was, is := before.Tokens[i].Status, after.Tokens[i].Status
		if was == is {
			continue
		}
		by := recs[k].By
		if len(by) > 8 {
			by = by[:8]
		}
		r.logf(abi.LogInfo, "pool %s: token %s %s by the fleet (replica %s, generation %d)", p.name, p.tokens[i], is, by, recs[k].Gen)
		p.metrics.inc(p.metrics.fleetAdopted)
	}
	if r.owns(p) {
		p.metrics.publish(after, r.host.ProcessMs())
	}
}

// readAll reads every token record (serializable: a minority member still
// answers) and applies them.
func (r *Root) readAll() {
	start, end := r.fleet.keys.Tokens()
	r.call(storeCall{kind: callRead}, fleet.ServiceKV, fleet.MethodRange, fleet.Range{Key: start, RangeEnd: end, Serializable: true}.Marshal())
}

// revision is the last store revision this replica applied.
func (r *Root) revision() int64 {
	v, _, err := r.host.GetSharedData(fleetRevKey)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(string(v), 10, 64)
	return n
}

// noteRevision records the last applied revision for whichever VM watches
// next (never going back).
func (r *Root) noteRevision(rev int64) {
	_ = failover.Update(r.store, fleetRevKey, func(old []byte, _ bool) ([]byte, bool) {
		n, _ := strconv.ParseInt(string(old), 10, 64)
		if rev <= n {
			return nil, false
		}
		return []byte(strconv.FormatInt(rev, 10)), true
	})
}
