package provider

import (
	"path"
	"strings"
)

// routed applies Higress's routing settings around a provider's own
// rewrite: basePath (removePrefix or prepend), providerBasePath and
// providerDomain.
type routed struct {
	Provider
	basePath         string
	prepend          bool
	providerBasePath string
	providerDomain   string
	original         bool
	// pathAgain: Higress sets this type's path a second time, after
	// basePath was prepended, for a request with a body whose API it maps
	// (azure, qwen, minimax), so the prepended basePath is lost there.
	pathAgain bool
}

func newRouted(p Provider, o Options) Provider {
	t := p.Type()
	return routed{Provider: p, basePath: o.BasePath, prepend: o.BasePathPrepend, providerBasePath: o.ProviderBasePath,
		providerDomain: o.ProviderDomain, original: o.Original,
		pathAgain: !o.Original && (t == "azure" || t == "qwen" || t == "minimax")}
}

// Rewrite cuts a removePrefix basePath before the provider routes the
// path (under protocol original the cut path is what goes upstream), then
// prepends a prepend basePath and the providerBasePath unless the path
// already starts with them, and finally sets providerDomain.
func (r routed) Rewrite(h *Head) {
	cut := ""
	if r.basePath != "" && !r.prepend {
		h.Path = strings.TrimPrefix(h.Path, r.basePath)
		if h.Path == "" || h.Path[0] != '/' && h.Path[0] != '?' {
			h.Path = "/" + h.Path
		}
		cut = h.Path
	}
	before := h.Path
	r.Provider.Rewrite(h)
	if cut != "" && r.original {
		h.Path = cut
	}
	lost := r.pathAgain && h.Path != before && h.Method != "GET" && h.Method != "HEAD"
	if r.basePath != "" && r.prepend && !lost && !strings.HasPrefix(h.Path, r.basePath) {
		h.Path = path.Join(r.basePath, h.Path)
	}
	if r.providerBasePath != "" && !strings.HasPrefix(h.Path, r.providerBasePath) {
		h.Path = r.providerBasePath + h.Path
	}
	if r.providerDomain != "" {
		h.Authority = r.providerDomain
	}
}
