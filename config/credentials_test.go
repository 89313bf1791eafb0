package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParse_CredentialTypesByProtocol: bedrock, vertex and kling with
// apiTokens are served under protocol original as Higress serves them
// (issue 24 item 1), refused under protocol openai for the conversion
// Higress does there; their other credentials are named, never quoted.
func TestParse_CredentialTypesByProtocol(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	tests := []struct {
		name, config string
		err          string
		warnings     []string
	}{
		{name: "bedrock API key, original", config: `provider: {type: bedrock, protocol: original, awsRegion: us-east-1, apiTokens: [k]}`},
		{name: "bedrock API key wins over a key pair, as in Higress",
			config:   `provider: {type: bedrock, protocol: original, awsRegion: us-east-1, apiTokens: [k], awsAccessKey: AKIDEXAMPLE, awsSecretKey: "` + secret + `"}`,
			warnings: []string{"provider.awsAccessKey, awsSecretKey: ignored: apiTokens are set, and Higress uses them first"}},
		{name: "bedrock key pair alone", config: `provider: {type: bedrock, protocol: original, awsRegion: us-east-1, awsAccessKey: AKIDEXAMPLE, awsSecretKey: "` + secret + `"}`,
			warnings: []string{"provider.awsAccessKey: requests are signed with SigV4 over their whole body: set allow_on_headers_stop_iteration: true in the wasm filter's config (Envoy 1.35+), so that Envoy holds a request's headers while the plugin reads its body; without it a request with a body waits for the route's timeout"}},
		{name: "bedrock half a key pair", config: `provider: {type: bedrock, protocol: original, awsRegion: us-east-1, awsSecretKey: "` + secret + `"}`,
			err: "provider.awsAccessKey: is required with awsSecretKey (Higress refuses the configuration without it too)"},
		{name: "bedrock nothing", config: `provider: {type: bedrock, protocol: original, awsRegion: us-east-1}`,
			err: "provider.apiTokens: is required: a list of at least one token"},
		{name: "bedrock secret not a string", config: `provider: {type: bedrock, protocol: original, awsRegion: us-east-1, awsAccessKey: AKIDEXAMPLE, awsSecretKey: {k: "` + secret + `"}}`,
			err: "provider.awsSecretKey: must be a string, got an object"},
		{name: "vertex express, original", config: `provider: {type: vertex, protocol: original, apiTokens: [k]}`},
		{name: "vertex express, openai", config: `provider: {type: vertex, apiTokens: [k]}`,
			err: "provider.protocol: openai (the default) is not supported for type vertex with apiTokens (express mode): Higress converts OpenAI requests to Vertex's generateContent, predict or rawPredict bodies, this plugin converts no protocol; set protocol: original to send Vertex's own REST API (/v1/publishers/google/models/{model}:generateContent, ...) with the keys, as Higress does then"},
		{name: "vertex service account", config: `provider: {type: vertex, protocol: original, vertexAuthKey: "` + secret + `", vertexRegion: us-central1, vertexProjectId: p, vertexAuthServiceName: s}`,
			err: "provider.vertexAuthKey: service account key: not valid JSON (at byte 1)"},
		{name: "kling tokens, original", config: `provider: {type: kling, protocol: original, apiTokens: [k]}`},
		{name: "kling key pair", config: `provider: {type: kling, protocol: original, klingAccessKey: ak, klingSecretKey: "` + secret + `"}`},
		{name: "kling key pair, openai", config: `provider: {type: kling, klingAccessKey: ak, klingSecretKey: "` + secret + `"}`,
			err: "provider.protocol: openai (the default) is not supported for type kling: Higress converts OpenAI video requests (/v1/videos) to Kling's text2video and image2video API, this plugin converts no protocol; set protocol: original to send Kling's own API with the tokens, as Higress does then"},
		{name: "kling key pair from the environment", config: `provider: {type: kling, protocol: original, klingAccessKey: ak, klingSecretKey: "${env:NO_SUCH_KLING_SECRET}"}`,
			err: "provider.klingSecretKey: environment variable NO_SUCH_KLING_SECRET is not set or empty (pass it with vm_config.environment_variables.host_env_keys)"},
		{name: "minimax pro, original", config: `provider: {type: minimax, protocol: original, minimaxApiType: pro, minimaxGroupId: g, apiTokens: [k]}`},
		{name: "bedrock conversion-only fields", config: `provider: {type: bedrock, protocol: original, awsRegion: us-east-1, apiTokens: [k], bedrockAdditionalFields: {top_k: 1}}`,
			warnings: []string{"provider.bedrockAdditionalFields: ignored: part of Higress's OpenAI-to-Converse body conversion, which this plugin does not do"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.config))
			if tc.err == "" {
				require.NoError(t, err)
				require.NotNil(t, cfg.Global)
			} else {
				require.EqualError(t, err, tc.err)
			}
			require.Equal(t, tc.warnings, cfg.Warnings)
			if err != nil {
				require.NotContains(t, err.Error(), secret)
			}
			require.NotContains(t, strings.Join(cfg.Warnings, "\n"), secret)
		})
	}
}

// TestParse_VertexServiceAccount: a service-account key (issue 24 item 2)
// is one pool member whose secret is the key file, served under protocol
// original or with vertexOpenAICompatible, refused otherwise; the key is
// never quoted.
func TestParse_VertexServiceAccount(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	sa, err := json.Marshal(map[string]string{"type": "service_account", "private_key_id": "k1", "client_email": "sa@p.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "token_uri": "https://oauth2.googleapis.com/token"})
	require.NoError(t, err)
	for _, tc := range []struct {
		extra, err string
	}{
		{extra: `"protocol": "original"`},
		{extra: `"vertexOpenAICompatible": true`},
		{extra: `"vertexOpenAICompatible": false`, err: "provider.protocol: openai (the default) is not supported for type vertex with vertexAuthKey unless vertexOpenAICompatible is true: Higress converts OpenAI requests to Vertex's generateContent, predict or rawPredict bodies, this plugin converts no protocol; set vertexOpenAICompatible: true for Vertex's OpenAI-compatible chat endpoint, or protocol: original for Vertex's own REST API, as Higress does then"},
	} {
		cfg, err := Parse([]byte(`{"provider": {"type": "vertex", "vertexAuthKey": ` + strconv.Quote(string(sa)) +
			`, "vertexRegion": "us-central1", "vertexProjectId": "p", "vertexAuthServiceName": "oauth", ` + tc.extra + `}}`))
		if tc.err != "" {
			require.EqualError(t, err, tc.err)
			continue
		}
		require.NoError(t, err, tc.extra)
		require.Len(t, cfg.Global.Tokens, 1)
		require.Equal(t, string(sa), cfg.Global.Tokens[0].Secret())
		require.Empty(t, cfg.Warnings)
	}
}
