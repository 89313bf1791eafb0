package plugin_test

import (
	"bytes"
	"fmt"
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

// TestBody_LongModelIsRefused (issue 20 B7a): a model decoding to more
// than 256 bytes is refused with a 400 instead of passing unmapped, and
// costs no regex time; a long model spelled with \u escapes is bounded by
// what it decodes to, so one of 43 to 256 characters is mapped (before, a
// raw length over 256 bytes let it pass unmapped).
func TestBody_LongModelIsRefused(t *testing.T) {
	escaped := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			fmt.Fprintf(&b, "\\u%04x", r)
		}
		return b.String()
	}
	name43 := "accounts/fireworks/models/llama-v3p1-405b-x" // 43 characters
	require.Len(t, name43, 43)
	tests := []struct {
		name, model string
		status      int
		sent        string // the model as it reached the provider
	}{
		{"escaped 43 characters is mapped", escaped(name43), 200, "y"},
		{"escaped 256 characters is mapped", escaped(strings.Repeat("m", 256)), 200, "y"},
		{"escaped 257 characters is refused", escaped(strings.Repeat("m", 257)), 400, ""},
		{"900 KiB is refused", strings.Repeat("g", 900<<10), 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"model":"` + tc.model + `","messages":[]}`
			p := newProvider("tok-body-0001")
			h := start(t, `provider: {type: openai, id: body, apiTokens: [tok-body-0001], modelMapping: {"~^(g+)+$": x, "*": y}}`, p,
				func(o *wasmhost.Options) { o.Workers = 1 })
			s, err := h.Workers()[0].Start(chatRequest(body, 64<<10))
			require.NoError(t, err)
			if tc.status == 400 {
				require.True(t, s.Ended())
				require.Equal(t, 400, s.Response.Status)
				require.Contains(t, string(s.Response.Body), "longer than 256 bytes")
				if s.Upstream != nil {
					require.False(t, s.Upstream.Complete, "the provider never gets the whole request")
				}
				require.Equal(t, uint64(1), h.MetricValue("tokenfailover.body.requests_refused"))
				return
			}
			require.NoError(t, s.Respond(wasmhost.OK()))
			require.Equal(t, `{"model":"`+tc.sent+`","messages":[]}`, string(s.Upstream.Body))
		})
	}
}

// TestBody_EveryContentTypeIsRead (issue 20 B7b): a body is read for its
// model whatever its content type. A JSON-labelled (or unlabelled, or
// text/plain) body is mapped; a form-labelled one keeps its bytes and
// content-length, so one that is really a JSON object whose model the
// mapping would change is refused with a 415 (before, it went upstream
// unmapped, and a server that ignores the content type read its model); a
// real form or multipart body passes untouched.
func TestBody_EveryContentTypeIsRead(t *testing.T) {
	jsonBody := `{"model":"gpt-4o","messages":[]}`
	tests := []struct {
		name, contentType, body string
		status                  int
		sent                    string
	}{
		{"json is mapped", "application/json", jsonBody, 200, `{"model":"mapped-4o","messages":[]}`},
		{"text/plain JSON is mapped", "text/plain", jsonBody, 200, `{"model":"mapped-4o","messages":[]}`},
		{"form-labelled JSON is refused", "application/x-www-form-urlencoded", jsonBody, 415, ""},
		{"multipart-labelled JSON is refused", "multipart/form-data; boundary=x", jsonBody, 415, ""},
		{"form-labelled JSON with an unmapped model passes", "application/x-www-form-urlencoded",
			`{"model":"unlisted","messages":[]}`, 200, `{"model":"unlisted","messages":[]}`},
		{"a real form passes", "application/x-www-form-urlencoded", "model=gpt-4o&x=1", 200, "model=gpt-4o&x=1"},
		{"a real multipart body passes", "multipart/form-data; boundary=x",
			"--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o\r\n--x--\r\n", 200,
			"--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o\r\n--x--\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider("tok-body-0001")
			h := start(t, `provider: {type: openai, id: body, apiTokens: [tok-body-0001], modelMapping: {"gpt-4o": mapped-4o}}`, p,
				func(o *wasmhost.Options) { o.Workers = 1 })
			req := wasmhost.Request{Headers: []wasmhost.Pair{{":method", "POST"}, {":path", "/v1/chat/completions"},
				{":authority", "gw"}, {"content-type", tc.contentType}, {"content-length", strconv.Itoa(len(tc.body))}},
				Body: []byte(tc.body)}
			s, err := h.Workers()[0].Start(req)
			require.NoError(t, err)
			if tc.status != 200 {
				require.True(t, s.Ended())
				require.Equal(t, tc.status, s.Response.Status)
				require.Contains(t, string(s.Response.Body), "send it as application/json")
				if s.Upstream != nil {
					require.False(t, s.Upstream.Complete, "the provider never gets the whole request")
				}
				return
			}
			require.NoError(t, s.Respond(wasmhost.OK()))
			require.Equal(t, tc.sent, string(s.Upstream.Body))
			if strings.HasPrefix(tc.contentType, "application/json") || tc.contentType == "text/plain" {
				require.Empty(t, s.Upstream.Header("content-length"), "a mapped body is framed by Envoy")
			} else {
				require.Equal(t, strconv.Itoa(len(tc.body)), s.Upstream.Header("content-length"), "a form keeps its length")
			}
		})
	}
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
