// Package provider knows how each LLM provider wants a request: which auth
// header carries the token, which client credentials to strip, how the
// authority and path change, where the model lives, and the cheapest probe
// request. It also holds model mapping and the body rewrite. It knows nothing
// of shared data or Envoy.
package provider
