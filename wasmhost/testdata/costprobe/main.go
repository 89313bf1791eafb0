//go:build wasip1

// Command costprobe is the null module (every callback returns at once)
// plus one kind of work per request, chosen by its plugin configuration,
// so cmd/bench can price each kind in Envoy against the null module in the
// same run (docs/performance.md, "Attribution"):
//
//	alloc       a 512-byte stream object allocated per request
//	hostcall    one hostcall that returns no value (a counter increment)
//	getheader   one hostcall that returns a value (:authority): Envoy calls
//	            back proxy_on_memory_allocate for it
//	getheader5  five of those
//	getheaders  every request header at once
//	hostcall20  twenty hostcalls that return no value
//	getheader20 twenty header reads (twenty allocate callbacks)
//	floor       token-failover's hostcalls for envoy.yaml, with the same
//	            arguments, and none of its Go work: what any design that
//	            makes the same changes to the request must pay; "floor
//	            -route -setprop -shared -authority -body" leaves out the
//	            route read, the clear_route_cache write, the shared-data
//	            reads, the :authority write, or the body rewrite (with
//	            its content-length removal)
//	gowork      token-failover's Go work for one envoy.yaml request, run in
//	            the guest against abitest.FakeHost (no hostcall): the
//	            plugin's own code as V8 runs it, apart from Envoy
//	linked      nothing per request, but the whole plugin is linked in and
//	            its VM built: the same module size, package initialisation
//	            and Go heap as token-failover, none of its per-request work
package main

import (
	"bytes"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/abi/abitest"
	"github.com/token-failover/token-failover/plugin"
)

var (
	propRouteName = abi.Prop("xds", "route_name")
	off           = []byte("off")
)

// linked holds the plugin's VM for the "linked" operation, so the linker
// keeps all of the plugin and its Go heap is there.
var linked abi.VMContext

type vm struct{}

func (vm) OnVMStart(int) bool { return true }
func (vm) NewPluginContext(uint32) abi.PluginContext {
	return &root{}
}

type root struct {
	op      string
	omit    map[string]bool // floor's operations left out
	counter uint32
	work    *goWork
}

// goWork drives the plugin through one request's callbacks against a fake
// host inside the guest, as plugin.BenchmarkRequest_Native does natively.
type goWork struct {
	host *abitest.FakeHost
	d    *abi.Dispatcher
	next uint32
}

const goWorkConfig = `{"provider": {"type": "openai", "id": "demo", "apiTokens": ["sk-demo-token-alpha", "sk-demo-token-bravo", "sk-demo-token-charlie"],
  "modelMapping": {"gpt-4*": "gpt-4o-mini", "*": "gpt-4o-mini"}, "failover": {"enabled": true, "healthCheckModel": "gpt-4o-mini"}}}`

var (
	goWorkHeaders = []abi.HeaderPair{{":method", "POST"}, {":path", "/v1/chat/completions"}, {":authority", "localhost:10000"},
		{"content-type", "application/json"}, {"content-length", "1024"}, {"user-agent", "bench"}, {"accept", "*/*"}}
	goWorkBody = []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 960) + `"}]}`)
)

func newGoWork() *goWork {
	host := &abitest.FakeHost{Config: []byte(goWorkConfig), Properties: map[string]string{"xds.route_name": "llm", "xds.cluster_name": "llm"}}
	w := &goWork{host: host, d: abi.NewDispatcher(host, plugin.NewVM(host)), next: 2}
	w.d.OnContextCreate(1, 0)
	w.d.OnVMStart(1, 0)
	w.d.OnConfigure(1, len(goWorkConfig))
	return w
}

func (w *goWork) request() {
	h, id := w.host, w.next
	w.next++
	h.RequestHeaders = append(h.RequestHeaders[:0], goWorkHeaders...)
	h.RequestBody = append(h.RequestBody[:0], goWorkBody...)
	h.ResponseHeaders = append(h.ResponseHeaders[:0], abi.HeaderPair{":status", "200"})
	h.HeadersSent = false
	w.d.OnContextCreate(id, 1)
	w.d.OnRequestHeaders(id, len(goWorkHeaders), false)
	h.HeadersSent = true
	w.d.OnRequestBody(id, len(goWorkBody), true)
	w.d.OnResponseHeaders(id, 1, false)
	w.d.OnResponseBody(id, 10, true)
	w.d.OnDone(id)
}

func (r *root) OnConfigure(size int) bool {
	h := abi.WasmHost{}
	b, _ := h.GetBuffer(abi.BufferPluginConfig, 0, size)
	// "floor -name ..." leaves the named operations out of floor.
	words := strings.Fields(string(b))
	if len(words) > 0 {
		r.op = words[0]
	}
	r.omit = map[string]bool{}
	for _, w := range words[min(1, len(words)):] {
		r.omit[strings.TrimPrefix(w, "-")] = true
	}
	r.counter, _ = h.DefineMetric(abi.MetricCounter, "costprobe.requests")
	switch r.op {
	case "linked":
		linked = plugin.NewVM(h)
		linked.OnVMStart(0)
	case "gowork":
		r.work = newGoWork()
	}
	return true
}
func (*root) OnTick()                                  {}
func (*root) OnHTTPCallResponse(uint32, int, int, int) {}
func (*root) OnGRPCReceive(uint32, int)                {}
func (*root) OnGRPCClose(uint32, uint32)               {}
func (*root) OnDone() bool                             { return true }

