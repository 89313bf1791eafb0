package wasmhost

import "strings"

// RouteTable is a listener's route configuration as Envoy's router sees it:
// virtual hosts picked by :authority, then the first route of that host
// whose match holds. It lets the emulator play what Envoy does when a
// filter changes request headers: Envoy's wasm host clears the route cache
// on every request-header write (Context::onHeadersModified ->
// clearRouteCache, docs/envoy-routing.md), and the router picks the route
// again from the headers as they are when it runs. Until then the xds.*
// properties keep answering the route picked from the client's headers.
type RouteTable struct {
	VirtualHosts []VirtualHost
}

// VirtualHost is one of Envoy's virtual hosts.
type VirtualHost struct {
	Name string
	// Domains are matched against :authority as Envoy does: an exact name
	// first, then the longest "*.suffix" / "*suffix", then the longest
	// "prefix*", then "*". A port is part of the name (Envoy strips none
	// by default).
	Domains []string
	Routes  []Route
}

// Route is one route: its match (a path prefix or an exact path, and
// exact header values) and its cluster.
type Route struct {
	Name string
	// Prefix or Path (exact, without the query) matches :path; both empty
	// matches every path.
	Prefix string
	Path   string
	// Headers must all be present with exactly these values.
	Headers map[string]string
	Cluster string
}

// routeMatch is what the router picked: the virtual host, the route and
// its cluster (ok false: no route, Envoy answers 404 route_not_found).
type routeMatch struct {
	vhost, route, cluster string
	ok                    bool
}

// match picks the route for a request's headers.
func (t *RouteTable) match(headers []Pair) routeMatch {
	vh := t.virtualHost(header(headers, ":authority"))
	if vh == nil {
		return routeMatch{}
	}
	path := header(headers, ":path")
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	for _, r := range vh.Routes {
		if r.matches(path, headers) {
			return routeMatch{vhost: vh.Name, route: r.Name, cluster: r.Cluster, ok: true}
		}
	}
	return routeMatch{vhost: vh.Name}
}

func (r Route) matches(path string, headers []Pair) bool {
	switch {
	case r.Path != "" && path != r.Path:
		return false
	case r.Prefix != "" && !strings.HasPrefix(path, r.Prefix):
		return false
	}
	for k, v := range r.Headers {
		if header(headers, k) != v {
			return false
		}
	}
	return true
}

// virtualHost finds the virtual host for an authority by Envoy's order:
// exact, longest suffix wildcard, longest prefix wildcard, then "*".
func (t *RouteTable) virtualHost(authority string) *VirtualHost {
	host := strings.ToLower(authority)
	var best *VirtualHost
	bestRank, bestLen := 0, -1
	for i := range t.VirtualHosts {
		vh := &t.VirtualHosts[i]
		for _, d := range vh.Domains {
			d = strings.ToLower(d)
			rank, n := 0, len(d)
			switch {
			case d == host:
				rank = 4
			case d == "*":
				rank = 1
			case strings.HasPrefix(d, "*") && strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1:
				rank = 3
			case strings.HasSuffix(d, "*") && strings.HasPrefix(host, d[:len(d)-1]) && len(host) > len(d)-1:
				rank = 2
			}
			if rank > bestRank || rank == bestRank && rank > 0 && n > bestLen {
				best, bestRank, bestLen = vh, rank, n
			}
		}
	}
	return best
}

// Envoy's answer when no route matches (router.cc, NR flag).
const (
	detailsRouteNotFound = "route_not_found"
	flagNoRouteFound     = 0x100
)
