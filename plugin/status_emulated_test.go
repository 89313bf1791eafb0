package plugin_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	tfprovider "github.com/token-failover/token-failover/provider"
	"github.com/token-failover/token-failover/wasmhost"
)

const adminKey = "admin-key-0123456789abcdef"

// statusCfg is cfg with the status page (admin key on).
func statusCfg(extra string) string {
	return cfg(extra) + `
status: {path: /tf/status, adminKey: ` + adminKey + `}`
}

func statusRequest(method, path string, headers ...wasmhost.Pair) wasmhost.Request {
	return wasmhost.Request{Headers: append([]wasmhost.Pair{{":method", method}, {":path", path}, {":authority", "gateway.local"}}, headers...)}
}

// pageView is the status page's JSON, as a client reads it.
type pageView struct {
	VM       string   `json:"vm"`
	Warnings []string `json:"warnings"`
	Pools    []struct {
		ID, Name        string
		Failover        bool
		Available       int
		ProbeLease      string `json:"probeLease"`
		ProbeLeaseUntil string `json:"probeLeaseUntil"`
		Tokens          []struct {
			Index               int
			Fingerprint, State  string
			Serving, Manual     bool
			Reason              string
			HTTPStatus          int `json:"httpStatus"`
			Why, Since, Until   string
			ConsecutiveFailures uint32 `json:"consecutiveFailures"`
			NextProbe           string `json:"nextProbe"`
			LastProbe           *struct {
				At string
				OK bool
			} `json:"lastProbe"`
			Demotions, Restorations uint32
		}
	}
}

func getPage(t *testing.T, vm *wasmhost.VM) (pageView, string) {
	t.Helper()
	s := do(t, vm, statusRequest("GET", "/tf/status"))
	require.True(t, s.Response.LocalReply)
	require.Equal(t, 200, s.Response.Status, string(s.Response.Body))
	require.Contains(t, s.Response.Headers, wasmhost.Pair{"content-type", "application/json"})
	require.Contains(t, s.Response.Headers, wasmhost.Pair{"cache-control", "no-store"})
	var v pageView
	require.NoError(t, json.Unmarshal(s.Response.Body, &v))
	return v, string(s.Response.Body)
}

// noSecrets fails if any token or the admin key appears in text.
func noSecrets(t *testing.T, text string) {
	t.Helper()
	for _, s := range append([]string{adminKey}, threeTokens...) {
		require.NotContains(t, text, s)
	}
}

// TestStatus_PageShowsWhatTheStateSays drives each token into a different
// state (401: unhealthy at once; 429 with a retry time: cooling; two 500s:
// counting) and checks every field the page gives against it, on another
// worker than the one that saw the failures.
func TestStatus_PageShowsWhatTheStateSays(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(0, wasmhost.Status(401))
	p.always(1, wasmhost.Reply{Status: 429, Headers: []wasmhost.Pair{{"retry-after", "120"}}})
	p.always(2, wasmhost.Status(500))
	h := start(t, statusCfg(", failureThreshold: 3"), p)
	w := h.Workers()
	for i := 0; i < 4; i++ { // round-robin: 0 → 401, 1 → 429, 2 → 500, then 2 again (0 and 1 are out)
		do(t, w[0], wasmhost.Chat("gpt-4o"))
	}
	advance(t, h, 1500*time.Millisecond) // the lease holder probes token 0 (still 401)
	st := state(t, h, 3)
	require.Equal(t, failover.Unhealthy, st.Tokens[0].Status)
	require.Equal(t, failover.Cooling, st.Tokens[1].Status)
	require.Equal(t, uint32(2), st.Tokens[2].Failures)

	v, body := getPage(t, w[1])
	noSecrets(t, body)
	require.Len(t, v.Pools, 1)
	pool := v.Pools[0]
	require.True(t, pool.Failover)
	require.Equal(t, 1, pool.Available)
	require.NotEmpty(t, pool.ProbeLease, "a VM holds the probe lease")
	require.NotEmpty(t, pool.ProbeLeaseUntil)
	for i, tok := range pool.Tokens {
		require.Equal(t, i, tok.Index)
		require.Equal(t, tfprovider.NewToken(i, threeTokens[i]).Fingerprint, tok.Fingerprint)
	}
	t0, t1, t2 := pool.Tokens[0], pool.Tokens[1], pool.Tokens[2]
	require.Equal(t, "unhealthy", t0.State)
	require.False(t, t0.Serving)
	require.Equal(t, "auth", t0.Reason)
	require.Equal(t, 401, t0.HTTPStatus)
	require.Contains(t, t0.Why, "status 401")
	require.NotEmpty(t, t0.Since)
	require.NotEmpty(t, t0.NextProbe)
	require.NotNil(t, t0.LastProbe, "token 0 was probed")
	require.False(t, t0.LastProbe.OK)
	require.Equal(t, uint32(1), t0.Demotions)

	require.Equal(t, "cooling", t1.State)
	require.Equal(t, "ratelimit", t1.Reason)
	require.Equal(t, 429, t1.HTTPStatus)
	until, err := time.Parse(time.RFC3339, t1.Until)
	require.NoError(t, err)
	since, err := time.Parse(time.RFC3339, t1.Since)
	require.NoError(t, err)
	require.InDelta(t, 120, until.Sub(since).Seconds(), 2, "cools for the provider's retry-after")
	require.Empty(t, t1.NextProbe, "a cooling token is not probed")

	require.Equal(t, "available", t2.State)
	require.True(t, t2.Serving)
	require.Equal(t, uint32(2), t2.ConsecutiveFailures)
	require.Empty(t, t2.Reason)

	// The page for people: the same tokens, no script, nothing external.
	s := do(t, w[2], statusRequest("GET", "/tf/status", wasmhost.Pair{"accept", "text/html,application/xhtml+xml"}))
	require.Equal(t, 200, s.Response.Status)
	page := string(s.Response.Body)
	noSecrets(t, page)
	require.Contains(t, page, "<table>")
	for _, tok := range pool.Tokens {
		require.Contains(t, page, "<code>"+tok.Fingerprint+"</code>")
	}
	require.Contains(t, page, `class="unhealthy"`)
	require.Contains(t, page, `class="cooling"`)
	require.NotContains(t, page, "<script")
	require.NotContains(t, page, "http://")
	require.NotContains(t, page, "https://")
	live := 0
	for _, r := range p.requests {
		if !r.HTTPCall {
			live++
		}
	}
	require.Equal(t, 4, live, "status requests never reach the provider")
}

