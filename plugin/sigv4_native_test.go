package plugin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/abi/abitest"
	"github.com/token-failover/token-failover/credential"
	"github.com/token-failover/token-failover/plugin"
)

// TestBedrockKeyPair_SignsOverTheWholeBody_Native: with a Bedrock
// access-key pair (issue 24 item 2) a request with a body has its headers
// held (Pause) until the body is whole, then carries a SigV4 signature over
// exactly that body (SHA-256), the Bedrock host, the path and the time it
// was signed; a request without a body is signed at once with the empty
// body's hash. The signature equals credential.AWSKey's, which AWS's SigV4
// test suite and botocore check (credential/sigv4_vectors_test.go).
func TestBedrockKeyPair_SignsOverTheWholeBody_Native(t *testing.T) {
	const ak, sk = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	const path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
	config := []byte(`provider: {type: bedrock, protocol: original, awsRegion: us-east-1, awsAccessKey: ` + ak + `, awsSecretKey: "` + sk + `"}`)
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	key, err := credential.NewAWSKey(ak, sk, "")
	require.NoError(t, err)
	want := func(method, p, query string, body []byte) []credential.HeaderPair {
		h, err := key.SignV4(credential.SigV4Request{Region: "us-east-1", Service: "bedrock", Method: method, Path: p, Query: query,
			Headers: []credential.HeaderPair{{"host", "bedrock-runtime.us-east-1.amazonaws.com"}}, PayloadHash: credential.PayloadHash(body)}, at)
		require.NoError(t, err)
		return h.Pairs()
	}
	tests := []struct {
		name, method, path string
		body               []byte
		chunks             []int // body callbacks before the last (sizes of the buffer then)
	}{
		{"converse, body in three callbacks", "POST", path, []byte(`{"messages":[{"role":"user","content":[{"text":"hello"}]}]}`), []int{7, 30}},
		{"converse-stream, one callback", "POST", "/model/amazon.nova-lite-v1%3A0/converse-stream?trace=1", []byte(`{"messages":[]}`), nil},
		{"no body: signed at once", "GET", "/async-invoke?maxResults=2", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := &abitest.FakeHost{Config: config, Wall: at.UnixMilli(), RequestBody: tc.body,
				RequestHeaders: []abi.HeaderPair{{":method", tc.method}, {":path", tc.path}, {":authority", "gateway.local"},
					{"content-type", "application/json"}, {"authorization", "Bearer client-own"}},
				Properties: map[string]string{"xds.cluster_name": "llm", "xds.route_name": "chat"}}
			d := abi.NewDispatcher(host, plugin.NewVM(host))
			d.OnContextCreate(1, 0)
			require.True(t, d.OnVMStart(1, 0))
			require.True(t, d.OnConfigure(1, len(config)))
			d.OnContextCreate(2, 1)
			if tc.body == nil {
				require.Equal(t, abi.ActionContinue, d.OnRequestHeaders(2, len(host.RequestHeaders), true))
			} else {
				require.Equal(t, abi.ActionPause, d.OnRequestHeaders(2, len(host.RequestHeaders), false), "headers held")
				for _, n := range tc.chunks {
					require.Equal(t, abi.ActionPause, d.OnRequestBody(2, n, false), "body buffered until whole")
				}
				require.Equal(t, abi.ActionContinue, d.OnRequestBody(2, len(tc.body), true))
			}
			get := func(k string) string { v, _ := headerValue(host.RequestHeaders, k); return v }
			require.Equal(t, "bedrock-runtime.us-east-1.amazonaws.com", get(":authority"))
			require.Equal(t, tc.path, get(":path"))
			p, q, _ := strings.Cut(tc.path, "?")
			for _, h := range want(tc.method, p, q, tc.body) {
				require.Equal(t, h[1], get(h[0]), h[0])
			}
			require.Contains(t, get("authorization"), "Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date")
		})
	}
}
