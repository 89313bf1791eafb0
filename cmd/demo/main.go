// Command demo shows token-failover working in a real Envoy: it starts the
// mock provider and Envoy (the shipped envoy.yaml, 4 workers), sends steady
// traffic, breaks one token (500s), rate-limits another (429), revokes a
// third (401), heals them, and prints a live view. Run it with ./build.sh demo.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/provider"
)

// The tokens of the shipped envoy.yaml.
var names = []string{"alpha", "bravo", "charlie"}
var tokens = []string{"sk-demo-token-alpha", "sk-demo-token-bravo", "sk-demo-token-charlie"}

type step struct {
	at   time.Duration
	what string
	do   func(m *mockllm.Server)
}

var script = []step{
	{4 * time.Second, "alpha breaks: every request gets 500", func(m *mockllm.Server) { m.Set(tokens[0], mockllm.Behaviour{Status: 500}) }},
	{8 * time.Second, "bravo is rate limited: 429 with Retry-After: 3", func(m *mockllm.Server) { m.Set(tokens[1], mockllm.Behaviour{Status: 429, RetryAfter: 3}) }},
	{10 * time.Second, "bravo's rate limit lifts", func(m *mockllm.Server) { m.Set(tokens[1], mockllm.Healthy) }},
	{13 * time.Second, "charlie is revoked: 401", func(m *mockllm.Server) { m.Set(tokens[2], mockllm.Behaviour{Status: 401}) }},
	{16 * time.Second, "alpha is fixed (its probes back off: up to 10 s until one succeeds)", func(m *mockllm.Server) { m.Set(tokens[0], mockllm.Healthy) }},
	{18 * time.Second, "charlie is reinstated", func(m *mockllm.Server) { m.Set(tokens[2], mockllm.Healthy) }},
}

