package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// benchTokens are the tokens of benchConfig.
var benchTokens = []string{"bench-token-alpha", "bench-token-bravo", "bench-token-charlie"}

// benchConfig is a one-provider configuration with model mapping, plus extra
// provider fields (", failover: {enabled: true}").
func benchConfig(extra string) string {
	return `provider: {type: openai, apiTokens: [` + strings.Join(benchTokens, ", ") + `], modelMapping: {"gpt-4*": mapped}` + extra + `}`
}

// chatOfSize is wasmhost.Chat padded to n bytes of body.
func chatOfSize(n int) wasmhost.Request {
	r := wasmhost.Chat("gpt-4o")
	pad := n - len(r.Body) - len(`,"user":""`)
	if pad < 0 {
		pad = 0
	}
	r.Body = []byte(strings.TrimSuffix(string(r.Body), "}") + `,"user":"` + strings.Repeat("x", pad) + `"}`)
	for i, h := range r.Headers {
		if h[0] == "content-length" {
			r.Headers[i][1] = fmt.Sprint(len(r.Body))
		}
	}
	return r
}

// okCluster answers every request 200.
func okCluster(*wasmhost.UpstreamRequest) wasmhost.Reply { return wasmhost.OK() }

// emulatorHotPath writes the emulator's time per request for three
// configurations (host side only: the guest's own allocations are in the
// -profile mode).
func emulatorHotPath(w *strings.Builder) error {
	fmt.Fprintln(os.Stderr, "emulator hot path...")
	fmt.Fprintf(w, "The built .wasm in wasmhost (wazero compiler), one worker VM: request headers + 1 KiB body (model mapped) + response headers and body + log/done/delete. Median of 3 runs; allocations are the host side's.\n\n")
	fmt.Fprintf(w, "| mode | ns/request | host allocs/request |\n|---|---:|---:|\n")
	for _, m := range []struct{ name, cfg string }{
		{"failover on", benchConfig(", failover: {enabled: true}")},
		{"failover off", benchConfig("")},
		{"pass-through (no rule matches: the emulator's own cost)", passThroughConfig},
	} {
		h, err := wasmhost.New(wasmhost.Options{Config: []byte(m.cfg), Workers: 1, SkipCanary: true,
			Clusters: map[string]wasmhost.Cluster{"llm": okCluster}})
		if err != nil {
			return err
		}
		vm, req := h.Workers()[0], chatOfSize(1024)
		var runs []testing.BenchmarkResult
		for i := 0; i < 3; i++ {
			runs = append(runs, testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for j := 0; j < b.N; j++ {
					if _, err := vm.Do(req); err != nil {
						b.Fatal(err)
					}
				}
			}))
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i].NsPerOp() < runs[j].NsPerOp() })
		fmt.Fprintf(w, "| %s | %d | %d |\n", m.name, runs[1].NsPerOp(), runs[1].AllocsPerOp())
		h.Close()
	}
	fmt.Fprintln(w)
	return nil
}

// emulatorBodyScaling writes the emulator's time per request and marginal
// time per KiB (over the 1 KiB body with the model in the same place) for
// every body size and model position, with the shipped configuration and
// with the null module (the emulator's own cost of moving the body), and
// the guest memory each size takes.
func emulatorBodyScaling(w *strings.Builder, cfg, null string) error {
	fmt.Fprintln(os.Stderr, "emulator body scaling...")
	fmt.Fprintf(w, "**In the emulator** (wall time; `envoy.yaml`'s configuration, one worker VM, the body in one chunk). "+
		"Per KiB is the time per request minus the 1 KiB request's (same model position), divided by the KiB added; "+
		"the null module's per KiB is the emulator's own cost of moving the body, so plugin − null is what the plugin adds per KiB, "+
		"as e − a is in Envoy. "+
		"Guest memory growth is the VM's linear memory after the runs minus before (Go's heap never returns memory to wasm, so this is the peak).\n\n")
	fmt.Fprintf(w, "| body | model | time/request | µs per KiB | null µs per KiB | plugin − null µs per KiB | guest memory growth | growth / body |\n"+
		"|---|---|---:|---:|---:|---:|---:|---:|\n")
	base, nullBase := map[bool]time.Duration{}, map[bool]time.Duration{}
	for _, size := range bodySizes {
		for _, o := range bodyOrders {
			body := chatBody(size, o.first)
			per, growth, err := emulatorBodyRun(cfg, "", body, size)
			if err != nil {
				return err
			}
			nullPer, _, err := emulatorBodyRun(cfg, null, body, size)
			if err != nil {
				return err
			}
			perKiB, nullKiB, diff := "—", "—", "—"
			if size == bodySizes[0] {
				base[o.first], nullBase[o.first] = per, nullPer
			} else {
				kibs := float64(size-bodySizes[0]) / 1024
				p, np := float64(per-base[o.first])/1e3/kibs, float64(nullPer-nullBase[o.first])/1e3/kibs
				perKiB, nullKiB, diff = fmt.Sprintf("%.3f", p), fmt.Sprintf("%.3f", np), fmt.Sprintf("**%.3f**", p-np)
			}
			fmt.Fprintf(w, "| %s | %s | %.1f µs | %s | %s | %s | %.1f MiB | %.1fx |\n", kib(size), o.name, float64(per)/1e3,
				perKiB, nullKiB, diff, float64(growth)/(1<<20), float64(growth)/float64(size))
		}
	}
	fmt.Fprintln(w)
	return nil
}

