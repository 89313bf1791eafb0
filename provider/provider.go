package provider

import (
	"sort"
	"strings"
)

// HeaderPair is one header (key, value), identical to abi.HeaderPair.
type HeaderPair = [2]string

// Head is the part of a request a provider may change.
type Head struct {
	Method    string
	Authority string
	Path      string
}

// Provider adapts a request to one provider family.
type Provider interface {
	// Type is the config name ("openai", "azure", ...).
	Type() string
	// Rewrite changes authority and path in place for the provider.
	Rewrite(h *Head)
	// Auth returns the headers that carry the token (set, replacing any).
	Auth(h Head, secret string) []HeaderPair
	// ModelInPath tells whether the model is in the path (Gemini native)
	// rather than in the JSON body.
	ModelInPath(path string) bool
	// Probe builds the cheapest request that shows whether the token works
	// again for what failed (see ProbeTarget).
	Probe(t ProbeTarget, secret string) Probe
}

// StripFromClient tells whether a client request header must not reach the
// provider: the client's own credentials, and OpenAI's organization and
// project selectors, which would bill the operator's key to an account
// the client chose.
func StripFromClient(name string) bool {
	switch name {
	case "authorization", "x-api-key", "api-key", "x-goog-api-key", "openai-organization", "openai-project":
		return true
	}
	return false
}

// Options are the provider-specific config fields.
type Options struct {
	// AzureServiceURL is Azure's full chat completions URL.
	AzureServiceURL string
	// ClaudeVersion is the anthropic-version header (default 2023-06-01).
	ClaudeVersion string
	// AuthHeader and AuthPrefix configure the generic provider.
	AuthHeader string
	AuthPrefix string
	// Host overrides the provider's default authority (generic: sets one).
	Host string
}

// New builds a provider of the given type; ok is false for unknown types.
func New(typ string, o Options) (p Provider, err error) {
	if b, ok := bearerFamilies[typ]; ok {
		if o.Host != "" {
			b.host = o.Host
		}
		return b, nil
	}
	switch typ {
	case "azure":
		return newAzure(o.AzureServiceURL)
	case "claude":
		v := o.ClaudeVersion
		if v == "" {
			v = DefaultClaudeVersion
		}
		return claude{host: orDefault(o.Host, "api.anthropic.com"), version: v}, nil
	case "gemini":
		return gemini{host: orDefault(o.Host, "generativelanguage.googleapis.com")}, nil
	case "generic":
		return newGeneric(o), nil
	}
	return nil, errUnknownType
}

type constError string

func (e constError) Error() string { return string(e) }

const errUnknownType = constError("unknown provider type")

// Types lists every provider type New accepts, sorted.
func Types() []string {
	out := []string{"azure", "claude", "gemini", "generic"}
	for k := range bearerFamilies {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// withBasePath maps an OpenAI-style "/v1/..." path onto a provider base path
// ("/compatible-mode/v1"); other paths are left alone.
func withBasePath(path, base string) string {
	if base == "" || base == "/v1" || !strings.HasPrefix(path, "/v1/") {
		return path
	}
	if strings.HasPrefix(path, base+"/") {
		return path
	}
	return base + path[len("/v1"):]
}
