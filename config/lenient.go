package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// Higress reads its configuration leniently (gjson's String, Bool, Int and
// Array): a number written as a string, a single value where a list is
// expected, null for a field the console left empty. These readers accept
// each form whose meaning is unambiguous, with a warning that names the
// field and what it was read as, and refuse the rest ("3ms", "yes", 2.5)
// naming the field.

// field returns obj's key; null counts as absent, with a warning (the
// Higress console writes null for a field left empty).
func (r *reader) field(obj gjson.Result, path, key string) (gjson.Result, bool) {
	v := obj.Get(gjson.Escape(key))
	if !v.Exists() {
		return v, false
	}
	if v.Type == gjson.Null {
		r.warn(join(path, key), "null, read as absent")
		return v, false
	}
	return v, true
}

func (r *reader) str(obj gjson.Result, path, key, def string) string {
	v, ok := r.field(obj, path, key)
	if !ok {
		return def
	}
	if v.Type != gjson.String {
		r.fail(join(path, key), "must be a string, got %s", describe(v))
		return def
	}
	return v.Str
}

// boolean reads true or false; the strings strconv.ParseBool accepts
// ("true", "1", "FALSE") and the numbers 0 and 1 are read as Higress reads
// them, with a warning.
func (r *reader) boolean(obj gjson.Result, path, key string, def bool) bool {
	v, ok := r.field(obj, path, key)
	if !ok {
		return def
	}
	at := join(path, key)
	switch v.Type {
	case gjson.True, gjson.False:
		return v.Bool()
	case gjson.String:
		if b, err := strconv.ParseBool(strings.ToLower(v.Str)); err == nil {
			r.warn(at, "%s, read as %v", describe(v), b)
			return b
		}
	case gjson.Number:
		if v.Num == 0 || v.Num == 1 {
			r.warn(at, "%s, read as %v", describe(v), v.Num == 1)
			return v.Num == 1
		}
	}
	r.fail(at, "must be true or false, got %s", describe(v))
	return def
}

// integer reads a whole number in [min, max]; absent gives def. A string
// of decimal digits is read as its number, with a warning. With zeroIsDefault
// an explicit 0 means def, as in Higress, with a warning. Any other value
// outside the bounds is refused (never truncated).
func (r *reader) integer(obj gjson.Result, path, key string, def, min, max int64, zeroIsDefault bool) int64 {
	v, ok := r.field(obj, path, key)
	if !ok {
		return def
	}
	at := join(path, key)
	var n int64
	switch {
	case v.Type == gjson.Number && v.Num == math.Trunc(v.Num) && math.Abs(v.Num) <= 1<<53:
		n = int64(v.Num)
	case v.Type == gjson.String && isInteger(v.Str):
		var err error
		if n, err = strconv.ParseInt(v.Str, 10, 64); err != nil {
			r.fail(at, "must be <= %d, got %s", max, describe(v))
			return def
		}
		r.warn(at, "%s, read as the number %d", describe(v), n)
	default:
		r.fail(at, "must be a whole number, got %s", describe(v))
		return def
	}
	switch {
	case n == 0 && zeroIsDefault:
		r.warn(at, "0, read as the default %d (as Higress does)", def)
		return def
	case n < min:
		r.fail(at, "must be >= %d, got %d", min, n)
		return def
	case n > max:
		r.fail(at, "must be <= %d, got %d", max, n)
		return def
	}
	return n
}

// isInteger tells whether s is an optional minus and decimal digits only
// (what gjson v1.18's Int parses).
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// listOpts says what a list of strings may hold.
type listOpts struct {
	// numbers: whole numbers are read as their text (status codes).
	numbers bool
	// dropEmpty: empty strings are dropped with a warning (match lists).
	dropEmpty bool
}

// strings reads a list of strings; a single string (or, with numbers, a
// single number) is read as a list of one, with a warning. present is
// false when the field is absent or null.
func (r *reader) strings(obj gjson.Result, path, key string, o listOpts) (out []string, present bool) {
	v, ok := r.field(obj, path, key)
	if !ok {
		return nil, false
	}
	at := join(path, key)
	elems := v.Array()
	switch {
	case v.IsArray():
	case v.Type == gjson.String || o.numbers && v.Type == gjson.Number:
		r.warn(at, "%s, read as a list of one", describe(v))
	default:
		r.fail(at, "must be a list of strings, got %s", describe(v))
		return nil, true
	}
	for i, e := range elems {
		el := fmt.Sprintf("%s[%d]", at, i)
		switch {
		case e.Type == gjson.String && e.Str == "" && o.dropEmpty:
			r.warn(el, "empty, dropped")
		case e.Type == gjson.String:
			out = append(out, e.Str)
		case o.numbers && e.Type == gjson.Number && e.Num == math.Trunc(e.Num) && e.Num >= 0 && e.Num < 1000:
			if v.IsArray() {
				r.warn(el, "%s, read as the string %q", describe(e), e.Raw)
			}
			out = append(out, e.Raw)
		default:
			r.fail(el, "must be a string, got %s", describe(e))
		}
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
	r.fail(join(path, key), "must be one of %s, got %s", strings.Join(allowed, ", "), quote(s))
	return def
}
