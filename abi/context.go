package abi

// VMContext is the plugin's entry point: one per wasm VM.
type VMContext interface {
	// OnVMStart is called once per VM with the VM configuration size.
	OnVMStart(vmConfigSize int) bool
	// NewPluginContext creates the root context with the given id.
	NewPluginContext(contextID uint32) PluginContext
}

// PluginContext is a root context: it owns configuration, ticks and the
// answers to http calls, and creates a stream context per request.
type PluginContext interface {
	// OnConfigure reads the plugin configuration (configSize bytes) and
	// returns false to refuse it.
	OnConfigure(configSize int) bool
	// OnTick fires at the period set with Host.SetTickPeriod.
	OnTick()
	// OnHTTPCallResponse delivers the answer to an http call; numHeaders is
	// 0 and Host.GetStatus reports the reason when the call failed.
	OnHTTPCallResponse(callID uint32, numHeaders, bodySize, numTrailers int)
	// NewHTTPContext creates the context of one stream.
	NewHTTPContext(contextID uint32) HTTPContext
	// OnDone is called when the plugin is being torn down.
	OnDone() bool
}

// HTTPContext handles one HTTP stream.
type HTTPContext interface {
	OnRequestHeaders(numHeaders int, endOfStream bool) Action
	OnRequestBody(bodySize int, endOfStream bool) Action
	OnRequestTrailers(numTrailers int) Action
	OnResponseHeaders(numHeaders int, endOfStream bool) Action
	OnResponseBody(bodySize int, endOfStream bool) Action
	OnResponseTrailers(numTrailers int) Action
	// OnLog is the stream's last chance to look at it (access-log time).
	OnLog()
	// OnDone is called after OnLog; OnDelete follows.
	OnDone()
}
