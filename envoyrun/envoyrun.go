// Package envoyrun starts a real Envoy with the plugin, for the end-to-end
// tests and the demo. The Envoy configuration is the repository's own
// envoy.yaml with its ports, wasm path, upstream port and plugin
// configuration substituted, so every run also proves the shipped example.
package envoyrun

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/token-failover/token-failover/wasmhost"
)

// Options describe one Envoy run.
type Options struct {
	// Bin is the envoy binary (default FindBinary()).
	Bin string
	// Wasm is the plugin module.
	Wasm string
	// PluginConfig replaces the plugin configuration of envoy.yaml (YAML);
	// empty keeps it.
	PluginConfig string
	// Upstream is the mock provider's address (host:port): it replaces
	// port 18080 in the template.
	Upstream string
	// Upstreams are more upstream addresses, each replacing the template's
	// "port_value: <key>" (a template with several clusters).
	Upstreams map[int]string
	// Concurrency is --concurrency (default 4).
	Concurrency int
	// Dir holds the rendered config and the log (default a temp dir).
	Dir string
	// Template is the Envoy configuration to render, relative to the module
	// root (default "envoy.yaml", the shipped example).
	Template string
	// Edit, when set, changes the rendered configuration last (a test that
	// derives several deployments from one template).
	Edit func(config string) string
	// Filter is what sits before the router: "" or "wasm" (the plugin),
	// "none" (bare Envoy) or "lua" (LuaRoundRobin, the script a user would
	// otherwise write), for side-by-side benchmarks.
	Filter string
}

// LuaRoundRobin is a Lua filter that sets Authorization round-robin from a
// fixed list: what a user would write instead of this plugin.
const LuaRoundRobin = `          - name: envoy.filters.http.lua
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua
              default_source_code:
                inline_string: |
                  local tokens = {"sk-demo-token-alpha", "sk-demo-token-bravo", "sk-demo-token-charlie"}
                  local n = 0
                  function envoy_on_request(request_handle)
                    n = n % #tokens + 1
                    request_handle:headers():replace("authorization", "Bearer " .. tokens[n])
                  end
`

var wasmFilterBlock = regexp.MustCompile(`(?s)          - name: token-failover\n.*?(          - name: envoy\.filters\.http\.router)`)

// Envoy is a running Envoy.
type Envoy struct {
	cmd     *exec.Cmd
	exited  chan error
	Admin   string // host:port of the admin interface
	Listen  string // host:port of the listener
	LogPath string
	Config  string // the rendered configuration
}

// ErrNotInstalled is returned when no Envoy binary can be found.
var ErrNotInstalled = errors.New("envoyrun: no Envoy binary: run ./build.sh envoy or set ENVOY_BIN")

// FindBinary returns $ENVOY_BIN, else the newest Envoy that ./build.sh
// envoy installed under .venv (one venv per version, .venv/envoy-<version>).
func FindBinary() (string, error) {
	if b := os.Getenv("ENVOY_BIN"); b != "" {
		return b, nil
	}
	root, err := wasmhost.ModuleRoot()
	if err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(root, ".venv", "envoy-*", "lib", "python3*", "site-packages", "envoy", "_bin", "envoy"))
	if len(matches) == 0 {
		return "", ErrNotInstalled
	}
	sort.Slice(matches, func(i, j int) bool { return versionLess(venvVersion(matches[i]), venvVersion(matches[j])) })
	return matches[len(matches)-1], nil
}

// venvVersion is the version in a path under .venv/envoy-<version>/.
func venvVersion(path string) string {
	for _, part := range strings.Split(filepath.ToSlash(path), "/") {
		if v, ok := strings.CutPrefix(part, "envoy-"); ok {
			return v
		}
	}
	return ""
}

// versionLess compares dotted version numbers.
func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// Tools returns the Envoy binary (FindBinary) and the plugin module: $WASM,
// else dist/token-failover.wasm (what ./build.sh built), for the demo and
// the bench.
func Tools() (bin, wasm string, err error) {
	if bin, err = FindBinary(); err != nil {
		return "", "", err
	}
	if wasm = os.Getenv("WASM"); wasm == "" {
		wasm = "dist/token-failover.wasm"
	}
	return bin, wasm, nil
}

// Version returns Envoy's version ("<commit>/1.40.0/Clean/RELEASE/BoringSSL").
func Version(bin string) (string, error) {
	out, err := exec.Command(bin, "--version").Output()
	v := strings.TrimSpace(string(out))
	if _, after, ok := strings.Cut(v, "version: "); ok {
		v = after
	}
	return v, err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var configBlock = regexp.MustCompile(`(?s)(value: \|\n)(( *).*?)(\n\s+- name: envoy\.filters\.http\.(router|upstream_codec))`)

// Render returns envoy.yaml with the given ports, paths and plugin config.
func Render(o Options, listen, admin int) (string, error) {
	root, err := wasmhost.ModuleRoot()
	if err != nil {
		return "", err
	}
	tmpl := o.Template
	if tmpl == "" {
		tmpl = "envoy.yaml"
	}
	b, err := os.ReadFile(filepath.Join(root, tmpl))
	if err != nil {
		return "", err
	}
	cfg := string(b)
	repls := map[string]string{
		"port_value: 10000":                  "port_value: " + strconv.Itoa(listen),
		"port_value: 9901":                   "port_value: " + strconv.Itoa(admin),
		"filename: dist/token-failover.wasm": "filename: " + o.Wasm,
	}
	ups := map[int]string{}
	for k, v := range o.Upstreams {
		ups[k] = v
	}
	if o.Upstream != "" {
		ups[18080] = o.Upstream
	}
	for placeholder, addr := range ups {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", fmt.Errorf("envoyrun: upstream %q: %w", addr, err)
		}
		repls["port_value: "+strconv.Itoa(placeholder)] = "port_value: " + port
	}
	for old, repl := range repls {
		if !strings.Contains(cfg, old) {
			return "", fmt.Errorf("envoyrun: %s no longer contains %q", tmpl, old)
		}
		cfg = strings.ReplaceAll(cfg, old, repl)
	}
	switch o.Filter {
	case "none", "lua":
		repl := "$1"
		if o.Filter == "lua" {
			repl = strings.ReplaceAll(LuaRoundRobin, "$", "$$") + "$1"
		}
		if !wasmFilterBlock.MatchString(cfg) {
			return "", errors.New("envoyrun: envoy.yaml has no token-failover filter block")
		}
		return wasmFilterBlock.ReplaceAllString(cfg, repl), nil
	}
	if o.PluginConfig != "" {
		m := configBlock.FindStringSubmatchIndex(cfg)
		if m == nil {
			return "", errors.New("envoyrun: envoy.yaml has no plugin configuration block")
		}
		indent := cfg[m[6]:m[7]] // the block's own indentation
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(o.PluginConfig, "\n"), "\n") {
			lines = append(lines, indent+l)
		}
		cfg = cfg[:m[4]] + strings.Join(lines, "\n") + cfg[m[5]:]
	}
	if o.Edit != nil {
		cfg = o.Edit(cfg)
	}
	return cfg, nil
}

