package e2e

import (
	"context"
	"encoding/json"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/provider"
)

const e2eAdminKey = "e2e-admin-key-5be1c0d3a9"

// statusDo sends method url from the given local address ("" for any) and
// returns status and body.
func statusDo(t *testing.T, method, url, from string, headers map[string]string) (int, string) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestEnvoy_StatusPage checks the status page in real Envoy: every field
// against the state a 401 and a manual demotion produced, the address
// guard on Envoy's own source.address, the admin key, a manual demotion
// that every worker obeys, and no token in any answer; then loads the HTML
// page in headless Chromium and keeps its screenshot.
func TestEnvoy_StatusPage(t *testing.T) {
	e := setup(t, pluginConfig(`status:
  path: /tf/status
  allow: [127.0.0.1]
  adminKey: `+e2eAdminKey+`
`))
	base := "http://" + e.envoy.Listen + "/tf/status"
	fps := make([]string, len(tokens))
	for i, tok := range tokens {
		fps[i] = provider.NewToken(i, tok).Fingerprint
	}
	noSecrets := func(body string) {
		t.Helper()
		for _, s := range append([]string{e2eAdminKey}, tokens...) {
			require.NotContains(t, body, s)
		}
	}

	// Token 0 is revoked: a 401 takes it out at once on every worker.
	e.mock.Set(tokens[0], mockllm.Behaviour{Status: 401})
	eventually(t, 10*time.Second, "token 0 demoted", func() bool {
		_, _ = e.chat("gpt-4o")
		return e.stat(t, tokenStat(0, "state")) == 2
	})

	var page struct {
		VM    string
		Pools []struct {
			Name       string
			Available  int
			ProbeLease string `json:"probeLease"`
			Tokens     []struct {
				Index                   int
				Fingerprint, State      string
				Serving, Manual         bool
				Reason, Why, Since      string
				HTTPStatus              int    `json:"httpStatus"`
				NextProbe               string `json:"nextProbe"`
				Demotions, Restorations uint32
				ConsecutiveFailures     uint32 `json:"consecutiveFailures"`
			}
		}
	}
	var body string
	eventually(t, 10*time.Second, "a VM takes the probe lease", func() bool {
		var code int
		code, body = statusDo(t, "GET", base, "127.0.0.1", nil)
		require.Equal(t, 200, code, body)
		require.NoError(t, json.Unmarshal([]byte(body), &page))
		return len(page.Pools) == 1 && page.Pools[0].ProbeLease != ""
	})
	noSecrets(body)
	require.NotEmpty(t, page.VM)
	require.Len(t, page.Pools, 1)
	pool := page.Pools[0]
	require.Equal(t, "e2e", pool.Name)
	require.Equal(t, 2, pool.Available)
	require.NotEmpty(t, pool.ProbeLease, "one VM probes the demoted token")
	for i, tok := range pool.Tokens {
		require.Equal(t, fps[i], tok.Fingerprint)
	}
	t0 := pool.Tokens[0]
	require.Equal(t, "unhealthy", t0.State)
	require.Equal(t, "auth", t0.Reason)
	require.Equal(t, 401, t0.HTTPStatus)
	require.False(t, t0.Serving)
	require.NotEmpty(t, t0.Since)
	require.NotEmpty(t, t0.NextProbe)
	require.Equal(t, uint32(1), t0.Demotions)
	require.Equal(t, "available", pool.Tokens[1].State)

	// The guard reads Envoy's source.address: 127.0.0.2 is loopback too,
	// but not listed.
	code, body := statusDo(t, "GET", base, "127.0.0.2", nil)
	require.Equal(t, 403, code)
	require.Equal(t, "forbidden\n", body)
	code, _ = statusDo(t, "POST", base+"/pools/e2e/tokens/1/demote", "127.0.0.2", map[string]string{"x-token-failover-admin-key": e2eAdminKey})
	require.Equal(t, 403, code)
	code, _ = statusDo(t, "POST", base+"/pools/e2e/tokens/1/demote", "127.0.0.1", map[string]string{"x-token-failover-admin-key": "wrong"})
	require.Equal(t, 401, code)

	// Token 1 taken out by hand: no worker sends it again.
	code, body = statusDo(t, "POST", base+"/pools/e2e/tokens/"+fps[1]+"/demote", "127.0.0.1",
		map[string]string{"x-token-failover-admin-key": e2eAdminKey, "x-token-failover-actor": "e2e-operator"})
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"changed":true`)
	since := time.Now()
	for i := 0; i < 40; i++ {
		c, err := e.chat("gpt-4o")
		require.NoError(t, err)
		require.Equal(t, 200, c)
	}
	require.Zero(t, e.mock.Count(tokens[1], false, since), "no worker sends the token taken out by hand")
	eventually(t, 5*time.Second, "token 1's gauge", func() bool { return e.stat(t, tokenStat(1, "state")) == 2 })
	// One log line names the client, the actor and the change (Envoy
	// flushes its log file every few seconds).
	eventually(t, 15*time.Second, "the action's log line", func() bool {
		return strings.Contains(e.envoy.Tail(2000), "127.0.0.1:") &&
			strings.Contains(e.envoy.Tail(2000), "(e2e-operator) took out token #1("+fps[1]+") of pool e2e by hand")
	})
	noSecrets(e.envoy.Tail(2000))

	// The page for people, in a real browser.
	code, html := statusDo(t, "GET", base, "127.0.0.1", map[string]string{"accept": "text/html"})
	require.Equal(t, 200, code)
	noSecrets(html)
	require.Contains(t, html, "taken out by hand")
	browse(t, base+"?format=html", fps)

	// Back by hand.
	code, body = statusDo(t, "POST", base+"/pools/e2e/tokens/1/restore", "127.0.0.1",
		map[string]string{"x-token-failover-admin-key": e2eAdminKey})
	require.Equal(t, 200, code, body)
	since = time.Now()
	for i := 0; i < 20; i++ {
		_, _ = e.chat("gpt-4o")
	}
	require.Positive(t, e.mock.Count(tokens[1], false, since), "restored: served again")
}

// browse loads the status page in headless Chromium: the rendered DOM must
// show every token, the screenshot must show the rows in their states'
// colours, and it is kept in
// $ARTIFACTS_DIR (default e2e/artifacts) as status-page.png.
func browse(t *testing.T, url string, fingerprints []string) {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("REQUIRE_ENVOY") == "1" {
			t.Fatal("REQUIRE_ENVOY=1 but no headless browser (apt-get install chromium)")
		}
		t.Skip("no chromium: the HTML page is not loaded in a browser")
	}
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = "artifacts"
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	shot, err := filepath.Abs(filepath.Join(dir, "status-page.png"))
	require.NoError(t, err)
	_ = os.Remove(shot)
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dom, err := exec.CommandContext(ctx, bin, append(common, "--dump-dom", url)...).Output()
	require.NoError(t, err, "chromium --dump-dom")
	for _, fp := range fingerprints {
		require.Contains(t, string(dom), fp, "the rendered page shows every token")
	}
	require.Contains(t, string(dom), "taken out by hand")
	out, err := exec.CommandContext(ctx, bin, append(common, "--window-size=1280,720", "--screenshot="+shot, url)...).CombinedOutput()
	require.NoError(t, err, string(out))
	f, err := os.Open(shot)
	require.NoError(t, err, "the screenshot is written")
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	// The rows are drawn in their state's colour: the unhealthy token's
	// and the one taken out by hand must both be on screen.
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}] = true
		}
	}
	require.True(t, seen[color.RGBA{0xfb, 0xe0, 0xe0, 255}], "an unhealthy row is rendered")
	require.True(t, seen[color.RGBA{0xe4, 0xe4, 0xf8, 255}], "the row taken out by hand is rendered")
	t.Logf("status page screenshot: %s", shot)
}
