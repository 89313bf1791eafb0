package wasmhost

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// traced runs fn and returns the callbacks worker-0 saw meanwhile, without
// the VM prefix.
func traced(t *testing.T, h *Host, fn func()) []string {
	t.Helper()
	h.Trace()
	fn()
	var out []string
	for _, c := range h.Trace() {
		if name, ok := strings.CutPrefix(c, "worker-0:"); ok {
			out = append(out, strings.TrimPrefix(name, "proxy_on_"))
		}
	}
	return out
}

func tracingHost(t *testing.T, config string, opts ...func(*Options)) *Host {
	return newHost(t, config, map[string]Cluster{"llm": func(*UpstreamRequest) Reply { return OK() }},
		append(opts, func(o *Options) { o.Trace = true })...)
}

// TestStreamShapes_CallbacksInEnvoysOrder pins the callbacks a filter sees
// for each stream shape (see docs/envoy-details.md for the sources).
func TestStreamShapes_CallbacksInEnvoysOrder(t *testing.T) {
	// A pass-through config: the plugin continues every callback.
	const passThrough = `provider: {type: openai, apiTokens: [a]}`
	body := Chat("gpt-4o").Body
	tests := []struct {
		name string
		run  func(t *testing.T, w *VM) *Stream
		want []string
	}{
		{"body in three chunks", func(t *testing.T, w *VM) *Stream {
			s, err := w.Start(Request{Headers: Chat("m").Headers, Body: body, Chunks: []int{5, 7}})
			require.NoError(t, err)
			require.NoError(t, s.Respond(OK()))
			return s
		}, []string{"context_create", "request_headers", "request_body", "request_body", "request_body",
			"response_headers", "response_body", "done"}},
		{"request trailers", func(t *testing.T, w *VM) *Stream {
			s, err := w.Start(Request{Headers: Chat("m").Headers, Body: body, Trailers: []Pair{{"x-checksum", "1"}}})
			require.NoError(t, err)
			require.True(t, s.Upstream.Complete)
			require.Equal(t, []Pair{{"x-checksum", "1"}}, s.Upstream.Trailers)
			require.NoError(t, s.Respond(OK()))
			return s
		}, []string{"context_create", "request_headers", "request_body", "request_trailers",
			"response_headers", "response_body", "done"}},
		{"early answer ends the stream", func(t *testing.T, w *VM) *Stream {
			s, err := w.Open(Request{Headers: Chat("m").Headers, Body: body, Chunks: []int{10}})
			require.NoError(t, err)
			_, err = s.SendBody()
			require.NoError(t, err)
			require.NoError(t, s.Respond(Status(429)))
			require.False(t, s.Upstream.Complete, "the upstream never got the whole request")
			_, err = s.SendBody()
			require.ErrorIs(t, err, ErrEnded, "Envoy resets the rest of the request")
			return s
		}, []string{"context_create", "request_headers", "request_body", "response_headers", "response_body", "done"}},
		{"response chunks and trailers", func(t *testing.T, w *VM) *Stream {
			s, err := w.Start(Chat("m"))
			require.NoError(t, err)
			r := OK()
			r.Body, r.Chunks, r.ChunkDelay, r.Trailers = []byte("data: a\n\ndata: b\n\n"), []int{9}, 10*time.Millisecond, []Pair{{"x-usage", "3"}}
			require.NoError(t, s.Respond(r))
			require.Equal(t, r.Body, s.Response.Body)
			require.Equal(t, []Pair{{"x-usage", "3"}}, s.Response.Trailers)
			return s
		}, []string{"context_create", "request_headers", "request_body", "response_headers", "response_body",
			"response_body", "response_trailers", "done"}},
		{"client gone before the answer", func(t *testing.T, w *VM) *Stream {
			s, err := w.Start(Chat("m"))
			require.NoError(t, err)
			require.NoError(t, s.ResetByClient())
			require.True(t, s.Upstream.Reset)
			require.Equal(t, "downstream_remote_disconnect", s.Response.Details)
			return s
		}, []string{"context_create", "request_headers", "request_body", "done"}},
		{"client gone mid-stream", func(t *testing.T, w *VM) *Stream {
			s, err := w.Start(Chat("m"))
			require.NoError(t, err)
			require.NoError(t, s.encodeHeaders([]Pair{{":status", "200"}}, false))
			require.NoError(t, s.encodeData([]byte("data: a\n\n"), false))
			require.NoError(t, s.ResetByClient())
			require.Equal(t, 200, s.Response.Status)
			require.True(t, s.Response.Reset)
			return s
		}, []string{"context_create", "request_headers", "request_body", "response_headers", "response_body", "done"}},
		{"upstream reset mid-stream", func(t *testing.T, w *VM) *Stream {
			s, err := w.Start(Chat("m"))
			require.NoError(t, err)
			r := OK()
			r.MidStreamReset, r.ResetAfter = true, 5
			require.NoError(t, s.Respond(r))
			require.True(t, s.Response.Reset)
			require.Equal(t, "upstream_reset_after_response_started{protocol_error}", s.Response.Details)
			require.Equal(t, r.Body[:5], s.Response.Body)
			return s
		}, []string{"context_create", "request_headers", "request_body", "response_headers", "response_body", "done"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tracingHost(t, passThrough)
			var s *Stream
			got := traced(t, h, func() { s = tc.run(t, h.Workers()[0]) })
			require.Equal(t, tc.want, got)
			require.True(t, s.Ended())
			require.Zero(t, h.Workers()[0].LiveStreams())
		})
	}
}

