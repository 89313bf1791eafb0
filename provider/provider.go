package provider

import (
	"fmt"
	"sort"
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
	// Rewrite changes authority and path in place for the provider: the
	// API a path names (by its end, as Higress recognises it) moves to the
	// provider's path for it; any other path is kept.
	Rewrite(h *Head)
	// Auth returns the headers that carry the token (set, replacing any);
	// none for a type that sends no credential (ollama).
	Auth(h Head, secret string) []HeaderPair
	// ModelInPath tells whether the model is in the path (Gemini native,
	// Vertex, Bedrock) rather than in the JSON body.
	ModelInPath(path string) bool
	// Probe builds the cheapest request that shows whether the token works
	// again for what failed (see ProbeTarget).
	Probe(t ProbeTarget, secret string) Probe
}

// AuthIgnoresHead tells whether p's Auth is the same for every request, so
// a caller may build each token's headers once (not a Kling JWT, made per
// request). Only the types known to
// ignore the head say so; Gemini's depends on the path (its OpenAI-format
// paths take a bearer token), and a type added later is asked per request
// until it is listed here.
func AuthIgnoresHead(p Provider) bool {
	switch t := p.(type) {
	case *compat, *azure, claude, generic, bedrock, vertex:
		return true
	case kling:
		return !t.signed // a JWT per request
	}
	return false
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

type constError string

func (e constError) Error() string { return string(e) }

const errUnknownType = constError("unknown provider type")

// FieldError is a provider setting that cannot work, naming its field.
type FieldError struct {
	// Field is the configuration field at fault ("azureServiceUrl").
	Field string
	// Msg says what is wrong, without the field ("is required for type azure").
	Msg string
}

// Error is "<field>: <msg>".
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// New builds a provider of the given type from its options. An unknown
// type gives errUnknownType; a setting that cannot work gives a
// *FieldError naming the field.
func New(typ string, o Options) (Provider, error) {
	p, err := newType(typ, o)
	if err != nil {
		return nil, err
	}
	if o.BasePath != "" || o.ProviderBasePath != "" || o.ProviderDomain != "" {
		p = newRouted(p, o)
	}
	return p, nil
}

func newType(typ string, o Options) (Provider, error) {
	switch typ {
	case "azure":
		return newAzure(o)
	case "claude":
		v := o.ClaudeVersion
		if v == "" {
			v = DefaultClaudeVersion
		}
		return claude{host: orDefault(o.Host, "api.anthropic.com"), version: v}, nil
	case "gemini":
		return gemini{host: orDefault(o.Host, "generativelanguage.googleapis.com"),
			version: orDefault(o.GeminiAPIVersion, "v1beta")}, nil
	case "generic":
		return newGeneric(o), nil
	case "bedrock":
		return newBedrock(o)
	case "vertex":
		return newVertex(o)
	case "kling":
		return newKling(o)
	}
	spec, ok := compatTypes[typ]
	switch {
	case !ok && typ == "triton" && o.Original:
		return nil, fieldErr("protocol", "original is not supported for type triton: Higress then sets neither the host nor a "+
			"token (only its conversion does), so the request goes where the client sent it, without a key; to send "+
			"tokens to a Triton server use type generic with genericHost")
	case !ok && typ == "triton":
		return nil, fieldErr("protocol", "openai (the default) is not supported for type triton: Higress converts OpenAI chat "+
			"completions to Triton's /v2/models/<model>/generate, this plugin converts no protocol")
	case !ok:
		return nil, errUnknownType
	}
	c := newCompat(typ, spec, o)
	if err := c.configure(o); err != nil {
		return nil, err
	}
	return c, nil
}

// Types lists every provider type New accepts, sorted.
func Types() []string {
	out := []string{"azure", "bedrock", "claude", "gemini", "generic", "kling", "vertex"}
	for k := range compatTypes {
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

// ModelSpan finds the model in a path where p keeps it (see
// Provider.ModelInPath): path[start:end] is the model as sent.
func ModelSpan(p Provider, path string) (start, end int, ok bool) {
	if r, isRouted := p.(routed); isRouted {
		p = r.Provider
	}
	switch t := p.(type) {
	case bedrock:
		return t.modelSpan(path)
	case gemini, vertex:
		return PathModel(path)
	}
	return 0, 0, false
}

// apiServer is a Provider whose type serves a known set of the APIs
// detectAPI recognises.
type apiServer interface {
	serves(a api) bool
}

// Unserved names the API of a request path that p's type does not serve
// ("images/generations"): such a request is answered by the gateway
// instead of going upstream, its model mapped as if for the APIs the type
// serves, with the operator's key. "" when p serves it, when the path names
// no API this plugin recognises (it goes as written, as in Higress), or
// when the type serves every path (a fixed or kept path, protocol
// original: the client speaks the provider's own API).
func Unserved(p Provider, path string) string {
	if r, isRouted := p.(routed); isRouted {
		p = r.Provider
	}
	s, ok := p.(apiServer)
	if !ok {
		return ""
	}
	only, _ := splitQuery(path)
	a, _ := detectAPI(only)
	if a == apiNone || s.serves(a) {
		return ""
	}
	return a.String()
}
