package provider

import "strings"

// generic puts the token in a configurable header with a configurable
// prefix (default "Authorization: Bearer <token>") for any other upstream.
type generic struct {
	header string
	prefix string
	host   string
}

func newGeneric(o Options) generic {
	g := generic{header: strings.ToLower(o.AuthHeader), prefix: o.AuthPrefix, host: o.Host}
	if g.header == "" {
		g.header = "authorization"
		if o.AuthPrefix == "" {
			g.prefix = "Bearer "
		}
	}
	return g
}

func (g generic) Type() string { return "generic" }

func (g generic) Rewrite(h *Head) {
	if g.host != "" {
		h.Authority = g.host
	}
}

func (g generic) Auth(_ Head, secret string) []HeaderPair {
	return []HeaderPair{{g.header, g.prefix + secret}}
}

func (g generic) ModelInPath(string) bool { return false }

// Probe repeats a one-token request on the API that failed (a generic
// upstream may have no model list); with no model known it lists models.
func (g generic) Probe(t ProbeTarget, secret string) Probe {
	auth := g.Auth(Head{}, secret)
	if t.Model == "" {
		return Probe{Method: "GET", Authority: t.Authority, Path: "/v1/models", Headers: auth}
	}
	path, body := oneTokenRequest(t.Path, "/v1/chat/completions", t.Model)
	return jsonProbe(t, path, body, auth)
}
