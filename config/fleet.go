package config

import (
	"strings"

	"github.com/tidwall/gjson"
)

// FleetConfig is the top-level fleet: the etcd v3 store that every Envoy
// replica shares token health through (package fleet). Absent: each
// replica works alone, as before.
type FleetConfig struct {
	// Cluster is the Envoy cluster that reaches etcd's gRPC port (an
	// HTTP/2 cluster; etcd's own TLS and client certificate are the
	// cluster's transport_socket: the plugin holds no store secret).
	Cluster string
	// Prefix starts every key the plugin writes (default /token-failover).
	Prefix string
	// TimeoutMs bounds every store call (default 2000).
	TimeoutMs int64
	// PollMs is the backstop: a full read of every token record this often,
	// beside the watch (default 30000).
	PollMs int64
	// ProberTTLSeconds is the etcd lease of a pool's fleet prober: a
	// replica that stops renewing it hands probing over within this long
	// (default 5).
	ProberTTLSeconds int64
}

// Fleet defaults and bounds.
const (
	DefaultFleetPrefix    = "/token-failover"
	DefaultFleetTimeoutMs = 2000
	DefaultFleetPollMs    = 30000
	DefaultProberTTL      = 5
	maxProberTTL          = 300
)

var fleetFields = []string{"etcdCluster", "keyPrefix", "timeout", "pollInterval", "proberTTL"}

// fleet reads the top-level fleet object (nil when absent).
func (r *reader) fleet(root gjson.Result) *FleetConfig {
	v, ok := r.field(root, "", "fleet")
	if !ok || !r.object(v, "fleet", fleetFields...) {
		return nil
	}
	f := &FleetConfig{
		Cluster:          r.str(v, "fleet", "etcdCluster", ""),
		Prefix:           strings.TrimRight(r.str(v, "fleet", "keyPrefix", DefaultFleetPrefix), "/"),
		TimeoutMs:        r.integer(v, "fleet", "timeout", DefaultFleetTimeoutMs, 1, MaxDurationMs, false),
		PollMs:           r.integer(v, "fleet", "pollInterval", DefaultFleetPollMs, 1000, MaxDurationMs, false),
		ProberTTLSeconds: r.integer(v, "fleet", "proberTTL", DefaultProberTTL, 2, maxProberTTL, false),
	}
	if f.Cluster == "" {
		r.fail("fleet.etcdCluster", "is required: the name of the Envoy cluster (HTTP/2) that reaches etcd's gRPC port")
	}
	if !strings.HasPrefix(f.Prefix, "/") || strings.ContainsAny(f.Prefix, "\x00") {
		r.fail("fleet.keyPrefix", "must start with '/', got %s", quote(f.Prefix))
	}
	return f
}
