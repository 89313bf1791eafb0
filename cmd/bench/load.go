package main

import (
	"bytes"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/token-failover/token-failover/mockllm"
)

// loadClient is a pool of keep-alive connections to one Envoy listener.
type loadClient struct {
	http  *http.Client
	url   string
	conns int
}

// newLoadClient returns a client that keeps at most conns connections.
func newLoadClient(listen string, conns int) *loadClient {
	return &loadClient{
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Hour}},
		url:   "http://" + listen + "/v1/chat/completions",
		conns: conns,
	}
}

// send posts one chat request (request number i picks its session) and
// reads the whole answer; ok is a 200.
func (c *loadClient) send(body []byte, i int) (latency time.Duration, ok bool) {
	start := time.Now()
	req, _ := http.NewRequest("POST", c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer client-own-key") // bare Envoy passes it; the filters replace it
	req.Header.Set("X-Session-Id", sessionIDs[i%len(sessionIDs)])
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start), resp.StatusCode == http.StatusOK
}

// warm sends two requests on every connection at once, so that the pool is
// open (and Envoy's upstream connections too) before a measured window.
func (c *loadClient) warm(body []byte) {
	var wg sync.WaitGroup
	for i := 0; i < 2*c.conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(body, i)
		}()
	}
	wg.Wait()
}

// paced sends n requests at most rate per second: a ticker releases one
// request per tick to whichever connection is free, and a tick that finds
// none free is dropped, so the rate is never exceeded (a saturated run
// shows as an achieved rate below the target). It returns once every
// answer is in, with the achieved rate and the number of failed requests.
func (c *loadClient) paced(n int, rate float64, body []byte) (achieved float64, errors int) {
	jobs := make(chan int)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < c.conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if _, ok := c.send(body, j); !ok {
					failed.Add(1)
				}
			}
		}()
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	start := time.Now()
	for i := 0; i < n; i++ {
		<-tick.C
		jobs <- i
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), int(failed.Load())
}

// loadResult is one saturation run.
type loadResult struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

// saturate keeps every connection busy for d and reports the rate and
// latency percentiles of the answers.
func (c *loadClient) saturate(d time.Duration, body []byte) loadResult {
	c.warm(body)
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < c.conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for j := i; time.Now().Before(deadline); j += c.conns {
				l, ok := c.send(body, j)
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

// sendN sends n requests over every connection, as fast as they answer.
func (c *loadClient) sendN(n int, body []byte) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < c.conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := next.Add(1); j <= int64(n); j = next.Add(1) {
				c.send(body, int(j))
			}
		}()
	}
	wg.Wait()
}

// upstream is the in-process mockllm every Envoy proxies to, on a fixed
// address. The mock records every request it serves, bodies included, for
// ever; fresh replaces it by a new one on the same address so that a long
// run does not hold gigabytes of request bodies.
type upstream struct {
	addr string
	mock *mockllm.Server
}

// startUpstream starts the mock on a free port.
func startUpstream() (*upstream, error) {
	m := mockllm.New()
	addr, err := m.Start("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &upstream{addr: addr, mock: m}, nil
}

// fresh restarts the mock on the same address (Envoy's upstream connections
// close and reopen: call it before a warm-up, never inside a window).
func (u *upstream) fresh() error {
	_ = u.mock.Close()
	m := mockllm.New()
	var err error
	for try := 0; try < 50; try++ { // the port is free again within moments
		if _, err = m.Start(u.addr); err == nil {
			u.mock = m
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// close stops the mock.
func (u *upstream) close() { _ = u.mock.Close() }
