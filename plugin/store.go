package plugin

import (
	"errors"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
)

// sharedData adapts Envoy's shared data to failover.Store.
type sharedData struct{ host abi.Host }

// Get reads key; an empty value (a key the plugin cleared: shared data
// cannot be deleted) reads as missing, with its cas, so a write over it
// still loses to a concurrent one.
func (s sharedData) Get(key string) ([]byte, uint32, error) {
	v, cas, err := s.host.GetSharedData(key)
	if errors.Is(err, abi.ErrNotFound) {
		return nil, 0, failover.ErrNotFound
	}
	if err == nil && len(v) == 0 {
		return nil, cas, failover.ErrNotFound
	}
	return v, cas, err
}

func (s sharedData) Set(key string, value []byte, cas uint32) error {
	err := s.host.SetSharedData(key, value, cas)
	if errors.Is(err, abi.ErrCasMismatch) {
		return failover.ErrCasMismatch
	}
	return err
}

// KeyPrefix starts every shared-data key of the plugin.
const KeyPrefix = "token-failover/"

func stateKey(poolID string) string { return KeyPrefix + poolID + "/state" }
func leaseKey(poolID string) string { return KeyPrefix + poolID + "/lease" }
