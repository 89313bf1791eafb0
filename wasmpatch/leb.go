package wasmpatch

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// errShort reports input that ends inside a value.
var errShort = errors.New("unexpected end of input")

// reader walks a byte slice; every read checks its bounds, so malformed
// input yields an error, never a panic.
type reader struct {
	b   []byte
	pos int
}

func (r *reader) done() bool { return r.pos >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.pos >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.pos]
	r.pos++
	return c, nil
}

func (r *reader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)-r.pos) {
		return nil, errShort
	}
	out := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return out, nil
}

// u32 reads an unsigned LEB128 of at most 5 bytes, as the binary format
// requires (non-minimal encodings are valid; Go's linker writes some).
func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

func (r *reader) uleb(bits uint) (uint64, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift+7 > bits && c>>(bits-shift) != 0 {
			return 0, fmt.Errorf("integer too large at offset %d", r.pos-1)
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

// sleb reads a signed LEB128 of at most bits bits (32, 33 or 64).
func (r *reader) sleb(bits uint) (int64, error) {
	var v int64
	for shift := uint(0); ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift+7 >= bits {
			// Last byte allowed: its unused bits must be the sign extension.
			rest := int8(c<<1) >> (bits - shift) // sign-extended remaining bits
			if c&0x80 != 0 || (rest != 0 && rest != -1) {
				return 0, fmt.Errorf("integer too large at offset %d", r.pos-1)
			}
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v, nil
		}
	}
}

// name reads a length-prefixed name, which must be valid UTF-8.
func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	if err == nil && !utf8.Valid(b) {
		err = fmt.Errorf("name at offset %d is not valid UTF-8", r.pos-len(b))
	}
	return string(b), err
}

// vecLen reads a vector length, refusing counts that cannot fit in what is
// left (each element takes at least min bytes): a hostile count never makes
// a huge allocation.
func (r *reader) vecLen(min int) (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(min) > uint64(len(r.b)-r.pos) {
		return 0, fmt.Errorf("vector of %d elements is longer than its section", n)
	}
	return n, nil
}

func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	return append(appendU32(b, uint32(len(s))), s...)
}

// appendSection appends a section: id, payload size, payload.
func appendSection(b []byte, id byte, payload []byte) []byte {
	return append(appendU32(append(b, id), uint32(len(payload))), payload...)
}
