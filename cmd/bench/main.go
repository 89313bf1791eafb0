// Command bench measures what token-failover costs and how fast it reacts,
// side by side in one run, and writes the table to BENCHMARKS.md. Run it
// with ./build.sh bench (which builds the plugin and installs Envoy).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
)

func main() {
	rounds := flag.Int("rounds", 3, "interleaved rounds per Envoy variant")
	per := flag.Duration("duration", 5*time.Second, "load per variant per round")
	conns := flag.Int("conns", 16, "concurrent keep-alive connections")
	emuRequests := flag.Int("emulator-requests", 1_000_000, "requests for the emulator memory run")
	envoyRequests := flag.Int("envoy-requests", 200_000, "requests for the Envoy memory run")
	out := flag.String("out", "BENCHMARKS.md", "where to write the table")
	flag.Parse()
	var report strings.Builder
	if err := run(&report, *rounds, *per, *conns, *emuRequests, *envoyRequests); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Print(report.String())
	if err := os.WriteFile(*out, []byte(report.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
}

func run(w *strings.Builder, rounds int, per time.Duration, conns, emuRequests, envoyRequests int) error {
	bin, wasm, err := envoyrun.Tools()
	if err != nil {
		return err
	}
	version, _ := envoyrun.Version(bin)
	fmt.Fprintf(w, "# Benchmarks\n\n%s, %d cores (%s), Envoy %s. Command: `./build.sh bench`.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOARCH, version)

	mock := mockllm.New()
	addr, err := mock.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer mock.Close()
	fmt.Fprintln(os.Stderr, "starting three Envoys (bare, token-failover, Lua)...")
	variants := []struct{ name, filter string }{{"a. no filter", "none"}, {"b. token-failover", "wasm"}, {"c. Lua round-robin", "lua"}}
	envoys := make([]*envoyrun.Envoy, len(variants))
	for i, v := range variants {
		e, err := envoyrun.Start(envoyrun.Options{Bin: bin, Wasm: wasm, Upstream: addr, Filter: v.filter, Concurrency: 2})
		if e != nil {
			defer e.Stop()
		}
		if err != nil {
			return err
		}
		envoys[i] = e
	}
	results := make([][]loadResult, len(variants))
	for r := 0; r < rounds; r++ {
		for i, v := range variants {
			fmt.Fprintf(os.Stderr, "round %d/%d: %s\n", r+1, rounds, v.name)
			results[i] = append(results[i], load(envoys[i].Listen, per, conns, kibBody))
		}
	}
	med := make([]loadResult, len(variants))
	for i := range variants {
		med[i] = median(results[i])
	}
	fmt.Fprintf(w, "## 1. Envoy throughput and latency\n\nSame machine and run, same upstream (mockllm, in the bench process), "+
		"Envoy `--concurrency 2`, %d keep-alive connections, 1 KiB JSON chat body, %d interleaved rounds of %v each (median round shown). "+
		"b has failover on, 3 tokens and model mapping; c sets `Authorization` round-robin from a fixed list.\n\n", conns, rounds, per)
	fmt.Fprintf(w, "| variant | req/s | p50 | p99 | errors |\n|---|---:|---:|---:|---:|\n")
	for i, v := range variants {
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %d |\n", v.name, med[i].rps, us(med[i].p50), us(med[i].p99), med[i].errors)
	}
	a, b, c := med[0], med[1], med[2]
	fmt.Fprintf(w, "\nb/a throughput **%.2f** (goal ≥ 0.90); added p50 **%s**, added p99 **%s** (goal p50 < 100 µs); b/c throughput **%.2f** (goal ≥ 1).\n\n",
		b.rps/a.rps, us(b.p50-a.p50), us(b.p99-a.p99), b.rps/c.rps)

	for i, v := range variants {
		if med[i].errors > 0 {
			return fmt.Errorf("%s answered %d errors; its Envoy log: %s", v.name, med[i].errors, envoys[i].LogPath)
		}
	}
	if err := emulatorSections(w, emuRequests); err != nil {
		return err
	}

	fmt.Fprintf(os.Stderr, "Envoy memory run: %d requests...\n", envoyRequests)
	e := envoys[1]
	warm := envoyRequests / 10
	loadN(e.Listen, warm, conns, kibBody)
	rssStart, _ := e.RSS()
	loadN(e.Listen, envoyRequests-warm, conns, kibBody)
	rssEnd, _ := e.RSS()
	fmt.Fprintf(w, "Envoy RSS with token-failover over %d requests: %.1f MiB after warm-up (%d requests), %.1f MiB at the end (%+.1f%%).\n",
		envoyRequests, mib(rssStart), warm, mib(rssEnd), 100*float64(rssEnd-rssStart)/float64(rssStart))
	fmt.Fprintf(w, "\nWhere the time goes, and what would help: [docs/performance.md](docs/performance.md).\n")
	return nil
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func median(rs []loadResult) loadResult {
	s := append([]loadResult(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].rps < s[j].rps })
	return s[len(s)/2]
}
