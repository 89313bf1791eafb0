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
	var buf [len("model") + utf8.UTFMax]byte
	k, _, ok := unquote(buf[:0], raw, true, len("model"))
	if !ok || len(k) != len("model") {
		return false, false
	}
	return matchKey(k)
}

// decodeValue decodes seg, the next raw bytes of the model string value
// (without its closing quote; final when the value ends there), onto val.
// The bytes of an escape, surrogate pair or UTF-8 sequence that seg cuts
// short wait in part for the next chunk, so the text never depends on where
// the body splits. It stops for good at a bad escape or past MaxModelBytes.
func (s *Scanner) decodeValue(seg []byte, final bool) {
	if s.partLen == 0 {
		// The usual model name, plain ASCII, is copied without a call
		// (dear in the wasm build).
		j := 0
		for j < len(seg) && seg[j] < utf8.RuneSelf && seg[j] != '\\' {
			j++
		}
		if j == len(seg) && j <= MaxModelBytes-int(s.valLen) {
			s.valLen += uint16(copy(s.val[s.valLen:], seg))
			return
		}
	} else {
		// The waiting bytes and up to maxPartial of seg hold whatever
		// the waiting bytes began, when seg is that long.
		var joined [2 * maxPartial]byte
		n := copy(joined[:], s.part[:s.partLen])
		k := copy(joined[n:], seg)
		v, used, ok := unquote(s.val[:s.valLen], joined[:n+k], final && k == len(seg), MaxModelBytes)
		s.valLen, s.bad = uint16(len(v)), !ok
		if !ok || len(v) > MaxModelBytes {
			return
		}
		if used < n {
			// seg, all of it in joined, was too short to finish it.
			s.partLen = uint8(copy(s.part[:], joined[used:n+k]))
			return
		}
		seg, s.partLen = seg[used-n:], 0
	}
	v, used, ok := unquote(s.val[:s.valLen], seg, final, MaxModelBytes)
	s.valLen, s.bad = uint16(len(v)), !ok
	if ok && len(v) <= MaxModelBytes && used < len(seg) {
		s.partLen = uint8(copy(s.part[:], seg[used:]))
	}
}

// unquote appends the decoded text of raw, a JSON string's raw content
// (quotes excluded) or the next part of it, to dst, as Go's encoding/json
// decodes it: invalid UTF-8 bytes and unpaired surrogates become U+FFFD, a
// surrogate pair one rune; control characters are kept. It goes front to
// back and returns the bytes of raw it decoded; it stops early
//   - at an unknown escape or a \u without four hex digits: ok is false;
//   - once dst is longer than limit, which never grows dst when its
//     capacity is at least limit+utf8.UTFMax;
//   - unless final (raw runs to the string's end), before an escape, a high
//     surrogate's possible pair or a UTF-8 sequence that raw cuts short:
//     at most maxPartial bytes are left.
func unquote(dst, raw []byte, final bool, limit int) (out []byte, used int, ok bool) {
	i := 0
	for i < len(raw) && len(dst) <= limit {
		c := raw[i]
		if c < utf8.RuneSelf && c != '\\' {
			// A run of plain ASCII, the usual model name, at once.
			j := i + 1
			for j < len(raw) && raw[j] < utf8.RuneSelf && raw[j] != '\\' {
				j++
			}
			j = min(j, i+limit+1-len(dst))
			dst = append(dst, raw[i:j]...)
			i = j
			continue
		}
		if c >= utf8.RuneSelf {
			if !final && !utf8.FullRune(raw[i:]) {
				return dst, i, true
			}
			r, size := utf8.DecodeRune(raw[i:])
			dst = utf8.AppendRune(dst, r)
			i += size
			continue
		}
		if i+1 == len(raw) {
			// Only a chunk can end after a backslash: final raw
			// ending so would have escaped its closing quote.
			return dst, i, !final
		}
		switch e := raw[i+1]; e {
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
			if !final && len(raw)-i < 6 {
				return dst, i, true
			}
			r := u4(raw[i:])
			if r < 0 {
				return dst, i, false
			}
			if utf16.IsSurrogate(r) {
				// A pair only when a low surrogate follows;
				// otherwise U+FFFD and the next escape is
				// decoded on its own. Only a high surrogate
				// looks at the next six bytes.
				if r < 0xDC00 && !final && len(raw)-i < 12 {
					return dst, i, true
				}
				if d := utf16.DecodeRune(r, u4(raw[i+6:])); d != utf8.RuneError {
					dst = utf8.AppendRune(dst, d)
					i += 12
					continue
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default:
			return dst, i, false
		}
		i += 2
	}
	return dst, i, true
}

// u4 decodes the \uXXXX escape at the start of s, or returns -1.
func u4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	a, b, c, d := hexValue[s[2]], hexValue[s[3]], hexValue[s[4]], hexValue[s[5]]
	if a|b|c|d < 0 {
		return -1
	}
	return rune(a)<<12 | rune(b)<<8 | rune(c)<<4 | rune(d)
}

// hexValue is each hex digit's value, and -1 for every other byte: a table,
// because decoding \u00XX model names spends most of its time here.
var hexValue = func() (t [256]int8) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = int8(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = int8(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			t[c] = int8(c - 'A' + 10)
		default:
			t[c] = -1
		}
	}
	return t
}()
