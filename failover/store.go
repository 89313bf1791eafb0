package failover

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Store is the two shared-data operations the CAS loop needs. Get returns
// ErrNotFound for a missing key; Set returns ErrCasMismatch for a stale cas.
// The plugin adapts Envoy's shared data to it.
type Store interface {
	Get(key string) (value []byte, cas uint32, err error)
	Set(key string, value []byte, cas uint32) error
}

// Store errors an adapter must map its host's statuses to.
var (
	ErrNotFound    = errors.New("failover: key not found")
	ErrCasMismatch = errors.New("failover: cas mismatch")
)

// MaxCASRetries bounds the read-modify-write loop: past this many lost races
// in a row the transition is dropped and reported, never spun on forever.
const MaxCASRetries = 32

// ErrContended is returned when MaxCASRetries writes in a row lost the race.
var ErrContended = errors.New("failover: too many cas mismatches")

// Update runs one transition on key: get (value, cas), apply fn, set with
// that cas; on CasMismatch it re-reads and retries, up to MaxCASRetries.
// fn gets the current value (nil, false when the key is missing) and returns
// the new value and whether to write it.
func Update(s Store, key string, fn func(old []byte, found bool) ([]byte, bool)) error {
	for attempt := 0; attempt < MaxCASRetries; attempt++ {
		old, cas, err := s.Get(key)
		found := true
		if errors.Is(err, ErrNotFound) {
			found, old, cas = false, nil, 0
		} else if err != nil {
			return err
		}
		next, write := fn(old, found)
		if !write {
			return nil
		}
		err = s.Set(key, next, cas)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrCasMismatch) {
			return err
		}
	}
	return ErrContended
}

// UpdatePool runs fn on the decoded pool stored at key (n tokens). A missing
// or corrupt value is taken as NewPool(n) and rewritten; corrupt reports the
// decode error so the caller can log it. fn returns whether it changed the
// pool; after a successful write, result is the pool as written.
func UpdatePool(s Store, key string, n int, fn func(*Pool) bool) (result Pool, corrupt error, err error) {
	err = Update(s, key, func(old []byte, found bool) ([]byte, bool) {
		corrupt = nil
		p, derr := Pool{}, error(nil)
		if found {
			p, derr = Decode(old, n)
		}
		if !found || derr != nil {
			corrupt = derr
			p = NewPool(n)
		}
		changed := fn(&p)
		result = p
		return p.Encode(), changed || !found || derr != nil
	})
	return result, corrupt, err
}

// EnsurePool creates the state key at plugin start when it is missing (or
// corrupt), and keeps an existing valid state: a reload never wipes it.
func EnsurePool(s Store, key string, n int) (Pool, error, error) {
	return UpdatePool(s, key, n, func(*Pool) bool { return false })
}

// Lease is the probe lease: only Holder probes, until Expires (unix ms).
type Lease struct {
	Holder  string `json:"h"`
	Expires int64  `json:"e"`
}

// AcquireLease takes the lease at key for vm if it is absent, expired or
// already vm's, extending it to now+ttl. It reports whether vm holds the
// lease afterwards and whether the holder changed.
func AcquireLease(s Store, key, vm string, now, ttl int64) (held, changedHands bool, err error) {
	err = Update(s, key, func(old []byte, found bool) ([]byte, bool) {
		var l Lease
		if found && json.Unmarshal(old, &l) != nil {
			l = Lease{} // corrupt: treat as absent and overwrite
		}
		if l.Holder != vm && l.Expires > now {
			held, changedHands = false, false
			return nil, false
		}
		held, changedHands = true, l.Holder != vm
		b, _ := json.Marshal(Lease{Holder: vm, Expires: now + ttl})
		return b, true
	})
	if err != nil {
		return false, false, fmt.Errorf("lease %s: %w", key, err)
	}
	return held, changedHands, nil
}

// Cache remembers the last decoded pool by cas so that an unchanged state
// costs one shared-data read and no parse.
type Cache struct {
	cas  uint32
	pool Pool
}

// Read returns the current pool at key (n tokens) through the cache. A
// missing or corrupt value reads as NewPool(n) with the decode error.
func (c *Cache) Read(s Store, key string, n int) (Pool, error) {
	b, cas, err := s.Get(key)
	if err != nil {
		c.cas = 0
		return NewPool(n), err
	}
	if cas != 0 && cas == c.cas {
		return c.pool, nil
	}
	p, err := Decode(b, n)
	if err != nil {
		c.cas = 0
		return NewPool(n), err
	}
	c.cas, c.pool = cas, p
	return p, nil
}
