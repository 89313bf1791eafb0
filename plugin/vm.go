package plugin

import (
	crand "crypto/rand"
	"math/rand/v2"

	"github.com/google/uuid"

	"github.com/token-failover/token-failover/abi"
)

// VM is the plugin's abi.VMContext: one per wasm VM. Its ID is a uuid made
// at VM start (Envoy's plugin_vm_id is the configured vm_id, the same on
// every VM).
//
// A VM holds one root context per plugin configuration that shares it:
// every listener or filter chain whose filter has this vm_config, and,
// during a reload, the old root beside the new one until the old one's
// streams end. Each pool is worked on (leased, probed, its cooldowns
// expired, its gauges published) by one root per VM: the newest live root
// that has it (see owner). So a reload's older root yields the pools the
// newer one also has, and roots with different pools each work on theirs.
type VM struct {
	host abi.Host
	// edit is reused for every body rewrite on this VM (one callback at a
	// time), so mapping a model allocates nothing per request.
	edit []byte
	// note is reused for every router attempt's note (upstream.go).
	note []byte
	ID   string
	rnd  *rand.Rand
	// roots are the live roots that accepted their configuration, oldest
	// first; owners maps a pool id to the root that works on it.
	roots  []*Root
	owners map[string]*Root
	// debug is whether the host logs debug lines for this plugin, read at
	// configure time and on every tick, so the hot path formats none when
	// they would be dropped.
	debug bool
	// secret is a per-process secret that every VM shares through shared
	// data (secretCas is its cas): it keys the sticky-selection hash (so a
	// client cannot choose its token by choosing its session id) and signs
	// the mark on the plugin's own probes, which an upstream-mode filter
	// lets through with their token.
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

// addRoot records a root that accepted its configuration: it becomes the
// owner of every pool it has.
func (v *VM) addRoot(r *Root) {
	v.removeRoot(r)
	v.roots = append(v.roots, r)
	v.assignOwners()
}

// removeRoot forgets a root that is going away: each pool it owned passes
// to the newest remaining root that has it.
func (v *VM) removeRoot(r *Root) {
	for i, x := range v.roots {
		if x == r {
			v.roots = append(v.roots[:i], v.roots[i+1:]...)
			break
		}
	}
	v.assignOwners()
}

// assignOwners gives each pool id to the newest root that has it.
func (v *VM) assignOwners() {
	v.owners = map[string]*Root{}
	for _, r := range v.roots {
		for _, p := range r.pools {
			v.owners[p.id] = r // later (newer) roots overwrite older ones
		}
	}
}

// owns tells whether r is the root of its VM that works on pool p.
func (r *Root) owns(p *pool) bool { return r.vm.owners[p.id] == r }

// refreshLogLevel reads the host's log level (one hostcall).
func (v *VM) refreshLogLevel() {
	l, err := v.host.LogLevel()
	v.debug = err != nil || l <= abi.LogDebug
}
