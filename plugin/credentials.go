package plugin

import (
	"errors"
	"strconv"
	"time"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/credential"
	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// Access tokens of service-account keys (a Vertex vertexAuthKey, issue 24
// item 2). Each VM exchanges a pool member's key for an OAuth access token
// through the block's auth cluster (proxy_http_call to the key's
// token_uri), keeps it in its own memory only (never in shared data, a log
// or a stat), and refreshes it once a request or probe finds it within
// credential.RefreshBefore of its expiry, still using it meanwhile. A
// request that finds no valid token has its headers held (Pause) until the
// exchange answers: then it goes with the new token, or, when the exchange
// failed, is answered 503 and the failure is the credential's own (see
// exchangeOutcome).
//
//	stream ──no valid token──▶ waiting ──▶ proxy_http_call(auth cluster, JWT assertion)
//	                                           │
//	          200 access_token ◀───────────────┤ (on the root: onTokenAnswer)
//	          headers set, stream continues    └─ refused: 503, the credential charged

// exchangeTimeoutMs bounds one token exchange.
const exchangeTimeoutMs = 5000

// exchangeRetryMs is how long a VM waits after a failed exchange before it
// tries that key again: requests meanwhile are answered at once (so a
// refused key costs its token endpoint one call per second per VM, and a
// key that works again serves this VM a second after at most).
const exchangeRetryMs = 1000

// accessTokens is one VM's exchanged tokens, by the key's Token.ID, and the
// exchanges in flight, by call id.
type accessTokens struct {
	byID  map[string]*accessToken
	calls map[uint32]*accessToken
}

// accessToken is one key's state in one VM.
type accessToken struct {
	key     credential.ServiceAccountKey
	name    string // the pool member, "#i(fingerprint)", for logs
	cluster string
	token   credential.BearerToken
	// inflight: an exchange is out; retryAt (process ms): a failed one is
	// not retried before; lastErr says why it failed.
	inflight bool
	retryAt  int64
	lastErr  error
	// waiting are the streams held for this key's token, with the pool
	// member each uses.
	waiting []waiter
}

type waiter struct {
	s   *stream
	tok int
}

// vmTokens holds each VM's accessTokens: package state is per VM in the
// wasm (one VM per instance); natively several VMs may share a process.
var vmTokens = map[*VM]*accessTokens{}

// entry returns pool member tok's state in r's VM for block b, parsing
// the key the first time (the configuration checked it).
func (r *Root) accessEntry(b *block, tok int) (*accessToken, error) {
	cache := vmTokens[r.vm]
	if cache == nil {
		cache = &accessTokens{byID: map[string]*accessToken{}, calls: map[uint32]*accessToken{}}
		vmTokens[r.vm] = cache
	}
	t := b.cfg.Tokens[tok]
	at := cache.byID[t.ID]
	if at == nil {
		key, err := credential.ParseServiceAccountKey([]byte(t.Secret()))
		if err != nil {
			return nil, err
		}
		cluster, _ := provider.TokenExchange(b.cfg.Provider)
		at = &accessToken{key: key, name: t.String(), cluster: cluster}
		cache.byID[t.ID] = at
	}
	return at, nil
}

// valid returns the authorization header of at's token when it is still
// valid at now, and starts a refresh when it is due.
func (r *Root) valid(at *accessToken, now time.Time) ([]abi.HeaderPair, bool) {
	if at.token.Expiry().After(now) {
		if at.token.RefreshDue(now) {
			r.exchange(at, now)
		}
		return []abi.HeaderPair{{"authorization", at.token.Authorization()}}, true
	}
	return nil, false
}

// accessAuth is the credential of pool member tok for this request: its
// valid access token, or wait true when the stream must wait for an
// exchange (it is then held until onTokenAnswer; its headers must be
// paused). A key this VM cannot exchange answers 503 (refused true).
func (s *stream) accessAuth(tok int) (auth []abi.HeaderPair, wait, refused bool) {
	r := s.root
	at, err := r.accessEntry(s.block, tok)
	if err != nil {
		s.refuse(503, "token_failover_token_exchange_failed", "the gateway cannot use its credential for this provider")
		return nil, false, true
	}
	now := time.UnixMilli(r.host.WallMs())
	if auth, ok := r.valid(at, now); ok {
		return auth, false, false
	}
	before := at.retryAt
	r.exchange(at, now)
	if !at.inflight { // failed just now (charged), or too recently to try again
		s.exchangeFailed(tok, at.lastErr, at.retryAt != before)
		return nil, false, true
	}
	at.waiting = append(at.waiting, waiter{s, tok})
	return nil, true, false
}

// credentialFor is pool member tok's credential headers for this request
// sent again with body (a retry): a SigV4 signature over it, an exchanged
// token, or the provider's own. ok is false when an exchanged token is not
// at hand now (a refresh is started; the retry is then not sent).
func (s *stream) credentialFor(tok int, body []byte) ([]abi.HeaderPair, bool) {
	b := s.block
	if _, signs := provider.SigV4(b.cfg.Provider); signs {
		auth, err := s.root.signV4(b, tok, s.sent.Method, s.sent, body)
		return auth, err == nil
	}
	if _, ok := provider.TokenExchange(b.cfg.Provider); !ok {
		return b.credential(tok, s.sent), true
	}
	auth := s.root.probeCredential(b, tok, provider.Probe{})
	return auth, auth != nil
}

// probeCredential is what probe pr (or a retry) of pool member tok adds
// to the provider's headers: a SigV4 signature over it when the block signs
// with a key pair; an exchanged token when the block exchanges keys (a
// refresh is started when none is valid: this probe then goes without and
// fails, the next has it); else nothing.
func (r *Root) probeCredential(b *block, tok int, pr provider.Probe) []abi.HeaderPair {
	if _, signs := provider.SigV4(b.cfg.Provider); signs {
		auth, err := r.signV4(b, tok, pr.Method, provider.Head{Authority: pr.Authority, Path: pr.Path}, pr.Body)
		if err != nil {
			r.logf(abi.LogError, "cannot sign the probe of token %s: %v", b.cfg.Tokens[tok], err)
		}
		return auth
	}
	if _, ok := provider.TokenExchange(b.cfg.Provider); !ok {
		return nil
	}
	at, err := r.accessEntry(b, tok)
	if err != nil {
		return nil
	}
	now := time.UnixMilli(r.host.WallMs())
	auth, ok := r.valid(at, now)
	if !ok {
		r.exchange(at, now)
	}
	return auth
}

// exchange sends at's token request unless one is out or a failure is
// too recent.
func (r *Root) exchange(at *accessToken, now time.Time) {
	if at.inflight || r.host.ProcessMs() < at.retryAt {
		return
	}
	req, err := at.key.TokenRequest(now)
	if err == nil {
		headers := []abi.HeaderPair{{":method", req.Method()}, {":path", req.Path}, {":authority", req.Authority},
			{"content-type", req.ContentType()}}
		var id uint32
		if id, err = r.host.HTTPCall(at.cluster, headers, req.Body(), nil, exchangeTimeoutMs); err == nil {
			at.inflight = true
			vmTokens[r.vm].calls[id] = at
			r.logf(abi.LogDebug, "token %s: exchanging the service-account key for an access token via cluster %q", at.name, at.cluster)
			return
		}
		err = errors.New("cannot call cluster " + strconv.Quote(at.cluster) + ": " + err.Error())
	}
	r.tokenFailed(at, err)
}

// onTokenAnswer handles the answer of call callID on root r when it is a
// token exchange.
func (v *VM) onTokenAnswer(r *Root, callID uint32, numHeaders, bodySize int) {
	cache := vmTokens[v]
	if cache == nil {
		return
	}
	at, ok := cache.calls[callID]
	if !ok {
		return
	}
	delete(cache.calls, callID)
	at.inflight = false
	now := time.UnixMilli(r.host.WallMs())
	var err error
	var tok credential.BearerToken
	if numHeaders == 0 {
		code, msg, _ := r.host.GetStatus()
		err = &credential.TokenError{Description: "no answer (status " + strconv.Itoa(int(code)) + " " + msg + ")",
			Fault: credential.FaultTransient}
	} else {
		status, _ := r.host.GetHeader(abi.MapHTTPCallResponseHeaders, ":status")
		code, _ := strconv.Atoi(status)
		body, _ := r.host.GetBuffer(abi.BufferHTTPCallResponse, 0, min(bodySize, failover.MaxErrorBody))
		tok, err = credential.ParseTokenResponse(code, body, now)
	}
	if err != nil {
		r.tokenFailed(at, err)
		return
	}
	at.token, at.lastErr, at.retryAt = tok, nil, 0
	r.logf(abi.LogInfo, "token %s: access token obtained, valid until %s", at.name, tok.Expiry().UTC().Format(time.RFC3339))
	waiting := at.waiting
	at.waiting = nil
	for _, w := range waiting {
		if w.s.done || r.host.SetEffectiveContext(w.s.id) != nil {
			continue
		}
		if err := r.host.ReplaceHeader(abi.MapRequestHeaders, "authorization", tok.Authorization()); err != nil {
			w.s.refuse(500, "token_failover_rewrite_failed", "the gateway could not set the provider's credential")
			continue
		}
		_ = r.host.ContinueStream(abi.StreamRequest)
	}
	_ = r.host.SetEffectiveContext(r.id)
}

// tokenFailed records a failed exchange: logged (the error names the
// status and Google's code, never the key or the assertion), not retried
// for exchangeRetryMs, and every stream waiting for it answered.
func (r *Root) tokenFailed(at *accessToken, err error) {
	at.lastErr, at.retryAt = err, r.host.ProcessMs()+exchangeRetryMs
	why := "the host's clock is off: every key would fail alike"
	if exchangeOutcome(err).Class != failover.ClassIgnore {
		why = "charged to the key"
	}
	r.logf(abi.LogError, "token %s: service-account key exchange failed: %v; %s", at.name, err, why)
	waiting := at.waiting
	at.waiting = nil
	charged := false // one failed exchange, one charge
	for _, w := range waiting {
		if w.s.done || r.host.SetEffectiveContext(w.s.id) != nil {
			continue
		}
		w.s.exchangeFailed(w.tok, err, !charged)
		charged = true
	}
	if len(waiting) > 0 { // only an answer on the root has streams waiting
		_ = r.host.SetEffectiveContext(r.id)
	}
}

// exchangeFailed answers the request 503 after a failed exchange, and
// with charge (once per exchange) charges pool member tok with it.
func (s *stream) exchangeFailed(tok int, err error, charge bool) {
	if charge {
		s.record(tok, exchangeOutcome(err))
	}
	s.refuse(503, "token_failover_token_exchange_failed", "the gateway could not obtain an access token for this provider")
}

// exchangeOutcome is what a failed exchange means for the key: refused
// (revoked or deleted key, disabled account: credential.FaultCredential)
// demotes it at once; a transient failure counts like a provider's 5xx; a
// clock Google finds off (FaultClock) charges nobody.
func exchangeOutcome(err error) failover.Outcome {
	var te *credential.TokenError
	if !errors.As(err, &te) {
		return failover.Outcome{Class: failover.ClassUpstream, Why: "token exchange: not sent"}
	}
	o := failover.Outcome{Status: te.Status, Why: "token exchange: " + te.Fault.String()}
	if te.Code != "" {
		o.Why += " " + te.Code
	}
	switch te.Fault {
	case credential.FaultCredential:
		o.Class = failover.ClassAuth
	case credential.FaultClock:
		o.Class = failover.ClassIgnore
	default:
		o.Class = failover.ClassUpstream
	}
	return o
}
