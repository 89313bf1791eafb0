package wasmpatch

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// wasiHost is the tests' WASI, shaped on proxy-wasm-cpp-host's as
// envoy-host.md lists it (fd_write to a log, clocks, random, empty args
// and environ, fdstat for fds 1 and 2, stubs elsewhere). Its fixed set of
// functions does not depend on the guest, so a guest importing anything
// else fails to link, as on Envoy.
type wasiHost struct {
	// enosysPoll answers poll_oneoff with ENOSYS, as cpp-host did before
	// its PR #533 (Envoy 1.36-1.38); otherwise poll_oneoff succeeds at once
	// with no events, as Envoy 1.39+ does.
	enosysPoll bool
	// filestat provides path_filestat_get (ENOSYS), which cpp-host gained
	// in its PR #533; without it a guest importing it fails to link.
	filestat bool

	pollCalls int             // calls of the host's poll_oneoff
	out       strings.Builder // what the guest wrote to fds 1 and 2
	clock     uint64
}

type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      func(mod api.Module, s []uint64) uint32 // returns the errno
}

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func vt(ts ...api.ValueType) []api.ValueType { return ts }

func (h *wasiHost) funcs() []hostFunc {
	mem := func(mod api.Module) api.Memory { return mod.Memory() }
	errno := func(e uint32) func(api.Module, []uint64) uint32 {
		return func(api.Module, []uint64) uint32 { return e }
	}
	zeroSizes := func(mod api.Module, s []uint64) uint32 {
		mem(mod).WriteUint32Le(uint32(s[0]), 0)
		mem(mod).WriteUint32Le(uint32(s[1]), 0)
		return 0
	}
	fs := []hostFunc{
		{"args_sizes_get", vt(i32, i32), vt(i32), zeroSizes},
		{"args_get", vt(i32, i32), vt(i32), errno(0)},
		{"environ_sizes_get", vt(i32, i32), vt(i32), zeroSizes},
		{"environ_get", vt(i32, i32), vt(i32), errno(0)},
		{"clock_time_get", vt(i32, i64, i32), vt(i32), func(mod api.Module, s []uint64) uint32 {
			h.clock += 1000 // a clock that always moves on, 1 µs a reading
			mem(mod).WriteUint64Le(uint32(s[2]), 1_767_225_600_000_000_000+h.clock)
			return 0
		}},
		{"clock_res_get", vt(i32, i32), vt(i32), func(mod api.Module, s []uint64) uint32 {
			mem(mod).WriteUint64Le(uint32(s[1]), 1)
			return 0
		}},
		{"random_get", vt(i32, i32), vt(i32), func(mod api.Module, s []uint64) uint32 {
			buf := make([]byte, uint32(s[1]))
			for i := range buf {
				buf[i] = byte(i*31 + 7)
			}
			mem(mod).Write(uint32(s[0]), buf)
			return 0
		}},
		{"fd_write", vt(i32, i32, i32, i32), vt(i32), func(mod api.Module, s []uint64) uint32 {
			total := 0
			for i := uint32(0); i < uint32(s[2]); i++ {
				iov, _ := mem(mod).Read(uint32(s[1])+8*i, 8)
				b, _ := mem(mod).Read(binary.LittleEndian.Uint32(iov), binary.LittleEndian.Uint32(iov[4:]))
				h.out.Write(b)
				total += len(b)
			}
			mem(mod).WriteUint32Le(uint32(s[3]), uint32(total))
			return 0
		}},
		{"poll_oneoff", vt(i32, i32, i32, i32), vt(i32), func(mod api.Module, s []uint64) uint32 {
			h.pollCalls++
			if h.enosysPoll {
				return ErrnoNosys
			}
			mem(mod).WriteUint32Le(uint32(s[3]), 0)
			return 0
		}},
		{"sched_yield", nil, vt(i32), errno(0)},
		{"fd_fdstat_get", vt(i32, i32), vt(i32), func(mod api.Module, s []uint64) uint32 {
			if s[0] != 1 && s[0] != 2 {
				return errnoBadf
			}
			stat := make([]byte, 24)
			stat[0] = 2 // character device
			mem(mod).Write(uint32(s[1]), stat)
			return 0
		}},
		{"fd_fdstat_set_flags", vt(i32, i32), vt(i32), errno(ErrnoNosys)},
		{"fd_close", vt(i32), vt(i32), errno(0)},
		{"fd_seek", vt(i32, i64, i32, i32), vt(i32), errno(0)},
		{"fd_read", vt(i32, i32, i32, i32), vt(i32), errno(ErrnoNosys)},
		{"fd_prestat_get", vt(i32, i32), vt(i32), errno(errnoBadf)},
		{"fd_prestat_dir_name", vt(i32, i32, i32), vt(i32), errno(ErrnoNosys)},
		{"path_open", vt(i32, i32, i32, i32, i32, i64, i64, i32, i32), vt(i32), errno(44)}, // ENOENT
	}
	if h.filestat {
		fs = append(fs, hostFunc{"path_filestat_get", vt(i32, i32, i32, i32, i32), vt(i32), errno(ErrnoNosys)})
	}
	return fs
}

// instantiate builds a runtime with this WASI, stubs for the guest's "env"
// imports (every one answers 0), and the guest. The guest's _initialize is
// not run; callers run it. Linking errors come back as the error.
func (h *wasiHost) instantiate(t testing.TB, guest []byte) (api.Module, error) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(compileCache))
	t.Cleanup(func() { rt.Close(ctx) })
	b := rt.NewHostModuleBuilder("wasi_snapshot_preview1")
	for _, f := range h.funcs() {
		fn := f.fn
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, s []uint64) {
			s[0] = uint64(fn(mod, s))
		}), f.params, f.results).Export(f.name)
	}
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
		panic(sys.NewExitError(uint32(s[0]))) // ends the call with an error, as a trap would
	}), vt(i32), nil).Export("proc_exit")
	_, err := b.Instantiate(ctx)
	require.NoError(t, err)
	compiled, err := rt.CompileModule(ctx, guest)
	require.NoError(t, err)
	env := rt.NewHostModuleBuilder("env")
	for _, def := range compiled.ImportedFunctions() {
		if mod, name, _ := def.Import(); mod == "env" {
			env.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
				clear(s[:len(def.ResultTypes())])
			}), def.ParamTypes(), def.ResultTypes()).Export(name)
		}
	}
	_, err = env.Instantiate(ctx)
	require.NoError(t, err)
	return rt.InstantiateModule(ctx, compiled, wazero.NewModuleConfig().WithStartFunctions())
}

// compileCache shares compiled modules between the tests' runtimes.
var compileCache = wazero.NewCompilationCache()

// compiles reports whether wazero compiles module, its validation included.
func compiles(t *testing.T, module []byte) error {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(compileCache))
	defer rt.Close(ctx)
	_, err := rt.CompileModule(ctx, module)
	return err
}

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

// TestMain gives the built modules a directory that outlives each test.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasmpatch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildWasm builds the package pkg (relative to the module root) as a
// wasip1 c-shared module, once per test process, and returns its bytes.
func buildWasm(t testing.TB, pkg, ldflags string) []byte {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + " " + ldflags
	if path, ok := built[key]; ok {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return b
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	out := filepath.Join(buildDir, fmt.Sprintf("m%d.wasm", len(built)))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags="+ldflags, "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, msg)
	built[key] = out
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	return b
}

// importNames lists a module's imports as "module.name".
func importNames(t *testing.T, module []byte) []string {
	m, err := decode(module)
	require.NoError(t, err)
	var names []string
	for _, im := range m.imports {
		names = append(names, im.key())
	}
	return names
}
