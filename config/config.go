package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	// Global serves requests no rule matches; nil passes them through.
	Global *ProviderBlock
	// Rules are Higress _rules_, first match wins.
	Rules []Rule
	// Warnings are non-fatal remarks (unknown fields) to log at start.
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

// Rule sends requests of some routes or domains to their own block.
type Rule struct {
	Routes  []string
	Domains []string
	Block   *ProviderBlock
}

// ProviderBlock is one provider block: its tokens, rewrite and failover settings.
type ProviderBlock struct {
	// PoolID identifies the token pool's shared state: a hash of the
	// ordered token fingerprints only, so blocks with the same tokens share
	// one state, and a change of thresholds or intervals keeps it (settings
	// apply to the state as they are now).
	PoolID string
	// Name labels metrics and logs: the provider id, else type-<ID prefix>.
	Name     string
	Provider provider.Provider
	Tokens   []provider.Token
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
	Patterns           failover.StatusPatterns
	// RejectWhenAllDown answers 503 instead of using the soonest-back token.
	RejectWhenAllDown bool
}

// RetryConfig is provider.retryOnFailure.
type RetryConfig struct {
	Enabled      bool
	MaxRetries   int64
	TimeoutMs    int64
	Patterns     failover.StatusPatterns
	MaxBodyBytes int64
}

// Defaults of absent fields (design section 2).
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

