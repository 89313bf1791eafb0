package modelscan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// escapeAll spells every byte of s, which must be ASCII, as a \u00XX escape:
// six raw bytes per decoded byte, the most any spelling takes.
func escapeAll(s string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, `\u%04x`, s[i])
	}
	return b.String()
}

// modelID is an ASCII model id of n bytes, cut from a long realistic one.
func modelID(n int) string {
	const id = "accounts/fireworks/models/llama-v3p1-405b-instruct-long-context/"
	return strings.Repeat(id, n/len(id)+1)[:n]
}

// mixRaw decodes to mixText, 16 bytes, with every spelling there is: a
// surrogate pair, \u escapes of one, two and three bytes, a short escape,
// raw UTF-8 and plain ASCII.
const (
	mixRaw  = `\ud83d\ude00\u00e9\u0041\u4f60\n日x\/`
	mixText = "😀éA你\n日x/"
)

// modelBody is a body whose model member is the string with raw text
// content (quotes excluded), starting at offset 9.
func modelBody(content string) string { return `{"model":"` + content + `"}` }

// tooLong is the expected member for raw text content at offset 9.
func tooLong(content string) Member {
	return Member{Start: 9, End: 9 + int64(len(content)) + 2, String: true, TooLong: true, ExactKey: true}
}

// boundCases are model values at the decoded bound, MaxModelBytes, spelled
// every way; they join scanCases, so they are also scanned in every split,
// fuzzed and checked against encoding/json.
func boundCases() []scanCase {
	type value struct {
		name    string
		content string // raw, quotes excluded
		decoded string // "" for TooLong or BadEscape
		bad     bool
	}
	x := func(n int) string { return strings.Repeat("x", n) }
	mix := strings.Repeat(mixRaw, MaxModelBytes/len(mixText))
	pairs := strings.Repeat(`\ud83d\ude00`, MaxModelBytes/4)
	values := []value{
		{name: "43-byte id fully escaped", content: escapeAll(modelID(43)), decoded: modelID(43)},
		{name: "60-byte id fully escaped", content: escapeAll(modelID(60)), decoded: modelID(60)},
		{name: "256-byte id fully escaped", content: escapeAll(modelID(MaxModelBytes)), decoded: modelID(MaxModelBytes)},
		{name: "257-byte id fully escaped", content: escapeAll(modelID(MaxModelBytes + 1))},
		{name: "257 plain bytes", content: x(MaxModelBytes + 1)},
		{name: "every spelling at the bound", content: mix, decoded: strings.Repeat(mixText, MaxModelBytes/len(mixText))},
		{name: "every spelling past the bound", content: mix + `\u0041`},
		{name: "surrogate pairs at the bound", content: pairs, decoded: strings.Repeat("😀", MaxModelBytes/4)},
		{name: "surrogate pairs past the bound", content: pairs + `\ud83d\ude00`},
		{name: "surrogate pair ending at the bound", content: x(MaxModelBytes-4) + `\ud83d\ude00`, decoded: x(MaxModelBytes-4) + "😀"},
		{name: "surrogate pair crossing the bound", content: x(MaxModelBytes-3) + `\ud83d\ude00`},
		{name: "unpaired surrogate at the bound", content: x(MaxModelBytes-4) + `\ud83d\u0041`, decoded: x(MaxModelBytes-4) + "\uFFFDA"},
		{name: "unpaired surrogate past the bound", content: x(MaxModelBytes-3) + `\ud83d\u0041`},
		{name: "invalid UTF-8 at the bound", content: x(MaxModelBytes-3) + "\xff", decoded: x(MaxModelBytes-3) + "\uFFFD"},
		{name: "invalid UTF-8 past the bound", content: x(MaxModelBytes-2) + "\xff"},
		{name: "raw UTF-8 at the bound", content: x(MaxModelBytes-3) + "日", decoded: x(MaxModelBytes-3) + "日"},
		{name: "raw UTF-8 past the bound", content: x(MaxModelBytes-2) + "日"},
		{name: "bad escape past the bound", content: x(MaxModelBytes+1) + `\q`},
		{name: "bad escape then a long value", content: `\q` + x(300), bad: true},
		{name: "bad escape then a raw text past its bound", content: `\q` + x(MaxModelRawBytes)},
	}
	cases := make([]scanCase, 0, len(values)+1)
	for _, v := range values {
		want := tooLong(v.content)
		switch {
		case v.bad:
			want.TooLong, want.BadEscape = false, true
		case v.decoded != "":
			want = str(9, `"`+v.content+`"`, v.decoded)
		}
		cases = append(cases, scanCase{name: v.name, body: modelBody(v.content),
			want: []Member{want}, state: Complete, final: Complete})
	}
	escaped := `"` + escapeAll(modelID(60)) + `"`
	body := `{"model":` + escaped + `,"messages":[{"role":"user","content":"hi"}],"model":` + escaped + `}`
	return append(cases, scanCase{name: "escaped ids around other members", body: body,
		want: []Member{str(9, escaped, modelID(60)),
			str(int64(strings.LastIndex(body, escaped)), escaped, modelID(60))},
		state: Complete, final: Complete})
}

