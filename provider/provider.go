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

// Probe is a ready-to-send health-check request.
type Probe struct {
	Method    string
	Authority string
	Path      string
	Headers   []HeaderPair
	Body      []byte
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
	// Probe builds the cheapest request that proves token works, sent to
	// the authority and path recorded when it was demoted. model is the
	// (mapped) healthCheckModel; empty means the provider's default probe.
	Probe(target Head, secret, model string) Probe
}

// ClientCredentialHeaders are stripped from every request: the client's
// own credentials never reach the provider.
var ClientCredentialHeaders = []string{"authorization", "x-api-key", "api-key", "x-goog-api-key"}

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

// chatProbeBody is a one-token chat completion for model.
func chatProbeBody(model string) []byte {
	return []byte(`{"model":` + jsonString(model) + `,"messages":[{"role":"user","content":"ping"}],"max_tokens":1}`)
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
