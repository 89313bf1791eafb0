package plugin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

// gatewayConfig serves two routes of a gateway with two providers.
const gatewayConfig = `_rules_:
- _match_route_: [openai-route]
  provider: {type: openai, id: oa, apiTokens: [oa-tok-alpha-01, oa-tok-bravo-02], failover: {enabled: true}}
- _match_route_: [qwen-route]
  provider: {type: qwen, id: qw, apiTokens: [qw-tok-alpha-01, qw-tok-bravo-02], failover: {enabled: true}}
`

// gatewayRoutes is a user's route configuration: the gateway's own domain
// with a path route per provider, and a catch-all host to a default
// backend (issue 20 A1a).
func gatewayRoutes() *wasmhost.RouteTable {
	return &wasmhost.RouteTable{VirtualHosts: []wasmhost.VirtualHost{
		{Name: "gateway", Domains: []string{"llm.example.com"}, Routes: []wasmhost.Route{
			{Name: "openai-route", Prefix: "/v1/", Headers: map[string]string{"x-provider": "openai"}, Cluster: "openai"},
			{Name: "qwen-route", Prefix: "/v1/", Headers: map[string]string{"x-provider": "qwen"}, Cluster: "qwen"},
		}},
		{Name: "default", Domains: []string{"*"}, Routes: []wasmhost.Route{{Name: "default-route", Cluster: "backend"}}},
	}}
}

// safeGatewayRoutes is the route configuration the README gives for
// downstream mode: the provider's rewritten host and path match the same
// route (each provider's host is a domain of its own virtual host).
func safeGatewayRoutes() *wasmhost.RouteTable {
	rt := gatewayRoutes()
	rt.VirtualHosts = append([]wasmhost.VirtualHost{
		{Name: "openai", Domains: []string{"api.openai.com"}, Routes: []wasmhost.Route{{Name: "openai-route", Cluster: "openai"}}},
		{Name: "qwen", Domains: []string{"dashscope.aliyuncs.com"}, Routes: []wasmhost.Route{{Name: "qwen-route", Cluster: "qwen"}}},
	}, rt.VirtualHosts...)
	return rt
}

type reached struct {
	byCluster map[string][]*wasmhost.UpstreamRequest
}

func (r *reached) clusters() map[string]wasmhost.Cluster {
	out := map[string]wasmhost.Cluster{}
	for _, c := range []string{"openai", "qwen", "backend"} {
		c := c
		out[c] = func(req *wasmhost.UpstreamRequest) wasmhost.Reply {
			r.byCluster[c] = append(r.byCluster[c], req)
			return wasmhost.OK()
		}
	}
	return out
}

func gatewayRequest(provider string) wasmhost.Request {
	return wasmhost.Request{Headers: []wasmhost.Pair{{":method", "POST"}, {":path", "/v1/chat/completions"},
		{":authority", "llm.example.com"}, {"content-type", "application/json"}, {"x-provider", provider}},
		Body: []byte(`{"model":"m","messages":[]}`)}
}

// TestRoutes_RewriteMovesNoKeyOnce (issue 20 B1): on a user's route
// configuration a provider's :authority/:path rewrite makes Envoy route the
// request elsewhere. Higress's Envoy keeps the route when asked (the plugin
// asks, as Higress's ai-proxy does). In upstream Envoy the first such
// request goes where Envoy sends it, no token is charged for it, and from
// then on every worker refuses the route's requests with a 500 that says
// what to change: nothing more reaches the wrong cluster. Before, every
// request carried the provider's key to the catch-all backend. With the
// route configuration the README gives, nothing moves.
func TestRoutes_RewriteMovesNoKeyOnce(t *testing.T) {
	t.Run("Higress keeps the route", func(t *testing.T) {
		r := &reached{byCluster: map[string][]*wasmhost.UpstreamRequest{}}
		h, err := wasmhost.New(wasmhost.Options{Config: []byte(gatewayConfig), Clusters: r.clusters(), Routes: gatewayRoutes(),
			Higress: true})
		require.NoError(t, err)
		defer h.Close()
		for i := 0; i < 8; i++ {
			s, err := h.Workers()[i%4].Do(gatewayRequest([]string{"openai", "qwen"}[i%2]))
			require.NoError(t, err)
			require.Equal(t, 200, s.Response.Status)
			require.False(t, s.Rerouted)
		}
		require.Len(t, r.byCluster["openai"], 4)
		require.Len(t, r.byCluster["qwen"], 4)
		require.Empty(t, r.byCluster["backend"])
		for _, req := range r.byCluster["qwen"] {
			require.Equal(t, "dashscope.aliyuncs.com", req.Header(":authority"))
			require.True(t, strings.HasPrefix(req.Header("authorization"), "Bearer qw-tok-"))
		}
	})
	t.Run("upstream Envoy: one request moves, then the route is refused", func(t *testing.T) {
		r := &reached{byCluster: map[string][]*wasmhost.UpstreamRequest{}}
		h, err := wasmhost.New(wasmhost.Options{Config: []byte(gatewayConfig), Clusters: r.clusters(), Routes: gatewayRoutes()})
		require.NoError(t, err)
		defer h.Close()
		first, err := h.Workers()[0].Do(gatewayRequest("qwen"))
		require.NoError(t, err)
		require.True(t, first.Rerouted, "Envoy routed the rewritten request by its new host")
		require.Len(t, r.byCluster["backend"], 1)
		require.Contains(t, h.LogText(), "the request on route qwen-route, rewritten for the provider to "+
			"dashscope.aliyuncs.com/compatible-mode/v1/chat/completions, went to route default-route")
		require.EqualValues(t, 1, h.MetricValue("tokenfailover.qw.requests_rerouted"))
		for _, k := range h.SharedKeys() {
			if strings.HasSuffix(k, "/state") {
				v, _, _ := h.SharedData(k)
				require.NotContains(t, string(v), "default", "no token was charged or targeted by the moved answer")
			}
		}
		// The same worker refuses at once; the others within a tick.
		again, err := h.Workers()[0].Do(gatewayRequest("qwen"))
		require.NoError(t, err)
		require.Equal(t, 500, again.Response.Status)
		require.Contains(t, string(again.Response.Body), "mode: upstream")
		advance(t, h, 1100*time.Millisecond)
		for _, w := range h.Workers() {
			s, err := w.Do(gatewayRequest("qwen"))
			require.NoError(t, err)
			require.Equal(t, 500, s.Response.Status, w.Name())
		}
		require.Len(t, r.byCluster["backend"], 1, "nothing more reached the wrong cluster")
		require.Empty(t, r.byCluster["qwen"])
	})
	t.Run("the README's route configuration keeps every request", func(t *testing.T) {
		r := &reached{byCluster: map[string][]*wasmhost.UpstreamRequest{}}
		h, err := wasmhost.New(wasmhost.Options{Config: []byte(gatewayConfig), Clusters: r.clusters(), Routes: safeGatewayRoutes()})
		require.NoError(t, err)
		defer h.Close()
		for i := 0; i < 8; i++ {
			s, err := h.Workers()[i%4].Do(gatewayRequest([]string{"openai", "qwen"}[i%2]))
			require.NoError(t, err)
			require.Equal(t, 200, s.Response.Status)
		}
		require.Len(t, r.byCluster["openai"], 4)
		require.Len(t, r.byCluster["qwen"], 4)
		require.Empty(t, r.byCluster["backend"])
		require.NotContains(t, h.LogText(), "went to")
	})
}
