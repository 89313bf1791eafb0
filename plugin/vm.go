package plugin

import (
	crand "crypto/rand"
	"crypto/sha256"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/token-failover/token-failover/abi"
)

// VM is the plugin's abi.VMContext: one per wasm VM. Its ID is a uuid made
// at VM start (Envoy's plugin_vm_id is the configured vm_id, the same on
// every VM). During a configuration reload Envoy keeps the old root context
// alive beside the new one in the same VM until the old one's streams end;
// current is the newest root that accepted its configuration, the only one
// that probes and publishes gauges.
type VM struct {
	host    abi.Host
	ID      string
	rnd     *rand.Rand
	current *Root
	// debug is whether the host logs debug lines for this plugin, read at
	// configure time and on every tick, so the hot path formats none when
	// they would be dropped.
	debug bool
	// stickyKey keys the sticky-selection hash: a per-process secret shared
	// by every VM through shared data (stickyKeyCas is its cas), so a
	// client cannot choose its token by choosing its session id.
	stickyKey    [32]byte
	stickyKeyCas uint32
}

// NewVM binds the plugin to a host.
func NewVM(host abi.Host) *VM {
	return &VM{host: host}
}

// OnVMStart implements abi.VMContext.
func (v *VM) OnVMStart(int) bool {
	v.ensureID()
	return true
}

func (v *VM) ensureID() {
	if v.ID != "" {
		return
	}
	v.ID = uuid.NewString()
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // WASI random_get; never fails on Envoy
	v.rnd = rand.New(rand.NewChaCha8(seed))
}

// NewPluginContext implements abi.VMContext.
func (v *VM) NewPluginContext(id uint32) abi.PluginContext {
	v.ensureID()
	return newRoot(v, id)
}

// refreshLogLevel reads the host's log level (one hostcall).
func (v *VM) refreshLogLevel() {
	l, err := v.host.LogLevel()
	v.debug = err != nil || l <= abi.LogDebug
}

// stickyKeyName is the shared-data key of the sticky-selection secret.
const stickyKeyName = KeyPrefix + "sticky-key"

// refreshStickyKey adopts the process's sticky secret, creating it when
// missing. Two VMs may create it at once (a set on a missing key always
// wins); each re-reads it on every tick, so all converge on the last one
// written within a tick.
func (v *VM) refreshStickyKey() {
	b, cas, err := v.host.GetSharedData(stickyKeyName)
	if err != nil || len(b) != len(v.stickyKey) {
		var k [32]byte
		_, _ = crand.Read(k[:])
		if v.host.SetSharedData(stickyKeyName, k[:], 0) != nil {
			return
		}
		if b, cas, err = v.host.GetSharedData(stickyKeyName); err != nil || len(b) != len(v.stickyKey) {
			return
		}
	}
	if cas != v.stickyKeyCas {
		copy(v.stickyKey[:], b)
		v.stickyKeyCas = cas
	}
}

// stickySeed hashes a session id with the process's sticky secret.
func (v *VM) stickySeed(session string) uint64 {
	h := sha256.New()
	h.Write(v.stickyKey[:])
	h.Write([]byte(session))
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return uint64(sum[0]) | uint64(sum[1])<<8 | uint64(sum[2])<<16 | uint64(sum[3])<<24 |
		uint64(sum[4])<<32 | uint64(sum[5])<<40 | uint64(sum[6])<<48 | uint64(sum[7])<<56
}
