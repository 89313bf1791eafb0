package main

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var kibBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 1024-62) + `"}]}`

type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

func client(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

func post(c *http.Client, listen, body string) (time.Duration, bool) {
	start := time.Now()
	req, _ := http.NewRequest("POST", "http://"+listen+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer client-own-key") // bare Envoy passes it; b and c replace it
	resp, err := c.Do(req)
	if err != nil {
		return 0, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode == 200
}

// load runs conns connections against listen for d and reports the rate
// and latency percentiles of the answers.
func load(listen string, d time.Duration, conns int, body string) loadResult {
	c := client(conns)
	post(c, listen, body) // connect outside the window
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				l, ok := post(c, listen, body)
				if !ok {
					errs.Add(1)
					continue
				}
				mine = append(mine, l)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := loadResult{rps: float64(len(lat)) / elapsed.Seconds(), errors: int(errs.Load())}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}

// loadN sends n requests over conns connections.
func loadN(listen string, n, conns int, body string) {
	c := client(conns)
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				post(c, listen, body)
			}
		}()
	}
	wg.Wait()
}
