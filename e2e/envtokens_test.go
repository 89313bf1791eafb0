package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/envoyrun"
)

// hostEnvKeys passes Envoy's variables to the VM: the shipped envoy.yaml's
// vm_config gets the environment_variables block an operator adds (see
// docs/secure-keys.md).
func hostEnvKeys(names ...string) func(string) string {
	const anchor = "                  vm_id: token-failover\n"
	return func(cfg string) string {
		return strings.Replace(cfg, anchor, anchor+
			"                  environment_variables:\n"+
			"                    host_env_keys: ["+strings.Join(names, ", ")+"]\n", 1)
	}
}

// TestEnvoy_TokenFromHostEnv: keys set in Envoy's process environment and
// named in vm_config.environment_variables.host_env_keys reach the VM, so
// ${env:NAME} in apiTokens sends them upstream, while Envoy's /config_dump
// and log show only the variables' names; a variable Envoy lacks refuses
// the configuration naming it.
func TestEnvoy_TokenFromHostEnv(t *testing.T) {
	keys := []string{"sk-hostenv-5e1f0a9b3c7d2e84", "sk-hostenv-a07c4d2e9f1b6358"}
	// Envoy inherits the test process's environment (envoyrun starts it with
	// exec.Command and no Env of its own). The second ends in a newline, as a
	// value from a Kubernetes Secret often does.
	t.Setenv("TF_E2E_OPENAI_KEY_1", keys[0])
	t.Setenv("TF_E2E_OPENAI_KEY_2", keys[1]+"\n")
	start := func(t *testing.T, config string, edit func(string) string) (*env, error) {
		return startEnv(t, envoyrun.Options{PluginConfig: config, Edit: edit})
	}

	t.Run("keys reach the provider and stay out of config_dump", func(t *testing.T) {
		config := `provider:
  type: openai
  id: e2e
  apiTokens:
  - ${env:TF_E2E_OPENAI_KEY_1}
  - ` + tokens[0] + `
  - ${env:TF_E2E_OPENAI_KEY_2}
  tokenSelection: round-robin
  failover: {enabled: true, failureThreshold: 3, healthCheckInterval: 1000, healthCheckModel: gpt-3}
`
		e, err := start(t, config, hostEnvKeys("TF_E2E_OPENAI_KEY_1", "TF_E2E_OPENAI_KEY_2"))
		require.NoError(t, err)
		require.Contains(t, e.envoy.Config, "host_env_keys: [TF_E2E_OPENAI_KEY_1, TF_E2E_OPENAI_KEY_2]", "envoy.yaml still has the vm_id line the edit hangs on")
		since := time.Now()
		for i := 0; i < 24; i++ {
			code, err := e.chat("gpt-4o")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code)
		}
		require.Positive(t, e.mock.Count(keys[0], false, since), "the key from TF_E2E_OPENAI_KEY_1 was the credential")
		require.Positive(t, e.mock.Count(tokens[0], false, since), "the inline key still serves")
		require.Positive(t, e.mock.Count(keys[1], false, since), "the key from TF_E2E_OPENAI_KEY_2, less its newline")
		for _, r := range e.mock.Records() {
			require.Contains(t, []string{keys[0], tokens[0], keys[1]}, r.Token, "every request carried one of the pool's keys")
		}

		dump, err := e.envoy.AdminGet("/config_dump")
		require.NoError(t, err)
		require.Contains(t, dump, `"host_env_keys"`)
		require.Contains(t, dump, `"TF_E2E_OPENAI_KEY_1"`)
		require.Contains(t, dump, "${env:TF_E2E_OPENAI_KEY_2}", "the plugin configuration holds the reference")
		log := e.envoy.Log()
		require.Contains(t, log, "provider.apiTokens[2] (${env:TF_E2E_OPENAI_KEY_2}): surrounding whitespace trimmed")
		for _, k := range keys {
			for i := 0; i+12 <= len(k); i++ { // no 12-byte piece of a key
				require.NotContains(t, dump, k[i:i+12], "/config_dump")
				require.NotContains(t, log, k[i:i+12], "Envoy's log")
			}
		}
	})

	t.Run("a variable Envoy lacks refuses the configuration naming it", func(t *testing.T) {
		config := "provider: {type: openai, apiTokens: [\"${env:TF_E2E_OPENAI_KEY_1}\", \"${env:TF_E2E_NOT_SET}\"]}\n"
		e, err := start(t, config, hostEnvKeys("TF_E2E_OPENAI_KEY_1", "TF_E2E_NOT_SET"))
		require.Error(t, err, "Envoy refuses a plugin configuration on_configure rejects at start")
		require.NotNil(t, e.envoy)
		log := e.envoy.Log()
		require.Contains(t, log, "invalid configuration: provider.apiTokens[1]: environment variable TF_E2E_NOT_SET "+
			"is not set or empty (pass it with vm_config.environment_variables.host_env_keys)")
		for i := 0; i+12 <= len(keys[0]); i++ {
			require.NotContains(t, log, keys[0][i:i+12])
		}
	})
}
