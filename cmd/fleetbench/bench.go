package main

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/token-failover/token-failover/fleetrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/provider"
)

// runBench measures the fleet and prints the figures and the summary line.
func runBench(f *fleetrun.Fleet, trials int, rate float64) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range f.Replicas {
		startLoad(r, rate, stop, &wg)
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(time.Second)
	rpcBefore, churnStart := storeRequests(f), time.Now()

	// Propagation: a key revoked on replica 0 only; the others' mocks keep
	// answering it, so every pick of it after replica 0's first failure is
	// a request the fleet failed to spare them.
	var propagation, perReplica []float64
	failed := []float64{}
	for k := 0; k < trials; k++ {
		i := k % len(tokens)
		first := f.Replicas[0]
		start := time.Now()
		first.Mock.Set(tokens[i], mockllm.Behaviour{Status: 401})
		var t0 time.Time
		for deadline := time.Now().Add(10 * time.Second); t0.IsZero() && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for _, rec := range picks(first, tokens[i], start) {
				if rec.Status == 401 {
					t0 = rec.Time
					break
				}
			}
		}
		if t0.IsZero() {
			return fmt.Errorf("trial %d: replica 0 never met the revoked key", k)
		}
		time.Sleep(time.Second)
		demoted, adopted, err := logTimes(f, i, start)
		if err != nil {
			return fmt.Errorf("trial %d: %w", k, err)
		}
		worst := 0.0
		for _, at := range adopted {
			d := float64(at.Sub(demoted).Microseconds()) / 1000
			perReplica = append(perReplica, d)
			worst = max(worst, d)
		}
		lost := 0
		for _, rec := range picks(first, tokens[i], start) {
			if rec.Status == 401 {
				lost++
			}
		}
		for _, r := range f.Replicas[1:] {
			lost += len(picks(r, tokens[i], t0)) // each would have failed
		}
		propagation = append(propagation, worst)
		failed = append(failed, float64(lost))
		first.Mock.Set(tokens[i], mockllm.Healthy)
		if err := waitState(f, i, 0, 15*time.Second); err != nil {
			return fmt.Errorf("trial %d: %w", k, err)
		}
	}
	churnRPC, churnSecs := storeRequests(f)-rpcBefore, time.Since(churnStart).Seconds()

	// A dead key: how many probes a probe round sends fleet-wide.
	deadStart := time.Now()
	f.SetAll(tokens[3], mockllm.Behaviour{Status: 401})
	time.Sleep(12 * time.Second)
	rounds, probes, probers := probeRounds(f, tokens[3], deadStart)
	f.SetAll(tokens[3], mockllm.Healthy)
	if err := waitState(f, 3, 0, 30*time.Second); err != nil {
		return err
	}

	// Idle: no transition at all.
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	idleBefore, idleStart := storeRequests(f), time.Now()
	time.Sleep(10 * time.Second)
	idleRPC, idleSecs := storeRequests(f)-idleBefore, time.Since(idleStart).Seconds()

	// The store down: the same load with etcd up, then with every member
	// down.
	up := measureWindow(f, rate, 4*time.Second)
	for i := range f.Etcd.Members {
		f.Etcd.StopMember(i)
	}
	down := measureWindow(f, rate, 4*time.Second)
	for i := range f.Etcd.Members {
		_ = f.Etcd.StartMember(i)
	}
	downFailed := 0
	for code, n := range down.statuses {
		if code != 200 {
			downFailed += n
		}
	}

	n := float64(len(f.Replicas))
	ratePerKey := rate / float64(len(tokens)) / 1000 // picks of one key per ms on one replica
	meanDelay := mean(perReplica)
	f0 := mean(failed) - (n-1)*ratePerKey*meanDelay
	model := func(replicas float64) float64 { return max(f0, 1) + (replicas-1)*ratePerKey*meanDelay }
	fmt.Printf("\npropagation (replica 0's demotion to the last replica's adoption, from their logs), %d revocations at %.0f req/s per replica:\n", trials, rate)
	fmt.Printf("  p50 %.1f ms, p99 %.1f ms (per replica: mean %.1f ms)\n", percentile(propagation, 0.5), percentile(propagation, 0.99), meanDelay)
	fmt.Printf("failed client requests per revoked key, fleet-wide: 3 replicas %.1f (measured); modelled as f0 + (N-1) x rate per key x delay:\n", mean(failed))
	fmt.Printf("  10 replicas %.1f, 50 replicas %.1f (without the fleet every replica meets the key itself: N for a 401, N x failureThreshold for a 5xx)\n",
		model(10), model(50))
	fmt.Printf("dead key: %d probes in %d probe rounds over 12 s from %d replica(s): %.1f per round\n", probes, rounds, probers, float64(probes)/float64(max(rounds, 1)))
	fmt.Printf("store requests per replica: %.1f/s idle, %.1f/s during the revocations\n", idleRPC/idleSecs/n, churnRPC/churnSecs/n)
	fmt.Printf("store down: %d of %d requests failed; p50 latency %.2f ms with the store, %.2f ms without\n",
		downFailed, down.total(), up.p50(), down.p50())
	fmt.Printf("fleet: propagation p50 %.0f ms p99 %.0f ms; failed requests per revoked key: 3 replicas %.1f, 10 replicas %.1f, 50 replicas %.1f (modelled); dead-key probes per interval %.1f; store down: %d failed\n",
		percentile(propagation, 0.5), percentile(propagation, 0.99), mean(failed), model(10), model(50),
		float64(probes)/float64(max(rounds, 1)), downFailed)
	return nil
}

