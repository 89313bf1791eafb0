// Package plugin joins the pieces: it implements the abi contexts over a
// configuration parsed by package config, the state machine of package
// failover and the rewrites of package provider.
//
//	Envoy process
//	└─ VM (vm.go): one per worker thread, plus the main thread's. Holds the
//	   │  process secret and decides which root works on which pool.
//	   └─ Root (root.go): one per plugin configuration the VM serves (each
//	      │  listener's filter, a reload in progress). Ticks, the probe lease
//	      │  and probes (probe.go), the route guard (route.go), the fleet
//	      │  link (fleet.go), the status page (status.go).
//	      ├─ rule: _match_domain_, _match_route_, ... → a block
//	      ├─ block: one provider block of the configuration: its rewrite,
//	      │  model mapping, selection and retry settings
//	      └─ pool (pool.go): a block's tokens. Blocks that list the same
//	         tokens share one; its state (failover.Pool) is one shared-data
//	         value, so every VM of the process sees the same health.
//
//	stream: one per request (an HTTP context of a Root)
//	   request.go   match a rule's block, rewrite the headers
//	   pick.go      choose the token from the block's pool
//	   body.go      map the body's model as it streams through
//	   upstream.go  mode upstream: one router attempt of the request
//	   response.go  judge the answer, record it against the token
//	   retry.go     re-send a failed request with another token
package plugin