const duration = 30 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	bin, wasm, err := envoyrun.Tools()
	if err != nil {
		return err
	}
	version, _ := envoyrun.Version(bin)
	mock := mockllm.New()
	addr, err := mock.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	defer mock.Close()
	fmt.Printf("token-failover demo\n  envoy: %s\n  mock provider: %s; Envoy config: envoy.yaml (3 tokens, failureThreshold 3, probes every 1 s)\n", version, addr)
	fmt.Println("  starting Envoy with 4 workers (compiling the plugin takes a few seconds)...")
	e, err := envoyrun.Start(envoyrun.Options{Bin: bin, Wasm: wasm, Upstream: addr})
	if e != nil {
		defer e.Stop()
	}
	if err != nil {
		return err
	}
	fmt.Printf("  Envoy listening on %s (admin %s)\n", e.Listen, e.Admin)
	statusURL := "http://" + e.Listen + "/token-failover/status"
	fmt.Printf("  status page: %s (open it in a browser while the demo runs; JSON for curl)\n\n", statusURL)

	var ok, bad atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(40 * time.Millisecond) // ~100 req/s in all
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				req, _ := http.NewRequest("POST", "http://"+e.Listen+"/v1/chat/completions",
					strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}`))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}

	events := newLogWatcher(e.LogPath)
	began := time.Now()
	next := 0
	fmt.Printf("%6s  %-11s  %-22s  %-22s  %-22s\n", "time", "client", "alpha", "bravo", "charlie")
	fmt.Printf("%6s  %-11s  %-22s  %-22s  %-22s\n", "", "ok/errors", "req  fail  state", "req  fail  state", "req  fail  state")
	prev := make([]int, 3)
	prevFail := make([]int, 3)
	var lastOK, lastBad int64
	for t := time.Second; t <= duration; t += time.Second {
		time.Sleep(time.Until(began.Add(t)))
		for next < len(script) && script[next].at <= t {
			fmt.Printf("  ---- %s\n", script[next].what)
			script[next].do(mock)
			next++
		}
		for _, ev := range events.poll() {
			fmt.Printf("  >>>> %s\n", ev)
		}
		stats, _ := e.Stats("tokenfailover.demo")
		cells := make([]string, 3)
		for i, tok := range tokens {
			n, f := live(mock, tok)
			state := []string{"available", "COOLING", "UNHEALTHY"}[min(max(stats[fmt.Sprintf("tokenfailover.demo.token%d.state", i)], 0), 2)]
			cells[i] = fmt.Sprintf("%4d  %4d  %s", n-prev[i], f-prevFail[i], state)
			prev[i], prevFail[i] = n, f
		}
		o, b := ok.Load(), bad.Load()
		fmt.Printf("%5ds  %4d/%-6d  %-22s  %-22s  %-22s\n", int(t/time.Second), o-lastOK, b-lastBad, cells[0], cells[1], cells[2])
		lastOK, lastBad = o, b
	}
	close(stop)
	wg.Wait()
	for _, ev := range events.poll() {
		fmt.Printf("  >>>> %s\n", ev)
	}
	stats, _ := e.Stats("tokenfailover.demo")
	fmt.Printf("\nsummary: %d requests, %d client-visible errors (each is a request the failing token answered before it was demoted;\n"+
		"         retryOnFailure, a separate feature, would absorb them)\n", ok.Load()+bad.Load(), bad.Load())
	demotions, restorations := int64(0), int64(0)
	for i, n := range names {
		d, r := stats[fmt.Sprintf("tokenfailover.demo.token%d.demotions", i)], stats[fmt.Sprintf("tokenfailover.demo.token%d.restorations", i)]
		fmt.Printf("  %-8s demotions %d, restorations %d, probes ok %d / failed %d\n", n, d, r,
			stats[fmt.Sprintf("tokenfailover.demo.token%d.probes_ok", i)], stats[fmt.Sprintf("tokenfailover.demo.token%d.probes_failed", i)])
		demotions += d
		restorations += r
	}
	if demotions < 3 || restorations < 3 {
		return fmt.Errorf("expected every token to be demoted and restored (demotions %d, restorations %d); Envoy log: %s", demotions, restorations, e.LogPath)
	}
	page, err := statusStates(client, statusURL)
	if err != nil {
		return fmt.Errorf("the status page: %w", err)
	}
	fmt.Printf("  the status page says: %s\n", page)
	fmt.Println("\nall three tokens failed over and came back by themselves; Envoy stopped.")
	return nil
}

// live counts live (non-probe) requests and failures that reached token.
func live(m *mockllm.Server, token string) (n, failed int) {
	for _, r := range m.Records() {
		if r.Token == token && !r.Probe {
			n++
			if r.Status != 200 {
				failed++
			}
		}
	}
	return n, failed
}

// logWatcher turns the plugin's demote/cool/restore log lines into events,
// naming tokens by their demo name instead of index and fingerprint.
type logWatcher struct {
	path   string
	offset int64
	names  map[string]string
}

// eventLine matches the plugin's token lines; Envoy's prefix names the
// plugin, root id and (for stream contexts) vm id before the colon.
var eventLine = regexp.MustCompile(`\[(\w+)\] .*wasm log [^:]*: pool \w+: (token (#\d\(\w+\)) .*)`)

func newLogWatcher(path string) *logWatcher {
	w := &logWatcher{path: path, names: map[string]string{}}
	for i, t := range tokens {
		w.names[fmt.Sprintf("#%d(%s)", i, provider.Fingerprint(t))] = names[i]
	}
	return w
}

func (w *logWatcher) poll() []string {
	f, err := os.Open(w.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	_, _ = f.Seek(w.offset, io.SeekStart)
	var out []string
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		w.offset += int64(len(line))
		m := eventLine.FindStringSubmatch(line)
		if m == nil || !(strings.Contains(m[2], "demoted") || strings.Contains(m[2], "restored") || strings.Contains(m[2], "cooling")) {
			continue
		}
		out = append(out, strings.Replace(m[2], "token "+m[3], w.names[m[3]]+" "+m[3], 1))
	}
	return out
}

// statusStates reads the status page's JSON and lists each token's state.
func statusStates(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var page struct {
		Pools []struct {
			Name   string
			Tokens []struct {
				Index       int
				Fingerprint string
				State       string
			}
		}
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return "", err
	}
	var parts []string
	for _, p := range page.Pools {
		for _, t := range p.Tokens {
			parts = append(parts, fmt.Sprintf("pool %s token #%d (%s) %s", p.Name, t.Index, t.Fingerprint, t.State))
		}
	}
	return strings.Join(parts, "; "), nil
}
