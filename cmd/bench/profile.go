package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/token-failover/token-failover/wasmhost"
)

// The -profile mode: the plugin and the null module built with -tags
// tfstats (abi/stats_tfstats.go) run K requests each through the emulator;
// the guest's own counters give callbacks, hostcalls, bytes across the
// boundary, allocation callbacks and Go allocations per request, and the
// bench times the three steps of each request from outside.

// phases are the steps of a request the bench can time from outside the
// emulator (it calls into the guest only through them).
var phases = []string{"open", "request body", "answer"}

// profile is one variant's per-request figures.
type profile struct {
	counts map[string]float64 // tfstats counters per request
	phase  [][]float64        // µs each measured request spent in each phase
	calls  []string           // the callbacks each phase ran, for one request
}

// runProfile builds the tfstats modules and profiles every selected wasm
// variant, writing one markdown table.
func runProfile(w io.Writer, s settings) error {
	dir, err := os.MkdirTemp("", "token-failover-profile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building the plugin, the null module and the cost probe with -tags tfstats...")
	plugin, err := buildModule(dir, ".", "token-failover-tfstats.wasm", "tfstats")
	if err != nil {
		return err
	}
	null, err := buildModule(dir, "./wasmhost/testdata/null", "null-tfstats.wasm", "tfstats")
	if err != nil {
		return err
	}
	probe, err := buildModule(dir, "./wasmhost/testdata/costprobe", "costprobe-tfstats.wasm", "tfstats")
	if err != nil {
		return err
	}
	all, err := variants(plugin, null, probe)
	if err != nil {
		return err
	}
	var vs []*variant
	var ps []profile
	for _, v := range all {
		if v.filter != "wasm" || !s.selected(v.letter) {
			continue
		}
		fmt.Fprintf(os.Stderr, "profiling %s...\n", v.label())
		p, err := profileVariant(v, s.profileRequests)
		if err != nil {
			return fmt.Errorf("%s: %w", v.label(), err)
		}
		vs, ps = append(vs, v), append(ps, p)
	}
	if len(vs) == 0 {
		return errors.New("bench: -only selects no wasm variant (b, d, e, f, g) to profile")
	}
	writeProfile(w, vs, ps, s.profileRequests)
	return nil
}

// maxWarmupBatches bounds the warm-up: batches of k requests until the
// guest has collected garbage once (its first collection costs tens of
// milliseconds in the emulator, a one-off that must not land in the
// measured window); the null module allocates nothing and never does.
const maxWarmupBatches = 10

// profileVariant warms one worker VM up (see maxWarmupBatches), runs k
// measured requests on it, and returns the difference of the tfstats lines
// the VM wrote before and after them (it writes one every k streams), per
// request, with the time of each phase of each measured request.
func profileVariant(v *variant, k int) (profile, error) {
	h, err := wasmhost.New(wasmhost.Options{WasmPath: v.wasm, Config: []byte(v.config), Workers: 1, SkipCanary: true,
		Trace: true, Env: []string{"TFSTATS_EVERY=" + strconv.Itoa(k)},
		Clusters: map[string]wasmhost.Cluster{"llm": okCluster}})
	if err != nil {
		return profile{}, err
	}
	defer h.Close()
	vm, body := h.Workers()[0], chatBody(1024, true)
	p := profile{phase: make([][]float64, len(phases))}
	sent := 0
	for batch := 0; batch <= maxWarmupBatches; batch++ {
		lines := statsLines(vm)
		if batch > 0 && (len(lines) == 0 || lines[len(lines)-1]["go_gcs"] > 0) {
			break
		}
		for i := 0; i < k; i++ {
			if _, _, err := phased(h, vm, emulatorRequest(body, sent)); err != nil {
				return p, err
			}
			sent++
		}
	}
	for i := 0; i < k; i++ {
		took, calls, err := phased(h, vm, emulatorRequest(body, sent))
		if err != nil {
			return p, err
		}
		sent++
		for j, d := range took {
			p.phase[j] = append(p.phase[j], float64(d)/1e3)
		}
		if p.calls == nil {
			p.calls = calls
		}
	}
	lines := statsLines(vm)
	if len(lines) < 2 {
		return p, fmt.Errorf("%d tfstats lines in the worker's log, want 2 or more: does abi call its stats hooks "+
			"(statsCallback in exports_wasip1.go, statsHostcall in hostcalls_wasip1.go)?", len(lines))
	}
	first, last := lines[len(lines)-2], lines[len(lines)-1]
	p.counts = map[string]float64{}
	for key, n := range last {
		if key != "go_heap_bytes" {
			p.counts[key] = (n - first[key]) / float64(k)
		}
	}
	p.counts["go_heap_bytes"] = last["go_heap_bytes"]
	return p, nil
}

// statsLines reads the tfstats lines of a VM's log.
func statsLines(vm *wasmhost.VM) []map[string]float64 {
	var lines []map[string]float64
	for _, l := range vm.Logs() {
		if rest, ok := strings.CutPrefix(l.Message, "tfstats "); ok {
			lines = append(lines, parseStats(rest))
		}
	}
	return lines
}

