package provider

import (
	"fmt"
	"net/url"
	"strings"
)

// azure uses the api-key header; authority and path come from
// azureServiceUrl (deployment and api-version kept).
type azure struct {
	host       string
	chatPath   string // path and query of azureServiceUrl
	deployBase string // "/openai/deployments/<name>"
	query      string // "api-version=..."
}

func newAzure(serviceURL string) (Provider, error) {
	if serviceURL == "" {
		return nil, fmt.Errorf("azureServiceUrl is required for type azure")
	}
	u, err := url.Parse(serviceURL)
	if err != nil || u.Host == "" || u.Scheme == "" {
		return nil, fmt.Errorf("azureServiceUrl is not an absolute URL")
	}
	if u.Query().Get("api-version") == "" {
		return nil, fmt.Errorf("azureServiceUrl has no api-version query parameter")
	}
	a := azure{host: u.Host, chatPath: u.RequestURI(), query: u.RawQuery}
	if i := strings.Index(u.Path, "/deployments/"); i >= 0 {
		rest := u.Path[i+len("/deployments/"):]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[:j]
		}
		a.deployBase = u.Path[:i] + "/deployments/" + rest
	}
	return a, nil
}

func (a azure) Type() string { return "azure" }

func (a azure) Rewrite(h *Head) {
	h.Authority = a.host
	path := h.Path
	if q := strings.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	switch {
	case strings.HasSuffix(path, "/chat/completions"):
		h.Path = a.chatPath
	case a.deployBase != "" && strings.HasPrefix(path, "/v1/"):
		h.Path = a.deployBase + path[len("/v1"):] + "?" + a.query
	}
}

func (a azure) Auth(_ Head, secret string) []HeaderPair {
	return []HeaderPair{{"api-key", secret}}
}

func (a azure) ModelInPath(string) bool { return false }

// Probe asks the deployment for one token on the API that failed (Azure
// has no free per-deployment probe); the model in the body is the
// deployment's own when none is known.
func (a azure) Probe(t ProbeTarget, secret string) Probe {
	model := t.Model
	if model == "" {
		model = "probe"
	}
	path, body := oneTokenRequest(t.Path, a.chatPath, model)
	return jsonProbe(t, path, body, a.Auth(Head{}, secret))
}
