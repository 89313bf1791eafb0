package provider

import (
	"path"
	"strings"
)

// authStyle is how a provider carries the token.
type authStyle uint8

const (
	// authBearer is "Authorization: Bearer <token>" (a token that already
	// starts "Bearer " is sent as it is, as Higress's openai does).
	authBearer authStyle = iota
	// authRaw is "Authorization: <token>" (ai360, github).
	authRaw
	// authNone sets no header (ollama).
	authNone
	// authDeepL is "Authorization: DeepL-Auth-Key <token>".
	authDeepL
)

// compatSpec is what Higress knows of an OpenAI-compatible provider type:
// its default host, where each API it serves lives, and how it carries the
// token.
type compatSpec struct {
	host string
	// base is where "/v1/..." APIs move: "/compatible-mode/v1" sends
	// "/v1/embeddings" to "/compatible-mode/v1/embeddings".
	base string
	// apis are the APIs the type serves; a path of any other API is kept.
	apis apiSet
	// paths are APIs that do not live under base.
	paths map[api]string
	auth  authStyle
	// keepPath: the type never changes the path (mistral, coze).
	keepPath bool
	// native: under protocol original, Higress recognises only the type's
	// own paths (a provider-specific API detector), so a client's
	// "/v1/chat/completions" is kept; other types still recognise it.
	native bool
	// models is the free model list for probes ("" : base + "/models").
	models string
	// converts is what Higress converts under protocol openai ("OpenAI
	// chat completions to Cohere's /v1/chat"): such a type is served under
	// protocol original only.
	converts string
}

// compat is an OpenAI-compatible provider: one header carries the token,
// the model stays in the body, and each recognised API moves to the type's
// path for it (see detectAPI).
type compat struct {
	name  string
	spec  *compatSpec
	host  string
	base  string
	apis  apiSet
	paths map[api]string
	// fixed, when set, is the path of every request (cloudflare; an
	// openaiCustomUrl or vllmCustomUrl that names an endpoint).
	fixed string
	// keepOriginal keeps the path under protocol original (qwen).
	keepOriginal bool
	original     bool
	// models is the free probe path.
	models string
}

func newCompat(name string, s *compatSpec, o Options) *compat {
	c := &compat{name: name, spec: s, host: s.host, base: s.base, apis: s.apis, paths: s.paths,
		original: o.Original, models: s.models}
	if c.models == "" {
		c.models = path.Join("/", s.base, "models")
	}
	if o.Host != "" {
		c.host = o.Host
	}
	return c
}

// override sets the path of one API (zhipuCodePlanMode, capabilities).
func (c *compat) override(a api, p string) {
	paths := make(map[api]string, len(c.paths)+1)
	for k, v := range c.paths {
		paths[k] = v
	}
	paths[a] = p
	c.paths = paths
	c.apis |= apis(a)
}

func (c *compat) Type() string { return c.name }

// serves tells whether the type serves API a (see Unserved): every API
// when the path is fixed or kept, else those it routes.
func (c *compat) serves(a api) bool {
	return c.fixed != "" || c.spec.keepPath || c.original || c.apis.has(a)
}

func (c *compat) Rewrite(h *Head) {
	h.Authority = c.host
	h.Path = c.route(h.Path)
}

// route is the provider's path for a client's path.
func (c *compat) route(p string) string {
	switch {
	case c.fixed != "":
		return c.fixed
	case c.spec.keepPath, c.original && c.keepOriginal:
		return p
	}
	only, query := splitQuery(p)
	var a api
	var rel string
	if c.original && c.spec.native {
		a, rel = c.ownAPI(only)
	} else {
		a, rel = detectAPI(only)
	}
	if !c.apis.has(a) {
		return p
	}
	if query != "?" && c.alreadyAt(only, a, rel) {
		return p
	}
	return withQuery(c.pathFor(a, rel), query)
}

// alreadyAt tells, without building it, whether the client's path (less
// its query) is already pathFor(a, rel): the common case, kept free of
// allocations on the hot path.
func (c *compat) alreadyAt(only string, a api, rel string) bool {
	if _, ok := c.paths[a]; ok {
		return false
	}
	return len(only) == len(c.base)+len(rel) && strings.HasPrefix(only, "/") && strings.HasPrefix(rel, "/") &&
		strings.HasPrefix(only, c.base) && strings.HasSuffix(only, rel) && path.Clean(only) == only
}

// pathFor is where API a (rel: its path after "/v1") lives.
func (c *compat) pathFor(a api, rel string) string {
	if p, ok := c.paths[a]; ok {
		return p
	}
	return path.Join("/", c.base, rel)
}

// ownAPI recognises a path that contains one of the type's own default
// paths for a fixed-path API (Higress's provider-specific detector, used
// under protocol original).
func (c *compat) ownAPI(only string) (api, string) {
	for _, s := range apiSuffixes {
		if !c.spec.apis.has(s.api) {
			continue
		}
		own, ok := c.spec.paths[s.api]
		if !ok {
			own = path.Join("/", c.spec.base, s.rel)
		}
		if strings.Contains(only, own) {
			return s.api, s.rel
		}
	}
	return apiNone, ""
}

func (c *compat) Auth(_ Head, secret string) []HeaderPair {
	switch c.spec.auth {
	case authRaw:
		return []HeaderPair{{"authorization", secret}}
	case authNone:
		return nil
	case authDeepL:
		return []HeaderPair{{"authorization", "DeepL-Auth-Key " + secret}}
	}
	return bearer(secret)
}

func (c *compat) ModelInPath(string) bool { return false }

// Probe lists models (free on most OpenAI-compatible APIs) when asked for
// the free probe or when no model is known, else asks the model for one
// token on the API that failed.
func (c *compat) Probe(t ProbeTarget, secret string) Probe {
	auth := c.Auth(Head{}, secret)
	if t.Free || t.Model == "" {
		return Probe{Method: "GET", Authority: t.Authority, Path: c.models, Headers: auth}
	}
	chat := c.fixed
	if chat == "" {
		chat = c.pathFor(apiChat, "/chat/completions")
	}
	p, body := oneTokenRequest(t.Path, chat, t.Model)
	return jsonProbe(t, p, body, auth)
}
