package provider

import (
	"net/url"
	"path"
	"strings"
)

// azureForm is the kind of azureServiceUrl, as Higress tells them apart.
type azureForm uint8

const (
	// azureFull: a path that is not one of the forms below, e.g.
	// /openai/deployments/D/chat/completions or /openai/v1/chat/completions:
	// every request goes to exactly that path and query.
	azureFull azureForm = iota
	// azureDeployment: /openai/deployments/D (no API after it).
	azureDeployment
	// azureDomain: no path; the deployment is the mapped model.
	azureDomain
	// azureV1: /openai/v1, Azure's OpenAI v1 API (no api-version needed).
	azureV1
)

// azureUnscoped are the APIs Azure serves under /openai/<api> rather than
// under a deployment.
var azureUnscoped = apis(apiModels, apiBatches, apiBatch, apiBatchCancel, apiFiles, apiFile, apiFileContent, apiResponses)

// azure uses the api-key header; authority and path come from
// azureServiceUrl.
type azure struct {
	host  string
	form  azureForm
	full  string // azureFull: the path and query of every request
	query string // the URL's raw query ("api-version=...")
	// deployment is the URL's deployment, or for azureDomain the model
	// every request maps to.
	deployment string
	original   bool
}

// newAzure reads azureServiceUrl in one of Higress's four forms (see
// azureForm). api-version is required except for /openai/v1 paths.
func newAzure(o Options) (Provider, error) {
	raw := o.AzureServiceURL
	if raw == "" {
		return nil, fieldErr("azureServiceUrl", "is required for type azure")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme == "" {
		return nil, fieldErr("azureServiceUrl", "is not an absolute URL")
	}
	clean := path.Clean("/" + u.Path)
	v1 := clean == "/openai/v1" || strings.HasPrefix(clean, "/openai/v1/")
	if !v1 && u.Query().Get("api-version") == "" {
		return nil, fieldErr("azureServiceUrl", "has no api-version query parameter (only /openai/v1 URLs may omit it)")
	}
	a := &azure{host: u.Host, query: u.RawQuery, original: o.Original, full: withQuery(u.Path, "?"+u.RawQuery)}
	const deployments = "/openai/deployments/"
	switch i := strings.Index(u.Path, deployments); {
	case i >= 0 && len(u.Path) > i+len(deployments):
		d, rest, _ := strings.Cut(u.Path[i+len(deployments):], "/")
		a.deployment = d
		if rest == "" {
			a.form = azureDeployment
		}
	case clean == "/openai/v1":
		a.form = azureV1
	case u.Path == "" || u.Path == "/":
		a.form = azureDomain
		a.deployment = o.AzureDeployment
		if a.deployment == "" && !o.Original {
			return nil, fieldErr("azureServiceUrl", "names no deployment: with protocol openai (the default) Higress puts the request's mapped model in the path, "+
				"which this plugin cannot (it rewrites the path before the body arrives); name the deployment "+
				"(https://<resource>/openai/deployments/<name>?api-version=...), map every model to one deployment "+
				`with modelMapping {"*": <name>}, or set protocol: original (the path is then the client's)`)
		}
	}
	return a, nil
}

func (a *azure) Type() string { return "azure" }

// serves tells whether Azure serves API x: every OpenAI API, and every
// path for a full URL (one path for all) or under protocol original.
func (a *azure) serves(x api) bool {
	return a.form == azureFull || a.original || openAIAPIs.has(x)
}

func (a *azure) Rewrite(h *Head) {
	h.Authority = a.host
	if !a.original {
		h.Path = a.route(h.Path)
	}
}

// route is the path Higress sends a client's path to; a path of an API
// Azure does not serve is kept.
func (a *azure) route(p string) string {
	if a.form == azureFull {
		return a.full
	}
	only, query := splitQuery(p)
	api, rel := detectAPI(only)
	if !openAIAPIs.has(api) {
		return p
	}
	var out string
	switch {
	case a.form == azureV1:
		out = path.Join("/openai/v1", rel)
	case azureUnscoped.has(api):
		out = "/openai" + rel
	default:
		out = "/openai/deployments/" + a.deployment + rel
	}
	return withQuery(withQuery(out, query), "?"+a.query)
}

func (a *azure) Auth(_ Head, secret string) []HeaderPair {
	return []HeaderPair{{"api-key", secret}}
}

func (a *azure) ModelInPath(string) bool { return false }

// Probe asks the deployment for one token on the API that failed (Azure
// has no free per-deployment probe); the model in the body is the
// deployment's own when none is known.
func (a *azure) Probe(t ProbeTarget, secret string) Probe {
	model := t.Model
	if model == "" {
		model = orDefault(a.deployment, "probe")
	}
	chat := a.full
	if a.form != azureFull {
		chat = a.route("/v1/chat/completions")
	}
	p, body := oneTokenRequest(t.Path, chat, model)
	return jsonProbe(t, p, body, a.Auth(Head{}, secret))
}
