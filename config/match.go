package config

import (
	"strings"

	"github.com/tidwall/gjson"
)

// Rule is one entry of _rules_: the requests it matches go to Block.
//
// Like Higress, a rule matches by one category, chosen by the match keys
// it has: _match_route_ with _match_service_ (both must match), else
// _match_route_ alone, else _match_domain_, else _match_service_, else
// _match_route_prefix_. Parse keeps only the lists of that category (the
// others are cleared, with a warning), so a rule matches when every
// non-empty list has an entry that matches; only Routes and Services are
// ever both non-empty. Each list matches when any of its entries does.
type Rule struct {
	// Routes are route names (_match_route_), compared whole and
	// case-sensitively with the property xds.route_name.
	Routes []string
	// Domains (_match_domain_) are compared with :authority less its port
	// (an IPv6 address keeps its brackets): "*x" matches a host ending in
	// x ("*.example.com"; "*example.com" also matches "badexample.com"),
	// "x*" a host starting with x, anything else the whole host. Case is
	// ignored (DNS names are case-insensitive; Higress compares
	// case-sensitively).
	Domains []string
	// Services (_match_service_) are compared with the property
	// xds.cluster_name. A name of Istio's four-part form
	// "outbound|<port>|<subset>|<fqdn>" matches "<fqdn>:<port>" (both
	// equal) or "<fqdn>" (any port), case-sensitively, as in Higress. Any
	// other cluster name (plain Envoy) matches an entry equal to it whole;
	// Higress matches none.
	Services []string
	// RoutePrefixes (_match_route_prefix_) match a route name that starts
	// with one of them, case-sensitively.
	RoutePrefixes []string
	// Block serves the matched requests. Nil: the rule has neither
	// provider nor activeProviderId (a rule never inherits the top level's
	// activeProviderId), and its requests pass through untouched; they do
	// not fall through to Global or to later rules.
	Block *ProviderBlock
}

// Route is what a rule matches a request by besides its :authority: the
// properties xds.route_name and xds.cluster_name, asked for only when a
// rule needs them (each read is a hostcall).
type Route interface {
	RouteName() string
	ClusterName() string
}

// Matches tells whether a request to authority (its :authority) on route
// matches the rule.
func (ru *Rule) Matches(authority string, route Route) bool {
	if len(ru.Routes) > 0 && !contains(ru.Routes, route.RouteName()) {
		return false
	}
	if len(ru.Services) > 0 && !ServiceMatch(ru.Services, route.ClusterName()) {
		return false
	}
	if len(ru.Domains) > 0 && !DomainMatch(ru.Domains, StripPort(authority)) {
		return false
	}
	if len(ru.RoutePrefixes) > 0 && !prefixMatch(ru.RoutePrefixes, route.RouteName()) {
		return false
	}
	return len(ru.Routes)+len(ru.Services)+len(ru.Domains)+len(ru.RoutePrefixes) > 0
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func prefixMatch(prefixes []string, s string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// StripPort removes a ":port" from an authority; an IPv6 address keeps its
// brackets ("[::1]:80" gives "[::1]").
func StripPort(authority string) string {
	i := strings.LastIndexByte(authority, ':')
	if i >= 0 && strings.LastIndexByte(authority, ']') < i {
		return authority[:i]
	}
	return authority
}

// DomainMatch tells whether host (without port) matches one of the
// _match_domain_ patterns (see Rule.Domains).
func DomainMatch(patterns []string, host string) bool {
	for _, p := range patterns {
		switch {
		case strings.HasPrefix(p, "*"):
			suffix := p[1:]
			if len(host) >= len(suffix) && strings.EqualFold(host[len(host)-len(suffix):], suffix) {
				return true
			}
		case strings.HasSuffix(p, "*"):
			prefix := p[:len(p)-1]
			if len(host) >= len(prefix) && strings.EqualFold(host[:len(prefix)], prefix) {
				return true
			}
		case strings.EqualFold(p, host):
			return true
		}
	}
	return false
}

// ServiceMatch tells whether an Envoy cluster name matches one of the
// _match_service_ entries (see Rule.Services).
func ServiceMatch(services []string, cluster string) bool {
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 {
		return contains(services, cluster)
	}
	port, fqdn := parts[1], parts[3]
	for _, s := range services {
		if i := strings.LastIndexByte(s, ':'); i >= 0 && s[:i] == fqdn && s[i+1:] == port || s == fqdn {
			return true
		}
	}
	return false
}

// matchers reads a rule's match keys, keeping only the lists of the
// rule's category (see Rule).
func (r *reader) matchers(e gjson.Result, path string) Rule {
	list := func(key string) []string {
		l, _ := r.strings(e, path, key, listOpts{dropEmpty: true})
		return l
	}
	ru := Rule{Routes: list("_match_route_"), Domains: list("_match_domain_"),
		Services: list("_match_service_"), RoutePrefixes: list("_match_route_prefix_")}
	ignore := func(key string, l *[]string, because string) {
		if len(*l) > 0 {
			r.warn(join(path, key), "ignored because the rule has %s (Higress matches a rule by one category: "+
				"route (with service), else domain, else service, else route prefix)", because)
			*l = nil
		}
	}
	switch {
	case len(ru.Routes) > 0:
		ignore("_match_domain_", &ru.Domains, "_match_route_")
		ignore("_match_route_prefix_", &ru.RoutePrefixes, "_match_route_")
	case len(ru.Domains) > 0:
		ignore("_match_service_", &ru.Services, "_match_domain_")
		ignore("_match_route_prefix_", &ru.RoutePrefixes, "_match_domain_")
	case len(ru.Services) > 0:
		ignore("_match_route_prefix_", &ru.RoutePrefixes, "_match_service_")
	case len(ru.RoutePrefixes) == 0:
		r.fail(path, "needs _match_route_, _match_domain_, _match_service_ or _match_route_prefix_ with at least one non-empty entry")
	}
	return ru
}
