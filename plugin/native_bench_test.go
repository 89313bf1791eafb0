package plugin_test

import (
	"testing"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/abi/abitest"
	"github.com/token-failover/token-failover/plugin"
)

// BenchmarkRequest_Native runs one request's callbacks through the plugin
// compiled natively against abitest.FakeHost, with envoy.yaml's kind of
// configuration: its allocs/op, and -memprofile, show where the plugin's
// own Go allocations per request come from (the fake host's copies
// included), which the wasm build cannot profile.
func BenchmarkRequest_Native(b *testing.B) {
	cfg := `{"provider": {"type": "openai", "apiTokens": ["tok-a-0001", "tok-b-0002", "tok-c-0003"],
  "modelMapping": {"gpt-4o": "mapped-4o"}, "failover": {"enabled": true}}}`
	body := []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}]}`)
	headers := []abi.HeaderPair{{":method", "POST"}, {":path", "/v1/chat/completions"}, {":authority", "gw"},
		{"content-type", "application/json"}, {"content-length", "72"}, {"authorization", "Bearer client"},
		{"user-agent", "bench"}, {"accept", "*/*"}}
	host := &abitest.FakeHost{Config: []byte(cfg), Properties: map[string]string{"xds.cluster_name": "llm"}}
	d := abi.NewDispatcher(host, plugin.NewVM(host))
	d.OnContextCreate(1, 0)
	if !d.OnVMStart(1, 0) || !d.OnConfigure(1, len(cfg)) {
		b.Fatal(host.Logs)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := uint32(2 + i)
		host.RequestHeaders = append(host.RequestHeaders[:0], headers...)
		host.RequestBody = append(host.RequestBody[:0], body...)
		host.ResponseHeaders = append(host.ResponseHeaders[:0], abi.HeaderPair{":status", "200"})
		host.HeadersSent = false
		d.OnContextCreate(id, 1)
		d.OnRequestHeaders(id, len(headers), false)
		host.HeadersSent = true
		d.OnRequestBody(id, len(body), true)
		d.OnResponseHeaders(id, 1, false)
		d.OnResponseBody(id, 10, true)
		d.OnDone(id)
	}
}
