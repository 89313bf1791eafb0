package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

// routeTimeout is the differential Envoy's timeout on the "timeout" and
// "pertry" routes (e2e/testdata/envoy-differential.yaml).
const routeTimeout = 300 * time.Millisecond

// deadRoutes are the routes whose cluster the request never reaches.
var deadRoutes = map[string]wasmhost.Fault{"dead": wasmhost.FaultConnectFailure, "empty": wasmhost.FaultNoHealthyUpstream,
	"maint": wasmhost.FaultMaintenance, "overflow": wasmhost.FaultOverflow}

// routeCluster is the cluster each route sends to.
func routeCluster(route string) string {
	switch route {
	case "dead", "empty", "maint", "overflow":
		return route
	case "h2":
		return "llm-h2"
	}
	return "llm"
}

// behaviours is the mock's per-token behaviour, shared by both hosts'
// runners (the emulator's clusters read it; Envoy's mock holds a copy).
type behaviours struct {
	mu sync.Mutex
	m  map[string]mockllm.Behaviour
}

func (b *behaviours) get(token string) mockllm.Behaviour {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[token]
}

// apply sets a scenario's token behaviours (and the mock's, when given).
func (b *behaviours) apply(id string, set map[int]mockllm.Behaviour, mock *mockllm.Server) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, beh := range set {
		tok := diffTokens(id)[i]
		b.m[tok] = beh
		if mock != nil {
			mock.Set(tok, beh)
		}
	}
}

// toReply turns the mock's plan into the emulator's answer.
func toReply(a mockllm.Answer) wasmhost.Reply {
	if a.ResetBefore {
		return wasmhost.Reply{Fault: wasmhost.FaultConnectionTermination, Delay: a.Delay}
	}
	return wasmhost.Reply{Status: a.Status, Headers: a.Headers, Body: a.Body, Chunks: a.Chunks, ChunkDelay: a.ChunkDelay,
		Trailers: a.Trailers, MidStreamReset: a.MidStreamReset, ResetAfter: a.ResetAfter, Delay: a.Delay}
}

func upstreamToken(headers []wasmhost.Pair) string {
	for _, h := range headers {
		if h[0] == "authorization" {
			return strings.TrimPrefix(h[1], "Bearer ")
		}
	}
	return ""
}

// probeSet collects a scenario's distinct probes.
type probeSet map[string]bool

func (p probeSet) add(token int, method, path, model string) {
	if token >= 0 {
		p[fmt.Sprintf("token%d %s %s %s", token, method, path, model)] = true
	}
}

