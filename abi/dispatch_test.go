package abi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// logHost is a Host that only records logs; any other hostcall panics,
// which a test here never makes.
type logHost struct {
	Host
	logs []string
}

func (h *logHost) Log(level LogLevel, msg string) {
	h.logs = append(h.logs, [...]string{"trace", "debug", "info", "warn", "error", "critical"}[level]+" "+msg)
}

type panicky struct {
	panicOn string
	calls   []string
}

func (p *panicky) hit(name string) {
	p.calls = append(p.calls, name)
	if p.panicOn == name {
		panic("boom in " + name)
	}
}

func (p *panicky) OnVMStart(int) bool                       { p.hit("vmstart"); return true }
func (p *panicky) NewPluginContext(uint32) PluginContext    { return p }
func (p *panicky) OnConfigure(int) bool                     { p.hit("configure"); return true }
func (p *panicky) OnTick()                                  { p.hit("tick") }
func (p *panicky) OnHTTPCallResponse(uint32, int, int, int) { p.hit("callresp") }
func (p *panicky) OnGRPCReceive(uint32, int)                { p.hit("grpcreceive") }
func (p *panicky) OnGRPCClose(uint32, uint32)               { p.hit("grpcclose") }
func (p *panicky) NewHTTPContext(uint32) HTTPContext        { return &panickyStream{p} }

// panickyStream is the stream side of panicky (OnDone differs in signature).
type panickyStream struct{ *panicky }

func (p *panickyStream) OnDone()                            { p.hit("done") }
func (p *panicky) OnDone() bool                             { p.hit("rootdone"); return true }
func (p *panickyStream) OnRequestHeaders(int, bool) Action  { p.hit("reqheaders"); return ActionPause }
func (p *panickyStream) OnRequestBody(int, bool) Action     { p.hit("reqbody"); return ActionPause }
func (p *panickyStream) OnRequestTrailers(int) Action       { p.hit("reqtrailers"); return ActionPause }
func (p *panickyStream) OnResponseHeaders(int, bool) Action { p.hit("respheaders"); return ActionPause }
func (p *panickyStream) OnResponseBody(int, bool) Action    { p.hit("respbody"); return ActionPause }
func (p *panickyStream) OnResponseTrailers(int) Action      { p.hit("resptrailers"); return ActionPause }

func TestDispatcher_RecoversPanicAndKeepsWorking(t *testing.T) {
	tests := []struct {
		name     string
		panicOn  string
		callback string
		run      func(d *Dispatcher) any
		safe     any
	}{
		{"request headers", "reqheaders", "proxy_on_request_headers", func(d *Dispatcher) any { return d.OnRequestHeaders(2, 3, false) }, ActionContinue},
		{"request body", "reqbody", "proxy_on_request_body", func(d *Dispatcher) any { return d.OnRequestBody(2, 10, true) }, ActionContinue},
		{"response headers", "respheaders", "proxy_on_response_headers", func(d *Dispatcher) any { return d.OnResponseHeaders(2, 3, false) }, ActionContinue},
		{"response body", "respbody", "proxy_on_response_body", func(d *Dispatcher) any { return d.OnResponseBody(2, 3, true) }, ActionContinue},
		{"tick", "tick", "proxy_on_tick", func(d *Dispatcher) any { d.OnTick(1); return nil }, nil},
		{"configure refuses", "configure", "proxy_on_configure", func(d *Dispatcher) any { return d.OnConfigure(1, 0) }, false},
		{"done: the stream is forgotten all the same", "done", "proxy_on_done", func(d *Dispatcher) any {
			ok := d.OnDone(2)
			d.OnContextCreate(2, 1) // created again for the checks below
			return ok
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			host := &logHost{}
			p := &panicky{panicOn: tc.panicOn}
			d := NewDispatcher(host, p)
			d.OnContextCreate(1, 0)
			d.OnContextCreate(2, 1)
			var got any
			require.NotPanics(t, func() { got = tc.run(d) })
			require.Equal(t, tc.safe, got)
			require.Len(t, host.logs, 1)
			require.True(t, strings.HasPrefix(host.logs[0], "error token-failover: panic in "+tc.callback), host.logs[0])
			require.Contains(t, host.logs[0], "boom in "+tc.panicOn)
			require.Contains(t, host.logs[0], "goroutine", "the stack is logged")
			// The VM lives on: the next callback on it works.
			p.panicOn = ""
			require.Equal(t, ActionPause, d.OnRequestHeaders(2, 3, false))
			require.True(t, d.OnDone(2))
			require.Zero(t, d.Streams(), "done forgets the stream")
		})
	}
}

func TestDispatcher_UnknownContextsAreHarmless(t *testing.T) {
	host := &logHost{}
	d := NewDispatcher(host, &panicky{})
	require.Equal(t, ActionContinue, d.OnRequestHeaders(9, 1, true))
	require.False(t, d.OnConfigure(9, 0))
	d.OnContextCreate(5, 4) // parent root unknown
	require.Len(t, host.logs, 1)
	require.Contains(t, host.logs[0], "stream 5 has unknown root 4")
}
