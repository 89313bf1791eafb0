package modelscan

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// result is everything a scan of one body yields.
type result struct {
	Members []Member
	State   State // before End
	Final   State // after End
	Offset  int64
}

// scanChunks feeds chunks in order, checking Feed's contract on the way.
func scanChunks(t testing.TB, chunks [][]byte) result {
	var s Scanner
	var r result
	for _, c := range chunks {
		for {
			n, m, found := s.Feed(c)
			if !found {
				require.Equal(t, len(c), n, "n without a member")
				break
			}
			require.True(t, n >= 0 && n <= len(c), "n out of range")
			require.Equal(t, m.End, s.Offset(), "Offset after a member")
			require.Less(t, m.Start, m.End)
			_, pending := s.Pending()
			require.False(t, pending, "pending after its member")
			r.Members = append(r.Members, m)
			c = c[n:]
		}
	}
	r.State, r.Offset = s.State(), s.Offset()
	r.Final = end(&s)
	return r
}

// splits yields body whole, in every two-way split (a sample of them for a
// long body: both ends and a stride through the middle) and in 1-byte chunks.
func splits(body []byte) [][][]byte {
	out := [][][]byte{{body}}
	for i := 0; i <= len(body); i++ {
		if len(body) > 4096 && i > 512 && i < len(body)-512 && i%997 != 0 {
			continue
		}
		out = append(out, [][]byte{body[:i], body[i:]})
	}
	ones := make([][]byte, len(body))
	for i := range body {
		ones[i] = body[i : i+1]
	}
	return append(out, ones)
}

// str is an expected string member with the exact key "model".
func str(start int64, raw, value string) Member {
	return Member{Start: start, End: start + int64(len(raw)), String: true, Value: value, ExactKey: true}
}

// other is an expected non-string member with the exact key "model".
func other(start int64, raw string) Member {
	return Member{Start: start, End: start + int64(len(raw)), ExactKey: true}
}

// inexact is m with a key that equals "model" only ignoring case.
func inexact(m Member) Member { m.ExactKey = false; return m }

type scanCase struct {
	name  string
	body  string
	want  []Member
	state State // before End
	final State // after End
}