func (p probeSet) sorted() []string {
	out := []string{}
	for k := range p {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runEmulator runs every scenario in the emulator: one worker, both
// listeners' configurations and routes, clusters that answer as the mock
// plans.
func (d differential) runEmulator(t *testing.T, envoyVersion string) results {
	beh := &behaviours{m: map[string]mockllm.Behaviour{}}
	var hops *[]hop
	var scenarioID string
	probes := probeSet{}
	record := func(r *wasmhost.UpstreamRequest, early bool) {
		body := r.Body
		if early {
			body = nil
		}
		_, model := mockllm.Plan(mockllm.Behaviour{}, mockllm.Request{Method: r.Header(":method"), Path: r.Header(":path"), Body: body})
		tok := tokenIndex(scenarioID, upstreamToken(r.Headers))
		if mockllm.IsProbe(r.Header(":method"), r.Header(":path"), body) {
			probes.add(tok, r.Header(":method"), r.Header(":path"), model)
			return
		}
		if hops == nil {
			return
		}
		*hops = append(*hops, hop{Token: tok, Method: r.Header(":method"),
			Path: r.Header(":path"), Model: model, BodySHA: sha(body), Trailers: pairsText(r.Trailers), Auth: authShape(r.Headers),
			Internal: internalHeaders(r.Headers)})
	}
	var h *wasmhost.Host
	answer := func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		a, _ := mockllm.Plan(beh.get(upstreamToken(r.Headers)), mockllm.Request{Method: r.Header(":method"),
			Path: r.Header(":path"), Body: r.Body, Header: func(k string) string { return r.Header(k) }, Now: h.Now})
		record(r, false)
		return toReply(a)
	}
	clusters := map[string]wasmhost.Cluster{"llm": answer, "llm-h2": answer, secondListenerCluster: answer}
	for name, f := range deadRoutes {
		f := f
		clusters[name] = func(*wasmhost.UpstreamRequest) wasmhost.Reply { return wasmhost.Reply{Fault: f} }
	}
	mainRoutes, secondRoutes := d.routes()
	opts := wasmhost.Options{Config: []byte(d.config("")), Routes: mainRoutes, Workers: 1, Clusters: clusters, EnvoyVersion: envoyVersion}
	if d.upstream {
		opts.UpstreamFilter, opts.RouterRetry = true, upstreamRetry
	} else {
		opts.Listeners = []wasmhost.Listener{{Name: "second", Config: []byte(d.config("second")), Routes: secondRoutes}}
	}
	h, err := wasmhost.New(opts)
	require.NoError(t, err)
	defer h.Close()
	w := h.Workers()[0]
	out := results{metrics: map[string]int64{}}
	for i, sc := range d.scenarios {
		scenarioID = sc.id(i)
		probes = probeSet{}
		beh.apply(scenarioID, sc.behave, nil)
		var steps []outcome
		for _, st := range sc.steps {
			beh.apply(scenarioID, st.behave, nil)
			require.NoError(t, h.Advance(st.wait))
			var o outcome
			hops = &o.Hops
			req := emulatorRequest(sc.domain(i), st)
			req.Listener = sc.listener
			var s *wasmhost.Stream
			if d.upstream { // the router runs the filter per attempt and asks the cluster
				s, err = w.Do(req)
				require.NoError(t, err)
			} else {
				s, err = w.Open(req)
				require.NoError(t, err)
				if !s.Ended() && s.Upstream != nil {
					require.NoError(t, emulatorAnswer(h, s, st, beh, record))
				}
			}
			if st.leaveAfter > 0 && !s.Ended() {
				require.NoError(t, h.Advance(st.leaveAfter))
				require.NoError(t, s.ResetByClient())
			}
			require.NoError(t, h.Advance(st.settle))
			for k := 0; k < 2000 && !s.Ended(); k++ { // a retry in flight
				require.NoError(t, h.Advance(5*time.Millisecond))
			}
			if !s.Ended() {
				t.Log(h.LogText())
			}
			require.True(t, s.Ended(), "%s step: the stream never ended (held %v)", sc.name, s.Held())
			hops = nil
			switch {
			case st.leaveAfter > 0: // the client saw no answer
				o.Reset = true
			default:
				o.Status, o.Reset = s.Response.Status, s.Response.Reset
				if !o.Reset {
					o.Body = string(s.Response.Body)
				}
			}
			steps = append(steps, o)
		}
		out.steps = append(out.steps, steps)
		out.probes = append(out.probes, probes.sorted())
	}
	scenarioID = ""
	require.NoError(t, h.Advance(1200*time.Millisecond)) // request counters flush on the tick
	for _, m := range h.Metrics() {
		out.metrics[m.Name] = int64(m.Value)
	}
	for _, vm := range h.VMs() {
		require.NoError(t, vm.Failed(), vm.Name())
	}
	return out
}

func emulatorRequest(domain string, st step) wasmhost.Request {
	method, path := st.method, st.path
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/v1/chat/completions"
	}
	headers := []wasmhost.Pair{{":method", method}, {":path", path}, {":authority", domain}, {"x-route", orDefault(st.route, "chat")}}
	if st.body != "" {
		headers = append(headers, wasmhost.Pair{"content-type", "application/json"})
		if st.chunks == nil && st.trailers == nil {
			headers = append(headers, wasmhost.Pair{"content-length", strconv.Itoa(len(st.body))})
		}
	}
	if st.shape != nil {
		headers = append(headers, wasmhost.Pair{mockllm.ShapeHeader, shapeHeader(st.shape)})
	}
	for _, h := range st.headers { // a step's header replaces a default one
		headers = append(removePair(headers, h[0]), h)
	}
	return wasmhost.Request{Headers: headers, Body: []byte(st.body), Chunks: st.chunks, Trailers: st.trailers,
		Route: orDefault(st.route, "chat"), Cluster: routeCluster(st.route), ClientLeavesMidResponse: st.leave}
}

