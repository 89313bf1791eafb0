package config

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/provider"
)

// higressNoTokens is Higress's verdict on a provider of each type with no
// apiTokens (and every other field it requires), from each provider's
// ValidateConfig (higress-group/higress@8e4041c plugins/wasm-go/extensions/
// ai-proxy/provider/*.go): true where it starts.
var higressNoTokens = map[string]bool{
	"openai": true, "generic": true, "vllm": true, "hunyuan": true, "spark": true, "ollama": true,
	// deepl also needs targetLang there, which only its conversion reads.
	"deepl": true,
}

// TestParse_NoTokensAsHigress: every type this plugin serves takes a
// configuration without apiTokens exactly where Higress does (issue 24
// item 3): the client brings its own key, which goes upstream, and one
// warning says so, failover and retry settings included; elsewhere
// apiTokens is required.
func TestParse_NoTokensAsHigress(t *testing.T) {
	for _, typ := range provider.Types() {
		t.Run(typ, func(t *testing.T) {
			extra := map[string]string{
				"azure":      `, azureServiceUrl: "https://r.openai.azure.com/openai/deployments/d?api-version=1"`,
				"cloudflare": `, cloudflareAccountId: a`,
				"ollama":     `, ollamaServerHost: o, ollamaServerPort: 11434`,
				"bedrock":    `, awsRegion: us-east-1, protocol: original`,
				"vertex":     `, protocol: original`,
				"kling":      `, protocol: original`,
				"cohere":     `, protocol: original`,
				"deepl":      `, protocol: original`,
				"dify":       `, protocol: original`,
			}[typ]
			cfg, err := Parse([]byte(fmt.Sprintf(`provider: {type: %s, failover: {enabled: true}, retryOnFailure: {enabled: true}%s}`, typ, extra)))
			if !higressNoTokens[typ] {
				require.EqualError(t, err, "provider.apiTokens: is required: a list of at least one token")
				return
			}
			require.NoError(t, err)
			b := cfg.Global
			require.True(t, b.PassClientAuth)
			require.Empty(t, b.Tokens)
			require.False(t, b.Failover.Enabled)
			require.False(t, b.Retry.Enabled)
			require.Len(t, cfg.Warnings, 1, "one warning: %q", cfg.Warnings)
			if typ == "ollama" {
				require.Equal(t, "provider: failover and retryOnFailure are off: the block has no tokens to fail over between", cfg.Warnings[0])
			} else {
				require.Equal(t, "provider.apiTokens: none: the client's own auth header goes upstream, and this block does no failover "+
					"(as in Higress): its failover and retryOnFailure settings are off", cfg.Warnings[0])
			}
		})
	}
}
