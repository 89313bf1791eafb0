package provider

import (
	"net/url"
	"strings"
)

// bedrock sends Bedrock Runtime's own API as Higress does under protocol
// original, the path and body as the client wrote them
// (/model/{modelId}/converse, /converse-stream, /invoke, ...), to
// bedrock-runtime.<awsRegion>.amazonaws.com: with a Bedrock API key
// (apiTokens) as "Authorization: Bearer <key>", or with an access-key pair
// (awsAccessKey/awsSecretKey; the secret is PairSecret of the two) signed
// with SigV4 over the whole body by the plugin (see SigV4): Auth sets
// nothing then.
type bedrock struct {
	host   string
	region string
	signed bool
}

// bedrockProbeModel names no Bedrock model. A probe with no model to ask
// asks it anyway: Bedrock checks the key before the model, so a refused key
// answers 401/403 and an accepted one a 4xx about the model.
const bedrockProbeModel = "token-failover-probe"

func newBedrock(o Options) (Provider, error) {
	switch {
	case !o.Original:
		return nil, fieldErr("protocol", "openai (the default) is not supported for type bedrock: Higress converts OpenAI "+
			"chat completions to the Bedrock Converse API (and image generations to InvokeModel), this plugin converts no "+
			"protocol; set protocol: original to send Bedrock's own API (/model/{modelId}/converse, /invoke, ...) with the "+
			"keys, as Higress does then")
	case o.AWSRegion == "":
		return nil, fieldErr("awsRegion", "is required for type bedrock: the host is bedrock-runtime.<awsRegion>.amazonaws.com "+
			"(Higress refuses the configuration without it too)")
	case !regionName(o.AWSRegion):
		return nil, fieldErr("awsRegion", "must be an AWS region such as us-east-1 (lower-case letters, digits and '-')")
	}
	return bedrock{host: "bedrock-runtime." + o.AWSRegion + ".amazonaws.com", region: o.AWSRegion, signed: o.SignedBy != ""}, nil
}

// SigV4 tells whether p signs each request with AWS SigV4 (a Bedrock
// access-key pair) rather than sending a header of its own, and for which
// region (the service is "bedrock").
func SigV4(p Provider) (region string, ok bool) {
	if r, isRouted := p.(routed); isRouted {
		p = r.Provider
	}
	b, isBedrock := p.(bedrock)
	return b.region, isBedrock && b.signed
}

// regionName tells whether s can be an AWS or Google Cloud region name.
func regionName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

func (b bedrock) Type() string { return "bedrock" }

func (b bedrock) Rewrite(h *Head) { h.Authority = b.host }

// Auth is the API key as a bearer token; nothing for a key pair, whose
// signature the plugin sets.
func (b bedrock) Auth(_ Head, secret string) []HeaderPair {
	if b.signed {
		return nil
	}
	return bearer(secret)
}

func (b bedrock) ModelInPath(path string) bool {
	_, _, ok := b.modelSpan(path)
	return ok
}

// modelSpan finds the model id of a Bedrock Runtime path, the segment after
// "/model/" (percent-encoded as sent: "anthropic.claude-v2%3A1").
func (b bedrock) modelSpan(path string) (start, end int, ok bool) {
	path, _ = splitQuery(path)
	return segmentAfter(path, "/model/", '/')
}

// Probe asks the model for one token through the Converse API, which every
// Bedrock text model serves with the same body; with no model known it asks
// bedrockProbeModel (see there).
func (b bedrock) Probe(t ProbeTarget, secret string) Probe {
	model := t.Model
	if model == "" {
		model = bedrockProbeModel
	}
	if !strings.ContainsRune(model, '%') {
		// healthCheckModel as written ("anthropic.claude-v2:1"), escaped
		// as the AWS SDKs escape it; a model taken from a path already is.
		model = strings.ReplaceAll(url.PathEscape(model), ":", "%3A")
	}
	return jsonProbe(t, "/model/"+model+"/converse",
		[]byte(`{"messages":[{"role":"user","content":[{"text":"ping"}]}],"inferenceConfig":{"maxTokens":1}}`),
		b.Auth(Head{}, secret))
}

// bearer is "Authorization: Bearer <secret>", a secret that already starts
// "Bearer " sent as it is.
func bearer(secret string) []HeaderPair {
	if strings.HasPrefix(secret, "Bearer ") {
		return []HeaderPair{{"authorization", secret}}
	}
	return []HeaderPair{{"authorization", "Bearer " + secret}}
}
