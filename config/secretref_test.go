package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/provider"
)

// fakeEnv makes env the VM's environment for one test.
func fakeEnv(t *testing.T, env map[string]string) {
	t.Helper()
	old := lookupEnv
	lookupEnv = func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	t.Cleanup(func() { lookupEnv = old })
}

func secretsOf(b *ProviderBlock) []string {
	var out []string
	for _, t := range b.Tokens {
		out = append(out, t.Secret())
	}
	return out
}

func TestParse_TokenFromEnvironment(t *testing.T) {
	env := map[string]string{
		"OPENAI_KEY_1": "sk-env-one-7f3a9c",
		"OPENAI_KEY_2": "sk-env-two-91c2d4",
		"WITH_NEWLINE": "sk-env-three-44d0e1\n",
	}
	for _, tc := range []struct {
		name     string
		config   string
		want     []string
		warnings []string
	}{
		{
			name:   "a reference alone",
			config: `provider: {type: openai, apiTokens: ["${env:OPENAI_KEY_1}"]}`,
			want:   []string{"sk-env-one-7f3a9c"},
		},
		{
			name:   "references and inline tokens mixed, in order",
			config: `provider: {type: openai, apiTokens: [sk-inline-a, "${env:OPENAI_KEY_2}", sk-inline-b, "${env:OPENAI_KEY_1}"]}`,
			want:   []string{"sk-inline-a", "sk-env-two-91c2d4", "sk-inline-b", "sk-env-one-7f3a9c"},
		},
		{
			name:   "a YAML block list, unquoted",
			config: "provider:\n  type: openai\n  apiTokens:\n  - ${env:OPENAI_KEY_1}\n  - sk-inline-a\n",
			want:   []string{"sk-env-one-7f3a9c", "sk-inline-a"},
		},
		{
			name:   "JSON, as Higress sends it",
			config: `{"provider": {"type": "openai", "apiTokens": ["${env:OPENAI_KEY_1}", "${env:OPENAI_KEY_2}"]}}`,
			want:   []string{"sk-env-one-7f3a9c", "sk-env-two-91c2d4"},
		},
		{
			name:     "a single string, read as a list of one as Higress does",
			config:   `provider: {type: openai, apiTokens: "${env:OPENAI_KEY_2}"}`,
			want:     []string{"sk-env-two-91c2d4"},
			warnings: []string{"provider.apiTokens: a single string, read as a list of one token"},
		},
		{
			name:     "whitespace around the reference itself is harmless",
			config:   `{"provider": {"type": "openai", "apiTokens": [" ${env:OPENAI_KEY_1}\n"]}}`,
			want:     []string{"sk-env-one-7f3a9c"},
			warnings: nil,
		},
		{
			name:     "a value ending in a newline is trimmed with the inline token's warning",
			config:   `provider: {type: openai, apiTokens: [sk-inline-a, "${env:WITH_NEWLINE}"]}`,
			want:     []string{"sk-inline-a", "sk-env-three-44d0e1"},
			warnings: []string{"provider.apiTokens[1] (${env:WITH_NEWLINE}): surrounding whitespace trimmed"},
		},
		{
			name: "in a rule's provider",
			config: `_rules_: [{_match_route_: [r], provider: {type: openai, apiTokens: ["${env:OPENAI_KEY_1}"]}}]
provider: {type: openai, apiTokens: [sk-inline-a]}`,
			want: []string{"sk-env-one-7f3a9c"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeEnv(t, env)
			c, err := Parse([]byte(tc.config))
			require.NoError(t, err)
			b := c.Global
			if len(c.Rules) > 0 {
				b = c.Rules[0].Block
			}
			require.Equal(t, tc.want, secretsOf(b))
			require.Equal(t, tc.warnings, c.Warnings)
		})
	}
}

