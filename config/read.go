package config

import (
	"fmt"
	"math"
	"sort"
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

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names a JSON value's type and shows it briefly, for messages.
func describe(v gjson.Result) string {
	raw := v.Raw
	if len(raw) > 40 {
		raw = raw[:37] + "..."
	}
	switch v.Type {
	case gjson.String:
		return "string " + raw
	case gjson.Number:
		return "number " + raw
	case gjson.True, gjson.False:
		return "boolean " + raw
	case gjson.Null:
		return "null"
	}
	if v.IsArray() {
		return "a list"
	}
	return "an object"
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
		msg := join(path, k.Str) + ": unknown field"
		if near := nearest(k.Str, known); near != "" {
			msg += ", did you mean " + near + "?"
		}
		r.warns = append(r.warns, msg)
		return true
	})
	return true
}

func (r *reader) str(obj gjson.Result, path, key, def string) string {
	v := obj.Get(gjson.Escape(key))
	if !v.Exists() {
		return def
	}
	if v.Type != gjson.String {
		r.fail(join(path, key), "must be a string, got %s", describe(v))
		return def
	}
	return v.Str
}

func (r *reader) boolean(obj gjson.Result, path, key string, def bool) bool {
	v := obj.Get(gjson.Escape(key))
	if !v.Exists() {
		return def
	}
	if v.Type != gjson.True && v.Type != gjson.False {
		r.fail(join(path, key), "must be true or false, got %s", describe(v))
		return def
	}
	return v.Bool()
}

// integer reads a whole number >= min; absent gives def, an explicit value
// is always checked.
func (r *reader) integer(obj gjson.Result, path, key string, def, min int64) int64 {
	v := obj.Get(gjson.Escape(key))
	if !v.Exists() {
		return def
	}
	if v.Type != gjson.Number || v.Num != math.Trunc(v.Num) || math.Abs(v.Num) > 1<<53 {
		r.fail(join(path, key), "must be a whole number, got %s", describe(v))
		return def
	}
	if int64(v.Num) < min {
		r.fail(join(path, key), "must be >= %d, got %s", min, v.Raw)
		return def
	}
	return int64(v.Num)
}

func (r *reader) strings(obj gjson.Result, path, key string) ([]string, bool) {
	v := obj.Get(gjson.Escape(key))
	if !v.Exists() {
		return nil, false
	}
	if !v.IsArray() {
		r.fail(join(path, key), "must be a list of strings, got %s", describe(v))
		return nil, true
	}
	var out []string
	for i, e := range v.Array() {
		if e.Type != gjson.String {
			r.fail(fmt.Sprintf("%s[%d]", join(path, key), i), "must be a string, got %s", describe(e))
			continue
		}
		out = append(out, e.Str)
	}
	return out, true
}

func (r *reader) oneOf(obj gjson.Result, path, key, def string, allowed ...string) string {
	s := r.str(obj, path, key, def)
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	r.fail(join(path, key), "must be one of %s, got %q", strings.Join(allowed, ", "), s)
	return def
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
