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

// Probe repeats a one-token chat completion on the recorded path when a model
// is configured, else a GET of the recorded path's /models sibling.
func (g generic) Probe(t Head, secret, model string) Probe {
	p := Probe{Method: "GET", Authority: t.Authority, Path: "/v1/models", Headers: g.Auth(t, secret)}
	if model != "" {
		p.Method, p.Path, p.Body = "POST", chatPath(t.Path, "/v1/chat/completions"), chatProbeBody(model)
		p.Headers = append(p.Headers, HeaderPair{"content-type", "application/json"})
	}
	return p
}
