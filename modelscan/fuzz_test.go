package modelscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsonModels lists the top-level members of body whose key equals "model"
// ignoring case, as encoding/json sees them; body must be json.Valid. It walks
// the top level with json.Decoder.Token and takes each value as a
// json.RawMessage (which encoding/json skips iteratively). isObject is false
// when the top-level value is not an object.
func jsonModels(t testing.TB, body []byte) (members []Member, isObject bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // a number such as 1e1000 is valid JSON but no float64
	tok, err := dec.Token()
	require.NoError(t, err)
	if tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err)
		key := tok.(string)
		// The value starts after whitespace, ':' and whitespace.
		start := int(dec.InputOffset())
		start = skipSpace(body, start)
		require.Equal(t, byte(':'), body[start])
		start = skipSpace(body, start+1)
		var raw json.RawMessage
		require.NoError(t, dec.Decode(&raw))
		end := start + len(raw)
		require.Equal(t, []byte(raw), body[start:end])
		if !strings.EqualFold(key, "model") {
			continue
		}
		m := Member{Start: int64(start), End: int64(end), String: raw[0] == '"', ExactKey: key == "model"}
		if m.String {
			require.NoError(t, json.Unmarshal(raw, &m.Value))
			if len(m.Value) > MaxModelBytes {
				m.Value, m.TooLong = "", true
			}
		}
		members = append(members, m)
	}
	return members, true
}

// randomChunks splits body into chunks whose sizes come from seed
// (splitmix64), from 1 byte up to a seed-chosen maximum.
func randomChunks(body []byte, seed uint64) [][]byte {
	next := func() uint64 {
		seed += 0x9E3779B97F4A7C15
		z := seed
		z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
		z = (z ^ z>>27) * 0x94D049BB133111EB
		return z ^ z>>31
	}
	maxSize := 1 + next()%[]uint64{2, 8, 64, 4096}[next()%4]
	var chunks [][]byte
	for len(body) > 0 {
		n := min(int(1+next()%maxSize), len(body))
		chunks = append(chunks, body[:n])
		body = body[n:]
	}
	return chunks
}

// checkMembers checks what holds for every member of every body: a string
// value is decoded as one unquote of its whole raw text decodes it, whatever
// the chunks, and a raw text past MaxModelRawBytes is always TooLong.
func checkMembers(t testing.TB, body []byte, members []Member) {
	for _, m := range members {
		require.True(t, 0 <= m.Start && m.Start < m.End && m.End <= int64(len(body)))
		raw := body[m.Start:m.End]
		require.Equal(t, raw[0] == '"', m.String)
		want := Member{Start: m.Start, End: m.End, String: m.String, ExactKey: m.ExactKey}
		if m.String {
			v, _, ok := unquote(nil, raw[1:len(raw)-1], true, MaxModelBytes)
			switch {
			case len(raw) > MaxModelRawBytes || len(v) > MaxModelBytes:
				want.TooLong = true
			case !ok:
				want.BadEscape = true
			default:
				want.Value = string(v)
			}
		}
		require.Equal(t, want, m)
	}
}

// maxSeedBytes keeps the 100,000-deep table bodies out of the fuzz corpus:
// minimizing each new interesting input cut from a 200 KB body stalls the
// fuzzer for tens of seconds; shallower nesting seeds stand in.
const maxSeedBytes = 16 << 10

func FuzzScanner(f *testing.F) {
	for _, tc := range scanCases() {
		if len(tc.body) <= maxSeedBytes {
			f.Add([]byte(tc.body), uint64(len(tc.body)))
		}
	}
	for _, depth := range []int{100, 2_000} {
		nest := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		f.Add([]byte(`{"a":`+nest+`,"model":"x","b":`+nest+`}`), uint64(depth))
		f.Add([]byte(`{"model":`+strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth)+`}`), uint64(depth))
	}
	// Just past encoding/json's depth limit of 10,000.
	f.Add([]byte(`{"model":`+strings.Repeat("[", 10_001)+strings.Repeat("]", 10_001)+`}`), uint64(3))
	f.Add([]byte(`{"model":"a\\","MoDeL":"\"}\\\\","x":["model",{"model":1}],"model":[{"]":"["}]}`), uint64(7))
	f.Fuzz(func(t *testing.T, body []byte, seed uint64) {
		checkBody(t, body, seed)
		gen := genObject(body)
		require.True(t, json.Valid(gen), "generated %q", gen)
		checkBody(t, gen, seed)
	})
}

// checkBody checks one fuzz body: every member's invariants, the same result
// for random chunks and 1-byte chunks, and, when encoding/json accepts the
// body, the same model members and final state as encoding/json.
func checkBody(t *testing.T, body []byte, seed uint64) {
	whole := scanChunks(t, [][]byte{body})
	checkMembers(t, body, whole.Members)
	require.Equal(t, whole, scanChunks(t, randomChunks(body, seed)), "random chunks")
	if len(body) <= 4096 {
		ones := make([][]byte, len(body))
		for i := range body {
			ones[i] = body[i : i+1]
		}
		require.Equal(t, whole, scanChunks(t, ones), "1-byte chunks")
	}
	if !json.Valid(body) {
		return
	}
	want, isObject := jsonModels(t, body)
	if !isObject {
		require.Equal(t, NotObject, whole.Final)
		return
	}
	require.Equal(t, Complete, whole.State)
	require.Equal(t, want, whole.Members)
}

// TestScanner_AgreesWithEncodingJSON compares the scanner with
// encoding/json on every case encoding/json accepts (the others have no
// reference answer; their own tests say what the scanner does with them).
func TestScanner_AgreesWithEncodingJSON(t *testing.T) {
	compared := 0
	for _, tc := range scanCases() {
		body := []byte(tc.body)
		if !json.Valid(body) {
			continue
		}
		compared++
		t.Run(tc.name, func(t *testing.T) {
			want, isObject := jsonModels(t, body)
			got := scanChunks(t, [][]byte{body})
			if !isObject {
				require.Equal(t, NotObject, got.Final)
				return
			}
			require.Equal(t, Complete, got.Final)
			require.Equal(t, want, got.Members)
		})
	}
	require.Greater(t, compared, len(scanCases())/2, "most cases are valid JSON")
}
