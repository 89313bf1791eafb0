package abi

import (
	"encoding/binary"
	"errors"
)

// ErrMalformedHeaderMap is returned by DecodeHeaderMap for bytes that are not
// in the proxy-wasm pairs format.
var ErrMalformedHeaderMap = errors.New("proxy-wasm: malformed header map")

// EncodeHeaderMap serialises pairs in the proxy-wasm pairs format: a
// little-endian u32 count N, N × (u32 key length, u32 value length), then each
// key and value followed by a NUL byte. Nil or empty input gives nil.
func EncodeHeaderMap(pairs []HeaderPair) []byte {
	if len(pairs) == 0 {
		return nil
	}
	size := 4 + 8*len(pairs)
	for _, p := range pairs {
		size += len(p[0]) + len(p[1]) + 2
	}
	out := make([]byte, size)
	binary.LittleEndian.PutUint32(out, uint32(len(pairs)))
	off := 4
	for _, p := range pairs {
		binary.LittleEndian.PutUint32(out[off:], uint32(len(p[0])))
		binary.LittleEndian.PutUint32(out[off+4:], uint32(len(p[1])))
		off += 8
	}
	for _, p := range pairs {
		off += copy(out[off:], p[0])
		out[off] = 0
		off++
		off += copy(out[off:], p[1])
		out[off] = 0
		off++
	}
	return out
}

// DecodeHeaderMap parses the proxy-wasm pairs format. Empty input is an empty
// map; anything truncated or inconsistent is ErrMalformedHeaderMap.
func DecodeHeaderMap(b []byte) ([]HeaderPair, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) < 4 {
		return nil, ErrMalformedHeaderMap
	}
	n := int(binary.LittleEndian.Uint32(b))
	// Each pair needs at least 8 bytes of sizes and 2 NULs.
	if n < 0 || n > (len(b)-4)/10 {
		return nil, ErrMalformedHeaderMap
	}
	pairs := make([]HeaderPair, n)
	sizes := b[4:]
	// One string for all keys and values; each pair slices it, so a map
	// costs two allocations however many headers it has.
	all := string(b[4+8*n:])
	data := 0
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl < 0 || vl < 0 || data+kl+vl+2 > len(all) || data+kl+vl+2 < data {
			return nil, ErrMalformedHeaderMap
		}
		pairs[i][0] = all[data : data+kl]
		data += kl + 1
		pairs[i][1] = all[data : data+vl]
		data += vl + 1
	}
	return pairs, nil
}
