package wasmhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"google.golang.org/grpc"
)

// Options configure a Host.
type Options struct {
	// WasmPath is the module to load; default ModulePath().
	WasmPath string
	// Workers is the number of worker VMs (default 4); a main-thread VM is
	// always added, so ticks fire on Workers+1 VMs.
	Workers int
	// Config is the default listener's plugin configuration (buffer 7).
	Config []byte
	// Routes is the default listener's route configuration. Nil routes
	// every request by its Request.Route and Request.Cluster, as a
	// catch-all route would, whatever the plugin does to its headers.
	Routes *RouteTable
	// Listeners are more listeners (or filter chains) whose filters have
	// the same vm_config as the default one, so they share its VMs, with
	// plugin configurations of their own: as in Envoy, every VM gets one
	// root context per listener's configuration. Request.Listener picks
	// the listener.
	Listeners []Listener
	// Clusters answer the route's upstream requests and http calls by name.
	Clusters map[string]Cluster
	// Start is the virtual clock's wall time at creation (default 2026-01-01).
	Start time.Time
	// Seed makes random_get deterministic per VM.
	Seed int64
	// SkipCanary leaves out the canary VM Envoy runs for each new config.
	SkipCanary bool
	// BeforeSharedSet, when set, runs inside proxy_set_shared_data before
	// the cas is checked. It may call into other VMs (run their callbacks),
	// which is how tests put another worker's write between this VM's get
	// and set, as real threads would. It is not called re-entrantly.
	BeforeSharedSet func(vm *VM, key string)
	// Env is the guest's environment ("KEY=value"), as Envoy passes
	// vm_config.environment_variables (e.g. GOGC).
	Env []string
	// Trace records every callback into the plugin (see Host.Trace).
	Trace bool
	// BufferLimit is the connection's buffer limit: a filter that buffers
	// more of a request gets Envoy's 413 (default 1 MiB, Envoy's
	// per_connection_buffer_limit_bytes).
	BufferLimit int
	// FailOpen is failure_policy FAIL_OPEN: streams on a VM that trapped
	// skip the plugin instead of getting Envoy's 503.
	FailOpen bool
	// LogLevel is what proxy_get_log_level answers (default trace).
	LogLevel Level
	// EnvoyVersion is the Envoy whose local-reply wording the emulator
	// plays ("1.36.4"); empty means the newest the project tests.
	EnvoyVersion string
	// OlderHost plays the WASI of Envoy before 1.39 (proxy-wasm-cpp-host
	// before its PR #533): poll_oneoff answers ENOSYS and is forbidden
	// inside proxy_on_memory_allocate, and path_filestat_get is missing.
	OlderHost bool
	// UpstreamFilter plays the plugin as the cluster's upstream HTTP filter
	// (its mode: upstream): VM.Do is then the router, running the filter
	// once per attempt under RouterRetry (see router.go).
	UpstreamFilter bool
	RouterRetry    RouterRetry
	// GRPCClusters maps cluster names to gRPC servers' addresses
	// (host:port, plain HTTP/2) for proxy_grpc_call and proxy_grpc_stream
	// (see grpc.go): a real etcd in the fleet tests.
	GRPCClusters map[string]string
	// GRPCWait bounds how long (real time) a delivery of gRPC answers waits
	// for unary calls still out (default 3 s).
	GRPCWait time.Duration
	// Higress plays Higress's Envoy: a stream whose plugin set the property
	// clear_route_cache to "off" keeps its route whatever headers the
	// plugin writes (docs/envoy-routing.md).
	Higress bool
	// FailHeaderWrite, when set, makes proxy_add/replace/remove_header_map_value
	// answer BadArgument for the headers it names (lower case), as Envoy
	// does for a header map it cannot give: tests check that a failed
	// rewrite never sends the request half rewritten.
	FailHeaderWrite func(key string) bool
	// AfterCallDelivered runs after an http-call response was handed to the
	// plugin; live is false when the root that made the call is gone (its
	// answer was dropped).
	AfterCallDelivered func(req *UpstreamRequest, reply Reply, live bool)
}

// Listener is a listener whose plugin configuration and routes are its
// own, served by the host's VMs.
type Listener struct {
	// Name is what Request.Listener names it by; it must not be empty.
	Name   string
	Config []byte
	Routes *RouteTable
}