func scanCases() []scanCase {
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	long := strings.Repeat("x", 298)
	cases := []scanCase{
		{name: "model first", body: `{"model":"gpt-4o","messages":[]}`,
			want: []Member{str(9, `"gpt-4o"`, "gpt-4o")}, state: Complete, final: Complete},
		{name: "model last", body: `{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o"}`,
			want: []Member{str(53, `"gpt-4o"`, "gpt-4o")}, state: Complete, final: Complete},
		{name: "model absent", body: `{"messages":[],"stream":true}`, state: Complete, final: Complete},
		{name: "empty object", body: `{}`, state: Complete, final: Complete},
		{name: "three duplicates", body: `{"model":"a","x":1,"model":"b","model":"c"}`,
			want:  []Member{str(9, `"a"`, "a"), str(27, `"b"`, "b"), str(39, `"c"`, "c")},
			state: Complete, final: Complete},
		{name: "keys differing in case", body: `{"Model":"a","MODEL":"b","model":"c"}`,
			want:  []Member{inexact(str(9, `"a"`, "a")), inexact(str(21, `"b"`, "b")), str(33, `"c"`, "c")},
			state: Complete, final: Complete},
		{name: "escaped key", body: `{"mod\u0065l":"x"}`,
			want: []Member{str(14, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "fully escaped key", body: `{"\u006d\u006f\u0064\u0065\u006c":"x"}`,
			want: []Member{str(34, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "fully escaped key in other case", body: `{"\u006D\u006F\u0044\u0065\u006C":"x"}`,
			want: []Member{inexact(str(34, `"x"`, "x"))}, state: Complete, final: Complete},
		{name: "keys that are not model", body: `{"mode":1,"models":2,"model ":3,"mod\"el":4,"":5,"m\u00f6del":6,"modelmodelmodelmodelmodelmodel1":7,"mod\qel":8}`,
			state: Complete, final: Complete},
		{name: "nested model keys", body: `{"a":{"model":"x"},"b":[{"model":"y"}],"c":"\"model\":\"z\"","d":[[{"e":{"model":1}}]]}`,
			state: Complete, final: Complete},
		{name: "non-string values", body: `{"model":42,"model":null,"model":{"a":"}"},"model":[1,[2]],"model":-1.5e3}`,
			want:  []Member{other(9, `42`), other(20, `null`), other(33, `{"a":"}"}`), other(51, `[1,[2]]`), other(67, `-1.5e3`)},
			state: Complete, final: Complete},
		{name: "too long", body: `{"model":"` + long + `"}`,
			want:  []Member{{Start: 9, End: 309, String: true, TooLong: true, ExactKey: true}},
			state: Complete, final: Complete},
		{name: "longest plain", body: `{"model":"` + long[:MaxModelBytes] + `"}`,
			want: []Member{str(9, `"`+long[:MaxModelBytes]+`"`, long[:MaxModelBytes])}, state: Complete, final: Complete},
		{name: "NaN and Infinity elsewhere", body: `{"t":NaN,"u":Infinity,"v":-Infinity,"model":"x","w":[NaN,-Infinity]}`,
			want: []Member{str(44, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "NaN and Infinity as model", body: `{"model":NaN,"model":-Infinity}`,
			want: []Member{other(9, "NaN"), other(21, "-Infinity")}, state: Complete, final: Complete},
		{name: "whitespace everywhere", body: " \n{ \"model\" : \"x\" , \"y\" : 1 }\n",
			want: []Member{str(14, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "UTF-8 BOM", body: "\xEF\xBB\xBF{\"model\":\"x\"}",
			want: []Member{str(12, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "broken UTF-8 BOM", body: "\xEF\xBB{\"model\":\"x\"}", state: NotObject, final: NotObject},
		{name: "UTF-16LE with BOM", body: "\xFF\xFE{\x00\"\x00m\x00", state: NotUTF8, final: NotUTF8},
		{name: "UTF-16LE", body: "{\x00\"\x00m\x00o\x00", state: NotUTF8, final: NotUTF8},
		{name: "UTF-16BE with BOM", body: "\xFE\xFF\x00{\x00\"", state: NotUTF8, final: NotUTF8},
		{name: "UTF-16BE", body: "\x00{\x00\"\x00m", state: NotUTF8, final: NotUTF8},
		{name: "UTF-32LE", body: "{\x00\x00\x00\"\x00\x00\x00", state: NotUTF8, final: NotUTF8},
		{name: "UTF-16LE after a space", body: " \x00{\x00", state: NotUTF8, final: NotUTF8},
		{name: "NUL after the object closed", body: "{}\x00\x00", state: Complete, final: Complete},
		{name: "array", body: `[{"model":"x"}]`, state: NotObject, final: NotObject},
		{name: "string", body: `"model"`, state: NotObject, final: NotObject},
		{name: "empty", body: ``, state: Scanning, final: NotObject},
		{name: "whitespace only", body: " \r\n\t ", state: Scanning, final: NotObject},
		{name: "deep nesting before model", body: `{"a":` + deep + `,"model":"x"}`,
			want: []Member{str(int64(14+len(deep)), `"x"`, "x")}, state: Complete, final: Complete},
		{name: "deep nesting after model", body: `{"model":"x","a":` + deep + `}`,
			want: []Member{str(9, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "deep nesting as model", body: `{"model":` + deep + `}`,
			want: []Member{other(9, deep)}, state: Complete, final: Complete},
		{name: "deep nesting unclosed", body: `{"a":` + deep[:100_000], state: Scanning, final: Invalid},
		{name: "strings with brackets quotes and backslashes",
			body: `{"a":"]}\"\\","b":["[{\"\\\\\"]",{"c":"}}}"}],"model":"x\\\"y"}`,
			want: []Member{str(54, `"x\\\"y"`, `x\"y`)}, state: Complete, final: Complete},
		{name: "escapes in model", body: `{"model":"gpt\u002d4o\/\b\f\n\r\t\ud83d\ude00"}`,
			want:  []Member{str(9, `"gpt\u002d4o\/\b\f\n\r\t\ud83d\ude00"`, "gpt-4o/\b\f\n\r\t\U0001F600")},
			state: Complete, final: Complete},
		{name: "unpaired surrogates", body: `{"model":"\ud83d\ud83d\ude00\ude00x"}`,
			want:  []Member{str(9, `"\ud83d\ud83d\ude00\ude00x"`, "\uFFFD\U0001F600\uFFFDx")},
			state: Complete, final: Complete},
		{name: "invalid UTF-8 and control characters", body: "{\"model\":\"a\xff\xed\xa0\x80\tb\"}",
			want:  []Member{str(9, "\"a\xff\xed\xa0\x80\tb\"", "a\uFFFD\uFFFD\uFFFD\uFFFD\tb")},
			state: Complete, final: Complete},
		{name: "unknown escape", body: `{"model":"a\qb","model":"c"}`,
			want:  []Member{{Start: 9, End: 15, String: true, BadEscape: true, ExactKey: true}, str(24, `"c"`, "c")},
			state: Complete, final: Complete},
		{name: "short unicode escape", body: `{"model":"\u12"}`,
			want: []Member{{Start: 9, End: 15, String: true, BadEscape: true, ExactKey: true}}, state: Complete, final: Complete},
		{name: "escapes after long clean runs",
			body: `{"a":"` + strings.Repeat("x", 100) + `\"` + strings.Repeat("y", 70) + `\\\"` + strings.Repeat("z", 80) + `","model":"x"}`,
			want: []Member{str(272, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "long key", body: `{"` + strings.Repeat("k", 100) + `":1,"model":"x"}`,
			want: []Member{str(114, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "runs of escapes", body: `{"a":"\u4f60\u597d\"\"\\\\","model":"x"}`,
			want: []Member{str(36, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "string ending in an escaped backslash", body: `{"a":"x\\","model":"y"}`,
			want: []Member{str(19, `"y"`, "y")}, state: Complete, final: Complete},
		{name: "long model with escapes", body: `{"model":"` + strings.Repeat("m", 120) + `\n` + strings.Repeat("n", 120) + `"}`,
			want:  []Member{str(9, `"`+strings.Repeat("m", 120)+`\n`+strings.Repeat("n", 120)+`"`, strings.Repeat("m", 120)+"\n"+strings.Repeat("n", 120))},
			state: Complete, final: Complete},
		{name: "empty model", body: `{"model":""}`, want: []Member{str(9, `""`, "")}, state: Complete, final: Complete},
		{name: "empty key before model", body: `{"":1,"model":"x"}`,
			want: []Member{str(14, `"x"`, "x")}, state: Complete, final: Complete},
		{name: "trailing bytes ignored", body: `{"a":1} {"model":"x"}`, state: Complete, final: Complete},
		{name: "truncated in model string", body: `{"model":"gpt-4`, state: Scanning, final: Invalid},
		{name: "truncated in key", body: `{"mod`, state: Scanning, final: Invalid},
		{name: "truncated after model scalar", body: `{"model":12`, state: Scanning, final: Invalid},
		{name: "missing colon", body: `{"model" "x"}`, state: Invalid, final: Invalid},
		{name: "missing comma", body: `{"a":1 "model":"x"}`, state: Invalid, final: Invalid},
		{name: "missing value", body: `{"a":,"model":"x"}`, state: Invalid, final: Invalid},
		{name: "trailing comma", body: `{"model":"x",}`,
			want: []Member{str(9, `"x"`, "x")}, state: Invalid, final: Invalid},
		{name: "key not a string", body: `{model:"x"}`, state: Invalid, final: Invalid},
		{name: "comma first", body: `{,"model":"x"}`, state: Invalid, final: Invalid},
	}
	return append(cases, boundCases()...)
}

func TestScanner_Behaviour(t *testing.T) {
	for _, tc := range scanCases() {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			r := scanChunks(t, [][]byte{body})
			require.Equal(t, tc.want, r.Members)
			require.Equal(t, tc.state, r.State)
			require.Equal(t, tc.final, r.Final)
		})
	}
}

func TestScanner_ChunkingIndependent(t *testing.T) {
	for _, tc := range scanCases() {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			whole := scanChunks(t, [][]byte{body})
			for _, chunks := range splits(body) {
				got := scanChunks(t, chunks)
				if len(chunks) == 2 {
					require.Equal(t, whole, got, "split at %d", len(chunks[0]))
				} else {
					require.Equal(t, whole, got, "%d chunks", len(chunks))
				}
			}
		})
	}
}

func TestScanner_Pending(t *testing.T) {
	type step struct {
		chunk   string
		members int   // members found in this chunk
		start   int64 // Pending's start after the chunk, -1 for none
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "string value across chunks", steps: []step{
			{chunk: `{"model":`, start: -1},
			{chunk: `"gpt`, start: 9},
			{chunk: `-4o"`, members: 1, start: -1},
			{chunk: `}`, start: -1},
		}},
		{name: "scalar ends at the next chunk's delimiter", steps: []step{
			{chunk: `{"model":12`, start: 9},
			{chunk: `3}`, members: 1, start: -1},
		}},
		{name: "scalar delimiter first in chunk", steps: []step{
			{chunk: `{"model":123`, start: 9},
			{chunk: `,"a":1}`, members: 1, start: -1},
		}},
		{name: "nested value across chunks", steps: []step{
			{chunk: `{"x":1,"model":[`, start: 15},
			{chunk: `"]"]`, members: 1, start: -1},
		}},
		{name: "not pending for other keys", steps: []step{
			{chunk: `{"modelx":"gpt`, start: -1},
		}},
		{name: "scalar reported before the error after it", steps: []step{
			{chunk: `{"model":1 2`, members: 1, start: -1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s Scanner
			for _, st := range tc.steps {
				c, got := []byte(st.chunk), 0
				for {
					n, _, found := s.Feed(c)
					if !found {
						break
					}
					got++
					c = c[n:]
				}
				require.Equal(t, st.members, got, "members in %q", st.chunk)
				start, ok := s.Pending()
				if st.start < 0 {
					require.False(t, ok, "pending after %q", st.chunk)
				} else {
					require.True(t, ok, "pending after %q", st.chunk)
					require.Equal(t, st.start, start)
				}
			}
		})
	}
}

func TestScanner_EndDropsPending(t *testing.T) {
	var s Scanner
	_, _, found := s.Feed([]byte(`{"model":"gpt-4`))
	require.False(t, found)
	start, ok := s.Pending()
	require.True(t, ok)
	require.Equal(t, int64(9), start)
	require.Equal(t, Invalid, end(&s))
	_, ok = s.Pending()
	require.False(t, ok)
}

func TestScanner_ResetReuses(t *testing.T) {
	var s Scanner
	_, _, found := s.Feed([]byte(`{"model":"gpt-4`))
	require.False(t, found)
	s.Reset()
	n, m, found := s.Feed([]byte(`{"model":"o1"}`))
	require.True(t, found)
	require.Equal(t, 13, n)
	require.Equal(t, str(9, `"o1"`, "o1"), m)
}

func TestScanner_FeedAfterDecided(t *testing.T) {
	var s Scanner
	n, _, found := s.Feed([]byte(`{} {"model":"x"}`))
	require.False(t, found)
	require.Equal(t, 16, n)
	require.Equal(t, Complete, s.State())
	require.Equal(t, int64(2), s.Offset())
	n, _, found = s.Feed([]byte(`{"model":"x"}`))
	require.False(t, found)
	require.Equal(t, 13, n)
	require.Equal(t, int64(2), s.Offset())
}

func TestScanner_Allocations(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		allocs float64
	}{
		{name: "no model", body: `{"messages":[{"role":"user","content":"a \"b\" [c]"}],"stream":true}`},
		{name: "non-string model", body: `{"model":{"a":[1]},"x":1}`},
		{name: "too long model", body: `{"model":"` + strings.Repeat("x", 300) + `"}`},
		{name: "too long escaped model", body: `{"model":"` + escapeAll(modelID(MaxModelBytes+1)) + `"}`},
		{name: "bad escape model", body: `{"model":"\q"}`},
		{name: "string model decodes once", body: `{"model":"gpt-4o","messages":[]}`, allocs: 1},
		{name: "escaped model at the bound decodes once", body: `{"model":"` + escapeAll(modelID(MaxModelBytes)) + `"}`, allocs: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			var s Scanner
			got := testing.AllocsPerRun(100, func() {
				s.Reset()
				for c := body; len(c) > 0; {
					n, _, found := s.Feed(c)
					c = c[n:]
					if !found {
						break
					}
				}
			})
			require.Equal(t, tc.allocs, got)
		})
	}
}

func TestState_String(t *testing.T) {
	require.Equal(t, "scanning", Scanning.String())
	require.Equal(t, "complete", Complete.String())
	require.Equal(t, "not-object", NotObject.String())
	require.Equal(t, "not-utf8", NotUTF8.String())
	require.Equal(t, "invalid", Invalid.String())
	require.Equal(t, "unknown", State(99).String())
}

// end tells s that the body has ended and returns the final state. A body
// that ended while Scanning becomes NotObject when no '{' was seen (empty or
// whitespace only) and Invalid otherwise (truncated: a pending model value
// is dropped). Other states stay as they are.
func end(s *Scanner) State {
	if s.state == Scanning {
		s.state = Invalid
		if s.phase <= phBOM2 {
			s.state = NotObject
		}
		s.pending = false
	}
	return s.state
}