// phased sends one request step by step, timing each step and noting the
// callbacks it ran: open (context create, request headers), the request
// body, and the answer (response headers and body, then log, done, delete).
func phased(h *wasmhost.Host, vm *wasmhost.VM, req wasmhost.Request) ([]time.Duration, []string, error) {
	h.Trace() // forget earlier callbacks
	took := make([]time.Duration, len(phases))
	calls := make([]string, len(phases))
	note := func(i int, start time.Time) {
		took[i] = time.Since(start)
		var names []string
		for _, c := range h.Trace() {
			_, name, _ := strings.Cut(c, ":")
			names = append(names, strings.TrimPrefix(name, "proxy_on_"))
		}
		calls[i] = strings.Join(names, ", ")
	}
	start := time.Now()
	s, err := vm.Open(req)
	note(0, start)
	if err != nil {
		return nil, nil, err
	}
	start = time.Now()
	err = s.SendAll()
	note(1, start)
	if err != nil {
		return nil, nil, err
	}
	if s.Upstream == nil || s.Ended() {
		return nil, nil, errors.New("the request did not go upstream")
	}
	start = time.Now()
	err = s.Respond(okCluster(s.Upstream))
	note(2, start)
	if err == nil && !s.Ended() {
		err = errors.New("the stream did not end with its answer")
	}
	return took, calls, err
}

// parseStats reads "key=n key=n ..." into a map.
func parseStats(line string) map[string]float64 {
	out := map[string]float64{}
	for _, f := range strings.Fields(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			n, _ := strconv.ParseFloat(v, 64)
			out[k] = n
		}
	}
	return out
}

// writeProfile writes one column per variant.
func writeProfile(w io.Writer, vs []*variant, ps []profile, k int) {
	fmt.Fprintf(w, "## Guest profile per request (emulator, -tags tfstats)\n\n")
	fmt.Fprintf(w, "Each variant: one worker VM (wazero), warmed up with batches of %d requests until its first Go GC (at most %d batches), then %d measured: a 1 KiB chat body with the headers Envoy "+
		"would pass, answered 200. Counts are the guest's own (abi/stats_tfstats.go), per request; times are wall time in the emulator "+
		"(host side included, with the tfstats and trace bookkeeping), per request: the mean carries the Go GCs that fell in the window, the median is a request without one. Bytes to the host are what the guest passes "+
		"(keys, values, bodies, encoded maps); bytes from the host are what it copies in through proxy_on_memory_allocate. "+
		"The Go runtime's own WASI calls are not counted.\n\n", k, maxWarmupBatches, k)
	fmt.Fprintf(w, "| per request |")
	for _, v := range vs {
		fmt.Fprintf(w, " %s |", v.label())
	}
	fmt.Fprintf(w, "\n|---|%s\n", strings.Repeat("---:|", len(vs)))
	row := func(label string, cell func(p profile) string) {
		fmt.Fprintf(w, "| %s |", label)
		for _, p := range ps {
			fmt.Fprintf(w, " %s |", cell(p))
		}
		fmt.Fprintln(w)
	}
	count := func(key string, scale float64) func(profile) string {
		return func(p profile) string { return trimFloat(p.counts[key] * scale) }
	}
	sum := func(prefix string) func(profile) string {
		return func(p profile) string {
			t := 0.0
			for key, n := range p.counts {
				if strings.HasPrefix(key, prefix) {
					t += n
				}
			}
			return "**" + trimFloat(t) + "**"
		}
	}
	for _, group := range []struct{ prefix, label string }{{"cb.", "callbacks"}, {"hc.", "hostcalls"}} {
		row(group.label, sum(group.prefix))
		for _, key := range keysWithPrefix(ps, group.prefix) {
			row("· "+strings.TrimPrefix(key, group.prefix), count(key, 1))
		}
	}
	row("proxy_on_memory_allocate", count("memory_allocate", 1))
	row("bytes guest → host", count("bytes_to_host", 1))
	row("bytes host → guest", count("bytes_from_host", 1))
	row("Go allocations", count("go_mallocs", 1))
	row("Go bytes allocated", count("go_alloc_bytes", 1))
	row("GCs per 1,000 requests", count("go_gcs", 1000))
	row("Go heap at the end (bytes, not per request)", count("go_heap_bytes", 1))
	row("**time, µs: mean / median**", func(p profile) string {
		var total []float64
		for r := range p.phase[0] {
			t := 0.0
			for j := range p.phase {
				t += p.phase[j][r]
			}
			total = append(total, t)
		}
		return fmt.Sprintf("**%.1f** / %.1f", mean(total), quantile(total, 0.5))
	})
	for i, name := range phases {
		row("· "+name+" ("+ps[0].calls[i]+")", func(p profile) string {
			cell := fmt.Sprintf("%.1f / %.1f", mean(p.phase[i]), quantile(p.phase[i], 0.5))
			if p.calls[i] != ps[0].calls[i] {
				cell += " (" + p.calls[i] + ")"
			}
			return cell
		})
	}
	fmt.Fprintln(w)
}

// mean is the arithmetic mean of xs (0 when empty).
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

// keysWithPrefix lists, sorted, the counters with prefix any profile has.
func keysWithPrefix(ps []profile, prefix string) []string {
	seen := map[string]bool{}
	for _, p := range ps {
		for key, n := range p.counts {
			if strings.HasPrefix(key, prefix) && n != 0 {
				seen[key] = true
			}
		}
	}
	var keys []string
	for key := range seen {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

// trimFloat prints a count with up to two decimals, without trailing zeros
// (two significant digits below 0.01, so a rare call does not read as 0).
func trimFloat(x float64) string {
	if x != 0 && x > -0.01 && x < 0.01 {
		return strconv.FormatFloat(x, 'g', 2, 64)
	}
	s := strconv.FormatFloat(x, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-" {
		return "0"
	}
	return s
}
