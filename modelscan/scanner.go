package modelscan

import "unicode/utf8"

// MaxModelBytes is the longest decoded model name, in UTF-8 bytes, that Feed
// returns in Member.Value; a longer string value is reported TooLong. Real
// model ids (an organisation/name path, a Fireworks accounts/... path, a
// cloud ARN) stay under about 128 bytes, so 256 leaves twice that; it also
// sizes the decode buffer every in-flight request carries in its Scanner.
const MaxModelBytes = 256

// MaxModelRawBytes is the longest raw string value (quotes included) that
// can decode to MaxModelBytes: six bytes of \u00XX escape per decoded byte
// is the most any spelling takes (a surrogate pair is twelve bytes for four).
// A longer raw value is TooLong whatever it holds, so a caller that holds a
// pending model value back to rewrite it need hold no more than this.
const MaxModelRawBytes = 6*MaxModelBytes + 2

// maxKeyRaw is the longest raw key text (quotes excluded) that can decode to
// "model": five \uXXXX escapes. A longer key is not a model key.
const maxKeyRaw = 30

// maxPartial is the most raw bytes of a model value that wait for the next
// chunk: a high surrogate's \uXXXX and five bytes of what follows it, which
// decide whether it is half of a pair.
const maxPartial = 11

// phase is where the Scanner is in the top-level object's grammar.
type phase uint8

const (
	phStart      phase = iota // before '{': BOM, whitespace
	phBOM1                    // after 0xEF at offset 0: expect 0xBB
	phBOM2                    // after 0xEF 0xBB: expect 0xBF
	phFirstKey                // after '{': a key or '}'
	phNextKey                 // after ',': a key
	phKey                     // inside a top-level key
	phColon                   // after a key: ':'
	phValue                   // after ':': a value
	phString                  // inside a top-level string value
	phNested                  // inside a nested object or array
	phScalar                  // inside a number or literal
	phAfterValue              // after a value: ',' or '}'
)

// Scanner reads a body chunk by chunk and reports its top-level model
// members. The zero value is ready; Reset reuses it. A Scanner is not safe
// for concurrent use.
type Scanner struct {
	cursor
	key  [maxKeyRaw]byte                   // the current key's first raw bytes
	part [maxPartial]byte                  // the model value's raw bytes a chunk cut short
	val  [MaxModelBytes + utf8.UTFMax]byte // the model value's text decoded so far
}

// cursor is the part of a Scanner that Reset clears; the buffers' contents
// only count up to keyLen, partLen and valLen.
type cursor struct {
	off     int64 // bytes consumed, from the start of the body
	depth   int64 // open brackets of a nested value; cannot overflow on a body
	start   int64 // the current model value's Start
	state   State
	phase   phase
	esc     bool  // a backslash ended the last chunk inside a string
	inStr   bool  // inside a string (a key, a value, or within a nested value)
	model   bool  // the current member's key is model ignoring ASCII case
	exact   bool  // ... and exactly "model"
	pending bool  // a model value has started and not ended
	bad     bool  // the model value has a bad escape: decoding stopped there
	keyLen  uint8 // raw key bytes in key; maxKeyRaw+1 once too long
	partLen uint8 // raw value bytes in part
	// valLen counts decoded value bytes in val; past MaxModelBytes the
	// value is too long and decoding stopped.
	valLen uint16
}

// Reset makes s ready for a new body, as the zero value.
func (s *Scanner) Reset() { s.cursor = cursor{} }

// State reports where scanning stands; Scanning until the body ends or is
// decided.
func (s *Scanner) State() State { return s.state }

// Offset reports the bytes consumed so far. Once the state is no longer
// Scanning, it stays just past the byte that decided it (the top-level '}'
// for Complete). After Feed returns a member, Offset equals its End.
func (s *Scanner) Offset() int64 { return s.off }

// Pending reports that a model member's value has started (its first byte was
// consumed) and has not ended: the caller must keep the body from start on to
// rewrite it, though only while Offset()-start is at most MaxModelRawBytes,
// as a longer string value is TooLong. A number or literal ends only at the
// byte after it, so it stays pending until that byte is fed.
func (s *Scanner) Pending() (start int64, ok bool) {
	if s.pending {
		return s.start, true
	}
	return 0, false
}

// Feed scans chunk, the next bytes of the body. It stops right after the
// first model member whose value ends inside chunk and returns it with
// n = bytes consumed: call Feed again with chunk[n:]. A number or literal
// value ends at the delimiter after it, which is not consumed (n may be 0).
// When no member ends in chunk, or the state is no longer Scanning, it returns
// n == len(chunk) and found == false.
func (s *Scanner) Feed(chunk []byte) (n int, m Member, found bool) {
	if s.state != Scanning {
		return len(chunk), Member{}, false
	}
	limit, nul := len(chunk), false
	if s.off < 4 {
		// A NUL among the first four bytes means UTF-16/32, decided in
		// byte order so that every split gives the same answer.
		for k := range min(len(chunk), int(4-s.off)) {
			if chunk[k] == 0 {
				limit, nul = k, true
				break
			}
		}
	}
	n, m, found = s.scan(chunk[:limit])
	s.off += int64(n)
	if found {
		return n, m, true
	}
	if nul && s.state == Scanning {
		s.state = NotUTF8
		s.off++
	}
	return len(chunk), Member{}, false
}

// stop ends scanning in state st; it returns i+1, just past the deciding byte.
func (s *Scanner) stop(st State, i int) int {
	s.state = st
	s.pending = false
	return i + 1
}

