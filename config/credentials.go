package config

import (
	"strings"

	"github.com/tidwall/gjson"
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
