package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

// testModule builds one of wasmhost/testdata's proxy-wasm test modules.
func testModule(t *testing.T, name string) string {
	t.Helper()
	root, err := wasmhost.ModuleRoot()
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./wasmhost/testdata/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	return out
}

// deepEnvoy starts Envoy with the deepstack module in the plugin's place
// (envoy.yaml, failure_policy included) and one worker.
func deepEnvoy(t *testing.T) *envoyrun.Envoy {
	bin, err := envoyrun.FindBinary()
	if err != nil {
		if os.Getenv("REQUIRE_ENVOY") == "1" {
			t.Fatalf("REQUIRE_ENVOY=1 but Envoy is missing: %v", err)
		}
		t.Skipf("Envoy not installed (%v)", err)
	}
	mock := mockllm.New()
	addr, err := mock.Start("127.0.0.1:0")
	require.NoError(t, err)
	e, err := envoyrun.Start(envoyrun.Options{Bin: bin, Wasm: testModule(t, "deepstack"), Upstream: addr, Concurrency: 1})
	t.Cleanup(func() {
		if e != nil {
			_ = e.Stop()
		}
		_ = mock.Close()
	})
	require.NoError(t, err)
	return e
}

func deepRequest(t *testing.T, e *envoyrun.Envoy, depth int) int {
	req, _ := http.NewRequest("GET", "http://"+e.Listen+"/v1/models", nil)
	req.Header.Set("authorization", "Bearer deep-test")
	if depth > 0 {
		req.Header.Set("x-depth", fmt.Sprint(depth))
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestEnvoy_V8StackBudgetAndFailReload pins the two facts the emulator's
// stack limit and the shipped failure_policy rest on: V8 in Envoy runs a Go
// guest 30,000 calls deep but traps before 45,000 (measured: about 37,100 on
// 1.36.4 and 1.40.0; the emulator traps at wasmhost.MaxCallDepth, below
// that), and with failure_policy FAIL_RELOAD (envoy.yaml) the VM serves
// again about a second after a trap instead of failing every request for
// good. The module stands in for the plugin: deepstack recurses as deep as
// a request's x-depth asks.
func TestEnvoy_V8StackBudgetAndFailReload(t *testing.T) {
	e := deepEnvoy(t)
	require.Equal(t, 200, deepRequest(t, e, 30000), "30,000 calls deep is within V8's budget")
	// wasmhost.MaxCallDepth check added with the emulator limit
	require.Equal(t, 503, deepRequest(t, e, 45000), "45,000 is not")
	eventually(t, 3*time.Second, "V8's stack overflow in Envoy's log", func() bool {
		return strings.Contains(e.Log(), "Maximum call stack size exceeded")
	})
	trapped := time.Now()
	require.Equal(t, 503, deepRequest(t, e, 0), "the failed VM fails the next request too")
	eventually(t, 15*time.Second, "FAIL_RELOAD to bring the VM back", func() bool { return deepRequest(t, e, 0) == 200 })
	t.Logf("the VM served again %v after the trap", time.Since(trapped).Round(10*time.Millisecond))
}
