package wasmhost

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"

	"github.com/token-failover/token-failover/failover"
)

func newHost(t testing.TB, config string, clusters map[string]Cluster, opts ...func(*Options)) *Host {
	t.Helper()
	o := Options{Config: []byte(config), Clusters: clusters}
	for _, f := range opts {
		f(&o)
	}
	h, err := New(o)
	require.NoError(t, err)
	t.Cleanup(func() { h.Close() })
	return h
}

// envoyWASI is what cpp-host's WASI provides (envoy-host.md); the last two
// are stubs that Go's os package imports and Envoy 1.40 links (checked by
// loading the plugin in Envoy 1.40: ./build.sh e2e).
var envoyWASI = map[string]bool{
	"fd_write": true, "fd_pwrite": true, "clock_time_get": true, "clock_res_get": true, "random_get": true,
	"environ_get": true, "environ_sizes_get": true, "args_get": true, "args_sizes_get": true, "sched_yield": true,
	"fd_fdstat_get": true, "poll_oneoff": true, "proc_exit": true, "fd_seek": true, "fd_close": true,
	"fd_read": true, "fd_prestat_dir_name": true, "fd_prestat_get": true, "path_open": true,
	"fd_fdstat_set_flags": true, "path_filestat_get": true,
}

func TestModule_ImportsAndExportsMatchEnvoy(t *testing.T) {
	path, err := ModulePath()
	require.NoError(t, err)
	h := newHost(t, `provider: {type: openai, apiTokens: [a]}`, nil)
	_ = path
	m := h.compiled
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case "env":
			require.True(t, strings.HasPrefix(name, "proxy_"), name)
		case "wasi_snapshot_preview1":
			require.True(t, envoyWASI[name], "WASI import %s is not provided by Envoy", name)
		default:
			t.Fatalf("import from unexpected module %s.%s", mod, name)
		}
	}
	exports := m.ExportedFunctions()
	for _, name := range []string{"_initialize", "proxy_abi_version_0_2_1", "proxy_on_memory_allocate",
		"proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure", "proxy_on_tick",
		"proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers",
		"proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers",
		"proxy_on_http_call_response", "proxy_on_done", "proxy_on_grpc_receive", "proxy_on_grpc_close"} {
		require.Contains(t, exports, name)
	}
	for _, name := range []string{"proxy_on_log", "proxy_on_delete"} {
		require.NotContains(t, exports, name, "left out: Envoy skips them, and each would be a call into Go per stream")
	}
}

func TestSharedData_EnvoyCASRules(t *testing.T) {
	h := newHost(t, `provider: {type: openai, apiTokens: [a]}`, nil)
	require.True(t, h.SetSharedData("k", []byte("v1"), 12345), "a set on a missing key wins whatever the cas")
	_, cas1, ok := h.SharedData("k")
	require.True(t, ok)
	require.NotZero(t, cas1)
	require.True(t, h.SetSharedData("k", []byte("v2"), cas1))
	require.False(t, h.SetSharedData("k", []byte("stale"), cas1), "a stale cas is CasMismatch")
	require.True(t, h.SetSharedData("k", []byte("v3"), 0), "cas 0 always wins")
	v, cas3, _ := h.SharedData("k")
	require.Equal(t, "v3", string(v))
	require.Greater(t, cas3, cas1)
	require.True(t, h.SetSharedData("other", []byte("x"), 0))
	_, casOther, _ := h.SharedData("other")
	require.Greater(t, casOther, cas3, "the cas counter is global across keys")
}

// TestSharedData_CASLoopFromFourVMsCountsExactly drives 1,000 upstream
// failures of one token from 4 worker VMs. Between each VM's read and its
// write, another VM's whole response callback runs (the BeforeSharedSet
// hook), so writes really race; the plugin's CAS loop must retry and the
// shared failure counter must end at exactly 1,000.
func TestSharedData_CASLoopFromFourVMsCountsExactly(t *testing.T) {
	var pending []*Stream
	rnd := rand.New(rand.NewSource(1))
	var h *Host
	h = newHost(t, `provider: {type: openai, apiTokens: [only-token], failover: {enabled: true, failureThreshold: 1000000}}`,
		map[string]Cluster{"llm": func(*UpstreamRequest) Reply { return Status(500) }},
		func(o *Options) {
			o.BeforeSharedSet = func(vm *VM, key string) {
				if !strings.HasSuffix(key, "/state") || len(pending) == 0 || rnd.Intn(2) == 0 {
					return
				}
				// Another worker answers one of its requests right now.
				for i, s := range pending {
					if s.vm != vm {
						pending = append(pending[:i], pending[i+1:]...)
						require.NoError(t, s.Respond(Status(500)))
						return
					}
				}
			}
		})
	workers := h.Workers()
	for i := 0; i < 1000; i++ {
		s, err := workers[i%4].Start(Chat("gpt-4"))
		require.NoError(t, err)
		pending = append(pending, s)
	}
	rnd.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	for len(pending) > 0 {
		s := pending[0]
		pending = pending[1:]
		require.NoError(t, s.Respond(Status(500)))
	}
	require.Greater(t, h.CasMismatches(), 100, "the interleaving must actually make writes race")
	for _, k := range h.SharedKeys() {
		if strings.HasSuffix(k, "/state") {
			v, _, _ := h.SharedData(k)
			st, err := failover.Decode(v, 1)
			require.NoError(t, err)
			require.Equal(t, uint32(1000), st.Tokens[0].Failures, "exactly 1,000 failures after %d cas mismatches", h.CasMismatches())
			return
		}
	}
	t.Fatal("no state key")
}

