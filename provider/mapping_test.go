package provider

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMapping_Precedence(t *testing.T) {
	m, err := CompileMapping([]MappingEntry{
		{"~gpt-4(.*)", "regex-$1"}, // written first, but prefixes win over regexes
		{"gpt-4*", "prefix-short"},
		{"gpt-4-turbo*", "prefix-long"},
		{"gpt-4o", "exact"},
		{"~^claude-(\\d)", "c$1"},
		{"~.*", "any-regex"},
		{"keep-me", ""},
		{"*", "default"},
	})
	require.NoError(t, err)
	tests := []struct{ in, want string }{
		{"gpt-4o", "exact"},
		{"gpt-4-turbo-2024", "prefix-long"},
		{"gpt-4", "prefix-short"},
		{"claude-3-opus", "c3-opus"},
		{"llama", "any-regex"},
		{"keep-me", "keep-me"},
	}
	for i := 0; i < 50; i++ { // deterministic on every run, whatever map order Go picks
		for _, tc := range tests {
			require.Equal(t, tc.want, m.Map(tc.in), tc.in)
		}
	}
}

func TestMapping_RegexReplacesOnlyWhatItMatchedLikeHigress(t *testing.T) {
	m, err := CompileMapping([]MappingEntry{{"~^o(\\d)", "qwen-o$1"}, {"~-preview$", ""}, {"~^gpt-(.*)-turbo$", "$1-fast"}})
	require.NoError(t, err)
	for in, want := range map[string]string{
		"o1-mini":         "qwen-o1-mini",
		"o3":              "qwen-o3",
		"x-preview":       "x-preview", // an empty target keeps the model
		"gpt-4-turbo":     "4-fast",
		"unmatched-model": "unmatched-model",
	} {
		require.Equal(t, want, m.Map(in), in)
	}
}

func TestMapping_StarAndEmptyTarget(t *testing.T) {
	m, err := CompileMapping([]MappingEntry{{"gpt-3", "qwen-turbo"}, {"gpt-4-turbo", "qwen-max"}, {"*", "qwen-long"}})
	require.NoError(t, err)
	require.Equal(t, "qwen-turbo", m.Map("gpt-3"))
	require.Equal(t, "qwen-max", m.Map("gpt-4-turbo"))
	require.Equal(t, "qwen-long", m.Map("other"))
	m, _ = CompileMapping([]MappingEntry{{"*", ""}})
	require.Equal(t, "other", m.Map("other"))
	_, err = CompileMapping([]MappingEntry{{"~(unclosed", "x"}})
	require.ErrorContains(t, err, `key "~(unclosed": invalid regex`)
}

func TestRewritePathModel_Gemini(t *testing.T) {
	m, _ := CompileMapping([]MappingEntry{{"gpt-4*", "gemini-2.5-pro"}})
	out, ok := RewritePathModel("/v1beta/models/gpt-4o:streamGenerateContent?alt=sse", m)
	require.True(t, ok)
	require.Equal(t, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", out)
	_, ok = RewritePathModel("/v1beta/models", m)
	require.False(t, ok)
}

func TestJSONString_MatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "gpt-4o", `a"b\\c`, "tab\tnl\n\x00\x1f", "<&>", "\u2028\u2029", "h\u00e9llo \U0001F600", "bad\xffutf8"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), jsonString(s), "%q", s)
	}
}

func FuzzJSONString(f *testing.F) {
	f.Add("gpt-4\u00e9\x01")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := jsonString(s); got != string(want) {
			t.Fatalf("jsonString(%q) = %s, encoding/json says %s", s, got, want)
		}
	})
}

func TestStripQueryParam_DropsOnlyThatParameter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/v1beta/models/g:generateContent?key=client-key", "/v1beta/models/g:generateContent"},
		{"/v1beta/models/g:streamGenerateContent?alt=sse&key=k", "/v1beta/models/g:streamGenerateContent?alt=sse"},
		{"/v1beta/models/g:streamGenerateContent?key=k&alt=sse&key=j", "/v1beta/models/g:streamGenerateContent?alt=sse"},
		{"/v1beta/models?keys=1", "/v1beta/models?keys=1"},
		{"/v1beta/models", "/v1beta/models"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, StripQueryParam(tc.in, "key"), tc.in)
	}
}

// TestMapping_DiffersFromHigressOnPurpose pins the two regex-key details we
// do not copy from Higress (see Mapping).
func TestMapping_DiffersFromHigressOnPurpose(t *testing.T) {
	m, err := CompileMapping([]MappingEntry{{"~gpt-.*", "qwen"}})
	require.NoError(t, err)
	require.Equal(t, "qwen", m.Map("gpt-4o"), "the key keeps its trailing *: Higress gives qweno")
	m, err = CompileMapping([]MappingEntry{{"~gpt-", ""}})
	require.NoError(t, err)
	require.Equal(t, "gpt-4", m.Map("gpt-4"), "an empty target keeps the model: Higress gives 4")
	m, err = CompileMapping([]MappingEntry{{"gpt-4*", ""}, {"*", "fallback"}})
	require.NoError(t, err)
	require.Equal(t, "gpt-4o", m.Map("gpt-4o"), "an empty prefix target keeps the model and does not fall through to *, as in Higress")
}

func TestMapping_Constant(t *testing.T) {
	for _, tc := range []struct {
		entries []MappingEntry
		want    string
		ok      bool
	}{
		{[]MappingEntry{{"*", "dep"}}, "dep", true},
		{[]MappingEntry{{"*", ""}}, "", false},
		{[]MappingEntry{{"*", "dep"}, {"gpt-4", "other"}}, "", false},
		{nil, "", false},
	} {
		m, err := CompileMapping(tc.entries)
		require.NoError(t, err)
		got, ok := m.Constant()
		require.Equal(t, tc.want, got)
		require.Equal(t, tc.ok, ok)
	}
	var nilMapping *Mapping
	_, ok := nilMapping.Constant()
	require.False(t, ok)
}