// scan runs the state machine over b until b ends, the state is decided or a
// model member ends. It returns the bytes consumed; s.off is not yet moved.
func (s *Scanner) scan(b []byte) (int, Member, bool) {
	i := 0
	for i < len(b) {
		switch s.phase {
		case phStart:
			i = skipSpace(b, i)
			if i == len(b) {
				break
			}
			c := b[i]
			switch {
			case c == '{':
				s.phase = phFirstKey
				i++
			case s.off+int64(i) == 0 && c == 0xEF:
				s.phase = phBOM1
				i++
			case s.off+int64(i) == 0 && (c == 0xFE || c == 0xFF):
				return s.stop(NotUTF8, i), Member{}, false
			default:
				return s.stop(NotObject, i), Member{}, false
			}
		case phBOM1, phBOM2:
			want, next := byte(0xBB), phBOM2
			if s.phase == phBOM2 {
				want, next = 0xBF, phStart
			}
			if b[i] != want {
				return s.stop(NotObject, i), Member{}, false
			}
			s.phase = next
			i++
		case phAfterValue:
			i = skipSpace(b, i)
			if i == len(b) {
				break
			}
			switch b[i] {
			case ',':
			case '}':
				return s.stop(Complete, i), Member{}, false
			default:
				return s.stop(Invalid, i), Member{}, false
			}
			s.phase = phNextKey
			i++
			// The cases from here to phValue fall through in the usual
			// order of a member, saving a dispatch per step.
			fallthrough
		case phFirstKey, phNextKey:
			i = skipSpace(b, i)
			if i == len(b) {
				break
			}
			switch c := b[i]; {
			case c == '"':
			case c == '}' && s.phase == phFirstKey:
				return s.stop(Complete, i), Member{}, false
			default:
				return s.stop(Invalid, i), Member{}, false
			}
			s.phase, s.keyLen, s.inStr = phKey, 0, true
			i++
			fallthrough
		case phKey:
			if i == len(b) {
				break
			}
			var raw []byte
			closed := false
			if s.keyLen == 0 && !s.esc {
				// Fast path: the whole key, without escapes, is in b.
				j := i
				for j < len(b) && b[j] != '"' && b[j] != '\\' {
					j++
				}
				if j < len(b) && b[j] == '"' {
					raw, closed, i, s.inStr = b[i:j], true, j+1, false
				}
			}
			if !closed {
				j, c := s.skip(b, i)
				seg := b[i:j]
				if c {
					seg = seg[:len(seg)-1]
				}
				if int(s.keyLen)+len(seg) > maxKeyRaw {
					s.keyLen = maxKeyRaw + 1
				} else {
					s.keyLen += uint8(copy(s.key[s.keyLen:], seg))
				}
				if i, closed = j, c; !closed {
					break
				}
				if s.keyLen <= maxKeyRaw {
					raw = s.key[:s.keyLen]
				}
			}
			s.model, s.exact = false, false
			if len(raw) >= len("model") && (raw[0]|0x20 == 'm' || raw[0] == '\\') {
				s.model, s.exact = matchKey(raw)
			}
			s.phase = phColon
			fallthrough
		case phColon:
			i = skipSpace(b, i)
			if i == len(b) {
				break
			}
			if b[i] != ':' {
				return s.stop(Invalid, i), Member{}, false
			}
			s.phase = phValue
			i++
			fallthrough
		case phValue:
			i = skipSpace(b, i)
			if i == len(b) {
				break
			}
			c := b[i]
			if s.model {
				s.pending, s.start = true, s.off+int64(i)
				s.bad, s.partLen, s.valLen = false, 0, 0
			}
			switch c {
			case ',', '}', ']', ':':
				return s.stop(Invalid, i), Member{}, false
			case '"':
				s.phase, s.inStr = phString, true
				i++
				continue
			case '{', '[':
				s.phase, s.inStr = phNested, false
				continue
			}
			s.phase = phScalar
			fallthrough
		case phScalar:
			for i < len(b) && !scalarEnd[b[i]] {
				i++
			}
			if i < len(b) {
				s.phase = phAfterValue
				if s.pending {
					return i, s.member(s.off+int64(i), false), true
				}
			}
		case phString:
			j, closed := s.skip(b, i)
			if s.pending && !s.bad && s.valLen <= MaxModelBytes {
				seg := b[i:j]
				if closed {
					seg = seg[:len(seg)-1] // the closing quote
				}
				s.decodeValue(seg, closed)
			}
			i = j
			if closed {
				s.phase = phAfterValue
				if s.pending {
					return i, s.member(s.off+int64(i), true), true
				}
			}
		case phNested:
			var closed bool
			i, closed = s.skip(b, i)
			if closed {
				s.phase = phAfterValue
				if s.pending {
					return i, s.member(s.off+int64(i), false), true
				}
			}
		}
	}
	return i, Member{}, false
}

// member builds the model member that ends at end and clears the pending
// state. Copying the decoded value into a string is the only allocation on
// Feed's path.
func (s *Scanner) member(end int64, isString bool) Member {
	m := Member{Start: s.start, End: end, String: isString, ExactKey: s.exact}
	s.pending, s.model, s.exact = false, false, false
	switch {
	case !isString:
	case end-s.start > MaxModelRawBytes || s.valLen > MaxModelBytes:
		m.TooLong = true
	case s.bad:
		m.BadEscape = true
	default:
		m.Value = string(s.val[:s.valLen])
	}
	return m
}
