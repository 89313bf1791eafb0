package config

import (
	"strings"

	"github.com/tidwall/gjson"

	"github.com/token-failover/token-failover/credential"
	"github.com/token-failover/token-failover/provider"
)

// signerFields are, per type, the fields of a credential that is not a
// bearer token (an AWS access-key pair, a Google service-account key, a
// Kling access/secret pair), which Higress uses when apiTokens is empty.
// Every field of the list must be set.
var signerFields = map[string][]string{
	"bedrock": {"awsAccessKey", "awsSecretKey"},
	"vertex":  {"vertexAuthKey"},
	"kling":   {"klingAccessKey", "klingSecretKey"},
}

// signer returns the first field of the block's non-bearer credential when
// the block signs with one (apiTokens empty and the credential set), else
// "". Its values are secrets: messages name the fields, never a value.
func (r *reader) signer(v gjson.Result, path, typ string) string {
	fields := signerFields[typ]
	var set, missing []string
	for _, f := range fields {
		switch e := v.Get(gjson.Escape(f)); {
		case !e.Exists() || e.Type == gjson.Null || e.Type == gjson.String && strings.TrimSpace(e.Str) == "":
			missing = append(missing, f)
		case e.Type != gjson.String:
			r.fail(join(path, f), "must be a string, got %s", kind(e))
			set = append(set, f)
		default:
			set = append(set, f)
		}
	}
	switch {
	case len(set) == 0:
		return ""
	case hasTokens(v):
		r.warn(join(path, strings.Join(set, ", ")), "ignored: apiTokens are set, and Higress uses them first")
		return ""
	case len(missing) > 0:
		r.fail(join(path, missing[0]), "is required with %s (Higress refuses the configuration without it too)", set[0])
	}
	return fields[0]
}

// hasTokens tells whether apiTokens holds something (a list with an entry,
// or a single string).
func hasTokens(v gjson.Result) bool {
	t := v.Get("apiTokens")
	return t.IsArray() && len(t.Array()) > 0 || t.Type == gjson.String
}

// signedTokens reads the block's one non-bearer credential (see signer)
// into a pool of one member, checked as the credential package reads it:
// a Kling or AWS pair becomes provider.PairSecret of its parts, a
// service-account key file its JSON. Each field may be a ${env:NAME}
// reference, as an apiTokens entry may. Messages name fields, never values.
func (r *reader) signedTokens(v gjson.Result, path, typ string) []provider.Token {
	fields := signerFields[typ]
	vals := make([]string, len(fields))
	for i, f := range fields {
		e := v.Get(gjson.Escape(f))
		if e.Type != gjson.String || strings.TrimSpace(e.Str) == "" {
			return nil // signer said what is wrong
		}
		s, _, ok := r.resolveToken(join(path, f), e.Str)
		if !ok {
			return nil
		}
		vals[i] = strings.TrimSpace(s)
	}
	var err error
	switch typ {
	case "kling":
		_, err = credential.NewKlingKey(vals[0], vals[1])
	case "bedrock":
		_, err = credential.NewAWSKey(vals[0], vals[1], "")
	case "vertex":
		_, err = credential.ParseServiceAccountKey([]byte(vals[0]))
	}
	if err != nil {
		r.fail(join(path, fields[0]), "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
		return nil
	}
	if typ == "bedrock" {
		r.warn(join(path, fields[0]), "requests are signed with SigV4 over their whole body: set allow_on_headers_stop_iteration: "+
			"true in the wasm filter's config (Envoy 1.35+), so that Envoy holds a request's headers while the plugin reads "+
			"its body; without it a request with a body waits for the route's timeout")
	}
	if len(vals) == 2 {
		return []provider.Token{provider.NewToken(0, provider.PairSecret(vals[0], vals[1]))}
	}
	return []provider.Token{provider.NewToken(0, vals[0])}
}