func TestHTTPCall_UnknownClusterIsBadArgument(t *testing.T) {
	h := newHost(t, `provider: {type: openai, apiTokens: [a, b], failover: {enabled: true, healthCheckInterval: 1000}}`,
		map[string]Cluster{"llm": func(r *UpstreamRequest) Reply { return Status(401) }})
	// A token demoted on a route whose cluster the host does not know.
	s, err := h.Workers()[0].Start(Request{Headers: Chat("m").Headers, Body: Chat("m").Body, Cluster: "gone"})
	require.NoError(t, err)
	require.NoError(t, s.Respond(Status(401)))
	require.NoError(t, h.Advance(2500*time.Millisecond))
	require.Contains(t, h.LogText(), `via cluster "gone" not sent: proxy-wasm: bad argument`)
}

// TestHTTPCall_FailuresHaveEnvoysShape: how a failed http call reaches the
// plugin in Envoy 1.36-1.40 (docs/envoy-details.md). A connection that
// fails or resets before the headers is Envoy's own 503 with a body, a
// timeout its 504; only a reset after the headers arrives with no headers
// and proxy_get_status 11; a cluster that refuses the request itself
// (circuit breaker) fails the call at dispatch, with no answer ever.
func TestHTTPCall_FailuresHaveEnvoysShape(t *testing.T) {
	reset := OK()
	reset.MidStreamReset = true
	for _, tc := range []struct {
		name  string
		reply Reply
		want  string
	}{
		{"connect failure", Reply{Fault: FaultConnectFailure}, "probe failed (status 503)"},
		{"remote reset", Reply{Fault: FaultRemoteReset}, "probe failed (status 503)"},
		{"timeout", Reply{Fault: FaultRouteTimeout}, "probe failed (status 504)"},
		{"reset after headers", reset, "probe failed (call failed, status 11)"},
		{"circuit breaker", Reply{Fault: FaultOverflow}, `via cluster "llm" not sent: proxy-wasm: internal failure`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probes := 0
			h := newHost(t, `provider: {type: openai, apiTokens: [a, b], failover: {enabled: true, healthCheckInterval: 1000}}`,
				map[string]Cluster{"llm": func(r *UpstreamRequest) Reply {
					if r.HTTPCall {
						probes++
						return tc.reply
					}
					return Status(401)
				}})
			w := h.Workers()[0]
			for i := 0; i < 10 && !strings.Contains(h.LogText(), "demoted"); i++ {
				_, err := w.Do(Chat("m"))
				require.NoError(t, err)
			}
			require.NoError(t, h.Advance(8*time.Second)) // past the probe's 5 s timeout
			require.Contains(t, h.LogText(), tc.want)
			require.Positive(t, probes, "the cluster saw the probe")
		})
	}
}

func TestCallbacks_ArriveInEnvoysOrder(t *testing.T) {
	h := newHost(t, `provider: {type: openai, apiTokens: [a], modelMapping: {"*": x}}`,
		map[string]Cluster{"llm": func(*UpstreamRequest) Reply { return OK() }}, func(o *Options) { o.Trace = true })
	h.Trace()
	_, err := h.Workers()[0].Do(Chat("gpt"))
	require.NoError(t, err)
	require.Equal(t, []string{
		"worker-0:proxy_on_context_create", "worker-0:proxy_on_request_headers", "worker-0:proxy_on_request_body",
		"worker-0:proxy_on_response_headers", "worker-0:proxy_on_response_body",
		"worker-0:proxy_on_done",
	}, h.Trace())
	require.Zero(t, h.Workers()[0].LiveStreams())
}

func TestVMs_CanaryMainAndWorkersAllConfigure(t *testing.T) {
	h := newHost(t, `provider: {type: openai, apiTokens: [a]}`, nil, func(o *Options) { o.Trace = true })
	var configures []string
	for _, c := range h.Trace() {
		if strings.HasSuffix(c, ":proxy_on_configure") {
			configures = append(configures, strings.TrimSuffix(c, ":proxy_on_configure"))
		}
	}
	require.Equal(t, []string{"canary", "main", "worker-0", "worker-1", "worker-2", "worker-3"}, configures)
	for _, vm := range h.VMs() {
		require.True(t, vm.ConfigAccepted(), vm.Name())
	}
}

// TestRestrictedCallbacks_Trap loads tiny hand-assembled modules that call a
// forbidden hostcall during _initialize, and during proxy_on_memory_allocate.
func TestRestrictedCallbacks_Trap(t *testing.T) {
	h := newHost(t, `provider: {type: openai, apiTokens: [a]}`, nil)
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"set_tick_period during _initialize", moduleCallingInInitialize()},
		{"get_shared_data inside proxy_on_memory_allocate", moduleCallingInAllocate()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			compiled, err := h.rt.CompileModule(context.Background(), tc.wasm)
			require.NoError(t, err)
			saved := h.compiled
			h.compiled = compiled
			defer func() { h.compiled = saved }()
			_, err = h.AddVM(fmt.Sprintf("probe-%d", len(h.vms)))
			require.ErrorContains(t, err, "restricted_callback")
		})
	}
	_ = wazero.NewModuleConfig
}
