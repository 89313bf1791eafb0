package wasmhost

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// gatewayRoutes is a user's route configuration: a virtual host for the
// gateway's own domain with path routes to two provider clusters, and a
// catch-all virtual host to a default backend.
func gatewayRoutes() *RouteTable {
	return &RouteTable{VirtualHosts: []VirtualHost{
		{Name: "gateway", Domains: []string{"llm.example.com"}, Routes: []Route{
			{Name: "openai-route", Prefix: "/openai/", Cluster: "openai"},
			{Name: "qwen-route", Prefix: "/qwen/", Cluster: "qwen"},
		}},
		{Name: "default", Domains: []string{"*"}, Routes: []Route{{Name: "default-route", Prefix: "/", Cluster: "backend"}}},
	}}
}

// TestRouteTable_PicksVirtualHostAndRouteAsEnvoy checks Envoy's lookup
// order: exact domain, longest suffix wildcard, prefix wildcard, "*"; then
// the first matching route.
func TestRouteTable_PicksVirtualHostAndRouteAsEnvoy(t *testing.T) {
	rt := &RouteTable{VirtualHosts: []VirtualHost{
		{Name: "any", Domains: []string{"*"}, Routes: []Route{{Name: "any", Cluster: "any"}}},
		{Name: "suffix", Domains: []string{"*.example.com"}, Routes: []Route{{Name: "suffix", Cluster: "suffix"}}},
		{Name: "longer", Domains: []string{"*.api.example.com"}, Routes: []Route{{Name: "longer", Cluster: "longer"}}},
		{Name: "prefix", Domains: []string{"llm.*"}, Routes: []Route{{Name: "prefix", Cluster: "prefix"}}},
		{Name: "exact", Domains: []string{"llm.example.com"}, Routes: []Route{
			{Name: "header", Prefix: "/", Headers: map[string]string{"x-route": "h"}, Cluster: "h"},
			{Name: "exact-path", Path: "/v1/models", Cluster: "models"},
			{Name: "none", Prefix: "/v1/", Cluster: "v1"},
		}},
	}}
	tests := []struct {
		name, authority, path, header string
		route                         string
	}{
		{"exact domain first", "llm.example.com", "/v1/chat", "", "none"},
		{"exact path, query ignored", "llm.example.com", "/v1/models?x=1", "", "exact-path"},
		{"header match first in order", "llm.example.com", "/v1/chat", "h", "header"},
		{"no route in the host", "llm.example.com", "/other", "", ""},
		{"longest suffix wildcard", "a.api.example.com", "/", "", "longer"},
		{"suffix wildcard", "a.example.com", "/", "", "suffix"},
		{"prefix wildcard", "llm.other.org", "/", "", "prefix"},
		{"catch-all", "api.openai.com", "/", "", "any"},
		{"port is part of the name", "llm.example.com:10000", "/v1/chat", "", "prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := []Pair{{":authority", tc.authority}, {":path", tc.path}}
			if tc.header != "" {
				h = append(h, Pair{"x-route", tc.header})
			}
			m := rt.match(h)
			require.Equal(t, tc.route, m.route)
			require.Equal(t, tc.route != "", m.ok)
		})
	}
}

