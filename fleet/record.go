package fleet

import (
	"encoding/json"
	"strings"

	"github.com/token-failover/token-failover/failover"
)

// maxTargetBytes bounds a record's probe target, so a store value cannot
// grow a replica's state without bound.
const maxTargetBytes = 4096

// Record is one token's health as the fleet shares it: only transitions
// travel (a demotion or cooling, with its reason and until; a
// restoration), never counters, and nothing secret (the key names the
// token by fingerprint).
//
// Gen counts the token's demotions fleet-wide. A demotion of an available
// token writes Gen+1; a restoration writes the same Gen with Restored set,
// and restores only that demotion. The merge rule (Supersedes, Merge) is
// what makes the writes of many replicas converge whatever their order:
// a later generation wins; within one, a restoration wins over its
// demotion; and two writes of the same demotion keep the later until. So a
// late or repeated write never shortens a cooldown or resurrects a key that
// was demoted again.
type Record struct {
	Gen      uint32 `json:"g"`
	Restored bool   `json:"r,omitempty"`
	// Cooling: a rest with an end (a 429 or Retry-After); else unhealthy
	// until a probe restores it.
	Cooling bool   `json:"c,omitempty"`
	Reason  string `json:"why,omitempty"`
	// UntilMs is when a cooling token serves again (unix ms on the
	// writer's clock); RestMs is the rest it was given, which bounds how
	// long a replica whose clock differs believes it (see Remaining).
	UntilMs int64 `json:"u,omitempty"`
	RestMs  int64 `json:"rest,omitempty"`
	// By names the replica that wrote the transition (for logs).
	By string `json:"by,omitempty"`
	// Target is where the demoting request went (cluster, authority, path
	// without its query, model as sent): whichever replica is elected to
	// probe asks the same, even one that never served the key.
	Target *failover.Target `json:"t,omitempty"`
}

// Supersedes tells whether r is a later transition than o.
func (r Record) Supersedes(o Record) bool {
	if r.Gen != o.Gen {
		return r.Gen > o.Gen
	}
	return r.Restored && !o.Restored
}

// Merge is the record that stands after both r and o were written.
func Merge(r, o Record) Record {
	switch {
	case r.Supersedes(o):
		return r
	case o.Supersedes(r):
		return o
	}
	// The same transition twice: the longer rest stands.
	if o.UntilMs > r.UntilMs {
		r.UntilMs, r.RestMs = o.UntilMs, max(r.RestMs, o.RestMs)
	}
	return r
}

// Remaining is how long a cooling record still rests at wall time nowMs:
// never more than the rest it was given (a writer whose clock runs ahead
// cannot park a token for longer), zero once over.
func (r Record) Remaining(nowMs int64) int64 {
	if !r.Cooling || r.Restored {
		return 0
	}
	left := r.UntilMs - nowMs
	if r.RestMs > 0 && left > r.RestMs {
		left = r.RestMs
	}
	return max(left, 0)
}

// Encode is the record's etcd value.
func (r Record) Encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// DecodeRecord reads an etcd value (ErrMalformed when it is not a record).
func DecodeRecord(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil || len(r.Reason) > 32 || len(r.By) > 64 {
		return Record{}, ErrMalformed
	}
	if t := r.Target; t != nil && len(t.Cluster)+len(t.Authority)+len(t.Path)+len(t.Model) > maxTargetBytes {
		return Record{}, ErrMalformed
	}
	return r, nil
}

// Keys lays out the fleet's etcd keys under a prefix.
type Keys struct{ Prefix string }

// Token is the key of a token's record: by its fingerprint, so the record
// follows the key itself across pools, configurations and replicas.
func (k Keys) Token(fingerprint string) []byte {
	return []byte(k.Prefix + "/token/" + fingerprint)
}

// Tokens is the range of every token record: [Tokens(), end).
func (k Keys) Tokens() (start, end []byte) {
	start = []byte(k.Prefix + "/token/")
	return start, prefixEnd(start)
}

// FingerprintOf returns the fingerprint a token key names ("" when key is
// not one).
func (k Keys) FingerprintOf(key []byte) string {
	fp, ok := strings.CutPrefix(string(key), k.Prefix+"/token/")
	if !ok {
		return ""
	}
	return fp
}

// Prober is the key of a pool's fleet prober election.
func (k Keys) Prober(pool string) []byte { return []byte(k.Prefix + "/prober/" + pool) }

// prefixEnd is etcd's range end for every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return []byte{0}
}
