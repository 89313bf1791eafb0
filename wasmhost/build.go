package wasmhost

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/token-failover/token-failover/wasmpatch"
)

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

func buildPlugin() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "token-failover-wasm-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "token-failover.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-buildmode=c-shared", "-o", out, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("wasmhost: building the plugin: %v\n%s", err, b)
	}
	// As ./build.sh does: answer inside the module the WASI calls that
	// Envoy before 1.39 lacks.
	module, err := os.ReadFile(out)
	if err != nil {
		return "", err
	}
	patched, _, err := wasmpatch.Patch(module, wasmpatch.Options{})
	if err != nil {
		return "", fmt.Errorf("wasmhost: patching the plugin: %w", err)
	}
	return out, os.WriteFile(out, patched, 0o644)
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