func (r *root) NewHTTPContext(uint32) abi.HTTPContext {
	if r.op == "alloc" {
		return &big{r: r}
	}
	return stream{r}
}

// big is a stream context the size of the plugin's.
type big struct {
	r   *root
	pad [62]uint64
}

func (b *big) OnRequestHeaders(n int, eos bool) abi.Action {
	return stream{b.r}.OnRequestHeaders(n, eos)
}
func (*big) OnRequestBody(int, bool) abi.Action     { return abi.ActionContinue }
func (*big) OnRequestTrailers(int) abi.Action       { return abi.ActionContinue }
func (*big) OnResponseHeaders(int, bool) abi.Action { return abi.ActionContinue }
func (*big) OnResponseBody(int, bool) abi.Action    { return abi.ActionContinue }
func (*big) OnResponseTrailers(int) abi.Action      { return abi.ActionContinue }
func (*big) OnDone()                                {}

type stream struct{ r *root }

func (s stream) OnRequestHeaders(int, bool) abi.Action {
	h := abi.WasmHost{}
	switch s.r.op {
	case "hostcall":
		_ = h.IncrementMetric(s.r.counter, 1)
	case "getheader":
		_, _ = h.GetHeader(abi.MapRequestHeaders, ":authority")
	case "getheader5":
		for i := 0; i < 5; i++ {
			_, _ = h.GetHeader(abi.MapRequestHeaders, ":authority")
		}
	case "getheaders":
		_, _ = h.GetHeaders(abi.MapRequestHeaders)
	case "hostcall20":
		for i := 0; i < 20; i++ {
			_ = h.IncrementMetric(s.r.counter, 1)
		}
	case "gowork":
		s.r.work.request()
	case "floor":
		// The request side of token-failover with envoy.yaml: decode the
		// headers, read the route, keep it, read the pool's state and the
		// VM secret, set the credential and the provider's host, drop
		// content-length (the body's length changes).
		o := s.r.omit
		_, _ = h.GetHeaders(abi.MapRequestHeaders)
		if !o["route"] {
			_, _ = h.GetProperty(propRouteName)
		}
		if !o["setprop"] {
			_ = h.SetProperty("clear_route_cache", off)
		}
		if !o["shared"] {
			_, _, _ = h.GetSharedData("token-failover/demo/state")
			_, _, _ = h.GetSharedData("token-failover/demo/state")
		}
		_ = h.ReplaceHeader(abi.MapRequestHeaders, "authorization", "Bearer sk-demo-token-alpha")
		if !o["authority"] {
			_ = h.ReplaceHeader(abi.MapRequestHeaders, ":authority", "api.openai.com")
		}
		if !o["body"] {
			_ = h.RemoveHeader(abi.MapRequestHeaders, "content-length")
		}
	case "getheader20":
		for i := 0; i < 20; i++ {
			_, _ = h.GetHeader(abi.MapRequestHeaders, ":authority")
		}
	}
	return abi.ActionContinue
}

// OnRequestBody, for "floor": read the body and map its model the way the
// plugin does, with one set_buffer_bytes over the bytes up to the model's
// end (the bench's body starts {"model":"gpt-4o",).
func (s stream) OnRequestBody(size int, _ bool) abi.Action {
	if s.r.op != "floor" || s.r.omit["body"] {
		return abi.ActionContinue
	}
	h := abi.WasmHost{}
	if b, err := h.PeekBuffer(abi.BufferRequestBody, 0, size); err == nil {
		if end := bytes.Index(b, []byte(`"gpt-4o"`)); end > 0 {
			_ = h.SetBuffer(abi.BufferRequestBody, 0, end+len(`"gpt-4o"`), []byte(`{"model":"gpt-4o-mini"`))
		}
	}
	return abi.ActionContinue
}
func (stream) OnRequestTrailers(int) abi.Action { return abi.ActionContinue }

// OnResponseHeaders, for "floor": read the status.
func (s stream) OnResponseHeaders(int, bool) abi.Action {
	if s.r.op == "floor" {
		_, _ = abi.WasmHost{}.GetHeader(abi.MapResponseHeaders, ":status")
	}
	return abi.ActionContinue
}
func (stream) OnResponseBody(int, bool) abi.Action { return abi.ActionContinue }
func (stream) OnResponseTrailers(int) abi.Action   { return abi.ActionContinue }
func (stream) OnDone()                             {}

func init() { abi.SetVMContext(vm{}) }

func main() {}
