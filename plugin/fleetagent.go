package plugin

import (
	"strconv"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/fleet"
)

// fleetTick is a root's fleet work on each tick: the replica's agent (the
// holder of the fleet lease) keeps the watch open, reads everything every
// pollInterval, and resends what is still Pending.
func (r *Root) fleetTick(now int64) {
	f := r.fleet
	held, _, err := failover.AcquireLease(r.store, fleetLeaseKey, r.vm.ID+"/"+strconv.FormatUint(uint64(r.id), 10),
		now, LeaseTTLTicks*r.tickMs)
	if err != nil {
		return
	}
	if held != f.agent {
		f.agent = held
		if !held && f.watch != 0 {
			_ = r.host.GRPCCancel(f.watch) // another VM watches now
			f.watch = 0
		}
	}
	if !held || !f.storeUsable(now) {
		return
	}
	if f.watch == 0 {
		r.openWatch(r.revision() + 1)
	}
	if now-f.polledAt >= f.cfg.PollMs {
		f.polledAt = now
		r.readAll()
	}
	for _, p := range r.pools {
		if p.failover() == nil || !r.owns(p) {
			continue
		}
		for i, t := range p.read(r).Tokens {
			if t.Fleet.Pending && !r.publishing(p, i) {
				r.publish(p, i, 0)
			}
		}
	}
}

// publishing tells whether a publish of token i of p is in flight.
func (r *Root) publishing(p *pool, i int) bool {
	for _, c := range r.fleet.calls {
		if c.kind == callPublish && c.pool == p && c.token == i {
			return true
		}
	}
	return false
}

// openWatch opens the Watch stream on every token record from revision from.
func (r *Root) openWatch(from int64) {
	f := r.fleet
	now := r.host.ProcessMs()
	token, err := r.host.GRPCStream(f.service, fleet.ServiceWatch, fleet.MethodWatch)
	if err != nil {
		r.storeFailed(now, "watch not opened: "+err.Error())
		return
	}
	start, end := f.keys.Tokens()
	if err := r.host.GRPCSend(token, fleet.WatchCreate{Key: start, RangeEnd: end, StartRevision: max(from, 1),
		ProgressNotify: true}.Marshal(), false); err != nil {
		_ = r.host.GRPCCancel(token)
		r.storeFailed(now, "watch not created: "+err.Error())
		return
	}
	f.watch = token
}

// watched handles a message of the Watch stream.
func (r *Root) watched(msg []byte) {
	f := r.fleet
	w, err := fleet.UnmarshalWatch(msg)
	if err != nil {
		r.logf(abi.LogWarn, "fleet store: unreadable watch message: %v", err)
		return
	}
	r.storeAnswered(r.host.ProcessMs())
	if w.Canceled {
		// The revision to resume from was compacted away (or the watch was
		// refused): read everything, and watch again from what that read.
		_ = r.host.GRPCCancel(f.watch)
		f.watch = 0
		if w.CompactRevision > 0 {
			r.logf(abi.LogInfo, "fleet store: revision %d was compacted; reading every token again", w.CompactRevision)
			r.noteRevision(w.CompactRevision - 1)
		}
		r.readAll()
		return
	}
	var puts []fleet.KeyValue
	for _, e := range w.Events {
		if !e.Delete {
			puts = append(puts, e.KV)
		}
	}
	if len(puts) > 0 {
		r.applyRemote(puts)
	}
	if w.Header.Revision > 0 {
		r.noteRevision(w.Header.Revision)
	}
}

// fleetProbes tells whether this replica probes pool p now: always while
// the store is unreachable, else only as the pool's elected fleet prober
// (the election is renewed here, on the pool lease holder's tick).
func (r *Root) fleetProbes(p *pool, now int64) bool {
	f := r.fleet
	if f == nil || !f.storeUp(now) {
		return true
	}
	term := f.prober[p.id]
	if term.until-now < f.cfg.ProberTTLSeconds*1000/2 {
		r.call(storeCall{kind: callGrant, pool: p}, fleet.ServiceLease, fleet.MethodGrant,
			fleet.Grant{TTLSeconds: f.cfg.ProberTTLSeconds}.Marshal())
	}
	return term.held && term.until > now
}

