package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// reader walks the JSON config collecting every problem (with its field
// path) and a warning for every unknown field, instead of stopping at the
// first one.
type reader struct {
	errs  []string
	warns []string
}

func (r *reader) fail(path, format string, args ...any) {
	r.errs = append(r.errs, path+": "+fmt.Sprintf(format, args...))
}

func (r *reader) warn(path, format string, args ...any) {
	r.warns = append(r.warns, path+": "+fmt.Sprintf(format, args...))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a JSON value's type and shows it briefly, for messages. A
// string is quoted only when it cannot be a secret (see looksSecret):
// operators paste tokens into the wrong field, and a config error must
// never put one in Envoy's log.
func describe(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		if looksSecret(v.Str) || len(v.Str) > 40 {
			return fmt.Sprintf("a string of %d bytes", len(v.Str))
		}
		return "string " + v.Raw
	case gjson.Number:
		raw := v.Raw
		if len(raw) > 24 {
			raw = raw[:21] + "..."
		}
		return "number " + raw
	case gjson.True, gjson.False:
		return "boolean " + v.Raw
	case gjson.Null:
		return "null"
	}
	if v.IsArray() {
		return "a list"
	}
	return "an object"
}

// kind names a JSON value's type only.
func kind(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return "a string"
	case gjson.Number:
		return "a number"
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.Null:
		return "null"
	}
	if v.IsArray() {
		return "a list"
	}
	return "an object"
}

// quote quotes s for a message unless it might be a secret.
func quote(s string) string {
	if looksSecret(s) || len(s) > 64 {
		return fmt.Sprintf("<a string of %d bytes>", len(s))
	}
	return strconv.Quote(s)
}

// looksSecret tells whether s might be a credential: 16 bytes or more of
// key-like characters with both letters and digits. Such strings are
// described by length, never quoted.
func looksSecret(s string) bool {
	if len(s) < 16 {
		return false
	}
	letters, digits := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters = true
		case c >= '0' && c <= '9':
			digits = true
		case c == '-' || c == '_' || c == '.' || c == '/' || c == '+' || c == '=' || c == ':':
		default:
			return false
		}
	}
	return letters && digits
}

// object checks that v is an object and warns about keys not in known,
// suggesting the nearest known key.
func (r *reader) object(v gjson.Result, path string, known ...string) bool {
	if !v.IsObject() {
		r.fail(path, "must be an object, got %s", describe(v))
		return false
	}
	v.ForEach(func(k, _ gjson.Result) bool {
		for _, name := range known {
			if k.Str == name {
				return true
			}
		}
		key := k.Str
		if looksSecret(key) || len(key) > 64 {
			key = fmt.Sprintf("<a key of %d bytes>", len(key))
		}
		msg := join(path, key) + ": unknown field"
		if near := orElse(hints[k.Str], nearest(k.Str, known)); near != "" {
			msg += ", did you mean " + near + "?"
		}
		r.warns = append(r.warns, msg)
		return true
	})
	return true
}

// nearest returns the known name closest to s by edit distance, if close.
func nearest(s string, known []string) string {
	best, bestD := "", 4
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	for _, k := range sorted {
		if d := editDistance(strings.ToLower(s), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// headerSafe reports the first byte of s that may not appear in an HTTP
// header value (a control character other than tab, or DEL); -1 when none.
func headerSafe(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return i
		}
	}
	return -1
}

// headerName tells whether s is a valid HTTP header name (an RFC 9110 token).
func headerName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// headerValue reads a string field that becomes part of a header: a value
// with a control character is refused, naming the field and the byte's
// position, never quoting the value.
func (r *reader) headerValue(obj gjson.Result, path, key string) string {
	s := r.str(obj, path, key, "")
	if i := headerSafe(s); i >= 0 {
		r.fail(join(path, key), "has a character not allowed in a header (byte 0x%02x at position %d)", s[i], i)
		return ""
	}
	return s
}
