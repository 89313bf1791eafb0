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

// routeRecheckEvery is how many answers of a verified route and rewrite
// pass between checks; maxVerifiedRoutes bounds the per-root set of them.
const (
	routeRecheckEvery = 256
	maxVerifiedRoutes = 4096
)

// routeGuard is a root's view of which routes its rewrites move.
type routeGuard struct {
	// key is the shared-data key of the moved routes of this configuration.
	key string
	// moved maps a route to what Envoy routed its rewritten requests to;
	// cas is the shared value it was read from.
	moved map[routeID]string
	cas   uint32
	// verified counts answers per route and rewrite that kept their route;
	// last is the one counted last (most answers repeat it: no hashing).
	verified map[verifiedRoute]*uint32
	last     verifiedRoute
	lastN    *uint32
}

// routeID names a route: by its name, or for an unnamed route by its
// cluster (both empty: no route).
type routeID struct{ name, cluster string }

func (r routeID) String() string {
	switch {
	case r.name != "":
		return "route " + r.name
	case r.cluster != "":
		return "cluster " + r.cluster
	}
	return "no route"
}

// verifiedRoute is a route and where the plugin's rewrite sent its requests.
type verifiedRoute struct {
	route           routeID
	authority, path string
}

func newRouteGuard(rawConfig []byte) routeGuard {
	sum := sha256.Sum256(rawConfig)
	return routeGuard{key: KeyPrefix + "rerouted/" + hex.EncodeToString(sum[:6]), moved: map[routeID]string{},
		verified: map[verifiedRoute]*uint32{}}
}

// clientRoute names the route the stream's request matched. Read before
// the router runs, the xds properties still name the client's route after
// any header write.
func (s *stream) clientRoute() routeID {
	if name := s.RouteName(); name != "" {
		return routeID{name: name}
	}
	return routeID{cluster: s.routeCluster()}
}

// refuseMovedRoute answers a request on a route whose rewrites Envoy has
// been seen to route elsewhere; false when the route is not one of them.
func (s *stream) refuseMovedRoute() bool {
	g := &s.root.guard
	if len(g.moved) == 0 {
		return false
	}
	to, moved := g.moved[s.routeAt]
	if !moved {
		return false
	}
	s.refuse(500, "token_failover_rerouted", "this gateway's "+s.routeAt.String()+" sends the provider's rewritten request to "+to+
		", so token-failover does not send it; the gateway's operator must run token-failover with mode: upstream, or "+
		"route the rewritten host and path back to this route (see the README's section on routes)")
	return true
}

// checkRoute runs at the answer: it tells whether Envoy sent the request by
// another route than the client's (then noted for every worker).
func (s *stream) checkRoute() (moved bool) {
	g := &s.root.guard
	key := verifiedRoute{route: s.routeAt, authority: s.sent.Authority, path: pathOnly(s.sent.Path)}
	n := g.lastN
	if n == nil || key != g.last {
		n = g.verified[key]
	}
	if n != nil {
		g.last, g.lastN = key, n
		if *n++; *n%routeRecheckEvery != 0 {
			return false
		}
	}
	var after routeID
	if v, _ := s.root.host.GetProperty(propRouteName); v != "" {
		after.name = v
	} else {
		after.cluster, _ = s.root.host.GetProperty(propClusterName)
	}
	if after == s.routeAt {
		if n == nil {
			if len(g.verified) >= maxVerifiedRoutes {
				g.verified = map[verifiedRoute]*uint32{}
			}
			n = new(uint32)
			*n = 1
			g.verified[key] = n
			g.last, g.lastN = key, n
		}
		return false
	}
	s.block.pool.metrics.inc(s.block.pool.metrics.rerouted)
	s.root.noteMovedRoute(s.routeAt, after.String(), s.sent.Authority, s.sent.Path)
	return true
}

// noteMovedRoute records a moved route in this root and in shared data (for
// every worker), and says so once.
func (r *Root) noteMovedRoute(from routeID, to, authority, path string) {
	g := &r.guard
	if _, known := g.moved[from]; known {
		return
	}
	g.moved[from] = to
	r.logf(abi.LogError, "the request on %s, rewritten for the provider to %s%s, went to %s: Envoy picks the route again "+
		"after a filter changes request headers, so this route's requests are refused from now on (no token is sent or "+
		"charged); run token-failover with mode: upstream, or route the rewritten host and path back to this route",
		from, authority, pathOnly(path), to)
	err := failover.Update(r.store, g.key, func(old []byte, _ bool) ([]byte, bool) {
		set := decodeMoved(old)
		if _, ok := set[from]; ok {
			return nil, false
		}
		set[from] = to
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
	for from, to := range decodeMoved(v) {
		g.moved[from] = to
	}
}

// decodeMoved reads "name\tcluster\tdestination" lines.
func decodeMoved(b []byte) map[routeID]string {
	set := map[routeID]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.SplitN(line, "\t", 3); len(f) == 3 {
			set[routeID{name: f[0], cluster: f[1]}] = f[2]
		}
	}
	return set
}

func encodeMoved(set map[routeID]string) []byte {
	lines := make([]string, 0, len(set))
	for from, to := range set {
		lines = append(lines, from.name+"\t"+from.cluster+"\t"+to)
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
