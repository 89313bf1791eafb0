package provider

import (
	"time"

	"github.com/token-failover/token-failover/credential"
)

// kling sends Kling's own API, as Higress does under protocol original:
// "Authorization: Bearer <token>", the path and body as the client wrote
// them, to api-singapore.klingai.com (providerDomain replaces it). The
// token is an apiTokens entry, or with signed a JWT made for each request
// from a klingAccessKey/klingSecretKey pair (the secret is PairSecret of
// the two), valid 30 minutes (credential.KlingKey).
type kling struct {
	signed bool
	// now is the clock a JWT is issued by (time.Now: WASI's realtime clock
	// in the wasm, Envoy's).
	now func() time.Time
}

// klingHost is Higress's default Kling host.
const klingHost = "api-singapore.klingai.com"

// klingProbePath queries a task that does not exist: Kling checks the token
// before the task, and a query generates nothing (a probe must never start
// a video).
const klingProbePath = "/v1/videos/text2video/token-failover-probe"

func newKling(o Options) (Provider, error) {
	switch {
	case !o.Original:
		return nil, fieldErr("protocol", "openai (the default) is not supported for type kling: Higress converts OpenAI "+
			"video requests (/v1/videos) to Kling's text2video and image2video API, this plugin converts no protocol; set "+
			"protocol: original to send Kling's own API with the tokens, as Higress does then")
	}
	return kling{signed: o.SignedBy != "", now: time.Now}, nil
}

func (k kling) Type() string { return "kling" }

func (k kling) Rewrite(h *Head) { h.Authority = klingHost }

func (k kling) Auth(_ Head, secret string) []HeaderPair {
	if !k.signed {
		return bearer(secret)
	}
	key, err := credential.NewKlingKey(SplitPair(secret))
	if err != nil {
		return nil // the configuration checked the pair: cannot happen
	}
	return []HeaderPair{{"authorization", key.Token(k.now()).Authorization()}}
}

func (k kling) ModelInPath(string) bool { return false }

// Probe always queries klingProbePath: a Kling model is only ever asked by
// creating a video.
func (k kling) Probe(t ProbeTarget, secret string) Probe {
	return Probe{Method: "GET", Authority: t.Authority, Path: klingProbePath, Headers: k.Auth(Head{}, secret)}
}
