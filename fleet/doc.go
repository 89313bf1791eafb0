// Package fleet is what Envoy replicas share through etcd v3 so that a key
// one replica finds revoked or exhausted stops costing errors on every
// replica: the record of a token's transitions (Record), the rule that
// merges the records many replicas write in any order (Merge), how a
// record moves a replica's own state (Apply, RecordOf), the key layout
// (Keys), and the etcd v3 gRPC messages used (etcdpb.go), written with
// protowire. It makes no hostcall: the plugin sends and receives.
package fleet