// TestParse_TokenReferenceRefused: a reference that cannot be resolved
// refuses the configuration with one line naming the entry (and the
// variable), and no message quotes the entry's value or the variable's.
func TestParse_TokenReferenceRefused(t *testing.T) {
	const value = "sk-env-value-5b8e2f61"
	for _, tc := range []struct {
		name   string
		tokens string
		env    map[string]string
		want   string
	}{
		{
			name:   "variable not set",
			tokens: `["sk-inline-a", "${env:OPENAI_KEY_2}"]`,
			want: "provider.apiTokens[1]: environment variable OPENAI_KEY_2 is not set or empty " +
				"(pass it with vm_config.environment_variables.host_env_keys)",
		},
		{
			name:   "variable empty",
			tokens: `["${env:OPENAI_KEY_1}"]`,
			env:    map[string]string{"OPENAI_KEY_1": ""},
			want: "provider.apiTokens[0]: environment variable OPENAI_KEY_1 is not set or empty " +
				"(pass it with vm_config.environment_variables.host_env_keys)",
		},
		{
			name:   "variable only whitespace",
			tokens: `["${env:OPENAI_KEY_1}"]`,
			env:    map[string]string{"OPENAI_KEY_1": " \n"},
			want: "provider.apiTokens[0]: environment variable OPENAI_KEY_1 is not set or empty " +
				"(pass it with vm_config.environment_variables.host_env_keys)",
		},
		{
			name:   "a control character inside the value, checked as an inline token is",
			tokens: `["sk-inline-a", "${env:OPENAI_KEY_1}"]`,
			env:    map[string]string{"OPENAI_KEY_1": "sk-env-val\nue-5b8e2f61"},
			want:   "provider.apiTokens[1] (${env:OPENAI_KEY_1}): has a character not allowed in a header (byte 0x0a at position 10)",
		},
		{
			name:   "name starting with a digit",
			tokens: `["${env:1KEY}"]`,
			want: "provider.apiTokens[0]: starts like a reference but is not ${env:NAME} " +
				"(NAME: a letter or _, then letters, digits or _); no key starts with ${",
		},
		{
			name:   "no scheme",
			tokens: `["${OPENAI_KEY_1}"]`,
			env:    map[string]string{"OPENAI_KEY_1": value},
			want: "provider.apiTokens[0]: starts like a reference but is not ${env:NAME} " +
				"(NAME: a letter or _, then letters, digits or _); no key starts with ${",
		},
		{
			name:   "unclosed",
			tokens: `["${env:OPENAI_KEY_1"]`,
			env:    map[string]string{"OPENAI_KEY_1": value},
			want: "provider.apiTokens[0]: starts like a reference but is not ${env:NAME} " +
				"(NAME: a letter or _, then letters, digits or _); no key starts with ${",
		},
		{
			name:   "a key pasted into a reference",
			tokens: `["${env:` + value + `}"]`,
			want: "provider.apiTokens[0]: starts like a reference but is not ${env:NAME} " +
				"(NAME: a letter or _, then letters, digits or _); no key starts with ${",
		},
		{
			name:   "a Higress secret reference its controller did not resolve",
			tokens: `["${secret.llm/openai.key}"]`,
			want: "provider.apiTokens[0]: is a Higress secret reference that reached the plugin unresolved: Higress's " +
				"controller (2.1+) replaces ${secret.<namespace>/<name>.<key>} before Envoy sees it, and passes it on as " +
				"written when that Secret or key is missing; outside Higress, write ${env:NAME} and pass NAME with " +
				"vm_config.environment_variables.host_env_keys",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeEnv(t, tc.env)
			c, err := Parse([]byte(`{"provider": {"type": "openai", "apiTokens": ` + tc.tokens + `}}`))
			require.Error(t, err)
			require.Equal(t, tc.want, err.Error())
			require.Nil(t, c.Global)
			all := err.Error() + "\n" + strings.Join(c.Warnings, "\n")
			require.NotContains(t, all, value[3:15])
			require.NotContains(t, all, "sk-env-val")
		})
	}
}

