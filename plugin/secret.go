package plugin

import (
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// secretKey is the shared-data key of the per-process secret.
const secretKey = KeyPrefix + "secret"

// refreshSecret adopts the process's secret, creating it when missing. Two
// VMs may create it at once (a set on a missing key always wins); each
// re-reads it on every tick, so all converge on the last one written within
// a tick.
func (v *VM) refreshSecret() {
	b, cas, err := v.host.GetSharedData(secretKey)
	if err != nil || len(b) != len(v.secret) {
		var k [32]byte
		_, _ = crand.Read(k[:])
		if v.host.SetSharedData(secretKey, k[:], 0) != nil {
			return
		}
		if b, cas, err = v.host.GetSharedData(secretKey); err != nil || len(b) != len(v.secret) {
			return
		}
	}
	if cas != v.secretCas {
		copy(v.secret[:], b)
		v.secretCas = cas
	}
}

// stickySeed hashes a session id with the process's secret.
func (v *VM) stickySeed(session string) uint64 {
	sum := v.mac("sticky", session)
	var x uint64
	for _, b := range sum[:8] {
		x = x<<8 | uint64(b)
	}
	return x
}

// mac is HMAC-SHA256 of the parts under the process's secret.
func (v *VM) mac(parts ...string) []byte {
	h := hmac.New(sha256.New, v.secret[:])
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// macText is the first 16 hex digits of mac: enough that a client cannot
// guess one, short enough for a header.
func (v *VM) macText(parts ...string) string { return hex.EncodeToString(v.mac(parts...)[:8]) }

// probeHeader marks the plugin's own probes, which in mode: upstream pass
// through the cluster's upstream filter too and must keep their token; the
// filter removes it, so it never leaves Envoy.
const probeHeader = "x-token-failover-probe"

// probeMark is the probe header's value for this process.
func (v *VM) probeMark() string { return v.macText("probe") }