func TestScanner_DecodedBound(t *testing.T) {
	require.Equal(t, MaxModelRawBytes, len(`"`+escapeAll(modelID(MaxModelBytes))+`"`))
	for _, tc := range boundCases() {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			for i := 0; i <= len(body); i++ {
				got := scanChunks(t, [][]byte{body[:i], body[i:]})
				require.Equal(t, tc.want, got.Members, "split at %d", i)
				require.Equal(t, tc.final, got.Final, "split at %d", i)
			}
		})
	}
}

func TestUnquote_StopsBeforeWhatRawCutsShort(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		final bool
		out   string
		used  int
		ok    bool
	}{
		{name: "backslash", raw: `ab\`, out: "ab", used: 2, ok: true},
		{name: "backslash at the end", raw: `ab\`, final: true, out: "ab", used: 2},
		{name: "unicode escape", raw: `a\u00e`, out: "a", used: 1, ok: true},
		{name: "unicode escape at the end", raw: `a\u00e`, final: true, out: "a", used: 1},
		{name: "high surrogate, the most left over", raw: `\ud83d\ude0`, out: "", used: 0, ok: true},
		{name: "high surrogate and its pair", raw: `\ud83d\ude00`, out: "😀", used: 12, ok: true},
		{name: "high surrogate and six other bytes", raw: `\ud83dabcdef`, out: "\uFFFDabcdef", used: 12, ok: true},
		{name: "high surrogate at the end", raw: `\ud83d`, final: true, out: "\uFFFD", used: 6, ok: true},
		{name: "low surrogate needs nothing after it", raw: `\ude00`, out: "\uFFFD", used: 6, ok: true},
		{name: "UTF-8 sequence", raw: "a\xe6\x97", out: "a", used: 1, ok: true},
		{name: "UTF-8 sequence at the end", raw: "a\xe6\x97", final: true, out: "a\uFFFD\uFFFD", used: 3, ok: true},
		{name: "invalid UTF-8", raw: "a\xff", out: "a\uFFFD", used: 2, ok: true},
		{name: "bad escape", raw: `a\qb`, out: "a", used: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, used, ok := unquote(nil, []byte(tc.raw), tc.final, MaxModelBytes)
			require.Equal(t, tc.out, string(out))
			require.Equal(t, tc.used, used)
			require.Equal(t, tc.ok, ok)
			require.LessOrEqual(t, len(tc.raw)-used, maxPartial)
		})
	}
}

func TestUnquote_StopsPastLimit(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		out  string
	}{
		{name: "plain run", raw: "abcdefgh", out: "abcdef"},
		{name: "escapes", raw: `\u0061\u0062\u0063\u0064\u0065\u0066\u0067`, out: "abcdef"},
		{name: "a rune crossing the limit", raw: "abcd日ef", out: "abcd日"},
		{name: "bad escape after the limit", raw: `abcdefg\q`, out: "abcdef"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf [5 + 4]byte
			out, _, ok := unquote(buf[:0], []byte(tc.raw), true, 5)
			require.True(t, ok)
			require.Equal(t, tc.out, string(out))
			require.Equal(t, &buf[0], &out[0], "dst grew")
		})
	}
}
