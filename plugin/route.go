package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
)

// The route guard (downstream mode). In Envoy a filter's write to the
// request headers makes the router pick the route again from the new
// headers (docs/envoy-routing.md), so the provider's :authority and :path
// can move a request to another route, and its credential with it: to
// Envoy's 404 when nothing matches, or to another route's cluster. No
// Envoy 1.36-1.40 lets a filter keep its route, and a filter cannot see the
// route the router will pick before the request leaves. So the plugin:
//   - asks Higress's Envoy to keep the route (property clear_route_cache
//     "off", what Higress's own ai-proxy does; upstream Envoy ignores it);
//   - notes the route the client's request matched, and at the answer
//     compares it with the route Envoy used (the xds properties name the
//     client's route until the router runs, the router's route after);
//   - once a route is seen to move, charges no token for it, logs it, and
//     refuses that route's requests from then on in every worker (shared
//     data, until the plugin configuration changes), with a local reply
//     that says what to change: mode: upstream rewrites after routing,
//     where nothing moves.
//
// A route that keeps its requests is checked again on one request in
// routeRecheckEvery, so a route configuration changed under a running
// plugin is noticed without a property read per request.

// routeRecheckEvery is how many answers of a verified route signature pass
// between checks; maxVerifiedRoutes bounds the per-root set of them.
const (
	routeRecheckEvery = 256
	maxVerifiedRoutes = 4096
)

// routeGuard is a root's view of which routes its rewrites move.
type routeGuard struct {
	// key is the shared-data key of the moved routes of this configuration.
	key string
	// moved maps a route signature (routeSignature) to what Envoy routed
	// its rewritten requests to; cas is the shared value it was read from.
	moved map[string]string
	cas   uint32
	// verified counts answers per signature and rewrite that kept their route.
	verified map[string]uint32
}

func newRouteGuard(rawConfig []byte) routeGuard {
	sum := sha256.Sum256(rawConfig)
	return routeGuard{key: KeyPrefix + "rerouted/" + hex.EncodeToString(sum[:6]), moved: map[string]string{},
		verified: map[string]uint32{}}
}

// routeSignature names the route the stream's request matched: its name,
// or for an unnamed route its cluster. Read before the router runs, the
// xds properties still name the client's route after any header write.
func (s *stream) routeSignature() string {
	if name := s.RouteName(); name != "" {
		return "route " + name
	}
	return "cluster " + s.routeCluster()
}

// refuseMovedRoute answers a request on a route whose rewrites Envoy has
// been seen to route elsewhere; false when the route is not one of them.
func (s *stream) refuseMovedRoute() bool {
	g := &s.root.guard
	if len(g.moved) == 0 {
		return false
	}
	to, moved := g.moved[s.routeSig]
	if !moved {
		return false
	}
	s.refuse(500, "token_failover_rerouted", "this gateway's "+s.routeSig+" sends the provider's rewritten request to "+to+
		", so token-failover does not send it; the gateway's operator must run token-failover with mode: upstream, or "+
		"route the rewritten host and path back to this route (see the README's section on routes)")
	return true
}

// checkRoute runs at the answer: it tells whether Envoy sent the request by
// another route than the client's (then noted for every worker).
func (s *stream) checkRoute() (moved bool) {
	g := &s.root.guard
	key := s.routeSig + "\x00" + s.sent.Authority + "\x00" + pathOnly(s.sent.Path)
	if n, ok := g.verified[key]; ok {
		g.verified[key] = n + 1
		if (n+1)%routeRecheckEvery != 0 {
			return false
		}
	}
	after := "no route"
	if v, _ := s.root.host.GetProperty("xds", "route_name"); len(v) > 0 {
		after = "route " + string(v)
	} else if v, _ := s.root.host.GetProperty("xds", "cluster_name"); len(v) > 0 {
		after = "cluster " + string(v)
	}
	if after == s.routeSig {
		if _, ok := g.verified[key]; !ok {
			if len(g.verified) >= maxVerifiedRoutes {
				g.verified = map[string]uint32{}
			}
			g.verified[key] = 1
		}
		return false
	}
	s.block.pool.metrics.inc(s.block.pool.metrics.rerouted)
	s.root.noteMovedRoute(s.routeSig, after, s.sent.Authority, s.sent.Path)
	return true
}

// noteMovedRoute records a moved route in this root and in shared data (for
// every worker), and says so once.
func (r *Root) noteMovedRoute(sig, to, authority, path string) {
	g := &r.guard
	if _, known := g.moved[sig]; known {
		return
	}
	g.moved[sig] = to
	r.logf(abi.LogError, "the request on %s, rewritten for the provider to %s%s, went to %s: Envoy picks the route again "+
		"after a filter changes request headers, so this route's requests are refused from now on (no token is sent or "+
		"charged); run token-failover with mode: upstream, or route the rewritten host and path back to this route",
		sig, authority, pathOnly(path), to)
	err := failover.Update(r.store, g.key, func(old []byte, _ bool) ([]byte, bool) {
		set := decodeMoved(old)
		if _, ok := set[sig]; ok {
			return nil, false
		}
		set[sig] = to
		return encodeMoved(set), true
	})
	if err != nil {
		r.logf(abi.LogWarn, "cannot share the moved route with other workers: %v", err)
	}
}

// loadMovedRoutes adopts the moved routes other workers found (one
// shared-data read per tick).
func (r *Root) loadMovedRoutes() {
	g := &r.guard
	v, cas, err := r.store.Get(g.key)
	if err != nil || cas == g.cas {
		return
	}
	g.cas = cas
	for sig, to := range decodeMoved(v) {
		g.moved[sig] = to
	}
}

// decodeMoved reads "signature\tdestination" lines.
func decodeMoved(b []byte) map[string]string {
	set := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if sig, to, ok := strings.Cut(line, "\t"); ok {
			set[sig] = to
		}
	}
	return set
}

func encodeMoved(set map[string]string) []byte {
	lines := make([]string, 0, len(set))
	for sig, to := range set {
		lines = append(lines, sig+"\t"+to)
	}
	sort.Strings(lines)
	return []byte(strings.Join(lines, "\n"))
}

// pathOnly is a path without its query (which may carry a key).
func pathOnly(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}
