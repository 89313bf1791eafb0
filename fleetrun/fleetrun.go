// Package fleetrun starts a fleet as production runs one, for the fleet
// tests, the fleet benchmark and the fleet demo: an etcd cluster and several
// Envoy replicas from envoy-fleet.yaml, each replica listing every etcd
// member in its cluster "etcd" and sending to a mock provider of its own
// (all scripted alike), so a caller sees which replica sent what.
package fleetrun

import (
	"fmt"
	"strings"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/etcdrun"
	"github.com/token-failover/token-failover/mockllm"
)

// Options describe a fleet.
type Options struct {
	// Bin and Wasm are Envoy and the plugin (envoyrun.Tools()).
	Bin, Wasm string
	// Replicas is the number of Envoy processes (default 3), each with
	// Concurrency workers (default 2).
	Replicas, Concurrency int
	// Members is the etcd cluster's size (default 3).
	Members int
	// PluginConfig replaces envoy-fleet.yaml's plugin configuration.
	PluginConfig string
	// Dir holds etcd's data (default a temporary directory).
	Dir string
}

// Replica is one Envoy process of the fleet and its mock provider.
type Replica struct {
	Envoy *envoyrun.Envoy
	Mock  *mockllm.Server
}

// Fleet is a running fleet.
type Fleet struct {
	Etcd     *etcdrun.Cluster
	Replicas []*Replica
}

// Start starts etcd, then the replicas. On error what started is stopped.
func Start(o Options) (*Fleet, error) {
	if o.Replicas == 0 {
		o.Replicas = 3
	}
	if o.Concurrency == 0 {
		o.Concurrency = 2
	}
	if o.Members == 0 {
		o.Members = 3
	}
	etcd, err := etcdrun.Start(o.Members, o.Dir)
	if err != nil {
		return nil, err
	}
	f := &Fleet{Etcd: etcd}
	var endpoints []string
	for _, m := range etcd.Members {
		host, port, _ := strings.Cut(m.Client, ":")
		endpoints = append(endpoints, fmt.Sprintf("        - endpoint: {address: {socket_address: {address: %s, port_value: %s}}}", host, port))
	}
	_, firstPort, _ := strings.Cut(etcd.Members[0].Client, ":")
	one := "        - endpoint:\n            address:\n              socket_address: {address: 127.0.0.1, port_value: " + firstPort + "}"
	for i := 0; i < o.Replicas; i++ {
		mock := mockllm.New()
		addr, err := mock.Start("127.0.0.1:0")
		if err != nil {
			f.Stop()
			return nil, err
		}
		e, err := envoyrun.Start(envoyrun.Options{Bin: o.Bin, Wasm: o.Wasm, PluginConfig: o.PluginConfig, Upstream: addr,
			Template: "envoy-fleet.yaml", Concurrency: o.Concurrency, Upstreams: map[int]string{2379: etcd.Members[0].Client},
			Edit: func(cfg string) string { return strings.Replace(cfg, one, strings.Join(endpoints, "\n"), 1) }})
		f.Replicas = append(f.Replicas, &Replica{Envoy: e, Mock: mock})
		if err != nil {
			f.Stop()
			return nil, fmt.Errorf("fleetrun: replica %d: %w", i, err)
		}
	}
	return f, nil
}

// Stop stops every replica, its mock, and etcd.
func (f *Fleet) Stop() {
	for _, r := range f.Replicas {
		if r.Envoy != nil {
			_ = r.Envoy.Stop()
		}
		_ = r.Mock.Close()
	}
	f.Etcd.Stop()
}

// SetAll scripts token on every replica's mock.
func (f *Fleet) SetAll(token string, b mockllm.Behaviour) {
	for _, r := range f.Replicas {
		r.Mock.Set(token, b)
	}
}
