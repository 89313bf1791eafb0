package wasmhost

import (
	"fmt"
	"math/rand"
	"sort"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// phase is what the VM is doing, for Envoy's restricted callbacks.
type phase int

const (
	phaseNormal phase = iota
	phaseInitialize
	phaseAllocate
)

// VM is one instance of the module (a worker, the main thread or a canary).
type VM struct {
	h      *Host
	name   string
	mod    api.Module
	rnd    *rand.Rand
	phase  phase
	failed error
	// rootID is the default listener's current root context: its new
	// streams belong to it. listenerRoots holds every listener's (Envoy
	// gives each plugin configuration its own root context in the VM).
	// After a reload the replaced roots stay in roots until their last
	// stream ends.
	rootID        uint32
	listenerRoots map[string]uint32
	roots         map[uint32]*rootState
	nextCtx       uint32
	current       uint32 // context the running callback belongs to
	effective     uint32 // set by proxy_set_effective_context
	callback      string // the export the host is calling, while it runs
	streams       map[uint32]*Stream
	frozen        bool
	metricIDs     map[uint32]string
	// exports caches api.Functions: wazero builds a new call engine (and
	// stack) for every ExportedFunction lookup.
	exports map[string]api.Function
	// metricByName is metricIDs reversed.
	metricByName map[string]uint32
	logs         []Log
	callResp     *callResponse
	grpcResp     *grpcEvent
	configOK     bool
	// attempt is the router attempt being opened (upstream-filter mode);
	// requestState is the request's filter state ("wasm.*" properties)
	// that its attempts share: an upstream filter's stream info is the
	// downstream request's (UpstreamFilterManager::streamInfo in Envoy's
	// upstream_request.cc), so what one attempt sets the next one reads.
	attempt      int
	requestState map[string]string
}

// rootState is one root context of a VM: its timer and its streams. A
// root replaced by a reload is retired: it keeps ticking and serving its
// streams, and gets on_done and on_delete once the last of them ends (its
// pending http calls are then dropped, as Envoy cancels them).
type rootState struct {
	// status and statusMsg are what proxy_get_status answers on this root:
	// Envoy writes them only when an http call fails and never resets
	// them, so after one failure every later answer reads 11 too.
	status    uint32
	statusMsg string
	// listener names the listener whose plugin configuration (config)
	// this root was configured with ("" is the default listener).
	listener   string
	config     []byte
	live       bool
	retired    bool
	streams    int
	tickPeriod time.Duration
	nextTick   time.Duration
}

// Log is one captured log line.
type Log struct {
	VM      string
	Level   Level
	Message string
}

// Level is a proxy-wasm log level.
type Level uint32

func (l Level) String() string {
	return [...]string{"trace", "debug", "info", "warn", "error", "critical"}[min(int(l), 5)]
}

// Name is the VM's name ("main", "worker-N", "canary").
func (vm *VM) Name() string { return vm.name }

// Logs returns this VM's captured log lines.
func (vm *VM) Logs() []Log { return append([]Log(nil), vm.logs...) }

// Failed returns the trap that killed the VM, if any.
func (vm *VM) Failed() error { return vm.failed }

// ConfigAccepted tells whether the last proxy_on_configure returned true.
func (vm *VM) ConfigAccepted() bool { return vm.configOK }

// Freeze stops (or resumes) this VM's ticks, as if its thread were stuck.
func (vm *VM) Freeze(frozen bool) { vm.frozen = frozen }

// LiveStreams counts the stream contexts created and not yet deleted.
func (vm *VM) LiveStreams() int { return len(vm.streams) }

// MemoryBytes is the size of the VM's linear memory.
func (vm *VM) MemoryBytes() uint32 { return vm.mod.Memory().Size() }

// AddVM instantiates a new VM named name: _initialize, then the root
// context, proxy_on_vm_start and proxy_on_configure.
func (h *Host) AddVM(name string) (*VM, error) {
	h.vmSeq++
	vm := &VM{h: h, name: name, rnd: rand.New(rand.NewSource(h.opts.Seed + int64(h.vmSeq))),
		streams: map[uint32]*Stream{}, roots: map[uint32]*rootState{}, listenerRoots: map[string]uint32{}, metricIDs: map[uint32]string{}, metricByName: map[string]uint32{}, exports: map[string]api.Function{}}
	modName := fmt.Sprintf("%s#%d", name, h.vmSeq)
	h.byName[modName] = vm
	vm.phase = phaseInitialize
	mod, err := h.rt.InstantiateModule(h.ctx, h.compiled, wazero.NewModuleConfig().WithName(modName).WithStartFunctions("_initialize"))
	vm.phase = phaseNormal
	if err != nil {
		return nil, fmt.Errorf("wasmhost: instantiate %s: %w", name, err)
	}
	vm.mod = mod
	if name != "canary" {
		h.vms = append(h.vms, vm)
		h.byName[name] = vm
	}
	for _, l := range h.listeners() {
		if _, err := vm.newRoot(l.Name); err != nil {
			return nil, err
		}
	}
	return vm, nil
}

// RemoveVM tears a VM down (its module is closed).
func (h *Host) RemoveVM(vm *VM) error {
	for i, v := range h.vms {
		if v == vm {
			h.vms = append(h.vms[:i], h.vms[i+1:]...)
			break
		}
	}
	if h.byName[vm.name] == vm {
		delete(h.byName, vm.name)
	}
	return vm.mod.Close(h.ctx)
}

// newRoot creates a root context with the listener's current config, as
// Envoy does for a new plugin configuration in a running VM: the new root
// is configured while the old one still has streams in flight and ticks;
// new streams go to the new root once it accepted its configuration, and
// the old root is deleted after its last stream ends.
func (vm *VM) newRoot(listener string) (bool, error) {
	old := vm.listenerRoots[listener]
	config := vm.h.listenerConfig(listener)
	vm.nextCtx++
	root := vm.nextCtx
	vm.roots[root] = &rootState{live: true, listener: listener, config: config}
	if _, err := vm.call(root, "proxy_on_context_create", uint64(root), 0); err != nil {
		return false, err
	}
	// Envoy runs proxy_on_vm_start again for every new root context of a
	// running VM (cpp-host ContextBase::onStart; docs/envoy-details.md).
	if _, err := vm.call(root, "proxy_on_vm_start", uint64(root), 0); err != nil {
		return false, err
	}
	res, err := vm.call(root, "proxy_on_configure", uint64(root), uint64(len(config)))
	if err != nil {
		return false, err
	}
	vm.configOK = res[0] != 0
	if !vm.configOK && old != 0 {
		// Refused: the VM keeps serving with the old root.
		vm.roots[root].retired = true
		return false, vm.retire(root)
	}
	vm.listenerRoots[listener] = root
	if listener == "" {
		vm.rootID = root
	}
	if old != 0 {
		vm.roots[old].retired = true
		return vm.configOK, vm.retire(old)
	}
	return vm.configOK, nil
}

// retire deletes a replaced root once it has no streams left.
func (vm *VM) retire(root uint32) error {
	rs := vm.roots[root]
	if rs == nil || !rs.live || !rs.retired || rs.streams > 0 || vm.failed != nil {
		return nil
	}
	rs.live, rs.tickPeriod = false, 0
	if _, err := vm.call(root, "proxy_on_done", uint64(root)); err != nil {
		return err
	}
	var err error
	if vm.export("proxy_on_delete") != nil { // optional, as in Envoy
		_, err = vm.call(root, "proxy_on_delete", uint64(root))
	}
	delete(vm.roots, root)
	return err
}

// Roots lists the VM's live root contexts, oldest first (more than one
// while a reload waits for the old root's streams to end).
func (vm *VM) Roots() []uint32 {
	var out []uint32
	for id, rs := range vm.roots {
		if rs.live {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// currentRoot is the root of the running callback's context.
func (vm *VM) currentRoot() uint32 {
	if _, ok := vm.roots[vm.current]; ok {
		return vm.current
	}
	if s := vm.streams[vm.current]; s != nil {
		return s.root
	}
	return vm.rootID
}

// streamEnded forgets an ended stream and retires its root if it waited.
func (vm *VM) streamEnded(s *Stream) {
	delete(vm.streams, s.id)
	if rs := vm.roots[s.root]; rs != nil {
		rs.streams--
		if err := vm.retire(s.root); err != nil && vm.failed == nil {
			vm.failed = err
		}
	}
}

// failStream is a stream on a VM that trapped: with the default
// failure_policy Envoy answers 503 without running the plugin; with
// FailOpen the request goes upstream untouched.
func (vm *VM) failStream(req Request) (*Stream, error) {
	s := &Stream{vm: vm, req: req, props: map[string]string{}, ended: !vm.h.opts.FailOpen}
	if vm.h.opts.FailOpen {
		s.headersSent, s.sentHeaders = true, append([]Pair(nil), req.Headers...)
		s.Upstream = &UpstreamRequest{Cluster: req.Cluster, Headers: s.sentHeaders, Body: append([]byte(nil), req.Body...),
			Trailers: req.Trailers, From: vm.name, Complete: true}
		s.passThrough = true
		return s, nil
	}
	s.Response = &Response{Status: 503, LocalReply: true, Details: detailsWasmFailStream}
	return s, nil
}

// call runs an exported callback as context ctxID. A trap marks the VM
// failed, as Envoy does, and every later call fails.
func (vm *VM) call(ctxID uint32, name string, args ...uint64) ([]uint64, error) {
	if vm.failed != nil {
		return nil, fmt.Errorf("wasmhost: VM %s has failed: %w", vm.name, vm.failed)
	}
	fn := vm.export(name)
	if fn == nil {
		return nil, fmt.Errorf("wasmhost: export %s missing", name)
	}
	if vm.h.opts.Trace {
		vm.h.trace = append(vm.h.trace, vm.name+":"+name)
	}
	prevCur, prevEff, prevCB := vm.current, vm.effective, vm.callback
	vm.current, vm.effective, vm.callback = ctxID, 0, name
	res, err := fn.Call(vm.h.ctx, args...)
	vm.current, vm.effective, vm.callback = prevCur, prevEff, prevCB
	if err != nil {
		vm.failed = err
		vm.log(LevelCritical, fmt.Sprintf("wasm trap in %s: %v", name, err))
		return nil, fmt.Errorf("wasmhost: %s on %s: %w", name, vm.name, err)
	}
	return res, nil
}

// export returns the cached exported function name (nil when missing).
func (vm *VM) export(name string) api.Function {
	fn, ok := vm.exports[name]
	if !ok {
		fn = vm.mod.ExportedFunction(name)
		vm.exports[name] = fn
	}
	return fn
}

// Log levels.
const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelCritical
)

func (vm *VM) log(level Level, msg string) {
	l := Log{VM: vm.name, Level: level, Message: msg}
	vm.logs = append(vm.logs, l)
	vm.h.allLogs = append(vm.h.allLogs, l)
}

// tick fires the timer of one root context.
func (vm *VM) tick(root uint32) error {
	if vm.failed != nil {
		return nil
	}
	if rs := vm.roots[root]; rs == nil || !rs.live {
		return nil
	}
	_, err := vm.call(root, "proxy_on_tick", uint64(root))
	if err != nil {
		return nil // the VM is failed now; ticks stop
	}
	return vm.resumeStreams()
}