// Start renders the config, starts Envoy and waits until its listener
// accepts connections (or Envoy exits: the error then carries its log tail).
func Start(o Options) (*Envoy, error) {
	if o.Bin == "" {
		b, err := FindBinary()
		if err != nil {
			return nil, err
		}
		o.Bin = b
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if abs, err := filepath.Abs(o.Wasm); err == nil {
		o.Wasm = abs // Envoy runs in o.Dir
	}
	if abs, err := filepath.Abs(o.Bin); err == nil && strings.ContainsRune(o.Bin, filepath.Separator) {
		o.Bin = abs // a relative ENVOY_BIN, run from o.Dir
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "token-failover-envoy-")
		if err != nil {
			return nil, err
		}
		o.Dir = d
	}
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg, err := Render(o, listen, admin)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(o.Dir, "envoy.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	e := &Envoy{Admin: fmt.Sprintf("127.0.0.1:%d", admin), Listen: fmt.Sprintf("127.0.0.1:%d", listen),
		LogPath: filepath.Join(o.Dir, "envoy.log"), Config: cfg, exited: make(chan error, 1)}
	e.cmd = exec.Command(o.Bin, "-c", cfgPath, "--concurrency", strconv.Itoa(o.Concurrency),
		"--disable-hot-restart", "-l", "info", "--log-path", e.LogPath, "--file-flush-interval-msec", "100")
	e.cmd.Dir = o.Dir
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("envoyrun: start %s: %w", o.Bin, err)
	}
	go func() { e.exited <- e.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-e.exited:
			e.exited <- err
			return e, fmt.Errorf("envoyrun: envoy exited during start (%v); log tail:\n%s", err, e.Tail(40))
		default:
		}
		if c, err := net.DialTimeout("tcp", e.Listen, 200*time.Millisecond); err == nil {
			c.Close()
			if _, err := e.AdminGet("/ready"); err == nil {
				return e, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = e.Stop()
	return e, fmt.Errorf("envoyrun: envoy not ready after 60s; log tail:\n%s", e.Tail(40))
}

// Exited returns Envoy's exit error once it has exited (nil, false before).
func (e *Envoy) Exited() (error, bool) {
	select {
	case err := <-e.exited:
		e.exited <- err
		return err, true
	default:
		return nil, false
	}
}

// WaitExit waits up to d for Envoy to exit on its own.
func (e *Envoy) WaitExit(d time.Duration) bool {
	select {
	case err := <-e.exited:
		e.exited <- err
		return true
	case <-time.After(d):
		return false
	}
}

// Stop ends Envoy and waits for it.
func (e *Envoy) Stop() error {
	if _, done := e.Exited(); done {
		return nil
	}
	_ = e.cmd.Process.Signal(os.Interrupt)
	if !e.WaitExit(10 * time.Second) {
		_ = e.cmd.Process.Kill()
		e.WaitExit(5 * time.Second)
	}
	return nil
}

// PID is Envoy's process id.
func (e *Envoy) PID() int { return e.cmd.Process.Pid }

// Log returns Envoy's whole log so far.
func (e *Envoy) Log() string {
	b, _ := os.ReadFile(e.LogPath)
	return string(b)
}

// Tail returns the last n lines of the log.
func (e *Envoy) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(e.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// AdminGet fetches an admin path; a non-200 answer is an error.
func (e *Envoy) AdminGet(path string) (string, error) {
	resp, err := http.Get("http://" + e.Admin + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("envoyrun: admin %s: %s", path, resp.Status)
	}
	return string(b), nil
}

// Stats returns the counters and gauges whose names contain filter, by
// their plain name (everything up to "wasmcustom." removed).
func (e *Envoy) Stats(filter string) (map[string]int64, error) {
	body, err := e.AdminGet("/stats?filter=" + filter)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			continue // histograms
		}
		// Envoy files wasm stats under "wasmcustom." (an upstream filter's
		// under "cluster.<name>.wasmcustom." in Envoy 1.36).
		if i := strings.Index(name, "wasmcustom."); i >= 0 {
			name = name[i+len("wasmcustom."):]
		}
		out[name] = n
	}
	return out, sc.Err()
}

// RSS returns Envoy's resident set size in bytes (Linux).
func (e *Envoy) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.PID()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("envoyrun: no VmRSS")
}
