package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/token-failover/token-failover/envoyrun"
	"github.com/token-failover/token-failover/wasmhost"
)

// variant is one Envoy set-up the bench compares against bare Envoy.
type variant struct {
	letter, name string
	// filter is envoyrun.Options.Filter: "none", "lua" or "wasm".
	filter string
	// wasm is the module of a "wasm" variant; config its plugin configuration.
	wasm, config string
	// edit, when set, changes the variant's rendered Envoy configuration.
	edit func(string) string
	// template is the Envoy configuration to render (default envoy.yaml);
	// etcd marks a variant that needs a running etcd (its client address
	// fills the template's etcd cluster, port 2379).
	template string
	etcd     bool

	envoy  *envoyrun.Envoy
	client *loadClient
}

// passThroughConfig has one rule, for a domain no request names, and no
// top-level provider: the plugin reads the request headers and lets every
// request through untouched.
const passThroughConfig = `_rules_: [{_match_domain_: [no-such-host.invalid], provider: {type: openai, apiTokens: [x]}}]`

// Ablations of envoy.yaml's configuration (variants h and i): the same
// tokens without the model mapping (no body is read) and without failover
// (no shared data is read or written).
const (
	noMappingConfig = `provider: {type: openai, id: demo, apiTokens: [sk-demo-token-alpha, sk-demo-token-bravo, sk-demo-token-charlie],
  failover: {enabled: true, failureThreshold: 3, successThreshold: 1, healthCheckInterval: 1000, healthCheckTimeout: 2000}}`
	noFailoverConfig = `provider: {type: openai, id: demo, apiTokens: [sk-demo-token-alpha, sk-demo-token-bravo, sk-demo-token-charlie],
  modelMapping: {"gpt-4*": gpt-4o-mini, "*": gpt-4o-mini}}`
)

// variants returns the set-ups a to g, given the plugin, the null module
// and the cost probe; the ablations h and i and the attribution probes j to
// p run only when named in -only (j-n: the null module plus one kind of
// work, wasmhost/testdata/costprobe).
func variants(plugin, null, probe string) ([]*variant, error) {
	shipped, err := shippedConfig()
	if err != nil {
		return nil, err
	}
	retry, err := withProviderFields(shipped, "retryOnFailure: {enabled: true}")
	if err != nil {
		return nil, err
	}
	sticky, err := withProviderFields(shipped, "tokenSelection: sticky", "stickyHeader: x-session-id")
	if err != nil {
		return nil, err
	}
	return []*variant{
		{letter: "a", name: "bare Envoy", filter: "none"},
		{letter: "b", name: "null Go filter", filter: "wasm", wasm: null, config: shipped},
		{letter: "c", name: "Lua round-robin", filter: "lua"},
		{letter: "d", name: "token-failover, no rule matches", filter: "wasm", wasm: plugin, config: passThroughConfig},
		{letter: "e", name: "token-failover, envoy.yaml", filter: "wasm", wasm: plugin, config: shipped},
		{letter: "f", name: "e + retryOnFailure", filter: "wasm", wasm: plugin, config: retry},
		{letter: "g", name: "e + sticky tokens", filter: "wasm", wasm: plugin, config: sticky},
		{letter: "h", name: "e without modelMapping", filter: "wasm", wasm: plugin, config: noMappingConfig},
		{letter: "i", name: "e without failover", filter: "wasm", wasm: plugin, config: noFailoverConfig},
		{letter: "j", name: "null + a 512-byte stream object", filter: "wasm", wasm: probe, config: "alloc"},
		{letter: "k", name: "null + a hostcall returning nothing", filter: "wasm", wasm: probe, config: "hostcall"},
		{letter: "l", name: "null + a header read (1 allocate callback)", filter: "wasm", wasm: probe, config: "getheader"},
		{letter: "m", name: "null + five header reads", filter: "wasm", wasm: probe, config: "getheader5"},
		{letter: "n", name: "null + every request header", filter: "wasm", wasm: probe, config: "getheaders"},
		{letter: "o", name: "null + 20 hostcalls returning nothing", filter: "wasm", wasm: probe, config: "hostcall20"},
		{letter: "p", name: "null + 20 header reads (20 allocate callbacks)", filter: "wasm", wasm: probe, config: "getheader20"},
		{letter: "q", name: "null with the whole plugin linked in", filter: "wasm", wasm: probe, config: "linked"},
		{letter: "r", name: "e with GOGC=off", filter: "wasm", wasm: plugin, config: shipped, edit: gcOff},
		{letter: "s", name: "null + e's hostcalls, no Go work", filter: "wasm", wasm: probe, config: "floor"},
		{letter: "t", name: "null + e's Go work on a fake host, no hostcall", filter: "wasm", wasm: probe, config: "gowork"},
		{letter: "u", name: "s without the route read and clear_route_cache", filter: "wasm", wasm: probe, config: "floor -route -setprop"},
		{letter: "v", name: "s without the :authority write", filter: "wasm", wasm: probe, config: "floor -authority"},
		{letter: "w", name: "s without the body rewrite (content-length kept)", filter: "wasm", wasm: probe, config: "floor -body"},
		{letter: "x", name: "s without the shared-data reads", filter: "wasm", wasm: probe, config: "floor -shared"},
		{letter: "y", name: "e with the fleet (envoy-fleet.yaml, etcd up, no transition)", filter: "wasm", wasm: plugin,
			template: "envoy-fleet.yaml", etcd: true},
	}, nil
}

