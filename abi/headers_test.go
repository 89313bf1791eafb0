package abi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHeaderMap_RoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		pairs []HeaderPair
	}{
		{"one", []HeaderPair{{":path", "/v1/chat"}}},
		{"empty value", []HeaderPair{{"x", ""}, {"y", "z"}}},
		{"binary-ish", []HeaderPair{{"k", "a\x01b"}, {"authorization", "Bearer x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeHeaderMap(EncodeHeaderMap(tc.pairs))
			require.NoError(t, err)
			require.Equal(t, tc.pairs, got)
		})
	}
	require.Nil(t, EncodeHeaderMap(nil))
	got, err := DecodeHeaderMap(nil)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestHeaderMap_Layout(t *testing.T) {
	// count, then (key len, value len) per pair, then key\0value\0 each.
	want := []byte{1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 'a', 0, 'b', 'c', 0}
	require.Equal(t, want, EncodeHeaderMap([]HeaderPair{{"a", "bc"}}))
}

func TestHeaderMap_RejectsMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{1, 0},
		{1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 'a', 0},
		{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0},
	} {
		_, err := DecodeHeaderMap(b)
		require.ErrorIs(t, err, ErrMalformedHeaderMap)
	}
}

func FuzzDecodeHeaderMap(f *testing.F) {
	f.Add(EncodeHeaderMap([]HeaderPair{{"a", "b"}, {"c", ""}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, err := DecodeHeaderMap(b)
		if err != nil {
			return
		}
		again, err := DecodeHeaderMap(EncodeHeaderMap(pairs))
		if err != nil || len(again) != len(pairs) {
			t.Fatalf("re-encoding a decoded map failed: %v", err)
		}
	})
}
