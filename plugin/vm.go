package plugin

import (
	crand "crypto/rand"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/token-failover/token-failover/abi"
)

// VM is the plugin's abi.VMContext: one per wasm instance. Its ID is a
// uuid made at VM start (Envoy's plugin_vm_id is the configured vm_id, the
// same on every VM), used to hold the probe lease.
type VM struct {
	host abi.Host
	ID   string
	rnd  *rand.Rand
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