// TestFaults_EnvoysOwnWords: every fault answers with Envoy's status, body
// and response.code_details, and passes through the filter.
func TestFaults_EnvoysOwnWords(t *testing.T) {
	h := tracingHost(t, `provider: {type: openai, apiTokens: [a]}`)
	for f, lr := range faults {
		s, err := h.Workers()[0].Start(Chat("m"))
		require.NoError(t, err)
		require.NoError(t, s.Respond(Reply{Fault: f}))
		require.Equal(t, lr.status, s.Response.Status, lr.details)
		require.Equal(t, lr.body, string(s.Response.Body))
		require.Equal(t, lr.details, s.Response.Details)
		require.True(t, s.Response.LocalReply)
	}
}

// TestBuffering_PauseHandsTheWholeBufferAndOverflowIs413: after a body
// Pause Envoy adds the next chunk to what it buffered and the filter sees
// all of it; past the buffer limit Envoy answers 413 itself.
func TestBuffering_PauseHandsTheWholeBufferAndOverflowIs413(t *testing.T) {
	h := tracingHost(t, `provider: {type: openai, apiTokens: [a]}`, func(o *Options) { o.BufferLimit = 64 })
	s, err := h.Workers()[0].Open(Request{Headers: Chat("m").Headers, Body: make([]byte, 100), Chunks: []int{40}})
	require.NoError(t, err)
	s.reqBuffering = true // as if the plugin had paused the first chunk
	s.reqBuf = make([]byte, 0)
	_, err = s.SendBody()
	require.NoError(t, err)
	require.Len(t, s.Upstream.Body, 40, "the plugin continued: the whole buffer went")
	s.reqBuffering, s.reqBuf = true, make([]byte, 30)
	_, err = s.SendBody()
	require.NoError(t, err)
	require.True(t, s.Ended())
	require.Equal(t, 413, s.Response.Status)
	require.Equal(t, "request_payload_too_large", s.Response.Details)
}

// TestReload_OldAndNewRootCoexist: a reload starts (proxy_on_vm_start
// again) and configures a new root context in the same VM while the old one still has a stream in flight and ticks; new
// streams go to the new root; the old root gets on_done and on_delete only
// once its last stream ends.
func TestReload_OldAndNewRootCoexist(t *testing.T) {
	h := tracingHost(t, `provider: {type: openai, apiTokens: [a], failover: {enabled: true}}`)
	w := h.Workers()[0]
	old := w.rootID
	inFlight, err := w.Start(Chat("m"))
	require.NoError(t, err)
	got := traced(t, h, func() {
		ok, err := h.Reload([]byte(`provider: {type: openai, apiTokens: [a, b], failover: {enabled: true}}`))
		require.NoError(t, err)
		require.True(t, ok)
	})
	require.Equal(t, []string{"context_create", "vm_start", "configure"}, got,
		"the new root gets vm_start again, as in Envoy; the old root is not torn down yet")
	require.Equal(t, []uint32{old, w.rootID}, w.Roots(), "both roots live in the VM")
	got = traced(t, h, func() { require.NoError(t, h.Advance(1100*time.Millisecond)) })
	require.Equal(t, []string{"tick", "tick"}, got, "both roots' timers fire")
	fresh, err := w.Start(Chat("m"))
	require.NoError(t, err)
	require.Equal(t, w.rootID, fresh.root, "a new stream belongs to the new root")
	require.NoError(t, fresh.Respond(OK()))
	require.Len(t, w.Roots(), 2)
	got = traced(t, h, func() { require.NoError(t, inFlight.Respond(OK())) })
	require.Equal(t, []string{"response_headers", "response_body", "done", "done"}, got,
		"the old root goes after its last stream")
	require.Equal(t, []uint32{w.rootID}, w.Roots())
}
