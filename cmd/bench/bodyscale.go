package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

// bodySizes are the request bodies of the body-scaling sections.
var bodySizes = []int{1 << 10, 64 << 10, 1 << 20, 8 << 20}

// bodyOrders name where the model member sits in a scaled body.
var bodyOrders = []struct {
	name  string
	first bool
}{{"first", true}, {"last", false}}

// Pacing of large bodies, so that no run saturates a 2-core machine.
const (
	// bodyBytesPerSecond caps the body bytes sent per second.
	bodyBytesPerSecond = 64 << 20
	// minBodyRequests keeps a window of the largest bodies many clock
	// ticks long.
	minBodyRequests = 48
)

// bodyLoad is how many requests of size bytes a window sends, and how fast:
// as many as the 1 KiB window for bodies up to 64 KiB, fewer for larger.
func bodyLoad(size int, s settings) (n int, rate float64) {
	n = min(s.n, max(minBodyRequests, s.n*(64<<10)/size))
	return n, min(s.rate, float64(bodyBytesPerSecond)/float64(size))
}

// envoyBodyScaling measures bare Envoy (a) and token-failover (e) on every
// body size and model position, bodyRounds times, in random order within a
// round, and writes the median CPU per request and the marginal CPU per
// KiB over the 1 KiB body.
func envoyBodyScaling(w *strings.Builder, bare, tf *variant, up *upstream, s settings, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	type key struct {
		v, size int
		first   bool
	}
	cpu := map[key][]float64{}
	pair := []*variant{bare, tf}
	for r := 0; r < s.bodyRounds; r++ {
		for _, size := range bodySizes {
			for _, o := range bodyOrders {
				body := chatBody(size, o.first)
				n, rate := bodyLoad(size, s)
				for _, i := range rng.Perm(2) {
					if err := up.fresh(); err != nil {
						return err
					}
					win, err := measure(pair[i], n, rate, body, s.settle)
					if err != nil {
						return err
					}
					if win.errors > 0 {
						return fmt.Errorf("%s: %d of %d requests with a %d KiB body failed; Envoy log: %s",
							pair[i].label(), win.errors, n, size>>10, pair[i].envoy.LogPath)
					}
					fmt.Fprintf(os.Stderr, "body round %d/%d %5d KiB model %-5s %-30s %9.1f µs/request\n",
						r+1, s.bodyRounds, size>>10, o.name, pair[i].label(), win.cpuPerRequest)
					cpu[key{i, size, o.first}] = append(cpu[key{i, size, o.first}], win.cpuPerRequest)
				}
			}
		}
	}
	fmt.Fprintf(w, "**In Envoy** (Envoy CPU time, measured as in the CPU section; median of %d rounds): %s and %s; per window %d requests at %.0f req/s up to 64 KiB, "+
		"fewer and slower above (at most %d MiB/s of body, at least %d requests). Per KiB is the CPU per request minus the 1 KiB "+
		"request's (same model position), divided by the KiB added; e − a is what the plugin adds per KiB.\n\n",
		s.bodyRounds, bare.label(), tf.label(), s.n, s.rate, bodyBytesPerSecond>>20, min(s.n, minBodyRequests))
	fmt.Fprintf(w, "| body | model | a µs/request | e µs/request | a µs/KiB | e µs/KiB | e − a µs/KiB |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, size := range bodySizes {
		for _, o := range bodyOrders {
			a, e := quantile(cpu[key{0, size, o.first}], 0.5), quantile(cpu[key{1, size, o.first}], 0.5)
			if size == bodySizes[0] {
				fmt.Fprintf(w, "| %s | %s | %.1f | %.1f | — | — | — |\n", kib(size), o.name, a, e)
				continue
			}
			a0, e0 := quantile(cpu[key{0, bodySizes[0], o.first}], 0.5), quantile(cpu[key{1, bodySizes[0], o.first}], 0.5)
			added := float64(size-bodySizes[0]) / 1024
			fmt.Fprintf(w, "| %s | %s | %.1f | %.1f | %.3f | %.3f | **%.3f** |\n", kib(size), o.name, a, e,
				(a-a0)/added, (e-e0)/added, ((e-e0)-(a-a0))/added)
		}
	}
	fmt.Fprintln(w)
	return nil
}

// kib formats a size in KiB or MiB.
func kib(size int) string {
	if size >= 1<<20 {
		return fmt.Sprintf("%d MiB", size>>20)
	}
	return fmt.Sprintf("%d KiB", size>>10)
}
