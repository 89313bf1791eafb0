// Package etcdrun starts real etcd clusters for the fleet tests and the
// fleet demo: one to five members on loopback, each a process of etcd's own
// server (built by ./build.sh etcd from the Go module proxy), that a test
// stops, restarts and compacts. Administration goes through etcd's JSON
// gateway, so no etcd client library is needed.
package etcdrun

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/token-failover/token-failover/wasmhost"
)

// ErrNotInstalled is returned when no etcd binary can be found.
var ErrNotInstalled = errors.New("etcdrun: no etcd binary: run ./build.sh etcd or set ETCD_BIN")

// FindBinary returns $ETCD_BIN, else what ./build.sh etcd built.
func FindBinary() (string, error) {
	if b := os.Getenv("ETCD_BIN"); b != "" {
		return b, nil
	}
	root, err := wasmhost.ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, ".venv", "etcd", "etcd")
	if _, err := os.Stat(bin); err != nil {
		return "", ErrNotInstalled
	}
	return bin, nil
}

// Member is one etcd server of a cluster.
type Member struct {
	Name string
	// Client is host:port of its client (gRPC and JSON gateway) listener.
	Client  string
	peer    string
	dir     string
	logPath string
	cmd     *exec.Cmd
	exited  chan error
}

// Cluster is a running etcd cluster.
type Cluster struct {
	Members []*Member
	bin     string
	initial string
}

// Start starts a cluster of n members (1 to 5) with their data under dir
// (a temporary directory when empty) and waits until it has a leader.
func Start(n int, dir string) (*Cluster, error) {
	bin, err := FindBinary()
	if err != nil {
		return nil, err
	}
	if n < 1 || n > 5 {
		return nil, fmt.Errorf("etcdrun: %d members", n)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "token-failover-etcd-"); err != nil {
			return nil, err
		}
	}
	c := &Cluster{bin: bin}
	var initial []string
	for i := 0; i < n; i++ {
		m := &Member{Name: fmt.Sprintf("m%d", i), dir: filepath.Join(dir, fmt.Sprintf("m%d", i))}
		if m.Client, err = freeAddr(); err != nil {
			return nil, err
		}
		if m.peer, err = freeAddr(); err != nil {
			return nil, err
		}
		m.logPath = filepath.Join(dir, m.Name+".log")
		initial = append(initial, m.Name+"=http://"+m.peer)
		c.Members = append(c.Members, m)
	}
	c.initial = strings.Join(initial, ",")
	for _, m := range c.Members {
		if err := c.startMember(m, "new"); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func (c *Cluster) startMember(m *Member, state string) error {
	log, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	m.cmd = exec.Command(c.bin, "--name", m.Name, "--data-dir", m.dir,
		"--listen-client-urls", "http://"+m.Client, "--advertise-client-urls", "http://"+m.Client,
		"--listen-peer-urls", "http://"+m.peer, "--initial-advertise-peer-urls", "http://"+m.peer,
		"--initial-cluster", c.initial, "--initial-cluster-state", state, "--initial-cluster-token", "token-failover-test",
		"--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn")
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("etcdrun: start %s: %w", m.Name, err)
	}
	m.exited = make(chan error, 1)
	go func() { m.exited <- m.cmd.Wait(); log.Close() }()
	return nil
}

// StopMember kills one member (as a crash would).
func (c *Cluster) StopMember(i int) {
	m := c.Members[i]
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}

// StartMember starts a stopped member again with its data.
func (c *Cluster) StartMember(i int) error {
	if c.Members[i].cmd != nil {
		return nil
	}
	return c.startMember(c.Members[i], "existing")
}

// Stop kills every member.
func (c *Cluster) Stop() {
	for i := range c.Members {
		c.StopMember(i)
	}
}

// WaitHealthy waits until a member answers a linearizable read.
func (c *Cluster) WaitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for _, m := range c.Members {
			if m.cmd == nil {
				continue
			}
			if _, err := m.call("/v3/kv/range", map[string]any{"key": b64("health")}, 500*time.Millisecond); err == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("etcdrun: no healthy member after %v", d)
}

// call posts a JSON gateway request to the member.
func (m *Member) call(path string, body any, timeout time.Duration) (map[string]any, error) {
	b, _ := json.Marshal(body)
	client := &http.Client{Timeout: timeout}
	resp, err := client.Post("http://"+m.Client+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("etcdrun: %s: %s: %s", path, resp.Status, raw)
	}
	var out map[string]any
	return out, json.Unmarshal(raw, &out)
}

// Call posts a JSON gateway request to the first running member that
// answers.
func (c *Cluster) Call(path string, body any) (map[string]any, error) {
	var last error = errors.New("etcdrun: no running member")
	for _, m := range c.Members {
		if m.cmd == nil {
			continue
		}
		out, err := m.call(path, body, 3*time.Second)
		if err == nil {
			return out, nil
		}
		last = err
	}
	return nil, last
}

// Get returns the values of every key with prefix, by key.
func (c *Cluster) Get(prefix string) (map[string][]byte, error) {
	end := []byte(prefix)
	end[len(end)-1]++
	out, err := c.Call("/v3/kv/range", map[string]any{"key": b64(prefix), "range_end": base64.StdEncoding.EncodeToString(end)})
	if err != nil {
		return nil, err
	}
	kvs := map[string][]byte{}
	list, _ := out["kvs"].([]any)
	for _, e := range list {
		kv, _ := e.(map[string]any)
		k, _ := base64.StdEncoding.DecodeString(str(kv["key"]))
		v, _ := base64.StdEncoding.DecodeString(str(kv["value"]))
		kvs[string(k)] = v
	}
	return kvs, nil
}

// Put writes a key (returns the new revision).
func (c *Cluster) Put(key string, value []byte) (int64, error) {
	out, err := c.Call("/v3/kv/put", map[string]any{"key": b64(key), "value": base64.StdEncoding.EncodeToString(value)})
	if err != nil {
		return 0, err
	}
	return revision(out), nil
}

// Compact compacts the history up to the current revision, and returns it.
func (c *Cluster) Compact() (int64, error) {
	out, err := c.Call("/v3/kv/range", map[string]any{"key": b64("compact-probe")})
	if err != nil {
		return 0, err
	}
	rev := revision(out)
	_, err = c.Call("/v3/kv/compaction", map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true})
	return rev, err
}

func revision(out map[string]any) int64 {
	h, _ := out["header"].(map[string]any)
	n, _ := strconv.ParseInt(str(h["revision"]), 10, 64)
	return n
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
