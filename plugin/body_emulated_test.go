package plugin_test

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/wasmhost"
)

const mappingConfig = `provider: {type: openai, id: body, apiTokens: [tok-body-0001], modelMapping: {"gpt-4o": mapped-4o, "gpt-4o-mini": mapped-mini}}`

// chatRequest is a chat completion with body, sent in chunks of the given sizes.
func chatRequest(body string, chunks ...int) wasmhost.Request {
	return wasmhost.Request{Headers: []wasmhost.Pair{{":method", "POST"}, {":path", "/v1/chat/completions"},
		{":authority", "gw"}, {"content-type", "application/json"}, {"content-length", strconv.Itoa(len(body))}},
		Body: []byte(body), Chunks: chunks}
}

// TestBody_ModelMappedWhereverTheBodySplits sends the same body cut at
// every byte (inside the key, inside the value, inside an escape and a
// multi-byte character) and in 1-byte chunks: the provider always gets
// exactly the body with its model mapped, and no stale content-length.
func TestBody_ModelMappedWhereverTheBodySplits(t *testing.T) {
	body := `{"messages":[{"role":"user","content":"h\u00e9llo ☃ \"x\""}],"model":"gpt-4o","stream":true}`
	want := strings.Replace(body, `"gpt-4o"`, `"mapped-4o"`, 1)
	p := newProvider("tok-body-0001")
	h := start(t, mappingConfig, p, func(o *wasmhost.Options) { o.Workers = 1 })
	w := h.Workers()[0]
	var splits [][]int
	for cut := 1; cut < len(body); cut++ {
		splits = append(splits, []int{cut})
	}
	ones := make([]int, len(body))
	for i := range ones {
		ones[i] = 1
	}
	splits = append(splits, ones)
	for _, chunks := range splits {
		s := do(t, w, chatRequest(body, chunks...))
		require.Equal(t, want, string(s.Upstream.Body), "chunks %v", chunks)
		require.True(t, s.Upstream.Complete)
		require.Empty(t, s.Upstream.Header("content-length"), "the length changed: Envoy frames the body")
		require.Equal(t, 200, s.Response.Status)
	}
}

