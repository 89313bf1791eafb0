package provider

import "unicode/utf8"

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

// AppendQuotedJSON appends s quoted as a JSON string, as encoding/json
// would quote it, to dst. Written by hand rather than with encoding/json:
// reflection-based marshalling of one short string cost several
// microseconds per request in the wasm build, and appending lets the
// plugin build a body edit without a new string. It escapes what JSON
// requires (quote, backslash, control characters) and the characters
// encoding/json also escapes (<, >, &, U+2028, U+2029); valid UTF-8 passes
// as is and each invalid byte becomes \ufffd, as with encoding/json.
func AppendQuotedJSON(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b := append(dst, '"')
	for i := 0; i < len(s); {
		if c := s[i]; c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			b = append(b, c) // plain ASCII, most model names: no decoding
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 || r == 0x2029:
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// jsonString is s quoted as a JSON string.
func jsonString(s string) string { return string(AppendQuotedJSON(make([]byte, 0, len(s)+2), s)) }
