// Command fleetbench measures the fleet tier (issue 21) on a real fleet:
// three Envoy replicas (two workers each) from envoy-fleet.yaml and a
// three-member etcd (fleetrun), with paced load on every replica. It
// prints how fast a demotion reaches every replica, how many client
// requests a revoked key costs fleet-wide (measured with 3 replicas,
// modelled for 10 and 50 from the measured delays), how many replicas
// probe a dead key, the store requests per replica, and what a store
// outage costs; it ends with one summary line. Run it with
//
//	./build.sh bench fleet
//
// With -demo it instead shows three replicas stop using a revoked key at
// once and heal it once (./build.sh demo-fleet).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/fleetrun"
	"github.com/token-failover/token-failover/mockllm"
)

// The fleet's tokens (never real-looking keys).
var (
	names  = []string{"alpha", "bravo", "charlie", "delta"}
	tokens = []string{"fleet-bench-alpha-11", "fleet-bench-bravo-22", "fleet-bench-charlie-33", "fleet-bench-delta-44"}
)

// pluginConfig is the fleet's plugin configuration.
func pluginConfig() string {
	return `fleet: {etcdCluster: etcd, timeout: 1000, proberTTL: 3}
provider:
  type: openai
  id: fleet
  apiTokens: [` + strings.Join(tokens, ", ") + `]
  failover: {enabled: true, failureThreshold: 3, healthCheckInterval: 1000, healthCheckTimeout: 2000, healthCheckModel: probe-model}
`
}

func main() {
	trials := flag.Int("trials", 12, "revocations measured for the propagation figures")
	rate := flag.Float64("rate", 120, "requests per second on each replica")
	demo := flag.Bool("demo", false, "show the fleet at work instead of measuring it")
	flag.Parse()
	bin, wasm, err := envoyrun.Tools()
	if err != nil {
		fail(err)
	}
	fmt.Println("starting a three-member etcd and three Envoy replicas (two workers each)...")
	f, err := fleetrun.Start(fleetrun.Options{Bin: bin, Wasm: wasm, PluginConfig: pluginConfig()})
	if err != nil {
		fail(err)
	}
	defer f.Stop()
	for i, r := range f.Replicas {
		fmt.Printf("  replica %d: Envoy on %s (admin %s)\n", i, r.Envoy.Listen, r.Envoy.Admin)
	}
	time.Sleep(1500 * time.Millisecond) // the agents open their watches
	if *demo {
		err = runDemo(f, *rate)
	} else {
		err = runBench(f, *trials, *rate)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fleetbench:", err)
	os.Exit(1)
}

// load sends paced requests to one replica until stop is closed and
// counts their statuses and latencies.
type load struct {
	mu        sync.Mutex
	statuses  map[int]int
	latencies []time.Duration
	sent      atomic.Int64
}

func startLoad(r *fleetrun.Replica, rate float64, stop <-chan struct{}, wg *sync.WaitGroup) *load {
	l := &load{statuses: map[int]int{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	const workers = 4
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Duration(float64(time.Second) * workers / rate))
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				start := time.Now()
				req, _ := http.NewRequest("POST", "http://"+r.Envoy.Listen+"/v1/chat/completions",
					strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
				req.Header.Set("Content-Type", "application/json")
				code := 0
				if resp, err := client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				l.sent.Add(1)
				l.mu.Lock()
				l.statuses[code]++
				l.latencies = append(l.latencies, time.Since(start))
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// picks returns the live (non-probe) requests token got on a replica's
// mock since t.
func picks(r *fleetrun.Replica, token string, since time.Time) []mockllm.Record {
	var out []mockllm.Record
	for _, rec := range r.Mock.Records() {
		if rec.Token == token && !rec.Probe && !rec.Time.Before(since) {
			out = append(out, rec)
		}
	}
	return out
}

// state reads token i's state gauge on a replica (0 available, 2 unhealthy).
func state(r *fleetrun.Replica, i int) int64 {
	s, err := r.Envoy.Stats("tokenfailover.fleet")
	if err != nil {
		return -1
	}
	return s[fmt.Sprintf("tokenfailover.fleet.token%d.state", i)]
}

// waitState waits until token i reads want on every replica.
func waitState(f *fleetrun.Fleet, i int, want int64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		all := true
		for _, r := range f.Replicas {
			all = all && state(r, i) == want
		}
		if all {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("token %s did not reach state %d on every replica within %v", names[i], want, d)
}

func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}
