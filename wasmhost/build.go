package wasmhost

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/token-failover/token-failover/wasmpatch"
)

// MaxCallDepth is the deepest wasm call stack, in frames, a VM may reach:
// one frame deeper traps the VM, as V8's stack limit does in Envoy. V8
// bounds its stack in bytes (about 984 KiB, proxy-wasm-cpp-host passes no
// --stack-size), which holds about 13,700 of the smallest Go frames and
// about 8,500 of gjson's; Envoy 1.36.4-1.40.0 trap a plain Go recursion at
// about 37,100 levels, which after Go's stack growth unwinds is about 15,000
// frames. 8,192 keeps the emulator at least as strict as V8 for ordinary
// frames, so a recursion the emulator lets through does not crash Envoy.
const MaxCallDepth = 8192

var (
	depthMu    sync.Mutex
	depthCache = map[[32]byte][]byte{}
)

// limitCallDepth returns module instrumented to trap beyond MaxCallDepth
// frames (wasmpatch.InstrumentCallDepth), once per distinct module per
// test process; a module instrumented already is used as it is.
func limitCallDepth(module []byte) ([]byte, error) {
	key := sha256.Sum256(module)
	depthMu.Lock()
	defer depthMu.Unlock()
	if out, ok := depthCache[key]; ok {
		return out, nil
	}
	out, err := wasmpatch.InstrumentCallDepth(module, MaxCallDepth)
	if errors.Is(err, wasmpatch.ErrCallDepthInstrumented) {
		out, err = module, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wasmhost: limiting the call depth: %w", err)
	}
	depthCache[key] = out
	return out, nil
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// ModulePath returns the .wasm the tests run: $WASM when set (./build.sh
// test sets it to the module it just built), else the plugin built once per
// test process from this checkout with the standard Go toolchain and
// patched as build.sh patches it, so a test never runs a stale module.
func ModulePath() (string, error) {
	if p := os.Getenv("WASM"); p != "" {
		return p, nil
	}
	buildOnce.Do(func() { buildPath, buildErr = buildPlugin() })
	return buildPath, buildErr
}

func buildPlugin() (string, error) { return build(".", "token-failover.wasm") }

var (
	testModulesMu sync.Mutex
	testModules   = map[string]string{}
)

// TestModule returns wasmhost/testdata/<name> (a proxy-wasm test module:
// deepstack, trace, null) built and patched as ModulePath builds the
// plugin, once per test process.
func TestModule(name string) (string, error) {
	testModulesMu.Lock()
	defer testModulesMu.Unlock()
	if p, ok := testModules[name]; ok {
		return p, nil
	}
	p, err := build("./wasmhost/testdata/"+name, name+".wasm")
	if err == nil {
		testModules[name] = p
	}
	return p, err
}

// build compiles the package pkg (relative to the module root) into a new
// temporary directory with Build.
func build(pkg, file string) (string, error) {
	dir, err := os.MkdirTemp("", "token-failover-wasm-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, file)
	return out, Build(pkg, out)
}

// Build compiles the package pkg (relative to the module root) for wasip1
// with the build tags into out, as ./build.sh builds the plugin, and
// patches it as build.sh does: the WASI calls that Envoy before 1.39 lacks
// are answered inside the module.
func Build(pkg, out string, tags ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-buildmode=c-shared", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("wasmhost: building %s: %v\n%s", pkg, err, b)
	}
	module, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	patched, _, err := wasmpatch.Patch(module, wasmpatch.Options{})
	if err != nil {
		return fmt.Errorf("wasmhost: patching %s: %w", pkg, err)
	}
	return os.WriteFile(out, patched, 0o644)
}

// ModuleRoot walks up from the working directory to go.mod.
func ModuleRoot() (string, error) {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("wasmhost: go.mod not found above the working directory")
		}
		dir = parent
	}
}