// TestRouteTable_HeaderWriteReroutes: a filter that rewrites :authority or
// :path makes the router pick the route again (Envoy clears the route
// cache on every request-header write), while the xds properties read
// right after the write still name the client's route. A request whose new
// headers match nothing gets Envoy's 404 route_not_found and reaches no
// cluster; one that matches another route goes to that route's cluster.
func TestRouteTable_HeaderWriteReroutes(t *testing.T) {
	wasm, err := TestModule("trace")
	require.NoError(t, err)
	tests := []struct {
		name, path, rewrite, to string
		status                  int
		cluster, logAfter       string
	}{
		{"no rewrite keeps the route", "/qwen/v1/chat", "", "", 200, "qwen", ""},
		{"path rewrite out of every route: 404", "/qwen/v1/chat", "x-trace-path", "/compatible-mode/v1/chat", 404, "",
			`after :path write cluster="qwen" route="qwen-route"`},
		{"path rewrite into another route's cluster", "/qwen/v1/chat", "x-trace-path", "/openai/v1/chat", 200, "openai",
			`after :path write cluster="qwen" route="qwen-route"`},
		{"authority rewrite into the catch-all host", "/openai/v1/chat", "x-trace-authority", "api.openai.com", 200, "backend",
			`after :authority write cluster="openai" route="openai-route"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reached := map[string]int{}
			clusters := map[string]Cluster{}
			for _, c := range []string{"openai", "qwen", "backend"} {
				c := c
				clusters[c] = func(*UpstreamRequest) Reply { reached[c]++; return OK() }
			}
			h := newHost(t, "{}", clusters, func(o *Options) { o.WasmPath, o.Workers, o.Routes = wasm, 1, gatewayRoutes() })
			req := Request{Headers: []Pair{{":method", "POST"}, {":path", tc.path}, {":authority", "llm.example.com"}},
				Body: []byte(`{"model":"m"}`)}
			if tc.rewrite != "" {
				req.Headers = append(req.Headers, Pair{tc.rewrite, tc.to})
			}
			s, err := h.Workers()[0].Do(req)
			require.NoError(t, err)
			require.Equal(t, tc.status, s.Response.Status)
			if tc.cluster == "" {
				require.Empty(t, reached, "nothing reaches a cluster")
				require.Equal(t, "route_not_found", s.Response.Details)
			} else {
				require.Equal(t, map[string]int{tc.cluster: 1}, reached)
			}
			require.Equal(t, tc.rewrite != "", s.Rerouted)
			if tc.logAfter != "" {
				require.Contains(t, h.LogText(), tc.logAfter, "the properties still name the client's route after the write")
			}
		})
	}
}

// TestListeners_EachConfigurationHasItsRootInEveryVM: two listeners whose
// filters share the VMs get one root context each per VM, configured with
// their own plugin configuration; a request runs on its listener's root.
func TestListeners_EachConfigurationHasItsRootInEveryVM(t *testing.T) {
	h := tracingHost(t, `provider: {type: openai, apiTokens: [a]}`, func(o *Options) {
		o.Listeners = []Listener{{Name: "second", Config: []byte(`provider: {type: qwen, apiTokens: [b]}`)}}
	})
	for _, vm := range h.VMs() {
		require.Len(t, vm.Roots(), 2, vm.Name())
	}
	w := h.Workers()[0]
	first, err := w.Do(Chat("m"))
	require.NoError(t, err)
	second, err := w.Do(Request{Headers: Chat("m").Headers, Body: Chat("m").Body, Listener: "second"})
	require.NoError(t, err)
	require.NotEqual(t, first.root, second.root)
	require.Equal(t, w.listenerRoots["second"], second.root)
	require.True(t, strings.HasPrefix(second.Upstream.Header("authorization"), "Bearer b"), "the second listener's configuration served it")
	require.True(t, strings.HasPrefix(first.Upstream.Header("authorization"), "Bearer a"))
	_, err = w.Do(Request{Headers: Chat("m").Headers, Listener: "third"})
	require.Error(t, err)
}

// TestRouter_UpstreamFilterAttempts plays Envoy's router with the filter as
// the cluster's upstream filter (checked in real Envoy by e2e
// TestEnvoyUpstream_AttemptsAsTheEmulatorPlays): each attempt starts from
// the headers the last one left (the trace module's mark grows), and an
// attempt that got no answer ends with empty details (URX on the last); the
// client gets Envoy's 503.
func TestRouter_UpstreamFilterAttempts(t *testing.T) {
	wasm, err := TestModule("trace")
	require.NoError(t, err)
	tries := 0
	h := newHost(t, "{}", map[string]Cluster{"llm": func(r *UpstreamRequest) Reply {
		tries++
		require.Equal(t, strings.Repeat("x", tries), r.Header("x-trace-mark"), "the attempt's headers carry the last one's change")
		return Reply{Fault: FaultConnectFailure}
	}}, func(o *Options) {
		o.WasmPath, o.Workers, o.UpstreamFilter = wasm, 1, true
		o.RouterRetry = RouterRetry{NumRetries: 2, Resets: true}
	})
	s, err := h.Workers()[0].Do(Request{Headers: []Pair{{":method", "POST"}, {":path", "/v1/chat/completions"},
		{":authority", "llm"}}, Body: []byte(`{"model":"m"}`)})
	require.NoError(t, err)
	require.Equal(t, 3, tries)
	require.Equal(t, 503, s.Response.Status)
	logs := h.LogText()
	require.Equal(t, 2, strings.Count(logs, `done details="" flags=0x0`))
	require.Equal(t, 1, strings.Count(logs, `done details="" flags=0x8000`))
	require.Equal(t, 3, strings.Count(logs, `upstream.transport_failure_reason="delayed connect error: Connection refused"`))
	for i := 1; i <= 3; i++ {
		require.Contains(t, logs, fmt.Sprintf("done property upstream.request_attempt_count=%q", attemptCount(i)))
	}
}
