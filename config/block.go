package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/token-failover/token-failover/provider"
)

// pool reads one provider object into a block (nil on error).
func (r *reader) pool(v gjson.Result, path string) *ProviderBlock {
	if !r.object(v, path, knownProviderFields...) {
		return nil
	}
	before := len(r.errs)
	p := &ProviderBlock{path: path}
	typ := r.str(v, path, "type", "")
	info, known := provider.Info(typ)
	if known {
		r.notes(v, path, typ)
	} else {
		r.notes(v, path, "")
	}
	opts := r.options(v, path, typ)
	opts.SignedBy = r.signer(v, path, typ)
	id := r.str(v, path, "id", "")
	var passNote string
	p.Tokens, p.PassClientAuth, passNote = r.tokens(v, path, typ, info, known, opts.SignedBy != "")
	if opts.SignedBy != "" {
		p.Tokens = r.signedTokens(v, path, typ)
	}
	p.Mapping = r.mapping(v, path, typ, info, known, opts.Original)
	if typ == "azure" {
		opts.AzureDeployment, _ = p.Mapping.Constant()
	}
	switch prov, err := provider.New(typ, opts); {
	case typ == "":
		r.fail(join(path, "type"), "is required (one of %s)", strings.Join(provider.Types(), ", "))
	case err != nil:
		var fe *provider.FieldError
		if errors.As(err, &fe) {
			r.fail(join(path, fe.Field), "%s", fe.Msg)
		} else {
			r.fail(join(path, "type"), "unknown provider %s; known: %s", quote(typ), strings.Join(provider.Types(), ", "))
		}
	default:
		p.Provider = prov
	}
	if typ == "generic" && opts.Host == "" && len(p.Tokens) > 0 {
		// Issue 11 item 8: the token must not follow the client's authority.
		r.fail(join(path, "genericHost"), "is required for type generic with apiTokens (or host): without it the token "+
			"goes to whatever host the client names (Higress keeps the client's :authority and sends the token there)")
	}
	if p.PassClientAuth && typ == "openai" {
		p.ClientKeyHeaders = []string{"x-api-key", "x-authorization", "authorization"}
		if k := strings.ToLower(r.str(v, path, "authHeaderKey", "")); k != "" {
			p.ClientKeyHeaders = append([]string{k}, p.ClientKeyHeaders...)
		}
	} else if !r.absent(v, path, "authHeaderKey") && typ == "openai" {
		r.warn(join(path, "authHeaderKey"), "has no effect with apiTokens (as in Higress)")
	}
	p.Failover = r.failover(v, path)
	p.Retry = r.retry(v, path)
	if p.PassClientAuth {
		// One warning says all of it (issue 24 item 3).
		off := p.Failover.Enabled || p.Retry.Enabled
		switch {
		case passNote != "" && off:
			r.warn(join(path, "apiTokens"), "%s: its failover and retryOnFailure settings are off", passNote)
		case passNote != "":
			r.warn(join(path, "apiTokens"), "%s", passNote)
		case off:
			r.warn(path, "failover and retryOnFailure are off: the block has no tokens to fail over between")
		}
		p.Failover.Enabled, p.Retry.Enabled = false, false
	}
	p.Selection = r.oneOf(v, path, "tokenSelection", "random", "random", "round-robin", "sticky")
	p.StickyHeader = strings.ToLower(r.str(v, path, "stickyHeader", ""))
	if p.Selection == "sticky" && p.StickyHeader == "" {
		r.fail(join(path, "stickyHeader"), "is required when tokenSelection is sticky")
	}
	if len(r.errs) > before {
		return nil
	}
	p.Name = id
	if !p.PassClientAuth {
		p.PoolID = poolID(p.Tokens)
		if p.Name == "" {
			p.Name = typ + "-" + p.PoolID[:6]
		}
	} else if p.Name == "" {
		p.Name = typ
	}
	return p
}