// Host is the emulated Envoy process.
type Host struct {
	ctx      context.Context
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	opts     Options
	start    time.Time
	now      time.Duration // virtual time since start
	mono     uint64        // makes the monotonic clock strictly increase

	shared  map[string]sharedValue
	cas     uint32
	metrics map[string]*Metric
	calls   []*pendingCall
	nextID  uint32

	vms     []*VM
	byName  map[string]*VM
	allLogs []Log
	replies []LocalReply
	vmSeq   int
	config  []byte

	grpc *grpcState

	inSetHook     bool
	casMismatches int
	pollCalls     int
	trace         []string
}

// PollCalls counts the guest's calls of WASI poll_oneoff on the host.
func (h *Host) PollCalls() int { return h.pollCalls }

// CasMismatches counts proxy_set_shared_data calls refused for a stale cas.
func (h *Host) CasMismatches() int { return h.casMismatches }

// Trace returns "vm:callback" for every callback since the last call, when
// Options.Trace is on, and clears it.
func (h *Host) Trace() []string {
	t := h.trace
	h.trace = nil
	return t
}

// cacheDir is where compiled modules are kept between test processes.
func cacheDir() string {
	if d := os.Getenv("WASMHOST_CACHE"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "token-failover", "wazero")
}

// New compiles the module (cached on disk), instantiates the main-thread VM
// and the workers, and configures each (after a canary VM, as Envoy does).
func New(opts Options) (*Host, error) {
	if opts.Workers == 0 {
		opts.Workers = 4
	}
	if opts.BufferLimit == 0 {
		opts.BufferLimit = 1 << 20
	}
	if os.Getenv("WASMHOST_OLDER_HOST") == "1" {
		opts.OlderHost = true // ./build.sh test runs the emulator tier once more this way
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	for _, l := range opts.Listeners {
		if l.Name == "" {
			return nil, fmt.Errorf("wasmhost: a listener needs a name")
		}
	}
	if opts.WasmPath == "" {
		p, err := ModulePath()
		if err != nil {
			return nil, err
		}
		opts.WasmPath = p
	}
	code, err := os.ReadFile(opts.WasmPath)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: %w", err)
	}
	if code, err = limitCallDepth(code); err != nil {
		return nil, err
	}
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir())
	if err != nil {
		return nil, fmt.Errorf("wasmhost: compilation cache: %w", err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache).WithCloseOnContextDone(false))
	if opts.GRPCWait == 0 {
		opts.GRPCWait = 3 * time.Second
	}
	h := &Host{ctx: ctx, rt: rt, opts: opts, start: opts.Start, shared: map[string]sharedValue{},
		metrics: map[string]*Metric{}, byName: map[string]*VM{}, config: opts.Config,
		grpc: &grpcState{conns: map[string]*grpc.ClientConn{}, streams: map[uint32]*grpcStream{}, arrived: make(chan struct{}, 1)}}
	if err := h.instantiateHostModules(); err != nil {
		return nil, err
	}
	if h.compiled, err = rt.CompileModule(ctx, code); err != nil {
		return nil, fmt.Errorf("wasmhost: compile: %w", err)
	}
	if !opts.SkipCanary {
		if err := h.runCanary(); err != nil {
			return nil, err
		}
	}
	if _, err := h.AddVM("main"); err != nil {
		return nil, err
	}
	for i := 0; i < opts.Workers; i++ {
		if _, err := h.AddVM(fmt.Sprintf("worker-%d", i)); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Close releases the runtime and the gRPC connections.
func (h *Host) Close() error {
	h.grpc.close()
	return h.rt.Close(h.ctx)
}

// runCanary does what Envoy does for each new plugin config: a short-lived
// clone is initialised, configured and destroyed.
func (h *Host) runCanary() error {
	vm, err := h.AddVM("canary")
	if err != nil {
		return err
	}
	return h.RemoveVM(vm)
}

// VMs returns the live VMs: main first, then workers.
func (h *Host) VMs() []*VM { return append([]*VM(nil), h.vms...) }

// Workers returns the worker VMs (every VM but the main-thread one).
func (h *Host) Workers() []*VM {
	var out []*VM
	for _, v := range h.vms {
		if v.name != "main" {
			out = append(out, v)
		}
	}
	return out
}

// Main returns the main-thread VM.
func (h *Host) Main() *VM { return h.byName["main"] }

// Now is the virtual wall-clock time.
func (h *Host) Now() time.Time { return h.start.Add(h.now) }

// MonotonicBase is where the emulated monotonic clock starts: a process's
// clock is never near zero, and 0 means "never" in the plugin's state.
const MonotonicBase = 1000 * time.Second

// ProcessMs is the process clock (WASI's monotonic clock, shared by every
// VM) in milliseconds, as the plugin reads it.
func (h *Host) ProcessMs() int64 { return (MonotonicBase + h.now).Milliseconds() }

// Logs returns every log line of every VM so far, in order.
func (h *Host) Logs() []Log { return append([]Log(nil), h.allLogs...) }

// LocalReplies returns every local reply sent by any VM.
func (h *Host) LocalReplies() []LocalReply { return append([]LocalReply(nil), h.replies...) }

// LogText joins every log line, for assertions and leak scans.
func (h *Host) LogText() string {
	var b strings.Builder
	for _, l := range h.allLogs {
		fmt.Fprintf(&b, "[%s %s] %s\n", l.VM, l.Level, l.Message)
	}
	return b.String()
}

// Reload applies a new plugin configuration to the default listener the
// way Envoy does when the VM config is unchanged: a canary VM checks it,
// then every live VM gets a new root context configured with it and the
// old root is torn down. It returns whether every VM accepted the config.
func (h *Host) Reload(config []byte) (bool, error) {
	return h.ReloadListener("", config)
}

// ReloadListener is Reload for one listener ("" is the default one).
func (h *Host) ReloadListener(name string, config []byte) (bool, error) {
	found := name == ""
	for i := range h.opts.Listeners {
		if h.opts.Listeners[i].Name == name {
			h.opts.Listeners[i].Config, found = config, true
		}
	}
	if !found {
		return false, fmt.Errorf("wasmhost: no listener %q", name)
	}
	if name == "" {
		h.config = config
	}
	if !h.opts.SkipCanary {
		if err := h.runCanary(); err != nil {
			return false, err
		}
	}
	ok := true
	for _, vm := range h.vms {
		accepted, err := vm.newRoot(name)
		if err != nil {
			return false, err
		}
		ok = ok && accepted
	}
	return ok, nil
}

// listeners lists every listener: the default one (named "") first.
func (h *Host) listeners() []Listener {
	return append([]Listener{{Config: h.config, Routes: h.opts.Routes}}, h.opts.Listeners...)
}

// listener returns the named listener ("" is the default one).
func (h *Host) listener(name string) (Listener, bool) {
	for _, l := range h.listeners() {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// listenerConfig is the named listener's current plugin configuration.
func (h *Host) listenerConfig(name string) []byte {
	l, _ := h.listener(name)
	return l.Config
}

// Advance moves the virtual clock forward by d, firing every tick and
// delivering every http-call response that falls due, in time order.
func (h *Host) Advance(d time.Duration) error {
	end := h.now + d
	for {
		if len(h.opts.GRPCClusters) > 0 {
			if err := h.DeliverGRPC(h.opts.GRPCWait); err != nil {
				return err
			}
		}
		next, fire := h.nextEvent(end)
		if fire == nil {
			break
		}
		h.now = next
		if err := fire(); err != nil {
			return err
		}
	}
	h.now = end
	return nil
}

// nextEvent finds the earliest tick or call response due by end.
func (h *Host) nextEvent(end time.Duration) (time.Duration, func() error) {
	best := end + 1
	var fire func() error
	if c := h.nextCall(); c != nil && c.due <= end {
		best = c.due
		fire = func() error {
			h.removeCall(c)
			return c.deliver()
		}
	}
	for _, vm := range h.vms {
		if vm.frozen || vm.failed != nil {
			continue
		}
		for _, id := range vm.Roots() {
			rs := vm.roots[id]
			if rs.tickPeriod > 0 && rs.nextTick <= end && rs.nextTick < best {
				v, root := vm, id
				best = rs.nextTick
				fire = func() error {
					rs.nextTick += rs.tickPeriod
					return v.tick(root)
				}
			}
		}
	}
	return best, fire
}
