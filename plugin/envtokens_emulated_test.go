package plugin_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

// envKeys are keys that reach the VM only through its environment, as
// Envoy's vm_config.environment_variables.host_env_keys passes them.
var envKeys = []string{"sk-env-3c9e71a05b2d8f46", "sk-env-8a41d6f2c07e9b53"}

// withVMEnv gives the VMs an environment ("KEY=value").
func withVMEnv(env ...string) func(*wasmhost.Options) {
	return func(o *wasmhost.Options) { o.Env = env }
}

// captured is everything the emulator recorded that an operator could
// read: logs, metric names, shared data and local replies.
func captured(h *wasmhost.Host) string {
	var b strings.Builder
	b.WriteString(h.LogText())
	for _, m := range h.Metrics() {
		fmt.Fprintf(&b, "%s %d\n", m.Name, m.Value)
	}
	for _, k := range h.SharedKeys() {
		v, _, _ := h.SharedData(k)
		fmt.Fprintf(&b, "%s %s\n", k, v)
	}
	for _, r := range h.LocalReplies() {
		fmt.Fprintf(&b, "%d %s %s %v\n", r.Status, r.Details, r.Body, r.Headers)
	}
	return b.String()
}

// requireNoWindowOf fails when text holds any 12-byte piece of a secret.
func requireNoWindowOf(t *testing.T, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for i := 0; i+12 <= len(s); i++ {
			require.NotContains(t, text, s[i:i+12])
		}
	}
}

// TestEnvTokens_KeyFromVMEnvironmentGoesUpstream: keys named by
// ${env:NAME} are read from the VM's environment (WASI environ_get, as the
// built module runs in Envoy), sent upstream as the credential beside an
// inline key, demoted and probed like any key, and no log line, metric,
// shared-data value or local reply holds any piece of them.
func TestEnvTokens_KeyFromVMEnvironmentGoesUpstream(t *testing.T) {
	p := newProvider(envKeys[0], "sk-inline-alpha-0001", envKeys[1])
	p.always(2, wasmhost.Status(500))
	config := `provider:
  type: openai
  apiTokens:
  - ${env:OPENAI_KEY_1}
  - sk-inline-alpha-0001
  - ${env:OPENAI_KEY_2}
  tokenSelection: round-robin
  failover: {enabled: true, failureThreshold: 2, healthCheckInterval: 1000, healthCheckModel: gpt-4o}
`
	// OPENAI_KEY_2 ends in a newline, as a Kubernetes Secret's value often does.
	h := start(t, config, p, withVMEnv("OPENAI_KEY_1="+envKeys[0], "OPENAI_KEY_2="+envKeys[1]+"\n", "UNRELATED=x"))
	for _, vm := range h.VMs() {
		require.True(t, vm.ConfigAccepted(), vm.Name())
	}
	for i := 0; i < 12; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("gpt-4o"))
	}
	require.Positive(t, p.count(0, false), "the first key, from OPENAI_KEY_1, went upstream as the credential")
	require.Positive(t, p.count(1, false))
	require.Positive(t, p.count(2, false), "the second, from OPENAI_KEY_2 less its newline, went upstream")
	for _, r := range p.requests {
		require.NotEqual(t, -1, p.token(r), "every request carried one of the three keys")
	}
	require.Contains(t, h.LogText(), "provider.apiTokens[2] (${env:OPENAI_KEY_2}): surrounding whitespace trimmed")

	p.always(2, wasmhost.OK())
	advance(t, h, 3*time.Second)
	require.Positive(t, p.count(2, true), "the demoted key from the environment was probed with itself")
	require.Contains(t, h.LogText(), "restored")

	requireNoWindowOf(t, captured(h), envKeys...)
}

// TestEnvTokens_MissingVariableRefusesNamingIt: a reference to a variable
// the VM does not have refuses the configuration on every VM with one line
// naming the entry and the variable, and no piece of any value the VM
// does have.
func TestEnvTokens_MissingVariableRefusesNamingIt(t *testing.T) {
	p := newProvider(envKeys...)
	config := `{"provider": {"type": "openai", "apiTokens": ["${env:OPENAI_KEY_1}", "${env:OPENAI_KEY_2}"]}}`
	h := start(t, config, p, withVMEnv("OPENAI_KEY_1="+envKeys[0]))
	for _, vm := range h.VMs() {
		require.False(t, vm.ConfigAccepted(), vm.Name())
	}
	require.Contains(t, h.LogText(), "[worker-0 error] invalid configuration: provider.apiTokens[1]: environment variable "+
		"OPENAI_KEY_2 is not set or empty (pass it with vm_config.environment_variables.host_env_keys)")
	requireNoWindowOf(t, captured(h), envKeys...)

	ok, err := h.Reload([]byte(`{"provider": {"type": "openai", "apiTokens": ["${env:OPENAI_KEY_1}"]}}`))
	require.NoError(t, err)
	require.True(t, ok, "a configuration naming only variables the VM has is accepted")
	do(t, h.Workers()[0], wasmhost.Chat("gpt-4o"))
	require.Equal(t, 1, p.count(0, false))
	requireNoWindowOf(t, captured(h), envKeys...)
}