// gcOff gives the wasm VM the environment variable GOGC=off: Go's
// collector never runs (variant r prices the collector's share).
func gcOff(config string) string {
	return strings.Replace(config, "                  vm_id: token-failover\n",
		"                  vm_id: token-failover\n                  environment_variables: {key_values: {GOGC: \"off\"}}\n", 1)
}

// label is "e. token-failover, envoy.yaml".
func (v *variant) label() string { return v.letter + ". " + v.name }

// start starts the variant's Envoy (--concurrency 2) and its client;
// etcd is the store's client address for a fleet variant.
func (v *variant) start(bin, upstream, etcd string, conns int) error {
	o := envoyrun.Options{Bin: bin, Wasm: v.wasm, Upstream: upstream, Filter: v.filter,
		PluginConfig: v.config, Concurrency: 2, Edit: v.edit, Template: v.template}
	if v.etcd {
		o.Upstreams = map[int]string{2379: etcd}
	}
	e, err := envoyrun.Start(o)
	v.envoy = e
	if err != nil {
		return fmt.Errorf("%s: %w", v.label(), err)
	}
	v.client = newLoadClient(e.Listen, conns)
	return nil
}

// stop stops the variant's Envoy, if it started.
func (v *variant) stop() {
	if v.envoy != nil {
		_ = v.envoy.Stop()
	}
}

// shippedConfig is the plugin configuration of the repository's envoy.yaml
// (the block under "value: |"), dedented.
func shippedConfig() (string, error) {
	root, err := wasmhost.ModuleRoot()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(root, "envoy.yaml"))
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "value: |" {
			continue
		}
		outer := indent(l)
		var block []string
		for _, m := range lines[i+1:] {
			if strings.TrimSpace(m) != "" && indent(m) <= outer {
				break
			}
			block = append(block, m)
		}
		if len(block) == 0 {
			break
		}
		inner := indent(block[0])
		for j, m := range block {
			block[j] = m[min(inner, len(m)):]
		}
		return strings.TrimRight(strings.Join(block, "\n"), "\n") + "\n", nil
	}
	return "", errors.New("bench: envoy.yaml has no plugin configuration block (value: |)")
}

// indent counts a line's leading spaces.
func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// withProviderFields adds YAML fields to the top-level provider block.
func withProviderFields(cfg string, fields ...string) (string, error) {
	lines := strings.Split(cfg, "\n")
	for i, l := range lines {
		if strings.TrimRight(l, " ") != "provider:" {
			continue
		}
		var add []string
		for _, f := range fields {
			add = append(add, "  "+f)
		}
		return strings.Join(append(lines[:i+1], append(add, lines[i+1:]...)...), "\n"), nil
	}
	return "", errors.New("bench: the shipped configuration has no top-level provider block")
}

// buildModule builds the package pkg with build tags into dir/name the way
// build.sh builds the plugin (wasmhost.Build), so that every module the
// bench compares went through the same steps.
func buildModule(dir, pkg, name string, tags ...string) (string, error) {
	out := filepath.Join(dir, name)
	return out, wasmhost.Build(pkg, out, tags...)
}
