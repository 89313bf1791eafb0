package main

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/token-failover/token-failover/fleetrun"
	"github.com/token-failover/token-failover/mockllm"
)

// runDemo shows the fleet at work: steady load on three replicas, bravo
// revoked at 4 s, reinstated at 10 s; each second, each replica's picks of
// each key and bravo's state there.
func runDemo(f *fleetrun.Fleet, rate float64) error {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loads []*load
	for _, r := range f.Replicas {
		loads = append(loads, startLoad(r, rate, stop, &wg))
	}
	defer func() { close(stop); wg.Wait() }()
	const bravo = 1
	fmt.Printf("\n%5s  %-27s  %-27s  %-27s\n", "time", "replica 0", "replica 1", "replica 2")
	fmt.Printf("%5s  %-27s  %-27s  %-27s\n", "", "requests  bravo  fail state", "requests  bravo  fail state", "requests  bravo  fail state")
	began := time.Now()
	var revoked, healed time.Time
	prevSent := make([]int64, len(f.Replicas))
	prevAt := began
	for t := time.Second; t <= 18*time.Second; t += time.Second {
		time.Sleep(time.Until(began.Add(t)))
		switch t {
		case 4 * time.Second:
			fmt.Println("  ---- bravo is revoked at the provider: every replica's next request with it would get 401")
			f.SetAll(tokens[bravo], mockllm.Behaviour{Status: 401})
			revoked = time.Now()
		case 10 * time.Second:
			fmt.Println("  ---- bravo is reinstated: one replica's probe will restore it everywhere")
			f.SetAll(tokens[bravo], mockllm.Healthy)
			healed = time.Now()
		}
		cells := make([]string, len(f.Replicas))
		for i, r := range f.Replicas {
			n := loads[i].sent.Load()
			picked, failed := 0, 0
			for _, rec := range picks(r, tokens[bravo], prevAt) {
				picked++
				if rec.Status != 200 {
					failed++
				}
			}
			st := []string{"available", "cooling", "UNHEALTHY"}[min(max(state(r, bravo), 0), 2)]
			cells[i] = fmt.Sprintf("%8d  %5d  %4d %s", n-prevSent[i], picked, failed, st)
			prevSent[i] = n
		}
		prevAt = time.Now()
		fmt.Printf("%4ds  %-27s  %-27s  %-27s\n", int(t/time.Second), cells[0], cells[1], cells[2])
	}
	failed, probing := 0, 0
	for _, r := range f.Replicas {
		for _, rec := range picks(r, tokens[bravo], revoked) {
			if rec.Status != 200 {
				failed++
			}
		}
		for _, rec := range r.Mock.Records() {
			if rec.Probe && rec.Token == tokens[bravo] && !rec.Time.Before(healed) {
				probing++
				break
			}
		}
	}
	fmt.Printf("\nbravo cost %d failed client request(s) across three replicas (each replica alone would fail at least once)\n", failed)
	fmt.Printf("and was probed back by %d replica; the key is %s on every replica.\n", probing,
		strings.ToLower([]string{"available", "cooling", "UNHEALTHY"}[min(max(state(f.Replicas[2], bravo), 0), 2)]))
	if err := waitState(f, bravo, 0, 10*time.Second); err != nil {
		return err
	}
	return nil
}
