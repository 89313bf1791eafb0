package config

import (
	"errors"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/provider"
)

// Config is a validated plugin configuration.
type Config struct {
	// Upstream is set by mode: upstream: the plugin runs as an upstream
	// HTTP filter of the route's cluster, once per router attempt, and the
	// router's retry_policy retries (carrying the tokens already tried in a
	// signed request header); retryOnFailure is then refused.
	Upstream bool
	// Global serves requests no rule matches: the top-level provider, or
	// the entry of the top-level providers that activeProviderId names.
	// Nil passes them through untouched (as Higress does with no active
	// provider).
	Global *ProviderBlock
	// Rules are Higress _rules_, tried in order; the first that matches
	// serves the request (see Rule.Matches), else Global does.
	Rules []Rule
	// Fleet is the etcd store shared by every replica; nil works alone.
	Fleet *FleetConfig
	// Status is the status page and its manual actions; nil: none.
	Status *StatusConfig
	// Telemetry is what the plugin tells Envoy's access log and stats per
	// request beyond its counters; nil: nothing.
	Telemetry *TelemetryConfig
	// Warnings are non-fatal remarks (unknown or ignored fields, values
	// read leniently) to log at start. Parse returns them on error too.
	Warnings []string
}

// blocks lists every provider block: the global one, then the rules'.
func (c *Config) blocks() []*ProviderBlock {
	var out []*ProviderBlock
	if c.Global != nil {
		out = append(out, c.Global)
	}
	for _, r := range c.Rules {
		if r.Block != nil {
			out = append(out, r.Block)
		}
	}
	return out
}

// ProviderBlock is one provider block: its tokens, rewrite and failover settings.
type ProviderBlock struct {
	// PoolID identifies the token pool's shared state: a hash of the
	// ordered token fingerprints only, so blocks with the same tokens share
	// one state, and a change of thresholds or intervals keeps it (settings
	// apply to the state as they are now). Empty when PassClientAuth.
	PoolID string
	// Name labels metrics and logs: the provider id, else type-<ID prefix>
	// (type alone when PassClientAuth).
	Name     string
	Provider provider.Provider
	// Tokens are apiTokens in order, later duplicates dropped; Token.Index
	// is the position here (a token's shared state is kept by position).
	Tokens []provider.Token
	// PassClientAuth is set when the block has no tokens: apiTokens is
	// absent or empty for a type Higress accepts that way (openai,
	// generic, vllm, hunyuan, spark) or the type sends none (ollama). The
	// client's own auth headers then go upstream untouched (none is
	// stripped), no token is picked, and the block has no shared state,
	// failover, retry or probes; host, path and model are still rewritten.
	PassClientAuth bool
	// ClientKeyHeaders, set only with PassClientAuth (type openai), are
	// the request headers where Higress looks for the client's own key, in
	// order (authHeaderKey, x-api-key, x-authorization, authorization):
	// the first non-empty value, less a leading "Bearer ", is sent as
	// Provider.Auth(head, key). No such header: nothing is set.
	ClientKeyHeaders []string
	// Mapping maps the body's model; nil for types Higress does not map
	// (generic, coze, hunyuan) and under protocol: original.
	Mapping  *provider.Mapping
	Failover FailoverConfig
	// Selection is "random", "round-robin" or "sticky" (by StickyHeader).
	Selection    string
	StickyHeader string
	Retry        RetryConfig
	// path is where the block sits in the configuration, for messages.
	path string
}

// FailoverConfig is provider.failover.
type FailoverConfig struct {
	Enabled            bool
	Settings           failover.Settings
	HealthCheckTimeout int64 // ms
	HealthCheckModel   string
	Patterns           *failover.StatusPatterns
	// RejectWhenAllDown answers 503 instead of using the soonest-back token.
	RejectWhenAllDown bool
}

// RetryConfig is provider.retryOnFailure.
type RetryConfig struct {
	Enabled      bool
	MaxRetries   int64
	TimeoutMs    int64
	Patterns     *failover.StatusPatterns
	MaxBodyBytes int64
}

// Defaults of absent (or null) fields (design section 2), and of an
// explicit 0 where Higress reads 0 as the default (thresholds, interval,
// timeouts, maxRetries).
const (
	DefaultFailureThreshold    = 3
	DefaultSuccessThreshold    = 1
	DefaultHealthCheckInterval = 5000
	DefaultHealthCheckTimeout  = 5000
	DefaultRetryTimeout        = 30000
	DefaultRetryMaxBodyBytes   = 1 << 20
	// MaxTokens bounds a pool; shared state and metrics grow with it.
	MaxTokens = 256
	// MaxThreshold bounds failureThreshold and successThreshold.
	MaxThreshold = 1_000_000
	// MaxDurationMs bounds every interval, timeout and cooldown: one day.
	MaxDurationMs = 86_400_000
	// MaxRetryBodyBytes bounds retryOnFailure.maxBodyBytes: the copy of a
	// request kept for a retry lives in the VM's memory, which never shrinks.
	MaxRetryBodyBytes = 16 << 20
)

// Fields the top level and a rule may hold (besides a rule's match keys).
var (
	topFields  = []string{"provider", "providers", "activeProviderId", "_rules_", "mode", "fleet", "status", "telemetry"}
	ruleFields = []string{"_match_route_", "_match_domain_", "_match_service_", "_match_route_prefix_",
		"provider", "providers", "activeProviderId"}
)

// Parse validates raw plugin configuration (JSON or YAML). The error
// lists every problem, one per line, each starting with its field path; the
// Config is never nil, and on error holds only the Warnings, so that an
// operator fixing one error sees every unknown field too.
func Parse(raw []byte) (*Config, error) {
	js, err := toJSON(raw)
	if err != nil {
		return &Config{}, err
	}
	root := gjson.ParseBytes(js)
	r := &reader{}
	cfg := &Config{}
	if r.resource(root) && r.object(root, "(root)", topFields...) {
		cfg.Upstream = r.oneOf(root, "", "mode", "downstream", "downstream", "upstream") == "upstream"
		r.shapes(root, cfg)
		cfg.Fleet = r.fleet(root)
		cfg.Status = r.status(root)
		cfg.Telemetry = r.telemetry(root)
	}
	if cfg.Upstream && cfg.Status != nil {
		r.fail("status", "is answered by the listener's filter (mode: downstream); with mode: upstream, configure it in a "+
			"second token-failover filter on the listener, with the status and no provider")
	}
	if cfg.Upstream {
		for _, b := range cfg.blocks() {
			if b.Retry.Enabled {
				r.fail(b.path+".retryOnFailure.enabled", "must be false with mode: upstream (the router's retry_policy retries each attempt through this filter)")
			}
		}
	}
	cfg.Warnings = r.warns
	if len(r.errs) > 0 {
		return &Config{Warnings: r.warns}, errors.New(strings.Join(r.errs, "\n"))
	}
	return cfg, nil
}

// resource refuses a Kubernetes resource given whole (a Higress WasmPlugin)
// instead of the plugin's configuration in it.
func (r *reader) resource(root gjson.Result) bool {
	if !root.Get("kind").Exists() || !root.Get("spec").IsObject() {
		return true
	}
	r.fail("(root)", "is a Kubernetes resource (kind %s), not the plugin's configuration: give the plugin "+
		"spec.defaultConfig, with each spec.matchRules[] entry as a _rules_ entry (its config fields beside "+
		"_match_route_ for ingress, _match_domain_ for domain, _match_service_ for service)", quote(root.Get("kind").String()))
	return false
}
