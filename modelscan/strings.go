package modelscan

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// scalarEnd marks the bytes that end a number or literal: whitespace and
// every structural byte. Anything else belongs to the scalar, so NaN,
// Infinity and malformed numbers are skipped alike.
var scalarEnd = [256]bool{
	' ': true, '\t': true, '\n': true, '\r': true,
	',': true, ':': true, '"': true,
	'{': true, '}': true, '[': true, ']': true,
}

// bracketDelta is how each byte moves the nesting depth outside strings.
var bracketDelta = [256]int8{'{': 1, '[': 1, '}': -1, ']': -1}

// skipSpace returns the index of the first non-whitespace byte of b from i,
// or len(b).
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// skip advances through what is under way from b[i] (i < len(b)): a string
// (s.inStr with s.depth 0: a top-level key or string value) or a nested
// object or array (s.inStr false, s.depth 0, b[i] its opening bracket). It
// returns the index just past its end and true, or len(b) and false; s.depth,
// s.inStr and s.esc (a backslash that ended b) carry over to the next chunk.
//
// Brackets are counted outside strings and their kinds are not matched: a
// mismatch is the provider's parse error, not a reason to stop. Strings look
// for the next quote or backslash eight bytes at a time (SWAR, inline: calls
// are dear in the wasm build, and chat text has an escape every few dozen
// bytes); after swarSpan clean bytes they switch to bytes.IndexByte, faster
// on long clean runs such as base64 images. A quote found that way is kept
// in nextQuote, so no byte is searched for a quote twice: linear time.
func (s *Scanner) skip(b []byte, i int) (int, bool) {
	depth, inStr, nextQuote := s.depth, s.inStr, -1
	if s.esc {
		s.esc = false
		i++ // the escaped byte, whatever it is
	}
	for i < len(b) {
		if !inStr {
			for ; i < len(b); i++ {
				c := b[i]
				if c == '"' {
					break
				}
				if depth += int64(bracketDelta[c]); depth == 0 {
					s.depth, s.inStr = 0, false
					return i + 1, true
				}
			}
			if i == len(b) {
				break
			}
			i, inStr = i+1, true
			if i == len(b) {
				break
			}
		}
		if b[i] == '\\' {
			// Runs of escapes (\uXXXX text, \"\") skip the search.
			i += 2
			continue
		}
		j, end := i, min(len(b), i+swarSpan)
		for j+8 <= end {
			// v = x^pattern has a zero byte where x has the byte
			// sought; (v-ones)&^v&highs marks the lowest zero byte
			// exactly (borrows only mark bytes above it).
			x := binary.LittleEndian.Uint64(b[j:])
			q, e := x^(ones*'"'), x^(ones*'\\')
			if t := ((q-ones)&^q | (e-ones)&^e) & highs; t != 0 {
				j += bits.TrailingZeros64(t) >> 3
				break
			}
			j += 8
		}
		for j < end && b[j] != '"' && b[j] != '\\' {
			j++
		}
		if j == end && end < len(b) {
			if nextQuote < j {
				nextQuote = len(b)
				if k := bytes.IndexByte(b[j:], '"'); k >= 0 {
					nextQuote = j + k
				}
			}
			if k := bytes.IndexByte(b[j:nextQuote], '\\'); k >= 0 {
				j += k
			} else {
				j = nextQuote
			}
		}
		if j == len(b) {
			i = j
			break
		}
		if b[j] == '\\' {
			i = j + 2 // the backslash and the byte it escapes
			continue
		}
		i, inStr = j+1, false
		if depth == 0 {
			s.depth, s.inStr = 0, false
			return i, true
		}
	}
	if i > len(b) {
		s.esc, i = true, len(b)
	}
	s.depth, s.inStr = depth, inStr
	return i, false
}

// matchKey reports whether raw, a key's text without quotes (nil when longer
// than maxKeyRaw), decodes to "model" ignoring ASCII case, and whether
// exactly. Every letter of "model" is lower case, so c|0x20 equals it only
// for that letter in either case.
func matchKey(raw []byte) (model, exact bool) {
	if len(raw) == len("model") {
		if raw[0]|0x20 != 'm' || raw[1]|0x20 != 'o' || raw[2]|0x20 != 'd' ||
			raw[3]|0x20 != 'e' || raw[4]|0x20 != 'l' {
			return false, false
		}
		return true, string(raw) == "model"
	}
	if len(raw) < len("model") || raw[0]|0x20 != 'm' && raw[0] != '\\' {
		return false, false
	}
	return matchEscapedKey(raw)
}

// matchEscapedKey is matchKey for a key longer than five bytes: only escapes
// can make it "model".
func matchEscapedKey(raw []byte) (model, exact bool) {
	if len(raw) > maxKeyRaw || bytes.IndexByte(raw, '\\') < 0 {
		return false, false
	}
	var buf [3 * maxKeyRaw]byte
	k, ok := unquote(buf[:0], raw)
	if !ok || len(k) != len("model") {
		return false, false
	}
	return matchKey(k)
}

// decode returns the decoded text of a string value's raw content (quotes
// excluded), the one allocation of a found member; ok is false for a bad
// escape. ASCII text without escapes, the usual model name, is copied as it
// is.
func decode(raw []byte) (v string, ok bool) {
	for _, c := range raw {
		if c == '\\' || c >= utf8.RuneSelf {
			return decodeSlow(raw)
		}
	}
	return string(raw), true
}

// decodeSlow is decode's path through unquote, apart so that its buffer is
// only cleared when it is needed.
func decodeSlow(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	var buf [3 * MaxValueBytes]byte // an invalid byte grows to 3 (U+FFFD)
	v, ok := unquote(buf[:0], raw)
	if !ok {
		return "", false
	}
	return string(v), true
}

// unquote appends the decoded text of a JSON string's raw content (quotes
// excluded) to dst, as Go's encoding/json decodes it: invalid UTF-8 bytes
// and unpaired surrogates become U+FFFD, a surrogate pair one rune. Control
// characters are kept. ok is false for an unknown escape or a \u without
// four hex digits.
func unquote(dst, s []byte) (out []byte, ok bool) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return dst, false
			}
			switch e := s[i+1]; e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := u4(s[i:])
				if r < 0 {
					return dst, false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A pair only when a low surrogate follows;
					// otherwise U+FFFD and the next escape is
					// decoded on its own.
					if d := utf16.DecodeRune(r, u4(s[i:])); d != utf8.RuneError {
						dst = utf8.AppendRune(dst, d)
						i += 6
						continue
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default:
				return dst, false
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
		}
	}
	return dst, true
}

// u4 decodes the \uXXXX escape at the start of s, or returns -1.
func u4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
