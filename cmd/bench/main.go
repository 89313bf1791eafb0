// Command bench measures what token-failover costs a production Envoy and
// how fast it reacts, and writes BENCHMARKS.md. Run it with ./build.sh bench
// (which builds the plugin and installs Envoy); a quick look:
//
//	./build.sh bench -rounds 2 -n 200 -only a,b,e -sections cpu
//
// The headline is Envoy's CPU time per proxied request at a fixed,
// unsaturated rate, each variant against bare Envoy in the same round
// (rounds.go); then body scaling (bodyscale.go, emulator.go), the emulator's
// hot path, convergence, memory, and throughput at saturation. With
// -profile it instead prints a per-request guest profile from the emulator
// (profile.go) and writes nothing.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// settings are the command's flags.
type settings struct {
	rounds     int
	n          int
	rate       float64
	conns      int
	settle     time.Duration
	only       map[string]bool // nil: every variant
	sections   map[string]bool
	bodyRounds int

	satRounds   int
	satDuration time.Duration
	satConns    int

	emuRequests, envoyRequests int
	profileRequests            int
}

// allSections are the report's parts, in the order written.
const allSections = "cpu,body,emulator,memory,saturation"

// selected tells whether variant letter is to run (bare Envoy always is).
func (s settings) selected(letter string) bool {
	return s.only[letter] || letter == "a" || (s.only == nil && letter <= "g")
}

func main() {
	var s settings
	flag.IntVar(&s.rounds, "rounds", 20, "interleaved rounds of the CPU measurement")
	flag.IntVar(&s.n, "n", 2000, "requests per variant per round")
	flag.Float64Var(&s.rate, "rate", 500, "requests per second of the paced load (never exceeded)")
	flag.IntVar(&s.conns, "conns", 8, "keep-alive connections of the paced load")
	flag.DurationVar(&s.settle, "settle", 100*time.Millisecond, "pause before each CPU reading")
	only := flag.String("only", "", "comma-separated variant letters a-y to run (a, bare Envoy, always runs); empty: a-g (h, i are ablations of e; j-q price one kind of work over the null filter, r is e without Go's collector, s is e's hostcalls alone, t e's Go work alone, u-x s less one kind of work, y is e with the fleet tier on an idle etcd)")
	sections := flag.String("sections", allSections, "comma-separated parts of the report to produce")
	flag.IntVar(&s.bodyRounds, "body-rounds", 3, "rounds of the Envoy body-scaling measurement")
	flag.IntVar(&s.satRounds, "sat-rounds", 3, "interleaved rounds of the saturation runs")
	flag.DurationVar(&s.satDuration, "sat-duration", 5*time.Second, "load per variant per saturation round")
	flag.IntVar(&s.satConns, "sat-conns", 16, "connections of the saturation and Envoy memory runs")
	flag.IntVar(&s.emuRequests, "emulator-requests", 1_000_000, "requests of the emulator memory run")
	flag.IntVar(&s.envoyRequests, "envoy-requests", 200_000, "requests of the Envoy memory run")
	profile := flag.Bool("profile", false, "print a per-request guest profile (emulator, -tags tfstats) instead of the report")
	flag.IntVar(&s.profileRequests, "profile-requests", 2000, "measured requests per variant of -profile")
	out := flag.String("out", "BENCHMARKS.md", "where to write the report")
	flag.Parse()
	if *only != "" {
		s.only = set(*only)
		for letter := range s.only {
			if len(letter) != 1 || letter < "a" || letter > "y" {
				fail(fmt.Errorf("-only: unknown variant %q (have a-y)", letter))
			}
		}
	}
	s.sections = set(*sections)
	for name := range s.sections {
		if !strings.Contains(","+allSections+",", ","+name+",") {
			fail(fmt.Errorf("unknown section %q (have %s)", name, allSections))
		}
	}
	if *profile {
		if err := runProfile(os.Stdout, s); err != nil {
			fail(err)
		}
		return
	}
	var report strings.Builder
	warnings, err := run(&report, s)
	if err != nil {
		fail(err)
	}
	fmt.Print(report.String())
	if err := os.WriteFile(*out, []byte(report.String()), 0o644); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
	if len(warnings) > 0 {
		fail(fmt.Errorf("%s", strings.Join(warnings, "; ")))
	}
}

// fail reports err and exits.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// set splits a comma-xeparated list.
func set(list string) map[string]bool {
	m := map[string]bool{}
	for _, x := range strings.Split(list, ",") {
		if x = strings.TrimSpace(x); x != "" {
			m[x] = true
		}
	}
	return m
}

// header writes the title, the exact command, and the machine.
func header(w *strings.Builder, envoyVersion string) {
	args := make([]string, len(os.Args)-1)
	for i, a := range os.Args[1:] {
		args[i] = shellQuote(a)
	}
	cmd := "go run ./cmd/bench"
	if strings.HasSuffix(os.Getenv("WASM"), "/dist/token-failover.wasm") && os.Getenv("ENVOY_BIN") != "" {
		cmd = "./build.sh bench" // what build.sh runs
	}
	fmt.Fprintf(w, "# Benchmarks\n\nCommand: `%s`\n\n", strings.TrimSpace(cmd+" "+strings.Join(args, " ")))
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "%s; %d cores (%s, %s); Envoy %s; %s; load average at start %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), cpuModel(), runtime.GOARCH, envoyVersion,
		runtime.Version(), strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
}

// shellQuote quotes a for a POSIX shell when it needs it.
func shellQuote(a string) string {
	if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,=/:") == "" {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