// TestStatus_RefusedOutsideTheAllowList: a client not in status.allow (by
// default, any but loopback) gets 403 and nothing of the state.
func TestStatus_RefusedOutsideTheAllowList(t *testing.T) {
	p := newProvider(threeTokens...)
	h := start(t, statusCfg(""), p)
	for _, src := range []string{"10.0.0.5:41000", "[2001:db8::1]:80", "192.168.1.1:1"} {
		req := statusRequest("GET", "/tf/status")
		req.Source = src
		s := do(t, h.Workers()[0], req)
		require.True(t, s.Response.LocalReply)
		require.Equal(t, 403, s.Response.Status, src)
		require.Equal(t, "forbidden\n", string(s.Response.Body))
		req = statusRequest("POST", "/tf/status/pools/x/tokens/0/demote", wasmhost.Pair{"x-token-failover-admin-key", adminKey})
		req.Source = src
		require.Equal(t, 403, do(t, h.Workers()[0], req).Response.Status)
	}
	require.Empty(t, p.requests)
	require.Contains(t, h.LogText(), "status page refused to 10.0.0.5:41000")

	// A listed prefix lets a client in.
	h2 := start(t, cfg("")+"\nstatus: {path: /tf/status, allow: [10.0.0.0/8]}", newProvider(threeTokens...))
	req := statusRequest("GET", "/tf/status")
	req.Source = "10.0.0.5:41000"
	require.Equal(t, 200, do(t, h2.Workers()[0], req).Response.Status)
	require.Equal(t, 403, do(t, h2.Workers()[0], statusRequest("GET", "/tf/status")).Response.Status, "loopback is no longer listed")
}