// emulatorAnswer plays the upstream for the stream's request as Envoy and
// the mock would: Envoy's fault routes answer themselves; an early answer
// comes before the body; a delay past the route's timeout is Envoy's 504.
func emulatorAnswer(h *wasmhost.Host, s *wasmhost.Stream, st step, beh *behaviours, record func(*wasmhost.UpstreamRequest, bool)) error {
	if f, ok := deadRoutes[st.route]; ok {
		if err := s.SendAll(); err != nil || s.Ended() {
			return err
		}
		return s.Respond(wasmhost.Reply{Fault: f})
	}
	b := beh.get(upstreamToken(s.Upstream.Headers))
	if st.shape != nil {
		b = *st.shape
	}
	if b.Early {
		if _, err := s.SendBody(); err != nil || s.Ended() {
			return err
		}
		a, _ := mockllm.Plan(b, mockllm.Request{Method: s.Upstream.Header(":method"), Path: s.Upstream.Header(":path"), Now: h.Now})
		record(s.Upstream, true)
		return s.Respond(toReply(a))
	}
	if err := s.SendAll(); err != nil || s.Ended() {
		return err
	}
	u := s.Upstream
	a, _ := mockllm.Plan(b, mockllm.Request{Method: u.Header(":method"), Path: u.Header(":path"), Body: u.Body, Now: h.Now})
	record(u, false)
	if (st.route == "timeout" || st.route == "pertry") && a.Delay >= routeTimeout {
		if err := h.Advance(routeTimeout); err != nil {
			return err
		}
		fault := wasmhost.FaultRouteTimeout
		if st.route == "pertry" {
			fault = wasmhost.FaultPerTryTimeout
		}
		return s.Respond(wasmhost.Reply{Fault: fault})
	}
	if a.Delay > 0 {
		if err := h.Advance(a.Delay); err != nil || s.Ended() {
			return err
		}
	}
	return s.Respond(toReply(a))
}

// removePair drops every header named name.
func removePair(headers []wasmhost.Pair, name string) []wasmhost.Pair {
	out := headers[:0:0]
	for _, h := range headers {
		if !strings.EqualFold(h[0], name) {
			out = append(out, h)
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func pairsText(p [][2]string) string {
	var b strings.Builder
	for _, kv := range p {
		b.WriteString(kv[0] + "=" + kv[1] + ";")
	}
	return b.String()
}

// authShape shows which auth headers a request carried, without secrets.
func authShape(headers [][2]string) string {
	var out []string
	for _, h := range headers {
		switch strings.ToLower(h[0]) {
		case "authorization", "x-api-key", "api-key", "x-goog-api-key", "openai-organization", "openai-project":
			v := "own"
			if strings.Contains(h[1], "client") {
				v = "CLIENT"
			}
			out = append(out, strings.ToLower(h[0])+":"+v)
		}
	}
	return strings.Join(out, ",")
}

// runEnvoy runs every scenario through real Envoy (--concurrency 1) with
// both listeners' configurations and the mock provider.
func (d differential) runEnvoy(t *testing.T) results {
	second := freeAddr(t) // the second listener's port
	secondConfig := strings.ReplaceAll(strings.TrimRight(d.config("second"), "\n"), "\n", "\n"+strings.Repeat(" ", 20))
	opts := envoyrun.Options{Bin: envoyBinary(t), PluginConfig: d.config(""), Concurrency: 1,
		Template: "e2e/testdata/envoy-differential.yaml", Upstreams: map[int]string{10001: second},
		Edit: func(cfg string) string {
			cfg = strings.Replace(cfg, "SECOND_PLUGIN_CONFIG", secondConfig, 1)
			return strings.Replace(cfg, "            # SCENARIO_VIRTUAL_HOSTS\n", d.hosts(), 1)
		}}
	if d.upstream { // the shipped configuration, as users start from it
		opts.Template, opts.Upstreams, opts.Edit = "envoy-upstream.yaml", nil, nil
	}
	started, err := startEnv(t, opts)
	require.NoError(t, err)
	e, mock := started.envoy, started.mock
	beh := &behaviours{m: map[string]mockllm.Behaviour{}}
	out := results{metrics: map[string]int64{}}
	if v, err := envoyrun.Version(opts.Bin); err == nil {
		if parts := strings.Split(v, "/"); len(parts) > 1 {
			out.version = parts[1]
		}
	}
	for i, sc := range d.scenarios {
		listen := e.Listen
		if sc.listener == "second" {
			listen = second
		}
		start := len(mock.Records())
		beh.apply(sc.id(i), sc.behave, mock)
		var steps []outcome
		for _, st := range sc.steps {
			beh.apply(sc.id(i), st.behave, mock)
			time.Sleep(st.wait)
			before := len(mock.Records())
			o := envoyRequest(t, listen, sc.domain(i), st)
			time.Sleep(20*time.Millisecond + st.settle) // the mock records a hop after answering
			for _, r := range mock.Records()[before:] {
				if r.Probe {
					continue
				}
				o.Hops = append(o.Hops, hop{Token: tokenIndex(sc.id(i), r.Token), Method: r.Method, Path: r.Path, Model: r.Model,
					BodySHA: sha(r.Body), Trailers: pairsText(headerPairs(r.Trailer)), Auth: authShape(headerPairs(r.Header)),
					Internal: internalHeaders(headerPairs(r.Header))})
			}
			steps = append(steps, o)
		}
		probes := probeSet{}
		for _, r := range mock.Records()[start:] {
			if r.Probe {
				probes.add(tokenIndex(sc.id(i), r.Token), r.Method, r.Path, r.Model)
			}
		}
		out.steps = append(out.steps, steps)
		out.probes = append(out.probes, probes.sorted())
	}
	time.Sleep(1200 * time.Millisecond) // request counters flush on the tick
	stats, err := e.Stats("tokenfailover")
	require.NoError(t, err)
	for k, v := range stats {
		out.metrics[k] = v
	}
	require.False(t, strings.Contains(e.Log(), "Maximum call stack"), "a VM failed: %s", e.Tail(20))
	return out
}

func headerPairs(h http.Header) [][2]string {
	var out [][2]string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, [2]string{strings.ToLower(k), v})
		}
	}
	return out
}

