package plugin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// provider is a scripted upstream: each token has a behaviour, and every
// request that reaches it is recorded.
type provider struct {
	tokens   []string
	behave   map[string]func(*wasmhost.UpstreamRequest) wasmhost.Reply
	requests []*wasmhost.UpstreamRequest
}

func newProvider(tokens ...string) *provider {
	return &provider{tokens: tokens, behave: map[string]func(*wasmhost.UpstreamRequest) wasmhost.Reply{}}
}

// token returns the index of the token a request carries (-1 for none).
func (p *provider) token(r *wasmhost.UpstreamRequest) int {
	auth := strings.TrimPrefix(r.Header("authorization"), "Bearer ")
	for i, t := range p.tokens {
		if t == auth {
			return i
		}
	}
	return -1
}

func (p *provider) set(token int, f func(*wasmhost.UpstreamRequest) wasmhost.Reply) {
	p.behave[p.tokens[token]] = f
}

func (p *provider) always(token int, r wasmhost.Reply) {
	p.set(token, func(*wasmhost.UpstreamRequest) wasmhost.Reply { return r })
}

func (p *provider) cluster(r *wasmhost.UpstreamRequest) wasmhost.Reply {
	p.requests = append(p.requests, r)
	i := p.token(r)
	if i >= 0 {
		if f, ok := p.behave[p.tokens[i]]; ok {
			return f(r)
		}
	}
	return wasmhost.OK()
}

// count returns how many requests (live or probes) reached token i.
func (p *provider) count(i int, probes bool) int {
	n := 0
	for _, r := range p.requests {
		if p.token(r) == i && r.HTTPCall == probes {
			n++
		}
	}
	return n
}

func start(t testing.TB, config string, p *provider, opts ...func(*wasmhost.Options)) *wasmhost.Host {
	t.Helper()
	o := wasmhost.Options{Config: []byte(config), Clusters: map[string]wasmhost.Cluster{"llm": p.cluster}}
	for _, f := range opts {
		f(&o)
	}
	h, err := wasmhost.New(o)
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.LogText())
		}
		for _, vm := range h.VMs() {
			require.NoError(t, vm.Failed(), vm.Name())
		}
		h.Close()
	})
	return h
}

// state decodes the pool's shared state (the only pool of the config).
func state(t testing.TB, h *wasmhost.Host, n int) failover.Pool {
	t.Helper()
	var keys []string
	for _, k := range h.SharedKeys() {
		if strings.HasSuffix(k, "/state") {
			keys = append(keys, k)
		}
	}
	require.NotEmpty(t, keys)
	v, _, _ := h.SharedData(keys[len(keys)-1])
	p, err := failover.Decode(v, n)
	require.NoError(t, err)
	return p
}

// stateKeyOf is the shared-data key of the config's only pool's state.
func stateKeyOf(t testing.TB, h *wasmhost.Host) string {
	t.Helper()
	var keys []string
	for _, k := range h.SharedKeys() {
		if strings.HasSuffix(k, "/state") {
			keys = append(keys, k)
		}
	}
	require.Len(t, keys, 1)
	return keys[0]
}

func stateOf(t testing.TB, h *wasmhost.Host, key string, n int) failover.Pool {
	t.Helper()
	v, _, ok := h.SharedData(key)
	require.True(t, ok, key)
	p, err := failover.Decode(v, n)
	require.NoError(t, err)
	return p
}

func do(t testing.TB, vm *wasmhost.VM, req wasmhost.Request) *wasmhost.Stream {
	t.Helper()
	s, err := vm.Do(req)
	require.NoError(t, err)
	return s
}

func advance(t testing.TB, h *wasmhost.Host, d time.Duration) {
	t.Helper()
	require.NoError(t, h.Advance(d))
}

var threeTokens = []string{"tok-alpha-0001", "tok-bravo-0002", "tok-charlie-0003"}
