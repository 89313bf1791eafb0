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
		{"claude-3-opus", "c3"},
		{"llama", "any-regex"},
		{"keep-me", "keep-me"},
	}
	for i := 0; i < 50; i++ { // deterministic on every run, whatever map order Go picks
		for _, tc := range tests {
			require.Equal(t, tc.want, m.Map(tc.in), tc.in)
		}
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

func TestRewriteBodyModel_SplicesOnlyTheModel(t *testing.T) {
	m, _ := CompileMapping([]MappingEntry{{"gpt-4", "qwen-max"}, {"*", "qwen-turbo"}})
	tests := []struct {
		name, in, want string
		changed        bool
	}{
		{"keeps order and spacing", "{\n  \"messages\" : [ ],\n  \"model\":   \"gpt-4\" ,\"x\":1}", "{\n  \"messages\" : [ ],\n  \"model\":   \"qwen-max\" ,\"x\":1}", true},
		{"keeps unicode escapes", `{"a":"\u00e9\ud83d\ude00","model":"gpt-4"}`, `{"a":"\u00e9\ud83d\ude00","model":"qwen-max"}`, true},
		{"escaped model value", `{"model":"gpt\u002d4"}`, `{"model":"qwen-max"}`, true},
		{"nested model untouched", `{"x":{"model":"gpt-4"},"model":"a"}`, `{"x":{"model":"gpt-4"},"model":"qwen-turbo"}`, true},
		{"not json", `model=gpt-4`, `model=gpt-4`, false},
		{"truncated json", `{"model":"gpt-4"`, `{"model":"gpt-4"`, false},
		{"no model", `{"messages":[]}`, `{"messages":[]}`, false},
		{"number model", `{"model":4}`, `{"model":4}`, false},
		{"null model", `{"model":null}`, `{"model":null}`, false},
		{"array body", `["model","gpt-4"]`, `["model","gpt-4"]`, false},
		{"empty", ``, ``, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed := RewriteBodyModel([]byte(tc.in), m)
			require.Equal(t, tc.changed, changed)
			require.Equal(t, tc.want, string(out))
		})
	}
}

func TestRewritePathModel_Gemini(t *testing.T) {
	m, _ := CompileMapping([]MappingEntry{{"gpt-4*", "gemini-2.5-pro"}})
	out, ok := RewritePathModel("/v1beta/models/gpt-4o:streamGenerateContent?alt=sse", m)
	require.True(t, ok)
	require.Equal(t, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", out)
	_, ok = RewritePathModel("/v1beta/models", m)
	require.False(t, ok)
}

func FuzzRewriteBodyModel(f *testing.F) {
	for _, s := range []string{`{"model":"gpt-4"}`, `{"model":"x","a":[1,2,{"model":"y"}]}`, `{"model":"\u0067pt-4"}`, `not json`, `{"model":1}`, ``} {
		f.Add([]byte(s))
	}
	m, _ := CompileMapping([]MappingEntry{{"gpt-4", "qwen-max"}, {"~^(.+)-mini$", "$1"}, {"*", "dflt"}})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, changed := RewriteBodyModel(in, m)
		if !changed {
			if string(out) != string(in) {
				t.Fatalf("unchanged body differs")
			}
			return
		}
		model, ok := BodyModel(out)
		if !ok {
			t.Fatalf("rewritten body lost its model: %q", out)
		}
		orig, _ := BodyModel(in)
		if model != m.Map(orig) {
			t.Fatalf("model %q, want %q", model, m.Map(orig))
		}
	})
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
