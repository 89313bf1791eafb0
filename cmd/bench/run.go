package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/etcdrun"
)

// run produces every selected section into w. Warnings (failed requests,
// a rate not reached) are written into the report too; the command then
// exits non-zero.
func run(w *strings.Builder, s settings) (warnings []string, err error) {
	bin, wasm, err := envoyrun.Tools()
	if err != nil {
		return nil, err
	}
	version, _ := envoyrun.Version(bin)
	header(w, version)
	dir, err := os.MkdirTemp("", "token-failover-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building the null module...")
	null, err := buildModule(dir, "./wasmhost/testdata/null", "null.wasm")
	if err != nil {
		return nil, err
	}
	probe, err := buildModule(dir, "./wasmhost/testdata/costprobe", "costprobe.wasm")
	if err != nil {
		return nil, err
	}
	all, err := variants(wasm, null, probe)
	if err != nil {
		return nil, err
	}
	byLetter := map[string]*variant{}
	var vs []*variant
	for _, v := range all {
		if s.selected(v.letter) {
			vs = append(vs, v)
			byLetter[v.letter] = v
		}
	}
	up, err := startUpstream()
	if err != nil {
		return nil, err
	}
	defer up.close()
	if s.sections["cpu"] || s.sections["body"] || s.sections["memory"] || s.sections["saturation"] {
		etcd := ""
		for _, v := range vs {
			if v.etcd && etcd == "" { // one etcd member for the fleet variant
				store, err := etcdrun.Start(1, "")
				if err != nil {
					return nil, fmt.Errorf("%s: %w (./build.sh etcd builds it)", v.label(), err)
				}
				defer store.Stop()
				etcd = store.Members[0].Client
			}
		}
		fmt.Fprintf(os.Stderr, "starting %d Envoys...\n", len(vs))
		for _, v := range vs {
			err := v.start(bin, up.addr, etcd, s.conns)
			defer v.stop()
			if err != nil {
				return nil, err
			}
		}
	}
	seed := uint64(time.Now().UnixNano())
	n := 0
	section := func(title string) {
		n++
		fmt.Fprintf(w, "## %d. %s\n\n", n, title)
	}

	if s.sections["cpu"] {
		section("Envoy CPU per proxied request")
		res, err := cpuRounds(vs, up, s, seed)
		if err != nil {
			return nil, err
		}
		writeCPUTable(w, vs, res, s, seed)
		for i, v := range vs {
			errs, slow := 0, 0
			for _, x := range res[i] {
				errs += x.errors
				if x.achieved < 0.95*s.rate {
					slow++
				}
			}
			if errs > 0 {
				warnings = append(warnings, fmt.Sprintf("%s: %d failed requests (Envoy log %s)", v.label(), errs, v.envoy.LogPath))
			}
			if slow > 0 {
				warnings = append(warnings, fmt.Sprintf("%s: %d of %d rounds below 95%% of %.0f req/s (saturated?)", v.label(), slow, s.rounds, s.rate))
			}
		}
	}
	if s.sections["body"] {
		section("Body size scaling")
		if err := emulatorBodyScaling(w, shippedVariant(all).config, null); err != nil {
			return nil, err
		}
		if a, e := byLetter["a"], byLetter["e"]; e != nil {
			if err := envoyBodyScaling(w, a, e, up, s, seed); err != nil {
				return nil, err
			}
		} else {
			fmt.Fprintf(w, "(In Envoy: not run; it needs variant e.)\n\n")
		}
	}
	if s.sections["emulator"] {
		section("Emulator hot path")
		if err := emulatorHotPath(w); err != nil {
			return nil, err
		}
		section("Convergence")
		if err := convergenceSection(w); err != nil {
			return nil, err
		}
	}
	if s.sections["memory"] {
		section("Memory")
		if err := emulatorMemory(w, s.emuRequests); err != nil {
			return nil, err
		}
		if e := byLetter["e"]; e != nil {
			if err := envoyMemory(w, e, up, s); err != nil {
				return nil, err
			}
		}
		fmt.Fprintln(w)
	}
	if s.sections["saturation"] {
		section("Throughput at saturation, for reference")
		warnings = append(warnings, saturation(w, vs, up, s)...)
	}
	fmt.Fprintf(w, "Where the time goes, and what would help: [docs/performance.md](docs/performance.md).\n")
	if len(warnings) > 0 {
		fmt.Fprintf(w, "\n**Warnings:** %s.\n", strings.Join(warnings, "; "))
	}
	return warnings, nil
}

