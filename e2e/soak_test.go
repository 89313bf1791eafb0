package e2e

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/mockllm"
)

// TestEnvoy_Soak sends SOAK_REQUESTS (default 100,000) requests over 16
// keep-alive connections while one token keeps getting rate limited (so
// state writes, cooldowns and restorations run all along). It checks that no
// VM failed or was re-created, that no poll_oneoff or fatal line appeared,
// and that Envoy's RSS after warm-up (10% of the requests) grew by at most
// 10% by the end. It logs the figures.
func TestEnvoy_Soak(t *testing.T) {
	total := 100_000
	if v := os.Getenv("SOAK_REQUESTS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		total = n
	}
	e := setup(t, pluginConfig(""))
	e.mock.Set(tokens[1], mockllm.Behaviour{Status: 429, RetryAfter: 1})
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16, MaxConnsPerHost: 16}}
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 900) + `"}]}`
	var sent, failed atomic.Int64
	run := func(n int) {
		var wg sync.WaitGroup
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for sent.Add(1) <= int64(n) {
					req, _ := http.NewRequest("POST", "http://"+e.envoy.Listen+"/v1/chat/completions", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 && resp.StatusCode != 429 {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		sent.Store(int64(n))
	}
	began := time.Now()
	warm := total / 10
	run(warm)
	rssStart, err := e.envoy.RSS()
	require.NoError(t, err)
	vmsBefore := wasmVMsCreated(t, e)
	run(total)
	elapsed := time.Since(began)
	rssEnd, err := e.envoy.RSS()
	require.NoError(t, err)
	t.Logf("soak: %d requests in %v (%.0f req/s), %d failed; Envoy RSS after warm-up %.1f MiB, at end %.1f MiB (%+.1f%%)",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), failed.Load(),
		float64(rssStart)/(1<<20), float64(rssEnd)/(1<<20), 100*float64(rssEnd-rssStart)/float64(rssStart))
	require.Zero(t, failed.Load(), "transport errors or unexpected statuses")
	require.Equal(t, vmsBefore, wasmVMsCreated(t, e), "no wasm VM was re-created")
	log := e.envoy.Log()
	for _, bad := range []string{"poll_oneoff", "fatal", "[critical]", "Wasm VM failed", "panic in proxy_on"} {
		require.NotContains(t, log, bad)
	}
	require.LessOrEqual(t, float64(rssEnd), 1.10*float64(rssStart), "RSS grew by more than 10%% after warm-up")
	_, exited := e.envoy.Exited()
	require.False(t, exited)
}

var createdStat = regexp.MustCompile(`(?m)^wasm\.envoy\.wasm\.runtime\.v8\.created: (\d+)$`)

func wasmVMsCreated(t *testing.T, e *env) int {
	t.Helper()
	s, err := e.envoy.AdminGet("/stats?filter=wasm")
	require.NoError(t, err)
	m := createdStat.FindStringSubmatch(s)
	require.NotNil(t, m, "no wasm VM stats in:\n%s", s)
	n, _ := strconv.Atoi(m[1])
	return n
}