// TestParse_TokenReferenceDuplicates: a key given twice, inline and by
// reference or by two references, is the same token: the later one is
// dropped with the inline duplicate's warning, its fingerprint and no value.
func TestParse_TokenReferenceDuplicates(t *testing.T) {
	const key = "sk-shared-key-0c6a8e2d"
	env := map[string]string{"KEY_A": key, "KEY_B": key + "\n"}
	dropped := func(where string, j int) string {
		return where + ": duplicates apiTokens[" + string(rune('0'+j)) + "] (fingerprint " + provider.Fingerprint(key) +
			"): dropped, as a token's state is kept by position and the same key twice would fail over to itself " +
			"(Higress keeps both); the tokens after it are numbered one lower"
	}
	for _, tc := range []struct {
		name     string
		tokens   string
		want     []string
		warnings []string
	}{
		{
			name:     "inline, then the same key by reference",
			tokens:   `["` + key + `", "sk-other", "${env:KEY_A}"]`,
			want:     []string{key, "sk-other"},
			warnings: []string{dropped("provider.apiTokens[2] (${env:KEY_A})", 0)},
		},
		{
			name:     "by reference, then the same key inline",
			tokens:   `["${env:KEY_A}", "` + key + `"]`,
			want:     []string{key},
			warnings: []string{dropped("provider.apiTokens[1]", 0)},
		},
		{
			name:   "two variables holding the same key (one with a newline)",
			tokens: `["sk-other", "${env:KEY_A}", "${env:KEY_B}"]`,
			want:   []string{"sk-other", key},
			warnings: []string{
				"provider.apiTokens[2] (${env:KEY_B}): surrounding whitespace trimmed",
				dropped("provider.apiTokens[2] (${env:KEY_B})", 1),
			},
		},
		{
			name:     "one variable referenced twice",
			tokens:   `["${env:KEY_A}", "${env:KEY_A}"]`,
			want:     []string{key},
			warnings: []string{dropped("provider.apiTokens[1] (${env:KEY_A})", 0)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeEnv(t, env)
			c, err := Parse([]byte(`{"provider": {"type": "openai", "apiTokens": ` + tc.tokens + `}}`))
			require.NoError(t, err)
			require.Equal(t, tc.want, secretsOf(c.Global))
			require.Equal(t, tc.warnings, c.Warnings)
			require.NotContains(t, strings.Join(c.Warnings, "\n"), key)
		})
	}
}

// TestParse_TokenReferenceKeepsPoolIdentity: the pool id and the tokens'
// fingerprints hash the keys only, so moving a key out of the
// configuration into the environment keeps its state and its name in
// metrics.
func TestParse_TokenReferenceKeepsPoolIdentity(t *testing.T) {
	fakeEnv(t, map[string]string{"K1": "sk-key-one-1a2b3c", "K2": "sk-key-two-4d5e6f"})
	parse := func(tokens string) *ProviderBlock {
		c, err := Parse([]byte(`{"provider": {"type": "openai", "apiTokens": ` + tokens + `, "failover": {"enabled": true}}}`))
		require.NoError(t, err)
		return c.Global
	}
	inline := parse(`["sk-key-one-1a2b3c", "sk-key-two-4d5e6f"]`)
	for name, tokens := range map[string]string{
		"all referenced": `["${env:K1}", "${env:K2}"]`,
		"one referenced": `["sk-key-one-1a2b3c", "${env:K2}"]`,
	} {
		got := parse(tokens)
		require.Equal(t, inline.PoolID, got.PoolID, name)
		require.Equal(t, inline.Name, got.Name, name)
		for i := range inline.Tokens {
			require.Equal(t, inline.Tokens[i].Fingerprint, got.Tokens[i].Fingerprint, name)
			require.Equal(t, inline.Tokens[i].ID, got.Tokens[i].ID, name)
		}
	}
	require.NotEqual(t, inline.PoolID, parse(`["${env:K2}", "${env:K1}"]`).PoolID, "state is kept by position")
}

func TestEnvRef_Syntax(t *testing.T) {
	for _, tc := range []struct {
		entry string
		name  string
		ref   bool
	}{
		{"${env:OPENAI_KEY_1}", "OPENAI_KEY_1", true},
		{"${env:_x}", "_x", true},
		{"${env:a1}", "a1", true},
		{"sk-proj-abc", "", false},
		{"$abc", "", false},
		{"env:OPENAI_KEY_1", "", false},
		{"${env:}", "", true},
		{"${env:A-B}", "", true},
		{"${env:A.B}", "", true},
		{"${env:A}x", "", true},
		{"${env: A}", "", true},
		{"${ENV:A}", "", true},
		{"${secret.ns/name.key}", "", true},
	} {
		name, ref := envRef(tc.entry)
		require.Equal(t, tc.name, name, tc.entry)
		require.Equal(t, tc.ref, ref, tc.entry)
	}
}