// window is what a load window produced.
type window struct {
	statuses  map[int]int
	latencies []float64
}

func (w window) total() int {
	n := 0
	for _, c := range w.statuses {
		n += c
	}
	return n
}

func (w window) p50() float64 { return percentile(w.latencies, 0.5) }

// measureWindow runs the paced load on every replica for d.
func measureWindow(f *fleetrun.Fleet, rate float64, d time.Duration) window {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loads []*load
	for _, r := range f.Replicas {
		loads = append(loads, startLoad(r, rate, stop, &wg))
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
	w := window{statuses: map[int]int{}}
	for _, l := range loads {
		for c, n := range l.statuses {
			w.statuses[c] += n
		}
		for _, x := range l.latencies {
			w.latencies = append(w.latencies, float64(x.Microseconds())/1000)
		}
	}
	return w
}

// probeRounds groups the probes of token since t across every replica's
// mock into rounds (a gap of 500 ms or more starts a new one).
func probeRounds(f *fleetrun.Fleet, token string, since time.Time) (rounds, probes, probers int) {
	var times []time.Time
	for _, r := range f.Replicas {
		sent := 0
		for _, rec := range r.Mock.Records() {
			if rec.Probe && rec.Token == token && !rec.Time.Before(since) {
				times = append(times, rec.Time)
				sent++
			}
		}
		if sent > 0 {
			probers++
		}
	}
	sortTimes(times)
	for i, at := range times {
		if i == 0 || at.Sub(times[i-1]) >= 500*time.Millisecond {
			rounds++
		}
	}
	return rounds, len(times), probers
}

func sortTimes(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// storeRequests sums the gRPC requests every etcd member has handled
// (its /metrics), a running total.
func storeRequests(f *fleetrun.Fleet) float64 {
	total := 0.0
	for _, m := range f.Etcd.Members {
		resp, err := http.Get("http://" + m.Client + "/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "grpc_server_msg_received_total{") || strings.Contains(line, "grpc.health") {
				continue
			}
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				total += v
			}
		}
		resp.Body.Close()
	}
	return total
}

// logTimes reads from the replicas' logs when replica 0 demoted token i
// and when each other replica adopted it, after since.
func logTimes(f *fleetrun.Fleet, i int, since time.Time) (demoted time.Time, adopted []time.Time, err error) {
	tok := fmt.Sprintf("token #%d(%s)", i, provider.Fingerprint(tokens[i]))
	find := func(r *fleetrun.Replica, what string) (time.Time, bool) {
		for _, line := range strings.Split(r.Envoy.Log(), "\n") {
			if !strings.Contains(line, tok+" "+what) || len(line) < 25 {
				continue
			}
			at, err := time.ParseInLocation("2006-01-02 15:04:05.000", line[1:24], time.Local)
			if err == nil && !at.Before(since.Add(-time.Millisecond)) {
				return at, true
			}
		}
		return time.Time{}, false
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		var ok bool
		demoted, ok = find(f.Replicas[0], "demoted")
		adopted = adopted[:0]
		for _, r := range f.Replicas[1:] {
			if at, found := find(r, "unhealthy by the fleet"); found {
				adopted = append(adopted, at)
			}
		}
		if ok && len(adopted) == len(f.Replicas)-1 {
			return demoted, adopted, nil
		}
		if time.Now().After(deadline) {
			return demoted, adopted, fmt.Errorf("%s: demotion or adoption missing from the logs", tok)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
