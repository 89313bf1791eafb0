// Package plugin joins the pieces: it implements the abi contexts over a
// configuration parsed by package config. The root context (root.go) owns
// the pools' shared state, the probe lease, ticks and probes; the HTTP
// context (stream.go) picks a token, rewrites the request for the provider
// and feeds the response's outcome back into the pool's state machine.
package plugin
