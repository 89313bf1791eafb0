package provider

import (
	"encoding/json"

	"github.com/tidwall/gjson"
)

// BodyModel returns the top-level "model" string of a JSON body; ok is false
// for a non-JSON body, a missing model or a non-string model.
func BodyModel(body []byte) (model string, ok bool) {
	if !gjson.ValidBytes(body) {
		return "", false
	}
	r := gjson.GetBytes(body, "model")
	if r.Type != gjson.String {
		return "", false
	}
	return r.Str, true
}

// RewriteBodyModel replaces the top-level "model" string of a JSON body with
// mapping's answer, splicing only that value: every other byte (key order,
// spacing, unicode escapes) is kept. It returns the body unchanged and false
// when there is nothing to do (non-JSON, no string model, same model).
func RewriteBodyModel(body []byte, m *Mapping) ([]byte, bool) {
	if m.Empty() || !gjson.ValidBytes(body) {
		return body, false
	}
	r := gjson.GetBytes(body, "model")
	if r.Type != gjson.String || r.Index <= 0 {
		return body, false
	}
	to := m.Map(r.Str)
	if to == r.Str {
		return body, false
	}
	quoted := jsonString(to)
	out := make([]byte, 0, len(body)-len(r.Raw)+len(quoted))
	out = append(out, body[:r.Index]...)
	out = append(out, quoted...)
	out = append(out, body[r.Index+len(r.Raw):]...)
	return out, true
}

// RewritePathModel maps the model in a Gemini native path.
func RewritePathModel(path string, m *Mapping) (string, bool) {
	s, e, ok := PathModel(path)
	if !ok || m.Empty() {
		return path, false
	}
	to := m.Map(path[s:e])
	if to == path[s:e] {
		return path, false
	}
	return path[:s] + to + path[e:], true
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}
