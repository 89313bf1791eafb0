package failover

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// memStore follows Envoy's shared-data rules: a global cas that skips 0,
// cas 0 or a missing key always wins, a stale cas is a mismatch.
type memStore struct {
	mu   sync.Mutex
	cas  uint32
	vals map[string][]byte
	cass map[string]uint32
}

func newMemStore() *memStore {
	return &memStore{vals: map[string][]byte{}, cass: map[string]uint32{}}
}

func (m *memStore) Get(k string) ([]byte, uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[k]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return append([]byte(nil), v...), m.cass[k], nil
}

func (m *memStore) Set(k string, v []byte, cas uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.cass[k]; ok && cas != 0 && cas != cur {
		return ErrCasMismatch
	}
	m.cas++
	if m.cas == 0 {
		m.cas++
	}
	m.vals[k], m.cass[k] = append([]byte(nil), v...), m.cas
	return nil
}

func TestUpdatePool_HammerKeepsEveryFailure(t *testing.T) {
	s := newMemStore()
	_, _, err := EnsurePool(s, "k", 1)
	require.NoError(t, err)
	big := Settings{FailureThreshold: 1 << 30, SuccessThreshold: 1, HealthCheckInterval: 1}
	var wg sync.WaitGroup
	var mu sync.Mutex
	dropped := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				_, _, err := UpdatePool(s, "k", 1, func(p *Pool) bool {
					return p.Record(0, Outcome{Class: ClassUpstream}, Target{}, big, 0).Changed
				})
				if err != nil {
					mu.Lock()
					dropped++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	b, _, _ := s.Get("k")
	p, err := Decode(b, 1)
	require.NoError(t, err)
	require.Equal(t, uint32(2000-dropped), p.Tokens[0].Failures)
	require.Less(t, dropped, 20, "bounded retries should almost never give up")
}

func TestEnsurePool_KeepsStateAndRewritesCorrupt(t *testing.T) {
	s := newMemStore()
	p, corrupt, err := EnsurePool(s, "k", 2)
	require.NoError(t, err)
	require.NoError(t, corrupt)
	require.Equal(t, NewPool(2), p)
	_, _, err = UpdatePool(s, "k", 2, func(p *Pool) bool {
		return p.Record(1, Outcome{Class: ClassAuth}, Target{}, testSettings, 5).Changed
	})
	require.NoError(t, err)
	p, _, _ = EnsurePool(s, "k", 2)
	require.Equal(t, Unhealthy, p.Tokens[1].Status, "a reload keeps the demotion")

	require.NoError(t, s.Set("k", []byte("{broken"), 0))
	p, corrupt, err = EnsurePool(s, "k", 2)
	require.NoError(t, err)
	require.ErrorIs(t, corrupt, ErrCorrupt)
	require.Equal(t, NewPool(2), p)
	b, _, _ := s.Get("k")
	_, err = Decode(b, 2)
	require.NoError(t, err, "corrupt value was rewritten")
}

func TestAcquireLease_OneHolderUntilExpiry(t *testing.T) {
	s := newMemStore()
	held, changed, err := AcquireLease(s, "l", "a", 0, 3000)
	require.NoError(t, err)
	require.True(t, held)
	require.True(t, changed)
	held, _, _ = AcquireLease(s, "l", "b", 2999, 3000)
	require.False(t, held)
	held, changed, _ = AcquireLease(s, "l", "a", 2000, 3000)
	require.True(t, held)
	require.False(t, changed, "renewal")
	held, changed, _ = AcquireLease(s, "l", "b", 5000, 3000)
	require.True(t, held)
	require.True(t, changed)
}

func TestCache_DecodesOnlyOnNewCas(t *testing.T) {
	s := newMemStore()
	_, _, _ = EnsurePool(s, "k", 1)
	var c Cache
	p1, err := c.Read(s, "k", 1)
	require.NoError(t, err)
	p1.Tokens[0].Failures = 99 // callers must Clone before mutating; show the cache is shared
	p2, _ := c.Read(s, "k", 1)
	require.Equal(t, uint32(99), p2.Tokens[0].Failures, "same cas served from cache without decoding")
	require.NoError(t, s.Set("k", NewPool(1).Encode(), 0))
	p3, _ := c.Read(s, "k", 1)
	require.Equal(t, uint32(0), p3.Tokens[0].Failures)
}
