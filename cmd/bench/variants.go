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

// variants returns the set-ups a to g, given the plugin and the null
// module, and the ablations h and i, which run only when named in -only.
func variants(plugin, null string) ([]*variant, error) {
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
	}, nil
}

// label is "e. token-failover, envoy.yaml".
func (v *variant) label() string { return v.letter + ". " + v.name }

// start starts the variant's Envoy (--concurrency 2) and its client.
func (v *variant) start(bin, upstream string, conns int) error {
	e, err := envoyrun.Start(envoyrun.Options{Bin: bin, Wasm: v.wasm, Upstream: upstream, Filter: v.filter,
		PluginConfig: v.config, Concurrency: 2})
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