var (
	topFields      = []string{"provider", "_rules_", "mode"}
	ruleFields     = []string{"_match_route_", "_match_domain_", "provider"}
	providerFields = []string{"type", "id", "apiTokens", "modelMapping", "failover", "retryOnFailure",
		"tokenSelection", "stickyHeader", "azureServiceUrl", "claudeVersion", "authHeader", "authPrefix", "host"}
	failoverFields = []string{"enabled", "failureThreshold", "successThreshold", "healthCheckInterval",
		"healthCheckTimeout", "healthCheckModel", "cooldownDuration", "failoverOnStatus", "allTokensDown"}
	retryFields = []string{"enabled", "maxRetries", "retryTimeout", "retryOnStatus", "maxBodyBytes"}
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
	if r.object(root, "(root)", topFields...) {
		cfg.Upstream = r.oneOf(root, "", "mode", "downstream", "downstream", "upstream") == "upstream"
		if p := root.Get("provider"); p.Exists() {
			cfg.Global = r.pool(p, "provider")
		}
		if rules := root.Get("_rules_"); rules.Exists() {
			cfg.Rules = r.rules(rules)
		}
		if !root.Get("provider").Exists() && !root.Get("_rules_").Exists() {
			r.fail("provider", "is required (or _rules_)")
		} else if !root.Get("provider").Exists() && len(root.Get("_rules_").Array()) == 0 && root.Get("_rules_").IsArray() {
			r.fail("_rules_", "must hold at least one rule when there is no provider, got an empty list")
		}
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

func (r *reader) rules(v gjson.Result) []Rule {
	if !v.IsArray() {
		r.fail("_rules_", "must be a list, got %s", describe(v))
		return nil
	}
	var out []Rule
	for i, e := range v.Array() {
		path := fmt.Sprintf("_rules_[%d]", i)
		if !r.object(e, path, ruleFields...) {
			continue
		}
		routes, _ := r.strings(e, path, "_match_route_")
		domains, _ := r.strings(e, path, "_match_domain_")
		if len(routes) == 0 && len(domains) == 0 {
			r.fail(path, "needs _match_route_ or _match_domain_ with at least one entry")
		}
		p := e.Get("provider")
		if !p.Exists() {
			r.fail(join(path, "provider"), "is required")
			continue
		}
		out = append(out, Rule{Routes: routes, Domains: domains, Block: r.pool(p, join(path, "provider"))})
	}
	return out
}

func (r *reader) pool(v gjson.Result, path string) *ProviderBlock {
	if !r.object(v, path, providerFields...) {
		return nil
	}
	before := len(r.errs)
	p := &ProviderBlock{path: path}
	typ := r.str(v, path, "type", "")
	opts := provider.Options{
		AzureServiceURL: r.headerValue(v, path, "azureServiceUrl"),
		ClaudeVersion:   r.headerValue(v, path, "claudeVersion"),
		AuthHeader:      r.str(v, path, "authHeader", ""),
		AuthPrefix:      r.headerValue(v, path, "authPrefix"),
		Host:            r.headerValue(v, path, "host"),
	}
	if opts.AuthHeader != "" && !headerName(opts.AuthHeader) {
		r.fail(join(path, "authHeader"), "must be a header name (letters, digits and !#$%%&'*+-.^_`|~), got %s", describe(v.Get("authHeader")))
	}
	if typ == "generic" && opts.Host == "" {
		// Without a host the token would go to whatever authority the
		// client sent (with a dynamic forward proxy: to the client's server).
		r.fail(join(path, "host"), "is required for type generic: without it the token goes to whatever authority the client names")
	}
	switch prov, err := provider.New(typ, opts); {
	case typ == "":
		r.fail(join(path, "type"), "is required (one of %s)", strings.Join(provider.Types(), ", "))
	case err != nil && strings.Contains(err.Error(), "unknown"):
		r.fail(join(path, "type"), "unknown provider %s; known: %s", quote(typ), strings.Join(provider.Types(), ", "))
	case err != nil:
		r.fail(path, "%v", err)
	default:
		p.Provider = prov
	}
	id := r.str(v, path, "id", "")
	p.Tokens = r.tokens(v, path)
	p.Mapping = r.mapping(v, path)
	p.Failover = r.failover(v.Get("failover"), join(path, "failover"))
	p.Retry = r.retry(v.Get("retryOnFailure"), join(path, "retryOnFailure"))
	p.Selection = r.oneOf(v, path, "tokenSelection", "random", "random", "round-robin", "sticky")
	p.StickyHeader = strings.ToLower(r.str(v, path, "stickyHeader", ""))
	if p.Selection == "sticky" && p.StickyHeader == "" {
		r.fail(join(path, "stickyHeader"), "is required when tokenSelection is sticky")
	}
	if len(r.errs) > before {
		return nil
	}
	p.PoolID = poolID(p.Tokens)
	p.Name = id
	if p.Name == "" {
		p.Name = typ + "-" + p.PoolID[:6]
	}
	return p
}

func (r *reader) tokens(v gjson.Result, path string) []provider.Token {
	field := join(path, "apiTokens")
	raw := v.Get("apiTokens")
	var secrets []string
	switch {
	case !raw.Exists():
		r.fail(field, "is required: a list of at least one token")
		return nil
	case raw.Type == gjson.String:
		// Higress reads a single string as a list of one.
		r.warns = append(r.warns, field+": a single string, read as a list of one token")
		secrets = []string{raw.Str}
	case !raw.IsArray():
		r.fail(field, "must be a list of strings, got %s", describe(raw))
		return nil
	default:
		for i, e := range raw.Array() {
			if e.Type != gjson.String {
				// Never describe the value: it is in the tokens' place.
				r.fail(fmt.Sprintf("%s[%d]", field, i), "must be a string, got %s", kind(e))
				continue
			}
			secrets = append(secrets, e.Str)
		}
		if len(raw.Array()) == 0 {
			r.fail(field, "must hold at least one token, got an empty list")
		}
	}
	if len(secrets) > MaxTokens {
		r.fail(field, "must hold at most %d tokens, got %d", MaxTokens, len(secrets))
	}
	seen := map[string]int{}
	var out []provider.Token
	for i, s := range secrets {
		at := fmt.Sprintf("%s[%d]", field, i)
		if t := strings.TrimSpace(s); t != s {
			if t != "" {
				// A newline at the end of a Kubernetes Secret is the usual cause.
				r.warns = append(r.warns, at+": surrounding whitespace trimmed")
			}
			s = t
		}
		tok := provider.NewToken(i, s)
		j, dup := seen[s]
		switch {
		case s == "":
			r.fail(at, "must not be empty")
		case headerSafe(s) >= 0:
			r.fail(at, "has a character not allowed in a header (byte 0x%02x at position %d)", s[headerSafe(s)], headerSafe(s))
		case dup:
			r.fail(at, "duplicates token #%d (fingerprint %s)", j, tok.Fingerprint)
		}
		seen[s] = i
		out = append(out, tok)
	}
	return out
}

func (r *reader) mapping(v gjson.Result, path string) *provider.Mapping {
	m := v.Get("modelMapping")
	field := join(path, "modelMapping")
	if !m.Exists() {
		return nil
	}
	if !m.IsObject() {
		r.fail(field, "must be an object of model: target, got %s", describe(m))
		return nil
	}
	var entries []provider.MappingEntry
	m.ForEach(func(k, t gjson.Result) bool {
		if t.Type != gjson.String {
			r.fail(field+"."+k.Str, "target must be a string, got %s", describe(t))
			return true
		}
		entries = append(entries, provider.MappingEntry{Key: k.Str, Target: t.Str})
		return true
	})
	compiled, err := provider.CompileMapping(entries)
	if err != nil {
		r.fail(field, "%v", err)
	}
	return compiled
}

func (r *reader) failover(v gjson.Result, path string) FailoverConfig {
	f := FailoverConfig{Settings: failover.Settings{FailureThreshold: DefaultFailureThreshold,
		SuccessThreshold: DefaultSuccessThreshold, HealthCheckInterval: DefaultHealthCheckInterval},
		HealthCheckTimeout: DefaultHealthCheckTimeout}
	if !v.Exists() || !r.object(v, path, failoverFields...) {
		return f
	}
	f.Enabled = r.boolean(v, path, "enabled", false)
	f.Settings.FailureThreshold = uint32(r.integer(v, path, "failureThreshold", DefaultFailureThreshold, 1, MaxThreshold))
	f.Settings.SuccessThreshold = uint32(r.integer(v, path, "successThreshold", DefaultSuccessThreshold, 1, MaxThreshold))
	f.Settings.HealthCheckInterval = r.integer(v, path, "healthCheckInterval", DefaultHealthCheckInterval, 1, MaxDurationMs)
	f.Settings.CooldownDuration = r.integer(v, path, "cooldownDuration", 0, 0, MaxDurationMs)
	f.HealthCheckTimeout = r.integer(v, path, "healthCheckTimeout", DefaultHealthCheckTimeout, 1, MaxDurationMs)
	f.HealthCheckModel = r.str(v, path, "healthCheckModel", "")
	f.RejectWhenAllDown = r.oneOf(v, path, "allTokensDown", "fallback", "fallback", "reject") == "reject"
	f.Patterns = r.patterns(v, path, "failoverOnStatus")
	return f
}

func (r *reader) retry(v gjson.Result, path string) RetryConfig {
	c := RetryConfig{MaxRetries: 1, TimeoutMs: DefaultRetryTimeout, MaxBodyBytes: DefaultRetryMaxBodyBytes}
	if !v.Exists() || !r.object(v, path, retryFields...) {
		return c
	}
	c.Enabled = r.boolean(v, path, "enabled", false)
	c.MaxRetries = r.integer(v, path, "maxRetries", 1, 0, MaxTokens)
	c.TimeoutMs = r.integer(v, path, "retryTimeout", DefaultRetryTimeout, 1, MaxDurationMs)
	c.MaxBodyBytes = r.integer(v, path, "maxBodyBytes", DefaultRetryMaxBodyBytes, 0, MaxRetryBodyBytes)
	c.Patterns = r.patterns(v, path, "retryOnStatus")
	return c
}

func (r *reader) patterns(v gjson.Result, path, key string) failover.StatusPatterns {
	list, present := r.strings(v, path, key)
	if !present {
		return nil
	}
	ps, err := failover.CompileStatusPatterns(list)
	if err != nil {
		r.fail(join(path, key), "%v", err)
		return nil
	}
	return ps
}

// poolID hashes the ordered token fingerprints: only the token list decides
// a state's identity (a token's state is kept by its position). The raw
// token never reaches the hash.
func poolID(tokens []provider.Token) string {
	h := sha256.New()
	for _, t := range tokens {
		h.Write([]byte(t.Fingerprint + ","))
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
