package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"
)

// window is one measured stretch of paced load on one Envoy.
type window struct {
	cpuPerRequest float64 // µs of Envoy CPU per request
	achieved      float64 // requests per second actually sent
	errors        int
}

// measure sends n requests at rate to v's Envoy and returns the Envoy CPU
// they cost. The connections are warmed first; settle is waited before the
// first reading (the warm-up's tail) and before the second (Envoy ends a
// stream, calling the filter's log/done/delete, after the answer left).
func measure(v *variant, n int, rate float64, body []byte, settle time.Duration) (window, error) {
	if err, exited := v.envoy.Exited(); exited {
		return window{}, fmt.Errorf("%s: Envoy exited (%v); log: %s", v.label(), err, v.envoy.LogPath)
	}
	v.client.warm(body)
	time.Sleep(settle)
	before, err := cpuTime(v.envoy.PID())
	if err != nil {
		return window{}, err
	}
	achieved, errs := v.client.paced(n, rate, body)
	time.Sleep(settle)
	after, err := cpuTime(v.envoy.PID())
	if err != nil {
		return window{}, err
	}
	return window{cpuPerRequest: float64(after-before) / float64(time.Microsecond) / float64(n), achieved: achieved, errors: errs}, nil
}

// cpuRounds measures every variant once per round, in a new random order
// each round, and returns each variant's windows by round. vs[0] must be
// bare Envoy: every other variant is compared with it round by round.
func cpuRounds(vs []*variant, up *upstream, s settings, seed uint64) ([][]window, error) {
	rng := rand.New(rand.NewPCG(seed, seed))
	body := chatBody(1024, true)
	out := make([][]window, len(vs))
	order := make([]int, len(vs))
	for i := range order {
		order[i] = i
	}
	// One unmeasured round first, as fast as Envoy answers: V8 compiles
	// hot wasm functions again with its optimising tier, and the guest's
	// heap grows to its working size.
	for _, v := range vs {
		v.client.sendN(s.n, body)
	}
	for r := 0; r < s.rounds; r++ {
		if err := up.fresh(); err != nil {
			return nil, err
		}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			w, err := measure(vs[i], s.n, s.rate, body, s.settle)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "round %d/%d %-36s %6.1f µs/request (%.0f req/s, %d errors)\n",
				r+1, s.rounds, vs[i].label(), w.cpuPerRequest, w.achieved, w.errors)
			out[i] = append(out[i], w)
		}
	}
	return out, nil
}

// writeCPUTable writes the headline table: per variant, the median and IQR
// over rounds of its CPU per request minus bare Envoy's in the same round,
// and the median ratio.
func writeCPUTable(w *strings.Builder, vs []*variant, res [][]window, s settings, seed uint64) {
	fmt.Fprintf(w, "Envoy `--concurrency 2`, one Envoy per variant, all started up front; upstream: mockllm in the bench process. "+
		"Each round measures every variant once, in a new random order (seed %d): %d requests with a 1 KiB chat body at %.0f req/s "+
		"over %d keep-alive connections (a ticker releases each request; never faster), then the Envoy process's CPU time "+
		"(utime+stime of every thread, /proc/<pid>/stat, %d ticks/s) over the window divided by the requests. "+
		"Each variant is compared with bare Envoy (a) **in the same round**; the table gives the median and interquartile range "+
		"of those differences over %d rounds, and the median of the per-round ratios. One clock tick is %.1f µs/request at this N.\n\n",
		seed, s.n, s.rate, s.conns, clockTicks, s.rounds, 1e6/float64(clockTicks)/float64(s.n))
	fmt.Fprintf(w, "| variant | CPU µs/request | − bare, median | − bare, IQR | × bare | achieved req/s | errors |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|\n")
	for i, v := range vs {
		var abs, diff, ratio, rate []float64
		errs := 0
		for r, x := range res[i] {
			bare := res[0][r].cpuPerRequest
			abs = append(abs, x.cpuPerRequest)
			diff = append(diff, x.cpuPerRequest-bare)
			if bare > 0 {
				ratio = append(ratio, x.cpuPerRequest/bare)
			}
			rate = append(rate, x.achieved)
			errs += x.errors
		}
		if i == 0 {
			fmt.Fprintf(w, "| %s | %.1f | — | — | — | %.0f | %d |\n", v.label(), quantile(abs, 0.5), quantile(rate, 0.5), errs)
			continue
		}
		fmt.Fprintf(w, "| %s | %.1f | **%+.1f** | %+.1f … %+.1f | %.2f | %.0f | %d |\n", v.label(), quantile(abs, 0.5),
			quantile(diff, 0.5), quantile(diff, 0.25), quantile(diff, 0.75), quantile(ratio, 0.5), quantile(rate, 0.5), errs)
	}
	fmt.Fprintf(w, "\n<details><summary>Every round (CPU µs/request)</summary>\n\n| round |")
	for _, v := range vs {
		fmt.Fprintf(w, " %s |", v.letter)
	}
	fmt.Fprintf(w, "\n|---:|%s\n", strings.Repeat("---:|", len(vs)))
	for r := 0; r < s.rounds; r++ {
		fmt.Fprintf(w, "| %d |", r+1)
		for i := range vs {
			fmt.Fprintf(w, " %.1f |", res[i][r].cpuPerRequest)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\n</details>\n\n")
}

// quantile is the q-quantile of xs, linearly interpolated (0 when empty).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}
