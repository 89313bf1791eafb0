package plugin

import (
	crand "crypto/rand"
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
	host abi.Host
	// edit is reused for every body rewrite on this VM (one callback at a
	// time), so mapping a model allocates nothing per request.
	edit    []byte
	ID      string
	rnd     *rand.Rand
	current *Root
	// debug is whether the host logs debug lines for this plugin, read at
	// configure time and on every tick, so the hot path formats none when
	// they would be dropped.
	debug bool
	// secret is a per-process secret that every VM shares through shared
	// data (secretCas is its cas): it keys the sticky-selection hash (so a
	// client cannot choose its token by choosing its session id) and signs
	// the headers an upstream-mode filter leaves for the next attempt.
	secret    [32]byte
	secretCas uint32
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