// TestBody_DeeplyNestedBodyDoesNotKillTheVM: 10,000 nested arrays in a 20 KB
// body made the old parser recurse past V8's stack, killing the worker's
// plugin. The scanner walks it iteratively; the model after it is mapped.
func TestBody_DeeplyNestedBodyDoesNotKillTheVM(t *testing.T) {
	for _, body := range []string{
		`{"model":"gpt-4o","x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		`{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `,"model":"gpt-4o"}`,
		`{"x":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat("}", 20000) + `,"model":"gpt-4o"}`,
	} {
		p := newProvider("tok-body-0001")
		h := start(t, mappingConfig, p, func(o *wasmhost.Options) { o.Workers = 1 })
		s := do(t, h.Workers()[0], chatRequest(body, 4096))
		require.NoError(t, h.Workers()[0].Failed())
		require.Contains(t, string(s.Upstream.Body), `"model":"mapped-4o"`)
		for i := 0; i < 5; i++ {
			s := do(t, h.Workers()[0], chatRequest(`{"model":"gpt-4o"}`))
			require.Equal(t, 200, s.Response.Status, "the VM lives on")
		}
	}
}

// TestBody_SecondModelKeyIsRefused: servers read the last of duplicate keys
// (and Go's the case-insensitive one), so a second top-level model key
// could carry an unmapped model past the mapping. Such a request is
// answered 400 and never reaches the provider whole, wherever it splits.
func TestBody_SecondModelKeyIsRefused(t *testing.T) {
	for _, body := range []string{
		`{"model":"gpt-4o-mini","messages":[],"model":"o1-pro"}`,
		`{"model":"gpt-4o-mini","messages":[],"MODEL":"o1-pro"}`,
		`{"model":"gpt-4o-mini","messages":[],"mod\u0065l":"o1-pro"}`,
	} {
		for _, chunks := range [][]int{nil, {20}, {40}, {1, 1, 1}} {
			p := newProvider("tok-body-0001")
			h := start(t, mappingConfig, p, func(o *wasmhost.Options) { o.Workers = 1 })
			s, err := h.Workers()[0].Start(chatRequest(body, chunks...))
			require.NoError(t, err)
			require.True(t, s.Ended(), "%s %v", body, chunks)
			require.NotNil(t, s.Response)
			require.Equal(t, 400, s.Response.Status)
			require.Contains(t, string(s.Response.Body), "more than one top-level model key")
			if s.Upstream != nil {
				require.False(t, s.Upstream.Complete, "the provider never gets the whole request")
				require.True(t, s.Upstream.Reset)
			}
			require.Equal(t, uint64(1), h.MetricValue("tokenfailover.body.requests_refused"))
		}
	}
}

// TestBody_LongModelPassesUnmapped: a model longer than 256 bytes is left as
// sent (mapping never looks at it), counted, and costs no regex time.
func TestBody_LongModelPassesUnmapped(t *testing.T) {
	long := strings.Repeat("g", 900<<10)
	body := `{"model":"` + long + `","messages":[]}`
	p := newProvider("tok-body-0001")
	h := start(t, `provider: {type: openai, id: body, apiTokens: [tok-body-0001], modelMapping: {"~^(g+)+$": x, "*": y}}`, p,
		func(o *wasmhost.Options) { o.Workers = 1 })
	s := do(t, h.Workers()[0], chatRequest(body, 64<<10))
	require.True(t, string(s.Upstream.Body) == body, "the model passes unmapped")
	require.Equal(t, uint64(1), h.MetricValue("tokenfailover.body.model_unmapped"))
}

// TestBody_LargeRequestStreamsWithout413: with a mapping, a 3 MiB request
// (over Envoy's 1 MiB buffer limit) used to be buffered whole and refused
// 413. Now only the chunk holding the model is touched and the rest
// streams through.
func TestBody_LargeRequestStreamsWithout413(t *testing.T) {
	pad := strings.Repeat("x", 3<<20)
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + pad + `"}]}`
	p := newProvider("tok-body-0001")
	h := start(t, mappingConfig, p, func(o *wasmhost.Options) { o.Workers = 1 })
	s := do(t, h.Workers()[0], chatRequest(body, 16384, 65536))
	require.Equal(t, 200, s.Response.Status)
	require.Equal(t, strings.Replace(body, "gpt-4o", "mapped-4o", 1), string(s.Upstream.Body))
}

// TestBody_WhatCannotBeMappedIsRefusedOrPassed: bodies the mapping cannot
// read are passed untouched when no server would read a model from them
// either, and refused when one would (UTF-16 JSON, which Python's json
// accepts; a compressed body the provider would decode).
func TestBody_WhatCannotBeMappedIsRefusedOrPassed(t *testing.T) {
	utf16 := []byte{0xff, 0xfe}
	for _, r := range `{"model":"gpt-4o"}` {
		utf16 = append(utf16, byte(r), 0)
	}
	tests := []struct {
		name    string
		body    []byte
		headers []wasmhost.Pair
		status  int
	}{
		{"not JSON passes untouched", []byte("hello, not json"), nil, 200},
		{"array passes untouched", []byte(`[{"model":"gpt-4o"}]`), nil, 200},
		{"broken JSON passes untouched", []byte(`{"x" 1, "model":"gpt-4o"}`), nil, 200},
		{"UTF-16 JSON is refused", utf16, nil, 400},
		{"gzip body is refused", []byte{0x1f, 0x8b, 8, 0}, []wasmhost.Pair{{"content-encoding", "gzip"}}, 415},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider("tok-body-0001")
			h := start(t, mappingConfig, p, func(o *wasmhost.Options) { o.Workers = 1 })
			req := chatRequest(string(tc.body))
			req.Headers = append(req.Headers, tc.headers...)
			s, err := h.Workers()[0].Start(req)
			require.NoError(t, err)
			if tc.status == 200 {
				require.NoError(t, s.Respond(wasmhost.OK()))
				require.True(t, bytes.Equal(tc.body, s.Upstream.Body))
			}
			require.NotNil(t, s.Response, "answered")
			require.Equal(t, tc.status, s.Response.Status)
		})
	}
}
