package plugin_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/abi/abitest"
	"github.com/token-failover/token-failover/plugin"
	"github.com/token-failover/token-failover/wasmhost"
)

// fixture is a golden provider case under testdata/providers.
type fixture struct {
	Config  string `json:"config"`
	Request struct {
		Method  string      `json:"method"`
		Path    string      `json:"path"`
		Headers [][2]string `json:"headers"`
		Body    string      `json:"body"`
	} `json:"request"`
	Expect struct {
		Authority string            `json:"authority"`
		Path      string            `json:"path"`
		Headers   map[string]string `json:"headers"`
		Absent    []string          `json:"absent"`
		Body      string            `json:"body"`
	} `json:"expect"`
}

func loadFixtures(t *testing.T) map[string]fixture {
	files, err := filepath.Glob("../testdata/providers/*.json")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 12)
	out := map[string]fixture{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var fx fixture
		require.NoError(t, json.Unmarshal(b, &fx), f)
		out[strings.TrimSuffix(filepath.Base(f), ".json")] = fx
	}
	return out
}

func (fx fixture) headers() []abi.HeaderPair {
	h := []abi.HeaderPair{{":method", fx.Request.Method}, {":path", fx.Request.Path}, {":authority", "gateway.local"}}
	return append(h, fx.Request.Headers...)
}

func (fx fixture) check(t *testing.T, headers []abi.HeaderPair, body []byte) {
	t.Helper()
	get := func(k string) (string, bool) { return headerValue(headers, k) }
	authority, _ := get(":authority")
	path, _ := get(":path")
	require.Equal(t, fx.Expect.Authority, authority)
	require.Equal(t, fx.Expect.Path, path)
	for k, v := range fx.Expect.Headers {
		got, _ := get(k)
		require.Equal(t, v, got, k)
	}
	for _, k := range fx.Expect.Absent {
		_, present := get(k)
		require.False(t, present, "%s must not reach the provider", k)
	}
	require.Equal(t, fx.Expect.Body, string(body))
	if cl, ok := get("content-length"); ok {
		require.Equal(t, strconv.Itoa(len(body)), cl, "content-length stays right")
	}
}

// TestProviderFixtures_Native runs each golden fixture through the plugin
// compiled natively, against abitest.FakeHost.
func TestProviderFixtures_Native(t *testing.T) {
	for name, fx := range loadFixtures(t) {
		t.Run(name, func(t *testing.T) {
			host := &abitest.FakeHost{Config: []byte(fx.Config), RequestHeaders: fx.headers(),
				RequestBody: []byte(fx.Request.Body), Properties: map[string]string{"xds.cluster_name": "llm"}}
			d := abi.NewDispatcher(host, plugin.NewVM(host))
			d.OnContextCreate(1, 0)
			require.True(t, d.OnVMStart(1, 0))
			require.True(t, d.OnConfigure(1, len(fx.Config)), strings.Join(host.Logs, "\n"))
			d.OnContextCreate(2, 1)
			require.Equal(t, abi.ActionContinue, d.OnRequestHeaders(2, len(host.RequestHeaders), false))
			sent := append([]abi.HeaderPair(nil), host.RequestHeaders...)
			host.HeadersSent = true
			require.Equal(t, abi.ActionContinue, d.OnRequestBody(2, len(host.RequestBody), true))
			fx.check(t, sent, host.RequestBody)
		})
	}
}

// TestProviderFixtures_Wasm runs the same fixtures through the built .wasm
// in the emulator.
func TestProviderFixtures_Wasm(t *testing.T) {
	for name, fx := range loadFixtures(t) {
		t.Run(name, func(t *testing.T) {
			h, err := wasmhost.New(wasmhost.Options{Config: []byte(fx.Config), Workers: 1, SkipCanary: true})
			require.NoError(t, err)
			defer h.Close()
			s, err := h.Workers()[0].Start(wasmhost.Request{Headers: fx.headers(), Body: []byte(fx.Request.Body)})
			require.NoError(t, err)
			require.NotNil(t, s.Upstream)
			fx.check(t, s.Upstream.Headers, s.Upstream.Body)
		})
	}
}

// headerValue is the value of header k in headers, and whether it is there.
func headerValue(headers []abi.HeaderPair, k string) (string, bool) {
	for _, h := range headers {
		if h[0] == k {
			return h[1], true
		}
	}
	return "", false
}