// granted continues an election with the lease just granted: take the
// prober key if it is free or already this replica's.
func (r *Root) granted(c storeCall, msg []byte) {
	g, err := fleet.UnmarshalGrant(msg)
	if err != nil || g.Error != "" || g.ID == 0 {
		return
	}
	key := r.fleet.keys.Prober(c.pool.id)
	me := []byte(r.replicaID())
	txn := fleet.Txn{If: []fleet.Compare{{Key: key, Target: fleet.CompareValue, Value: me}},
		Then: []fleet.Put{{Key: key, Value: me, Lease: g.ID}}, ElseRangeKey: key}
	r.call(storeCall{kind: callElect, pool: c.pool, lease: g.ID}, fleet.ServiceKV, fleet.MethodTxn, txn.Marshal())
}

// elected handles an election's answer: held; or the key is free (its
// holder's lease ran out) and is taken with a create-only txn; or another
// replica holds it.
func (r *Root) elected(c storeCall, msg []byte) {
	f := r.fleet
	res, err := fleet.UnmarshalTxn(msg)
	if err != nil {
		return
	}
	now := r.host.ProcessMs()
	term := f.prober[c.pool.id]
	was := term.held
	switch {
	case res.Succeeded:
		term = proberTerm{held: true, until: now + f.cfg.ProberTTLSeconds*1000 - f.cfg.TimeoutMs}
	case len(res.KVs) == 0 && c.attempt == 0:
		key := f.keys.Prober(c.pool.id)
		txn := fleet.Txn{If: []fleet.Compare{{Key: key, Target: fleet.CompareCreate}},
			Then: []fleet.Put{{Key: key, Value: []byte(r.replicaID()), Lease: c.lease}}, ElseRangeKey: key}
		r.call(storeCall{kind: callElect, pool: c.pool, lease: c.lease, attempt: 1}, fleet.ServiceKV, fleet.MethodTxn, txn.Marshal())
		return
	default:
		term = proberTerm{until: now + f.cfg.ProberTTLSeconds*1000/2}
	}
	f.prober[c.pool.id] = term
	if term.held != was {
		verb := "is now"
		if !term.held {
			verb = "is no longer"
		}
		r.logf(abi.LogInfo, "pool %s: this replica %s the fleet's prober", c.pool.name, verb)
	}
}

// OnGRPCReceive implements abi.PluginContext: a store answer or a watch
// message.
func (r *Root) OnGRPCReceive(token uint32, size int) {
	f := r.fleet
	if f == nil {
		return
	}
	msg, err := r.host.GetBuffer(abi.BufferGRPCReceive, 0, size)
	if err != nil {
		return
	}
	if token == f.watch {
		r.watched(msg)
		return
	}
	c, ok := f.calls[token]
	if !ok {
		return
	}
	delete(f.calls, token)
	r.storeAnswered(r.host.ProcessMs())
	switch c.kind {
	case callPublish:
		r.published(c, msg)
	case callRead:
		if res, err := fleet.UnmarshalRange(msg); err == nil {
			r.applyRemote(res.KVs)
			r.noteRevision(res.Header.Revision)
		}
	case callGrant:
		r.granted(c, msg)
	case callElect:
		r.elected(c, msg)
	}
}

// OnGRPCClose implements abi.PluginContext: a failed call, or the end of
// the watch (reopened on a later tick, from the last revision applied).
func (r *Root) OnGRPCClose(token uint32, status uint32) {
	f := r.fleet
	if f == nil {
		return
	}
	_, msg, _ := r.host.GetStatus()
	why := "gRPC status " + strconv.FormatUint(uint64(status), 10)
	if msg != "" {
		why += ": " + msg
	}
	now := r.host.ProcessMs()
	if token == f.watch {
		// Envoy keeps a remotely closed stream's entry until the plugin
		// cancels it.
		_ = r.host.GRPCCancel(token)
		f.watch = 0
		if status != 0 {
			r.storeFailed(now, "watch closed, "+why)
		}
		return
	}
	if _, ok := f.calls[token]; ok {
		delete(f.calls, token)
		r.storeFailed(now, why)
	}
}
