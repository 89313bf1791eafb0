// Package failover holds a token pool's shared state and everything that
// changes it: the failure policy (Classify), the pure transitions (Pool.Apply
// and friends), token choice (Pool.Pick), the probe lease, and the CAS loop
// (Update) written against a two-method Store. It makes no host calls and
// knows nothing of Envoy: time, randomness and storage are passed in.
package failover
