package fleet

import (
	"strings"

	"github.com/token-failover/token-failover/failover"
)

// Clock is the two clocks a transition between a replica's state and the
// fleet's needs: the process clock of the replica's own state
// (failover.Token times) and the wall clock the fleet's records use.
type Clock struct{ ProcessMs, WallMs int64 }

// RecordOf is the fleet record of token t's latest local transition
// (t.Fleet says which), written by replica by.
func RecordOf(t failover.Token, c Clock, by string) Record {
	r := Record{Gen: t.Fleet.Gen, Restored: !t.Fleet.Down, By: by}
	if r.Restored {
		return r
	}
	r.Reason = t.Reason.String()
	if t.Target != (failover.Target{}) {
		target := t.Target
		if i := strings.IndexAny(target.Path, "?#"); i >= 0 {
			target.Path = target.Path[:i] // a query may carry a key
		}
		r.Target = &target
	}
	if t.Status == failover.Cooling && t.Until > c.ProcessMs {
		r.Cooling = true
		r.RestMs = t.Until - c.ProcessMs
		r.UntilMs = c.WallMs + r.RestMs
	}
	return r
}

// knows is the fleet record t's mark stands for (generation and kind).
func knows(t failover.Token) Record {
	return Record{Gen: t.Fleet.Gen, Restored: !t.Fleet.Down}
}

// Apply adopts record r (at store revision rev) for token i of p: a record
// later than what the token knows moves its state (a demotion makes it
// unhealthy until a probe, a cooling rests it for what remains, a
// restoration makes it available); a local transition not yet published
// and at least as late stays, to be written; the same transition rests a
// cooling token for the longer of the two. interval is when a demoted
// token's first probe is due. It reports whether p changed.
func Apply(p *failover.Pool, i int, r Record, rev int64, c Clock, interval int64) bool {
	t := &p.Tokens[i]
	before := *t
	mine := knows(*t)
	switch {
	case r.Supersedes(mine):
		adopt(t, r, c, interval)
		t.Fleet = failover.FleetMark{Gen: r.Gen, Down: !r.Restored, Rev: rev}
	case mine.Supersedes(r):
		// Ours is later (Pending: it will be written against rev).
		t.Fleet.Rev = max(t.Fleet.Rev, rev)
	default:
		if left := r.Remaining(c.WallMs); left > 0 && t.Status == failover.Cooling && c.ProcessMs+left > t.Until {
			t.Until = c.ProcessMs + left
		}
		t.Fleet.Rev = max(t.Fleet.Rev, rev)
		if t.Fleet.Pending && RecordOf(*t, c, "").UntilMs <= r.UntilMs {
			t.Fleet.Pending = false // the store already has as much
		}
	}
	return *t != before
}

// adopt moves a token to the state record r says, keeping its counters.
func adopt(t *failover.Token, r Record, c Clock, interval int64) {
	if t.Manual() {
		return // an operator's demotion here holds whatever the fleet says
	}
	switch {
	case r.Restored:
		if t.Status != failover.Available {
			*t = failover.Token{Status: failover.Available, Demotions: t.Demotions, Restorations: t.Restorations + 1}
		}
	case r.Cooling:
		left := r.Remaining(c.WallMs)
		if left <= 0 {
			return // over already: nothing to rest
		}
		if t.Status == failover.Available {
			*t = failover.Token{Status: failover.Cooling, DemotedAt: c.ProcessMs, Reason: reasonOf(r.Reason),
				Failures: t.Failures, Demotions: t.Demotions + 1, Restorations: t.Restorations, Target: targetOf(r, t)}
		}
		t.Until = max(t.Until, c.ProcessMs+left)
	default:
		if t.Status != failover.Unhealthy {
			*t = failover.Token{Status: failover.Unhealthy, DemotedAt: c.ProcessMs, Reason: reasonOf(r.Reason),
				NextProbe: c.ProcessMs + interval, Demotions: t.Demotions + 1, Restorations: t.Restorations, Target: targetOf(r, t)}
		}
	}
}

// targetOf is where a probe of an adopted demotion goes: the record's
// target, else what the token had.
func targetOf(r Record, t *failover.Token) failover.Target {
	if r.Target != nil {
		return *r.Target
	}
	return t.Target
}

func reasonOf(s string) failover.Reason {
	for _, r := range failover.Reasons {
		if r.String() == s {
			return r
		}
	}
	return failover.ReasonUpstream
}
