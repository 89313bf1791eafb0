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
	// OnGRPCReceive delivers a gRPC message (read it with
	// Host.GetBuffer(BufferGRPCReceive, 0, size)): a unary call's answer,
	// or one message of a stream.
	OnGRPCReceive(token uint32, size int)
	// OnGRPCClose ends a gRPC call or stream with its gRPC status (0 OK);
	// Host.GetStatus has the message. A unary call that succeeded gets
	// OnGRPCReceive only.
	OnGRPCClose(token uint32, status uint32)
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
	// OnDone is the stream's end and the plugin's last look at it: Envoy
	// calls it right after the access log, with the stream's info (its
	// response.code_details) still there. No callback follows.
	OnDone()
}