// shippedVariant is e, the plugin with envoy.yaml's configuration.
func shippedVariant(all []*variant) *variant {
	for _, v := range all {
		if v.letter == "e" {
			return v
		}
	}
	panic("bench: no variant e")
}

// envoyMemory writes Envoy's RSS over a long saturating run of variant e.
func envoyMemory(w *strings.Builder, e *variant, up *upstream, s settings) error {
	fmt.Fprintf(os.Stderr, "Envoy memory run: %d requests...\n", s.envoyRequests)
	if err := up.fresh(); err != nil {
		return err
	}
	c, body := newLoadClient(e.envoy.Listen, s.satConns), chatBody(1024, true)
	warm := s.envoyRequests / 10
	c.sendN(warm, body)
	rssStart, _ := e.envoy.RSS()
	c.sendN(s.envoyRequests-warm, body)
	rssEnd, _ := e.envoy.RSS()
	fmt.Fprintf(w, "Envoy RSS with %s over %d requests: %.1f MiB after warm-up (%d requests), %.1f MiB at the end (%+.1f%%).\n",
		e.label(), s.envoyRequests, mib(rssStart), warm, mib(rssEnd), 100*float64(rssEnd-rssStart)/float64(rssStart))
	return nil
}

// saturation is the old headline, kept for reference: how many requests
// per second a, e and c serve with every connection busy, and at what
// latency. It returns warnings for failed requests.
func saturation(w *strings.Builder, vs []*variant, up *upstream, s settings) (warnings []string) {
	var sat []*variant
	for _, letter := range []string{"a", "e", "c"} {
		for _, v := range vs {
			if v.letter == letter {
				sat = append(sat, v)
			}
		}
	}
	results := make([][]loadResult, len(sat))
	body := chatBody(1024, true)
	for r := 0; r < s.satRounds; r++ {
		for i, v := range sat {
			fmt.Fprintf(os.Stderr, "saturation round %d/%d: %s\n", r+1, s.satRounds, v.label())
			if err := up.fresh(); err != nil {
				return []string{err.Error()}
			}
			results[i] = append(results[i], newLoadClient(v.envoy.Listen, s.satConns).saturate(s.satDuration, body))
		}
	}
	fmt.Fprintf(w, "Not a production figure (nobody runs Envoy at 100%% CPU): every one of %d keep-alive connections busy, "+
		"1 KiB chat body, %d interleaved rounds of %v each, median round by throughput. The same Envoys and upstream as the CPU measurement.\n\n",
		s.satConns, s.satRounds, s.satDuration)
	fmt.Fprintf(w, "| variant | req/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|\n")
	med := map[string]loadResult{}
	for i, v := range sat {
		m := medianByRate(results[i])
		med[v.letter] = m
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %d |\n", v.label(), m.rps, us(m.p50), us(m.p99), m.errors)
		if m.errors > 0 {
			warnings = append(warnings, fmt.Sprintf("%s: %d failed requests at saturation (Envoy log %s)", v.label(), m.errors, v.envoy.LogPath))
		}
	}
	a, e, c := med["a"], med["e"], med["c"]
	if e.rps > 0 && c.rps > 0 {
		fmt.Fprintf(w, "\ne/a throughput **%.2f**; added p50 **%s**, added p99 **%s**; e/c throughput **%.2f**.\n",
			e.rps/a.rps, us(e.p50-a.p50), us(e.p99-a.p99), e.rps/c.rps)
	}
	fmt.Fprintln(w)
	return warnings
}

// us formats a duration in whole microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

// mib converts bytes to MiB.
func mib(b int64) float64 { return float64(b) / (1 << 20) }

// medianByRate is the round with the median throughput.
func medianByRate(rs []loadResult) loadResult {
	s := append([]loadResult(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].rps < s[j].rps })
	return s[len(s)/2]
}