// TestStatus_ManualDemoteHoldsUntilRestoredByHand takes a healthy token out
// by fingerprint: no worker sends it again, no probe brings it back, not
// even when every other token is down; a restore by index brings it back.
func TestStatus_ManualDemoteHoldsUntilRestoredByHand(t *testing.T) {
	p := newProvider(threeTokens...)
	h := start(t, statusCfg(""), p)
	w := h.Workers()
	fp := tfprovider.NewToken(1, threeTokens[1]).Fingerprint
	admin := wasmhost.Pair{"x-token-failover-admin-key", adminKey}

	// Refusals first: nothing changes.
	require.Equal(t, 401, do(t, w[0], statusRequest("POST", "/tf/status/pools/x/tokens/"+fp+"/demote")).Response.Status)
	require.Equal(t, 401, do(t, w[0], statusRequest("POST", "/tf/status/pools/x/tokens/"+fp+"/demote",
		wasmhost.Pair{"x-token-failover-admin-key", adminKey + "x"})).Response.Status)
	require.Equal(t, 405, do(t, w[0], statusRequest("GET", "/tf/status/pools/x/tokens/"+fp+"/demote", admin)).Response.Status)
	require.Equal(t, 404, do(t, w[0], statusRequest("POST", "/tf/status/pools/x/tokens/"+fp+"/demote", admin)).Response.Status, "no pool x")
	require.Equal(t, 404, do(t, w[0], statusRequest("POST", "/tf/status/pools/x/frobnicate", admin)).Response.Status)
	require.Equal(t, failover.Available, state(t, h, 3).Tokens[1].Status)

	v, _ := getPage(t, w[0])
	pool := v.Pools[0].ID
	s := do(t, w[0], statusRequest("POST", "/tf/status/pools/"+pool+"/tokens/"+fp+"/demote", admin,
		wasmhost.Pair{"x-token-failover-actor", "alice"}))
	require.Equal(t, 200, s.Response.Status, string(s.Response.Body))
	require.Contains(t, string(s.Response.Body), `"changed":true`)
	require.True(t, state(t, h, 3).Tokens[1].Manual())
	logs := h.LogText()
	require.Contains(t, logs, "127.0.0.1:50000 (alice) took out token #1("+fp+") of pool")
	noSecrets(t, logs)

	before := p.count(1, false)
	for i := 0; i < 30; i++ {
		do(t, w[i%len(w)], wasmhost.Chat("gpt-4o"))
	}
	require.Equal(t, before, p.count(1, false), "no worker sends a token taken out by hand")

	// Every other token goes down; the manual one still serves nothing,
	// and an hour of ticks probes it never.
	p.always(0, wasmhost.Status(401))
	p.always(2, wasmhost.Status(401))
	for i := 0; i < 6; i++ {
		do(t, w[0], wasmhost.Chat("gpt-4o"))
	}
	advance(t, h, time.Hour)
	require.Equal(t, before, p.count(1, false), "not even as the last resort")
	require.Zero(t, p.count(1, true), "never probed")
	v, _ = getPage(t, w[1])
	require.True(t, v.Pools[0].Tokens[1].Manual)
	require.Equal(t, "manual", v.Pools[0].Tokens[1].Reason)

	// Demoting it again changes nothing; restoring it by index does.
	s = do(t, w[1], statusRequest("POST", "/tf/status/pools/"+pool+"/tokens/"+fp+"/demote", admin))
	require.Contains(t, string(s.Response.Body), `"changed":false`)
	s = do(t, w[1], statusRequest("POST", "/tf/status/pools/"+pool+"/tokens/1/restore", admin))
	require.Equal(t, 200, s.Response.Status)
	require.Contains(t, string(s.Response.Body), `"to":"available"`)
	do(t, w[2], wasmhost.Chat("gpt-4o"))
	require.Equal(t, before+1, p.count(1, false), "back in service on every worker")
	require.Contains(t, h.LogText(), "put back token #1("+fp+")")
}

// TestStatus_ReadOnlyWithoutAdminKey: with no adminKey the page answers
// and every action is refused.
func TestStatus_ReadOnlyWithoutAdminKey(t *testing.T) {
	h := start(t, cfg("")+"\nstatus: {path: /tf/status}", newProvider(threeTokens...))
	v, _ := getPage(t, h.Workers()[0])
	s := do(t, h.Workers()[0], statusRequest("POST", "/tf/status/pools/"+v.Pools[0].ID+"/tokens/0/demote",
		wasmhost.Pair{"x-token-failover-admin-key", adminKey}))
	require.Equal(t, 403, s.Response.Status)
	require.Contains(t, string(s.Response.Body), "read-only")
	require.Equal(t, failover.Available, state(t, h, 3).Tokens[0].Status)
}

// TestStatus_ShowsThePoolsOfEveryConfiguration: a status on one listener
// shows the pools of another listener's configuration too (the registry).
func TestStatus_ShowsThePoolsOfEveryConfiguration(t *testing.T) {
	other := `provider: {type: openai, id: other, apiTokens: [tok-other-0001, tok-other-0002], failover: {enabled: true}}`
	h := start(t, `status: {path: /tf/status}`, newProvider(threeTokens...), func(o *wasmhost.Options) {
		o.Listeners = []wasmhost.Listener{{Name: "second", Config: []byte(cfg(""))}, {Name: "third", Config: []byte(other)}}
	})
	v, body := getPage(t, h.Workers()[0])
	require.Len(t, v.Pools, 2)
	require.Len(t, v.Pools[0].Tokens, 3)
	require.Equal(t, "other", v.Pools[1].Name)
	require.Len(t, v.Pools[1].Tokens, 2)
	require.False(t, strings.Contains(body, "tok-other"))
}