// emulatorBodyRun times requests with body through one fresh worker VM of
// the plugin (wasmPath "") or another module, and returns the time per
// request and the VM's memory growth.
func emulatorBodyRun(cfg, wasmPath string, body []byte, size int) (time.Duration, int64, error) {
	h, err := wasmhost.New(wasmhost.Options{Config: []byte(cfg), Workers: 1, SkipCanary: true, WasmPath: wasmPath,
		Clusters: map[string]wasmhost.Cluster{"llm": okCluster}})
	if err != nil {
		return 0, 0, err
	}
	defer h.Close()
	vm := h.Workers()[0]
	before := vm.MemoryBytes()
	n := max(5, (4<<20)/size*4)
	if err := doRequests(vm, body, 1); err != nil { // grows the heap, untimed
		return 0, 0, err
	}
	start := time.Now()
	if err := doRequests(vm, body, n); err != nil {
		return 0, 0, err
	}
	return time.Since(start) / time.Duration(n), int64(vm.MemoryBytes()) - int64(before), nil
}

// doRequests sends n requests with body through vm.
func doRequests(vm *wasmhost.VM, body []byte, n int) error {
	for i := 0; i < n; i++ {
		if _, err := vm.Do(emulatorRequest(body, i)); err != nil {
			return err
		}
	}
	return nil
}

// convergenceSection writes how many requests reach a failing token before
// it is demoted, and how long a healed token takes to come back.
func convergenceSection(w *strings.Builder) error {
	fmt.Fprintln(os.Stderr, "convergence...")
	fmt.Fprintf(w, "Emulator, 4 workers, 4 requests in flight. Requests that reached a token after it started answering 500, and virtual time from heal to restoration with `healthCheckInterval: 1000` (probes at the lease holder's 1 s tick).\n\n")
	fmt.Fprintf(w, "| failureThreshold | requests reaching the failing token | of which in flight at demotion | heal → restored |\n|---:|---:|---:|---:|\n")
	for _, threshold := range []int{1, 3, 10} {
		reached, inflight, restore, err := convergence(threshold)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "| %d | %d | %d | %s |\n", threshold, reached, inflight, restore)
	}
	fmt.Fprintln(w)
	return nil
}

// emulatorMemory writes a worker VM's linear memory over a long run.
func emulatorMemory(w *strings.Builder, longRun int) error {
	fmt.Fprintf(os.Stderr, "emulator memory run: %d requests...\n", longRun)
	h, err := wasmhost.New(wasmhost.Options{Config: []byte(benchConfig(", failover: {enabled: true}")), Workers: 1, SkipCanary: true,
		Clusters: map[string]wasmhost.Cluster{"llm": okCluster}})
	if err != nil {
		return err
	}
	defer h.Close()
	vm, req := h.Workers()[0], chatOfSize(1024)
	var warm uint32
	for i := 0; i < longRun; i++ {
		if _, err := vm.Do(req); err != nil {
			return err
		}
		if i == longRun/10 {
			warm = vm.MemoryBytes()
		}
	}
	fmt.Fprintf(w, "Wasm linear memory of a worker VM over %d emulator requests (failover on): %.2f MiB after 10%%, %.2f MiB at the end; live streams at the end: %d.\n",
		longRun, float64(warm)/(1<<20), float64(vm.MemoryBytes())/(1<<20), vm.LiveStreams())
	return nil
}

// convergence counts requests reaching a 500-ing token until it is demoted
// (4 workers, 4 in flight), then heals it and measures the virtual time
// until a probe restores it.
func convergence(threshold int) (reached, inflightAtDemotion int, restore time.Duration, err error) {
	failing := true
	cluster := func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		if r.Header("authorization") == "Bearer "+benchTokens[1] {
			if failing {
				return wasmhost.Status(500)
			}
		}
		return wasmhost.OK()
	}
	cfg := fmt.Sprintf(`provider: {type: openai, apiTokens: [%s], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: %d, healthCheckInterval: 1000}}`, strings.Join(benchTokens, ", "), threshold)
	h, err := wasmhost.New(wasmhost.Options{Config: []byte(cfg), Clusters: map[string]wasmhost.Cluster{"llm": cluster}})
	if err != nil {
		return 0, 0, 0, err
	}
	defer h.Close()
	key := ""
	for _, k := range h.SharedKeys() {
		if strings.HasSuffix(k, "/state") {
			key = k
		}
	}
	status := func() failover.Status {
		v, _, _ := h.SharedData(key)
		p, _ := failover.Decode(v, 3)
		return p.Tokens[1].Status
	}
	workers := h.Workers()
	var queue []*wasmhost.Stream
	demoted := false
	for i := 0; i < 400; i++ {
		s, err := workers[i%4].Start(wasmhost.Chat("gpt-4o"))
		if err != nil {
			return 0, 0, 0, err
		}
		queue = append(queue, s)
		if len(queue) < 4 {
			continue
		}
		s, queue = queue[0], queue[1:]
		if err := s.Respond(cluster(s.Upstream)); err != nil {
			return 0, 0, 0, err
		}
		if s.Upstream.Header("authorization") == "Bearer "+benchTokens[1] {
			reached++
			if demoted {
				inflightAtDemotion++
			}
		}
		if !demoted && status() == failover.Unhealthy {
			demoted = true
		}
	}
	for _, s := range queue {
		if err := s.Respond(cluster(s.Upstream)); err != nil {
			return 0, 0, 0, err
		}
		if s.Upstream.Header("authorization") == "Bearer "+benchTokens[1] {
			reached++
			inflightAtDemotion++
		}
	}
	failing = false
	healed := h.Now()
	for i := 0; i < 400 && status() != failover.Available; i++ {
		if err := h.Advance(50 * time.Millisecond); err != nil {
			return 0, 0, 0, err
		}
	}
	return reached, inflightAtDemotion, h.Now().Sub(healed), nil
}