// tokens reads apiTokens. pass is true when the block sends no token of
// its own (see ProviderBlock.PassClientAuth), and note then says why for
// the block's one warning about it (empty: nothing to say); signed is set
// when the block signs with another credential instead (see
// reader.signer), which provider.New judges.
func (r *reader) tokens(v gjson.Result, path, typ string, info provider.TypeInfo, known, signed bool) (out []provider.Token, pass bool, note string) {
	field := join(path, "apiTokens")
	raw, present := r.field(v, path, "apiTokens")
	empty := !present || raw.IsArray() && len(raw.Array()) == 0
	switch {
	case info.TokensIgnored && !empty:
		return nil, true, "ignored for type " + typ + ": Higress sets no auth header for it, so the client's own header passes"
	case info.TokensIgnored:
		return nil, true, ""
	case empty && signed:
		return nil, false, ""
	case empty && info.TokensOptional:
		return nil, true, "none: the client's own auth header goes upstream, and this block does no failover (as in Higress)"
	case !present:
		r.fail(field, "is required: a list of at least one token")
		return nil, false, ""
	case raw.IsArray() && len(raw.Array()) == 0:
		r.fail(field, "must hold at least one token, got an empty list")
		return nil, false, ""
	}
	var secrets []string
	var at []int
	switch {
	case raw.Type == gjson.String:
		// Higress reads a single string as a list of one.
		r.warns = append(r.warns, field+": a single string, read as a list of one token")
		secrets, at = []string{raw.Str}, []int{0}
	case !raw.IsArray():
		r.fail(field, "must be a list of strings, got %s", describe(raw))
		return nil, false, ""
	default:
		for i, e := range raw.Array() {
			if e.Type != gjson.String {
				// Never describe the value: it is in the tokens' place.
				r.fail(fmt.Sprintf("%s[%d]", field, i), "must be a string, got %s (quote it: a token read as a number may have lost digits)", kind(e))
				continue
			}
			secrets, at = append(secrets, e.Str), append(at, i)
		}
	}
	if len(secrets) > MaxTokens {
		r.fail(field, "must hold at most %d tokens, got %d", MaxTokens, len(secrets))
	}
	seen := map[string]int{}
	for k, entry := range secrets {
		// A reference (${env:NAME}) becomes its variable's value here; from
		// then on it is checked as an inline token, its messages at where.
		s, where, ok := r.resolveToken(fmt.Sprintf("%s[%d]", field, at[k]), entry)
		if !ok {
			continue
		}
		if t := strings.TrimSpace(s); t != s {
			if t != "" {
				// A newline at the end of a Kubernetes Secret is the usual cause.
				r.warns = append(r.warns, where+": surrounding whitespace trimmed")
			}
			s = t
		}
		j, dup := seen[s]
		switch {
		case s == "":
			r.fail(where, `must not be empty (it would send "Bearer " with no key)`)
		case headerSafe(s) >= 0:
			r.fail(where, "has a character not allowed in a header (byte 0x%02x at position %d)", s[headerSafe(s)], headerSafe(s))
		case dup:
			r.warn(where, "duplicates apiTokens[%d] (fingerprint %s): dropped, as a token's state is kept by position and the same key "+
				"twice would fail over to itself (Higress keeps both); the tokens after it are numbered one lower", j, provider.Fingerprint(s))
		default:
			seen[s] = at[k]
			out = append(out, provider.NewToken(len(out), s))
		}
	}
	return out, false, ""
}

// mapping reads modelMapping; nil when absent or when Higress would not
// apply it.
func (r *reader) mapping(v gjson.Result, path, typ string, info provider.TypeInfo, known, original bool) *provider.Mapping {
	m, ok := r.field(v, path, "modelMapping")
	field := join(path, "modelMapping")
	switch {
	case !ok:
		return nil
	case known && !info.MapsModel:
		r.warn(field, "ignored: Higress does no model mapping for type %s (the body passes untouched)", typ)
		return nil
	case original:
		r.warn(field, "ignored with protocol: original (the body passes untouched, as in Higress)")
		return nil
	case !m.IsObject():
		r.fail(field, "must be an object of model: target, got %s", describe(m))
		return nil
	}
	var entries []provider.MappingEntry
	m.ForEach(func(k, t gjson.Result) bool {
		switch t.Type {
		case gjson.String:
			entries = append(entries, provider.MappingEntry{Key: k.Str, Target: t.Str})
		case gjson.Null:
			r.warn(field+"."+k.Str, "null, read as an empty target (the model is kept)")
			entries = append(entries, provider.MappingEntry{Key: k.Str})
		default:
			r.fail(field+"."+k.Str, "target must be a string, got %s", describe(t))
		}
		return true
	})
	compiled, err := provider.CompileMapping(entries)
	if err != nil {
		r.fail(field, "%v", err)
	}
	return compiled
}

// poolID hashes the ordered token fingerprints: only the token list decides
// a state's identity (a token's state is kept by its position). The raw
// token never reaches the hash.
func poolID(tokens []provider.Token) string {
	h := sha256.New()
	for _, t := range tokens {
		h.Write([]byte(t.Fingerprint + ","))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
