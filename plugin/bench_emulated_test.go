package plugin_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/token-failover/token-failover/wasmhost"
)

// kibBody is a 1 KiB chat completion body.
func kibBody() wasmhost.Request {
	r := wasmhost.Chat("gpt-4o")
	pad := strings.Repeat("x", 1024-len(r.Body)-len(`,"user":""`))
	r.Body = []byte(strings.TrimSuffix(string(r.Body), "}") + `,"user":"` + pad + `"}`)
	for i, h := range r.Headers {
		if h[0] == "content-length" {
			r.Headers[i][1] = "1024"
		}
	}
	return r
}

// BenchmarkRetry_Emulated: token 0 always answers 500 and random selection
// picks it for about half the requests, which are retried once on token 1.
// It reports the extra time of a retried request over a direct one.
func BenchmarkRetry_Emulated(b *testing.B) {
	tokens := threeTokens[:2]
	p := newProvider(tokens...)
	p.always(0, wasmhost.Status(500))
	h := start(b, `provider: {type: openai, apiTokens: [`+strings.Join(tokens, ", ")+`],
  modelMapping: {"gpt-4*": mapped}, failover: {enabled: true, failureThreshold: 1000000},
  retryOnFailure: {enabled: true}}`, p)
	vm, req := h.Workers()[0], kibBody()
	var direct, retried time.Duration
	var nd, nr int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.requests = p.requests[:0]
		t0 := time.Now()
		if _, err := vm.Do(req); err != nil {
			b.Fatal(err)
		}
		if took := time.Since(t0); len(p.requests) == 2 {
			retried, nr = retried+took, nr+1
		} else {
			direct, nd = direct+took, nd+1
		}
	}
	if nd > 0 && nr > 0 {
		b.ReportMetric(float64((retried/time.Duration(nr) - direct/time.Duration(nd)).Microseconds()), "retry-extra-µs")
		b.ReportMetric(float64(nr)/float64(nd+nr), "retried-share")
	}
}

// BenchmarkRequest_Emulated is the hot path through the built .wasm: request
// headers + 1 KiB body (model mapped) + response headers and body, then
// log/done/delete, on one worker VM. ns/op is per request; B/op and
// allocs/op are the host side (Go test process), not the guest.
func BenchmarkRequest_Emulated(b *testing.B) {
	tokens := strings.Join(threeTokens, ", ")
	for _, mode := range []struct{ name, config string }{
		{"failover-on", `provider: {type: openai, apiTokens: [` + tokens + `], modelMapping: {"gpt-4*": mapped}, failover: {enabled: true}}`},
		{"failover-off", `provider: {type: openai, apiTokens: [` + tokens + `], modelMapping: {"gpt-4*": mapped}}`},
		// Baseline: the plugin is loaded but no rule matches the request,
		// so this is the emulator's own cost of a stream.
		{"pass-through", `_rules_: [{_match_domain_: [nowhere.example], provider: {type: openai, apiTokens: [` + tokens + `]}}]`},
	} {
		b.Run(mode.name, func(b *testing.B) {
			p := newProvider(threeTokens...)
			h := start(b, mode.config, p, func(o *wasmhost.Options) {
				if gc := os.Getenv("GUEST_GOGC"); gc != "" {
					o.Env = []string{"GOGC=" + gc}
				}
			})
			vm := h.Workers()[0]
			req := kibBody()
			b.ReportAllocs()
			b.ResetTimer()

			for i := 0; i < b.N; i++ {
				if _, err := vm.Do(req); err != nil {
					b.Fatal(err)
				}
				p.requests = p.requests[:0]
			}
			b.StopTimer()

			b.ReportMetric(float64(vm.MemoryBytes())/(1<<20), "guest-MiB")
		})
	}
}

// BenchmarkRetry_InFlightMemory_Emulated holds 400 requests with a 64 KiB
// body in flight (sent, not yet answered) on one worker VM and reports the
// guest memory each one takes, with retryOnFailure (the plugin keeps the
// body for a retry until the answer's headers) and without (what upstream
// mode costs in the plugin too: there Envoy's router keeps the body, on
// Envoy's heap). Go's heap only grows, so the figure is the growth over a
// warmed-up VM divided by the requests.
func BenchmarkRetry_InFlightMemory_Emulated(b *testing.B) {
	const inFlight = 400
	prompt := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("m", 64<<10) + `"}]}`
	for _, mode := range []struct{ name, extra string }{
		{"retry-on", `, retryOnFailure: {enabled: true}`},
		{"retry-off", ``},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var perReq float64
			for i := 0; i < b.N; i++ {
				p := newProvider(threeTokens...)
				h := start(b, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], modelMapping: {"gpt-4*": mapped},
  failover: {enabled: true}`+mode.extra+`}`, p, func(o *wasmhost.Options) { o.Workers = 1 })
				w := h.Workers()[0]
				for j := 0; j < 50; j++ { // warm up: the heap reaches its working size
					if _, err := w.Do(chatRequest(prompt)); err != nil {
						b.Fatal(err)
					}
				}
				before := w.MemoryBytes()
				streams := make([]*wasmhost.Stream, 0, inFlight)
				for j := 0; j < inFlight; j++ {
					s, err := w.Start(chatRequest(prompt))
					if err != nil {
						b.Fatal(err)
					}
					streams = append(streams, s)
				}
				perReq = float64(w.MemoryBytes()-before) / inFlight
				for _, s := range streams {
					if err := s.Respond(wasmhost.OK()); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(perReq/1024, "guest-KiB/in-flight")
		})
	}
}
