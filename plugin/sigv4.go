package plugin

import (
	"strings"
	"time"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/credential"
	"github.com/token-failover/token-failover/provider"
)

// Bedrock access-key pairs (issue 24 item 2) sign each request with AWS
// SigV4 over the whole body: Bedrock Runtime is not documented to accept
// UNSIGNED-PAYLOAD (credential/sigv4.go). A request without a body is
// signed at once; one with a body has its headers held (Pause) while the
// body is read whole, then signed and let go with it. In Envoy that needs
// the wasm filter's allow_on_headers_stop_iteration: true (PluginConfig,
// Envoy 1.35+): without it proxy-wasm-cpp-host turns a headers Pause into
// StopAllIterationAndWatermark, which withholds the body from this filter
// too, so the request would wait for the route's timeout. The signature
// covers the method, path, query, host, x-amz-date and the body's SHA-256;
// nothing after this filter may change them.

// maxSignedBody is the most of a body read at the trailers: all Envoy
// buffered (its own buffer limit, per_connection_buffer_limit_bytes,
// bounds it far below).
const maxSignedBody = 1 << 30

// awsKeys holds each VM's parsed key pairs by Token.ID, so a pair's derived
// signing key (cached in credential.AWSKey for the day) is derived once.
var awsKeys = map[*VM]map[string]credential.AWSKey{}

// signV4 is the SigV4 headers of pool member tok for a request (method,
// sent's authority and path) with body, signed now.
func (r *Root) signV4(b *block, tok int, method string, sent provider.Head, body []byte) ([]abi.HeaderPair, error) {
	region, _ := provider.SigV4(b.cfg.Provider)
	keys := awsKeys[r.vm]
	if keys == nil {
		keys = map[string]credential.AWSKey{}
		awsKeys[r.vm] = keys
	}
	t := b.cfg.Tokens[tok]
	key, ok := keys[t.ID]
	if !ok {
		id, secret := provider.SplitPair(t.Secret())
		var err error
		if key, err = credential.NewAWSKey(id, secret, ""); err != nil {
			return nil, err
		}
		keys[t.ID] = key
	}
	path, query, _ := strings.Cut(sent.Path, "?")
	h, err := key.SignV4(credential.SigV4Request{Region: region, Service: "bedrock", Method: method, Path: path, Query: query,
		Headers: []credential.HeaderPair{{"host", sent.Authority}}, PayloadHash: credential.PayloadHash(body)},
		time.UnixMilli(r.host.WallMs()))
	if err != nil {
		return nil, err
	}
	return h.Pairs(), nil
}

// signBody signs this request's body (nil: none) with pool member s.token
// and sets the headers; false means a local reply was sent instead.
func (s *stream) signBody(body []byte) bool {
	s.signing = false
	auth, err := s.root.signV4(s.block, s.token, s.sent.Method, s.sent, body)
	if err != nil {
		s.root.logf(abi.LogError, "pool %s: cannot sign the request with token %s: %v", s.block.pool.name, s.block.pool.tokens[s.token], err)
		s.refuse(500, "token_failover_rewrite_failed", "the gateway could not sign the request for its provider")
		return false
	}
	for _, a := range auth {
		if err := s.root.host.ReplaceHeader(abi.MapRequestHeaders, a[0], a[1]); err != nil {
			s.refuse(500, "token_failover_rewrite_failed", "the gateway could not set the provider's credential")
			return false
		}
	}
	if s.retry != nil {
		s.retry.keep(body, nil)
	}
	return true
}

// signHeld signs a held request once its body is whole: at its last body
// callback (Pause until then: Envoy buffers and hands this filter the whole
// body with the next chunk) or at its trailers.
func (s *stream) signHeld(size int, end bool) abi.Action {
	if !end {
		return abi.ActionPause
	}
	body, err := s.root.host.GetBuffer(abi.BufferRequestBody, 0, size)
	if err != nil && size > 0 {
		s.refuse(500, "token_failover_rewrite_failed", "the gateway could not read the request body to sign it")
		return abi.ActionPause
	}
	if !s.signBody(body) {
		return abi.ActionPause
	}
	return abi.ActionContinue
}