// chunkedBody yields a body in the step's chunks, pausing between them so
// Envoy sees them as separate pieces.
type chunkedBody struct {
	rest   []byte
	chunks []int
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	if len(c.rest) == 0 {
		return 0, io.EOF
	}
	n := len(c.rest)
	if len(c.chunks) > 0 {
		n, c.chunks = min(c.chunks[0], n), c.chunks[1:]
		defer time.Sleep(15 * time.Millisecond)
	}
	n = copy(p, c.rest[:n])
	c.rest = c.rest[n:]
	return n, nil
}

// envoyRequest sends one step's request through Envoy on a fresh
// connection and reads what the client gets.
func envoyRequest(t *testing.T, listen, domain string, st step) outcome {
	method, path := orDefault(st.method, "POST"), orDefault(st.path, "/v1/chat/completions")
	var body io.Reader
	if st.body != "" {
		body = strings.NewReader(st.body)
		if st.chunks != nil || st.trailers != nil {
			body = &chunkedBody{rest: []byte(st.body), chunks: st.chunks}
		}
	}
	req, err := http.NewRequest(method, "http://"+listen+path, body)
	require.NoError(t, err)
	req.Host = domain
	req.Header.Set("x-route", orDefault(st.route, "chat"))
	if st.body != "" {
		req.Header.Set("content-type", "application/json")
	}
	if st.chunks != nil || st.trailers != nil {
		req.ContentLength = -1
	}
	if st.shape != nil {
		req.Header.Set(mockllm.ShapeHeader, shapeHeader(st.shape))
	}
	for _, h := range st.headers { // a step's header replaces a default one
		req.Header.Set(h[0], h[1])
	}
	if st.trailers != nil {
		req.Trailer = http.Header{}
		for _, tr := range st.trailers {
			req.Trailer.Set(tr[0], tr[1])
		}
	}
	timeout := 15 * time.Second
	if st.leaveAfter > 0 {
		timeout = st.leaveAfter // the client gives up and closes its connection
	}
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{}).DialContext}}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{Reset: true}
	}
	defer resp.Body.Close()
	o := outcome{Status: resp.StatusCode}
	if st.leave {
		_, _ = bufio.NewReader(resp.Body).ReadByte() // the first bytes, then away
		o.Reset = true
		return o
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		o.Reset = true
		return o
	}
	o.Body = string(b)
	return o
}
