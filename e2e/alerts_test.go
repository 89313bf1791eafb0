package e2e

// The alert rules (ops/alerts.yaml) and the dashboard (ops/dashboard.json)
// against the stats a real Envoy exports (issue 23). The scenario drives one
// pool through a token failing until demoted, kept down while its probes
// fail, every token down while requests are answered, healing, and an Envoy
// stalled until its probe lease changes hands, while a second pool stays
// healthy and a third has failover off; it scrapes /stats/prometheus after
// every step. Each scrape becomes
// one sample, a minute after the previous one, of a `promtool test rules`
// file: promtool evaluates the rules over exactly the series Envoy exported
// and checks which alerts fire at the end of each phase, with which labels
// and annotations. docs/operations-alerts.md explains the alerts.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

// calmHost routes a request to the scenario's healthy pool, calm-pool,
// which Prometheus names calm_pool; plainHost to pool plain, whose failover
// is off: the plugin never publishes its gauges, so its available_tokens
// stays 0 (TokenFailoverPoolAllTokensDown must not take that for a pool
// down).
const (
	calmHost  = "calm.alerts"
	plainHost = "plain.alerts"
)

// alertsConfig is the scenario's plugin configuration: pool e2e (the
// harness's tokens), calm-pool and plain. Intervals are short so probes
// back off within seconds (200 ms doubling up to 2 s) and the lease lives 3
// ticks of 200 ms.
var alertsConfig = `provider:
  type: openai
  id: e2e
  apiTokens: [` + strings.Join(tokens, ", ") + `]
  modelMapping: {"gpt-4*": mapped-model, "gpt-3": probe-model}
  failover: {enabled: true, failureThreshold: 3, healthCheckInterval: 200, healthCheckTimeout: 1000, healthCheckModel: gpt-3}
_rules_:
- _match_domain_: [` + calmHost + `]
  provider:
    type: openai
    id: calm-pool
    apiTokens: [calm-token-one-5b1e, calm-token-two-c8d4]
    modelMapping: {"gpt-4*": mapped-model, "gpt-3": probe-model}
    failover: {enabled: true, healthCheckInterval: 200, healthCheckModel: gpt-3}
- _match_domain_: [` + plainHost + `]
  provider:
    type: openai
    id: plain
    apiTokens: [plain-token-one-77aa]
    failover: {enabled: false}
`

// Alert names, as ops/alerts.yaml defines them.
const (
	alertTokenUnhealthy = "TokenFailoverTokenUnhealthy"
	alertProbesFailing  = "TokenFailoverProbesFailing"
	alertPoolDown       = "TokenFailoverPoolAllTokensDown"
	alertDownAnswers    = "TokenFailoverAllTokensDownAnswers"
	alertLeaseFlapping  = "TokenFailoverLeaseFlapping"
)

// Thresholds of ops/alerts.yaml the scenario's facts are written against
// (docs/operations-alerts.md): changing one there changes it here.
const (
	probeFailuresToAlert = 3  // TokenFailoverProbesFailing: failed probes in 15m
	leaseChangesToAlert  = 4  // TokenFailoverLeaseFlapping: changes in 15m
	window15m            = 15 // samples (minutes) in a 15m range: (t-15m, t]
	window5m             = 5
)

// TestEnvoy_AlertsFireOnRealStats: the scenario, its facts checked on the
// raw scrapes, then promtool's verdict on the rules.
func TestEnvoy_AlertsFireOnRealStats(t *testing.T) {
	promtool := promtoolBin(t)
	rules := loadRules(t)
	dash := loadDashboard(t)
	e := setup(t, alertsConfig)
	start := time.Now()
	r := &alertRun{t: t, e: e, pools: []string{"e2e", "calm_pool", "plain"}, always: bystanders}
	r.run(alertScenario())
	t.Logf("scenario: %d scrapes in %v", len(r.samples), time.Since(start).Round(time.Millisecond))
	r.checkNames(rules, dash)
	r.promtool(promtool, rules, dash)
}

// TestEnvoy_AlertsReadUpstreamModeStats: the plugin as the cluster's
// upstream filter, whose stats Envoy 1.36 names
// envoy_cluster_wasmcustom_tokenfailover_..., labelled envoy_cluster_name
// (later Envoys as downstream): the rules and the dashboard read them too.
func TestEnvoy_AlertsReadUpstreamModeStats(t *testing.T) {
	promtool := promtoolBin(t)
	rules := loadRules(t)
	dash := loadDashboard(t)
	e := setupUpstream(t, upstreamConfig(""))
	r := &alertRun{t: t, e: e, pools: []string{"e2e"}}
	r.run([]alertPhase{{
		name: "token #0 refused",
		enter: func(r *alertRun) {
			r.e.mock.Set(tokens[0], mockllm.Behaviour{Status: 401})
			r.until("token #0 unhealthy", func() bool {
				r.e.load(4, 2)
				return r.e.stat(r.t, tokenStat(0, "state")) == 2
			})
		},
		step:    func(r *alertRun) { r.e.load(2, 2) },
		scrapes: 12,
		facts: func(r *alertRun, first, last int) {
			r.each(first, last, "e2e", "token0_state", 2)
			r.each(first, last, "e2e", "available_tokens", 2)
		},
		fire: map[string][]firing{alertTokenUnhealthy: {{"e2e", "0"}}, alertPoolDown: nil, alertDownAnswers: nil, alertLeaseFlapping: nil},
		only: true,
	}})
	key, _ := r.samples[0].find("e2e", "token0_state")
	t.Logf("Envoy exports %s", key)
	r.checkNames(rules, dash)
	r.promtool(promtool, rules, dash)
}

// alertScenario is the phases of TestEnvoy_AlertsFireOnRealStats. Sample i
// is minute i of promtool's time; the comments give the minutes of a run
// with the phases' fixed scrape counts.
func alertScenario() []alertPhase {
	// Probes of a token down back off to 2 s: scrapes 600 ms apart see
	// several fail within 15 of them.
	slow := func(r *alertRun) { r.traffic(4, 2); time.Sleep(600 * time.Millisecond) }
	none := map[string][]firing{alertTokenUnhealthy: nil, alertProbesFailing: nil, alertPoolDown: nil, alertDownAnswers: nil, alertLeaseFlapping: nil}
	return []alertPhase{{
		// Minutes 0-15: every alert has had time to fire; none does.
		name: "healthy",
		enter: func(r *alertRun) {
			r.until("both pools' gauges published and leases taken", func() bool {
				s, err := r.e.envoy.Stats("tokenfailover")
				require.NoError(r.t, err)
				return s["tokenfailover.e2e.available_tokens"] == 3 && s["tokenfailover.calm-pool.available_tokens"] == 2 &&
					s["tokenfailover.e2e.lease_changes"] >= 1 && s["tokenfailover.calm-pool.lease_changes"] >= 1
			})
		},
		step:    func(r *alertRun) { r.requireOK(r.traffic(4, 2)) },
		scrapes: 16,
		facts:   func(r *alertRun, first, last int) { r.healthy(first, last, "e2e", 3) },
		fire:    none,
	}, {
		// Minutes 16-21: token #1 answers 500 and was demoted before minute
		// 16; 5 minutes unhealthy is not yet 10.
		name: "token #1 demoted, pending",
		enter: func(r *alertRun) {
			r.e.mock.Set(tokens[1], mockllm.Behaviour{Status: 500})
			r.until("token #1 unhealthy", func() bool {
				r.traffic(6, 0)
				return r.e.stat(r.t, tokenStat(1, "state")) == 2
			})
		},
		step:    slow,
		scrapes: 6,
		facts: func(r *alertRun, first, last int) {
			r.each(first, last, "e2e", "token1_state", 2)
			r.each(first, last, "e2e", "available_tokens", 2)
		},
		fire: map[string][]firing{alertTokenUnhealthy: nil},
		only: true,
	}, {
		// Minutes 22-28: unhealthy since minute 16 (12 minutes), its probes
		// failing.
		name:    "token #1 unhealthy, probes failing",
		step:    slow,
		scrapes: 7,
		facts: func(r *alertRun, first, last int) {
			r.each(first, last, "e2e", "token1_state", 2)
			r.each(first, last, "e2e", "available_tokens", 2)
			r.rises(last, window15m, "e2e", "token1_probes_failed", probeFailuresToAlert)
			r.flat(last, window5m, "e2e", "all_tokens_down")
		},
		fire: map[string][]firing{alertTokenUnhealthy: {{"e2e", "1"}}, alertProbesFailing: {{"e2e", "1"}},
			alertPoolDown: nil, alertDownAnswers: nil, alertLeaseFlapping: nil},
	}, {
		// Minutes 29-33: tokens #0 and #2 rate-limited (cooling for 6 s,
		// never probed), #1 still unhealthy: no token left, and requests
		// answered anyway.
		name: "every token down",
		enter: func(r *alertRun) {
			for _, i := range []int{0, 2} {
				r.e.mock.Set(tokens[i], mockllm.Behaviour{Status: 429, RetryAfter: 6})
			}
			r.until("no token of e2e available", func() bool {
				r.traffic(2, 0)
				return r.e.stat(r.t, "tokenfailover.e2e.available_tokens") == 0
			})
		},
		step:    func(r *alertRun) { r.traffic(3, 2); time.Sleep(300 * time.Millisecond) },
		scrapes: 5,
		facts: func(r *alertRun, first, last int) {
			r.each(first, last, "e2e", "available_tokens", 0)
			r.each(first, last, "e2e", "token0_state", 1)
			r.each(first, last, "e2e", "token1_state", 2)
			r.each(first, last, "e2e", "token2_state", 1)
			r.each(0, last, "e2e", "token0_probes_failed", 0)
			r.each(0, last, "e2e", "token2_probes_failed", 0)
			r.rises(last, window15m, "e2e", "token1_probes_failed", probeFailuresToAlert)
			r.rises(last, window5m, "e2e", "all_tokens_down", 1)
		},
		fire: map[string][]firing{alertTokenUnhealthy: {{"e2e", "1"}}, alertProbesFailing: {{"e2e", "1"}},
			alertPoolDown: {{"e2e", ""}}, alertDownAnswers: {{"e2e", ""}}, alertLeaseFlapping: nil},
	}, {
		// Minutes 34-39: the provider heals, a probe restores #1 and the
		// cooldowns end: every alert resolves.
		name: "healed",
		enter: func(r *alertRun) {
			for _, tok := range tokens {
				r.e.mock.Set(tok, mockllm.Healthy)
			}
			r.until("every token of e2e back", func() bool {
				return r.e.stat(r.t, "tokenfailover.e2e.available_tokens") == 3
			})
		},
		step:    func(r *alertRun) { r.requireOK(r.traffic(4, 2)) },
		scrapes: 6,
		facts: func(r *alertRun, first, last int) {
			r.healthy(first, last, "e2e", 3)
			r.flat(last, window5m, "e2e", "all_tokens_down")
		},
		fire: none,
	}, {
		// From minute 40: Envoy stopped (SIGSTOP) for longer than the
		// lease's 3 ticks, as a CPU-throttled Envoy is, then resumed:
		// whichever VM ticks first takes the lease. Until each pool's lease
		// has moved 4 times.
		name: "lease changing hands",
		step: func(r *alertRun) { r.stall(time.Second) },
		done: func(r *alertRun, first int) bool {
			last := len(r.samples) - 1
			return r.value(last, "e2e", "lease_changes")-r.value(first-1, "e2e", "lease_changes") >= leaseChangesToAlert &&
				r.value(last, "calm_pool", "lease_changes")-r.value(first-1, "calm_pool", "lease_changes") >= leaseChangesToAlert
		},
		scrapes: window15m - 1,
		facts: func(r *alertRun, first, last int) {
			r.healthy(first, last, "e2e", 3)
			r.flat(last, window5m, "e2e", "all_tokens_down")
			r.rises(last, window15m, "e2e", "lease_changes", leaseChangesToAlert)
			r.rises(last, window15m, "calm_pool", "lease_changes", leaseChangesToAlert)
		},
		fire: map[string][]firing{alertLeaseFlapping: {{"e2e", ""}, {"calm_pool", ""}},
			alertTokenUnhealthy: nil, alertProbesFailing: nil, alertPoolDown: nil, alertDownAnswers: nil},
	}}
}

// firing is an alert expected to fire: its pool (as Prometheus names it)
// and, for a token's alert, the token's index ("" for a pool's alert).
type firing struct{ pool, token string }

// alertPhase is one stretch of a scenario.
type alertPhase struct {
	name string
	// enter changes the provider or Envoy, then waits until Envoy's stats
	// show the change (nil: nothing changes).
	enter func(r *alertRun)
	// step runs before each scrape: traffic, or a stall.
	step func(r *alertRun)
	// scrapes is how many scrapes the phase takes; with done, at most that
	// many, until done holds (first is the phase's first scrape).
	scrapes int
	done    func(r *alertRun, first int) bool
	// facts checks on the raw scrapes what the scenario must have produced
	// for fire to be right: a failed fact is a scenario that went wrong,
	// not a rule.
	facts func(r *alertRun, first, last int)
	// fire lists what each alert must fire at the phase's last scrape (nil:
	// nothing). Every alert of ops/alerts.yaml is checked, absent ones as
	// firing nothing, unless only is set: then only the listed ones.
	fire map[string][]firing
	only bool
}

// alertRun is a scenario running against one Envoy: its scrapes and where
// each phase ended.
type alertRun struct {
	t *testing.T
	e *env
	// pools are the pools of the configuration as Prometheus names them.
	pools []string
	// always, when set, checks every phase's scrapes beside the phase's
	// own facts (the pools the scenario leaves alone).
	always  func(r *alertRun, first, last int)
	samples []scrape
	ends    []phaseEnd
}

type phaseEnd struct {
	phase       alertPhase
	first, last int
}

// run plays the phases in order, scraping after every step.
func (r *alertRun) run(phases []alertPhase) {
	for _, p := range phases {
		phaseStart := time.Now()
		if p.enter != nil {
			p.enter(r)
		}
		first := len(r.samples)
		for n := 0; n < p.scrapes; n++ {
			if p.step != nil {
				p.step(r)
			}
			r.scrape()
			if p.done != nil && p.done(r, first) {
				break
			}
		}
		last := len(r.samples) - 1
		if p.done != nil && !p.done(r, first) {
			r.t.Fatalf("phase %q: not done after %d scrapes", p.name, p.scrapes)
		}
		if p.facts != nil {
			p.facts(r, first, last)
		}
		if r.always != nil {
			r.always(r, first, last)
		}
		if fs, checked := p.fire[alertLeaseFlapping]; checked && len(fs) == 0 {
			// Under load a worker can miss its ticks and pass the lease on:
			// say so rather than blame the rule.
			for _, pool := range r.pools {
				n := r.value(last, pool, "lease_changes") - r.value(max(0, last-window15m+1), pool, "lease_changes")
				require.Less(r.t, n, float64(leaseChangesToAlert), "phase %q: the lease of %s moved %v times in 15 samples with no stall (machine overloaded?)", p.name, pool, n)
			}
		}
		r.ends = append(r.ends, phaseEnd{phase: p, first: first, last: last})
		r.t.Logf("phase %q: samples %d-%d (minutes) in %v", p.name, first, last, time.Since(phaseStart).Round(time.Millisecond))
	}
}

// traffic sends e2e requests to pool e2e and calm to the calm pool and as
// many to pool plain, one at a time, and returns the statuses.
func (r *alertRun) traffic(e2e, calm int) []int {
	var codes []int
	for i := 0; i < e2e+2*calm; i++ {
		host := ""
		switch {
		case i >= e2e+calm:
			host = plainHost
		case i >= e2e:
			host = calmHost
		}
		code, err := r.e.chatHost(host, "gpt-4o")
		require.NoError(r.t, err)
		codes = append(codes, code)
	}
	return codes
}

func (r *alertRun) requireOK(codes []int) {
	for _, c := range codes {
		require.Equal(r.t, 200, c, "statuses %v", codes)
	}
}

// until repeats cond (which may send traffic) every 50 ms for up to 20 s.
func (r *alertRun) until(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stall stops Envoy's process for d, as a CPU-throttled container is
// stopped, then lets it run and tick for a while.
func (r *alertRun) stall(d time.Duration) {
	pid := r.e.envoy.PID()
	require.NoError(r.t, syscall.Kill(pid, syscall.SIGSTOP))
	time.Sleep(d)
	require.NoError(r.t, syscall.Kill(pid, syscall.SIGCONT))
	time.Sleep(500 * time.Millisecond)
}

// scrape reads /stats/prometheus into the next sample.
func (r *alertRun) scrape() {
	body, err := r.e.envoy.AdminGet("/stats/prometheus")
	require.NoError(r.t, err)
	s, err := parseScrape(body)
	require.NoError(r.t, err)
	require.NotEmpty(r.t, s, "no tokenfailover series in /stats/prometheus")
	r.samples = append(r.samples, s)
}

// value is a stat of pool at sample i, stat as Prometheus names it
// ("token1_state", "available_tokens").
func (r *alertRun) value(i int, pool, stat string) float64 {
	r.t.Helper()
	key, ok := r.samples[i].find(pool, stat)
	if !ok {
		r.t.Fatalf("sample %d has no tokenfailover_%s_%s series", i, pool, stat)
	}
	return r.samples[i][key]
}

// each requires stat to equal want in samples first..last.
func (r *alertRun) each(first, last int, pool, stat string, want float64) {
	r.t.Helper()
	for i := first; i <= last; i++ {
		require.Equal(r.t, want, r.value(i, pool, stat), "%s_%s at sample %d", pool, stat, i)
	}
}

// healthy requires pool's n tokens to have been available in samples
// first..last.
func (r *alertRun) healthy(first, last int, pool string, n int) {
	r.t.Helper()
	r.each(first, last, pool, "available_tokens", float64(n))
	for i := range n {
		r.each(first, last, pool, fmt.Sprintf("token%d_state", i), 0)
	}
}

// rises requires counter stat to have risen by at least n over the window
// of the given minutes ending at sample last: (last-window, last], whose
// increase() is never below that rise.
func (r *alertRun) rises(last, window int, pool, stat string, n float64) {
	r.t.Helper()
	from := max(0, last-window+1)
	got := r.value(last, pool, stat) - r.value(from, pool, stat)
	require.GreaterOrEqual(r.t, got, n, "%s_%s rose by %v over samples %d-%d", pool, stat, got, from, last)
}

// flat requires counter stat not to have moved over the window ending at
// sample last.
func (r *alertRun) flat(last, window int, pool, stat string) {
	r.t.Helper()
	from := max(0, last-window+1)
	require.Equal(r.t, r.value(from, pool, stat), r.value(last, pool, stat), "%s_%s moved over samples %d-%d", pool, stat, from, last)
}

// bystanders requires, in samples first..last, calm-pool to have been
// healthy and untouched and pool plain's available_tokens to have stayed 0.
func bystanders(r *alertRun, first, last int) {
	r.each(first, last, "plain", "available_tokens", 0)
	r.each(first, last, "plain", "token0_state", 0)
	r.healthy(first, last, "calm_pool", 2)
	for _, stat := range []string{"all_tokens_down", "token0_probes_failed", "token1_probes_failed",
		"token0_failures_upstream", "token1_failures_upstream", "token0_failures_ratelimit", "token1_failures_ratelimit"} {
		r.each(first, last, "calm_pool", stat, 0)
	}
}

// scrape is one read of /stats/prometheus: the plugin's series, keyed by
// name and labels as Envoy printed them (name{} without labels).
type scrape map[string]float64

// parseScrape reads the tokenfailover series of Prometheus's text format.
func parseScrape(text string) (scrape, error) {
	s := scrape{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") || !strings.Contains(line, "tokenfailover") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("no value: %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		key := line[:i]
		if !strings.HasSuffix(key, "}") {
			key += "{}"
		}
		s[key] = v
	}
	return s, nil
}

// seriesName splits a scrape key into its metric name and its labels.
func seriesName(key string) (name, labels string) {
	i := strings.IndexByte(key, '{')
	return key[:i], key[i+1 : len(key)-1]
}

// find is the key of pool's stat, in either of Envoy's namings.
func (s scrape) find(pool, stat string) (string, bool) {
	want := "tokenfailover_" + pool + "_" + stat
	for key := range s {
		if name, _ := seriesName(key); name == want || name == "envoy_cluster_wasmcustom_"+want {
			return key, true
		}
	}
	return "", false
}

var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// labelMap parses an exposition's label list.
func labelMap(t *testing.T, labels string) map[string]string {
	m := map[string]string{}
	for _, p := range labelPair.FindAllStringSubmatch(labels, -1) {
		v, err := strconv.Unquote(`"` + p[2] + `"`)
		require.NoError(t, err, "label %s", p[1])
		m[p[1]] = v
	}
	return m
}

// promRules is the part of a Prometheus rule file the test reads.
type promRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
	path string
}

// alertDef is an alerting rule of ops/alerts.yaml.
type alertDef struct {
	name, expr          string
	labels, annotations map[string]string
}

func (p promRules) alerts() []alertDef {
	var out []alertDef
	for _, g := range p.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, alertDef{r.Alert, r.Expr, r.Labels, r.Annotations})
			}
		}
	}
	return out
}

// exprs lists every expression of the file: recording rules' and alerts'.
func (p promRules) exprs() map[string]string {
	out := map[string]string{}
	for _, g := range p.Groups {
		for _, r := range g.Rules {
			out[r.Record+r.Alert] = r.Expr
		}
	}
	return out
}

func opsPath(t *testing.T, name string) string {
	root, err := wasmhost.ModuleRoot()
	require.NoError(t, err)
	return filepath.Join(root, "ops", name)
}

func loadRules(t *testing.T) promRules {
	t.Helper()
	p := promRules{path: opsPath(t, "alerts.yaml")}
	b, err := os.ReadFile(p.path)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &p))
	var names []string
	for _, a := range p.alerts() {
		names = append(names, a.name)
		require.Contains(t, []string{"warning", "critical"}, a.labels["severity"], "%s: severity", a.name)
		require.NotEmpty(t, a.annotations["summary"], "%s: summary", a.name)
		require.Contains(t, a.annotations["description"], "docs/operations-alerts.md", "%s: the description points to the runbook", a.name)
	}
	sort.Strings(names)
	want := []string{alertDownAnswers, alertLeaseFlapping, alertPoolDown, alertProbesFailing, alertTokenUnhealthy}
	sort.Strings(want)
	require.Equal(t, want, names, "the alerts of ops/alerts.yaml are the ones this test drives")
	return p
}

// promtoolBin is promtool ($PROMTOOL, else on PATH). Without it the test
// skips, unless REQUIRE_ENVOY=1 (set by .ci/run, which installs Debian's
// prometheus package for it): then it fails.
func promtoolBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("REQUIRE_ENVOY") == "1" {
			t.Fatalf("REQUIRE_ENVOY=1 but promtool is missing (%v): apt-get install prometheus", err)
		}
		t.Skipf("promtool not installed (%v): apt-get install prometheus", err)
	}
	return p
}

// renderAnnotation expands an annotation as Prometheus does for an alert
// whose expression returned labels (the rule's own labels are not among
// them).
func renderAnnotation(text string, labels map[string]string) (string, error) {
	tmpl, err := template.New("annotation").Option("missingkey=zero").Parse(
		"{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}" + text)
	if err != nil {
		return "", err
	}
	data := struct {
		Labels, ExternalLabels map[string]string
		ExternalURL            string
		Value                  float64
	}{Labels: labels}
	var b bytes.Buffer
	err = tmpl.Execute(&b, data)
	return b.String(), err
}

// alertInstance and alertJob are the target labels Prometheus would add to
// the scraped series.
const (
	alertInstance = "envoy-0:9901"
	alertJob      = "envoy"
)

// Promtool's unit-test file (docs: prometheus.io, "Unit testing for rules").
type (
	promtoolFile struct {
		RuleFiles          []string        `yaml:"rule_files"`
		EvaluationInterval string          `yaml:"evaluation_interval"`
		Tests              []promtoolGroup `yaml:"tests"`
	}
	promtoolGroup struct {
		Name        string           `yaml:"name"`
		Interval    string           `yaml:"interval"`
		InputSeries []promtoolSeries `yaml:"input_series"`
		AlertTests  []promtoolAlerts `yaml:"alert_rule_test"`
		ExprTests   []promtoolExpr   `yaml:"promql_expr_test"`
	}
	promtoolSeries struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	promtoolAlerts struct {
		EvalTime  string          `yaml:"eval_time"`
		Alertname string          `yaml:"alertname"`
		ExpAlerts []promtoolAlert `yaml:"exp_alerts"`
	}
	promtoolAlert struct {
		ExpLabels      map[string]string `yaml:"exp_labels"`
		ExpAnnotations map[string]string `yaml:"exp_annotations"`
	}
	promtoolExpr struct {
		Expr       string     `yaml:"expr"`
		EvalTime   string     `yaml:"eval_time"`
		ExpSamples []struct{} `yaml:"exp_samples"`
	}
)

// inputSeries turns the scrapes into promtool's input: every series Envoy
// exported, sample i at minute i, with the target labels a scrape adds.
func (r *alertRun) inputSeries() []promtoolSeries {
	keys := map[string]bool{}
	for _, s := range r.samples {
		for k := range s {
			keys[k] = true
		}
	}
	var out []promtoolSeries
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		name, labels := seriesName(k)
		if labels != "" {
			labels += ","
		}
		labels += fmt.Sprintf("instance=%q,job=%q", alertInstance, alertJob)
		vals := make([]string, len(r.samples))
		for i, s := range r.samples {
			v, ok := s[k]
			vals[i] = "_" // not exported in that scrape
			if ok {
				vals[i] = strconv.FormatFloat(v, 'f', -1, 64)
			}
		}
		out = append(out, promtoolSeries{Series: name + "{" + labels + "}", Values: strings.Join(vals, " ")})
	}
	return out
}

// expected is what promtool must see of alert a firing f: the labels of
// the series the alert reads (Envoy's own, the target's, pool, token), the
// rule's labels, and the annotations expanded with them.
func (r *alertRun) expected(a alertDef, f firing, at int) promtoolAlert {
	stat := "available_tokens"
	if f.token != "" {
		stat = "token" + f.token + "_state"
	}
	key, ok := r.samples[at].find(f.pool, stat)
	require.True(r.t, ok, "no series for pool %s %s", f.pool, stat)
	_, own := seriesName(key)
	labels := labelMap(r.t, own)
	labels["instance"], labels["job"], labels["pool"] = alertInstance, alertJob, f.pool
	if f.token != "" {
		labels["token"] = f.token
	}
	out := promtoolAlert{ExpLabels: map[string]string{}, ExpAnnotations: map[string]string{}}
	for k, v := range a.annotations {
		text, err := renderAnnotation(v, labels)
		require.NoError(r.t, err, "%s: annotation %s", a.name, k)
		out.ExpAnnotations[k] = text
	}
	for k, v := range labels {
		out.ExpLabels[k] = v
	}
	for k, v := range a.labels {
		out.ExpLabels[k] = v
	}
	return out
}

// promtool writes the unit-test file and runs `promtool check rules` and
// `promtool test rules`. The file also asks, at the end of every phase,
// that each dashboard query returns something (absent() of it is empty):
// a query that does not evaluate, or selects nothing, fails.
func (r *alertRun) promtool(bin string, rules promRules, dash dashboard) {
	out, err := exec.Command(bin, "check", "rules", rules.path).CombinedOutput()
	require.NoError(r.t, err, "promtool check rules:\n%s", out)

	g := promtoolGroup{Name: "scrapes of a real Envoy", Interval: "1m", InputSeries: r.inputSeries()}
	alerts := rules.alerts()
	for _, end := range r.ends {
		at := fmt.Sprintf("%dm", end.last)
		for _, a := range alerts {
			want, listed := end.phase.fire[a.name]
			if !listed && end.phase.only {
				continue
			}
			test := promtoolAlerts{EvalTime: at, Alertname: a.name, ExpAlerts: []promtoolAlert{}}
			for _, f := range want {
				test.ExpAlerts = append(test.ExpAlerts, r.expected(a, f, end.last))
			}
			g.AlertTests = append(g.AlertTests, test)
		}
		for _, q := range dash.queries() {
			g.ExprTests = append(g.ExprTests, promtoolExpr{Expr: "absent(" + q.expr + ")", EvalTime: at, ExpSamples: []struct{}{}})
		}
	}
	file := promtoolFile{RuleFiles: []string{rules.path}, EvaluationInterval: "1m", Tests: []promtoolGroup{g}}
	b, err := yaml.Marshal(file)
	require.NoError(r.t, err)
	dir, err := os.MkdirTemp("", "token-failover-alerts-")
	require.NoError(r.t, err)
	path := filepath.Join(dir, "alerts_test.yaml")
	require.NoError(r.t, os.WriteFile(path, b, 0o644))
	out, err = exec.Command(bin, "test", "rules", path).CombinedOutput()
	if err != nil {
		r.t.Fatalf("promtool test rules %s (kept for reading):\n%s", path, out)
	}
	r.t.Logf("promtool: %d alert checks and %d dashboard queries over %d series x %d samples pass",
		len(g.AlertTests), len(g.ExprTests), len(g.InputSeries), len(r.samples))
	_ = os.RemoveAll(dir)
}

// checkNames requires every metric name the rules and the dashboard select
// (their __name__ matchers and label_replace sources) to match series Envoy
// exported, every exported stat to have a dashboard query, and the alerts
// to read only series the rules record. A stat renamed in the plugin fails
// here, naming it, before promtool would.
func (r *alertRun) checkNames(rules promRules, dash dashboard) {
	names := map[string]bool{}
	for _, s := range r.samples {
		for k := range s {
			n, _ := seriesName(k)
			names[n] = true
		}
	}
	matches := func(re *regexp.Regexp) bool {
		for n := range names {
			if re.MatchString(n) {
				return true
			}
		}
		return false
	}
	recorded := map[string]bool{}
	for _, g := range rules.Groups {
		for _, rule := range g.Rules {
			recorded[rule.Record] = rule.Record != ""
		}
	}
	for name, expr := range rules.exprs() {
		for _, re := range nameRegexps(r.t, expr) {
			require.True(r.t, matches(re), "rule %s selects %s, which no series Envoy exported matches", name, re)
		}
		for _, used := range recordedName.FindAllString(expr, -1) {
			require.True(r.t, recorded[used], "rule %s reads %s, which no rule records", name, used)
		}
	}
	var panelRes []*regexp.Regexp
	for _, q := range dash.queries() {
		res := nameRegexps(r.t, q.expr)
		require.NotEmpty(r.t, res, "%s: selects no tokenfailover stat", q.where)
		for _, re := range res {
			require.True(r.t, matches(re), "%s selects %s, which no series Envoy exported matches", q.where, re)
		}
		panelRes = append(panelRes, res...)
	}
	for n := range names {
		shown := false
		for _, re := range panelRes {
			shown = shown || re.MatchString(n)
		}
		require.True(r.t, shown, "stat %s has no panel in ops/dashboard.json", n)
	}
	pools := map[string]bool{}
	for n := range names {
		if m := dash.poolVariable.FindStringSubmatch(n); m != nil {
			pools[m[1]] = true
		}
	}
	require.Equal(r.t, len(r.pools), len(pools), "the dashboard's pool variable lists %v", pools)
	for _, p := range r.pools {
		require.True(r.t, pools[p], "the dashboard's pool variable lists %v, not %s", pools, p)
	}
}

var (
	// nameMatcher and nameSource find where an expression names metrics:
	// {__name__=~"..."} and label_replace(..., "__name__", "...").
	nameMatcher = regexp.MustCompile(`__name__\s*=~?\s*"((?:[^"\\]|\\.)*)"`)
	nameSource  = regexp.MustCompile(`"__name__"\s*,\s*"((?:[^"\\]|\\.)*)"`)
	stringLit   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// recordedName is a series ops/alerts.yaml records.
	recordedName = regexp.MustCompile(`tokenfailover:[a-z_]+`)
)

// nameRegexps returns the anchored regular expressions expr matches metric
// names with, and requires it to name no stat outside them.
func nameRegexps(t *testing.T, expr string) []*regexp.Regexp {
	t.Helper()
	require.NotContains(t, stringLit.ReplaceAllString(expr, `""`), "tokenfailover_",
		"a stat named outside a __name__ matcher is not checked: %s", expr)
	var out []*regexp.Regexp
	for _, m := range append(nameMatcher.FindAllStringSubmatch(expr, -1), nameSource.FindAllStringSubmatch(expr, -1)...) {
		s, err := strconv.Unquote(`"` + m[1] + `"`)
		require.NoError(t, err)
		re, err := regexp.Compile("^(?:" + s + ")$")
		require.NoError(t, err, "regular expression %q", s)
		out = append(out, re)
	}
	return out
}

// dashboard is the part of ops/dashboard.json the tests read.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Regex      string          `json:"regex"`
			Datasource json.RawMessage `json:"datasource"`
			AllValue   string          `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int             `json:"id"`
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		Datasource json.RawMessage `json:"datasource"`
		GridPos    struct {
			X, Y, W, H int
		} `json:"gridPos"`
		Targets []struct {
			RefID      string          `json:"refId"`
			Expr       string          `json:"expr"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
	// poolVariable is the pool variable's regex, as Grafana applies it to
	// metric names.
	poolVariable *regexp.Regexp
}

// dashQuery is one query of the dashboard with its variables set to "all".
type dashQuery struct{ where, expr string }

// dashVariables are the dashboard's variables as a query sees them with
// "All" selected (allValue).
var dashVariables = strings.NewReplacer("${pool}", ".+", "${instance}", ".+")

func (d dashboard) queries() []dashQuery {
	var out []dashQuery
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, dashQuery{where: fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), expr: dashVariables.Replace(tg.Expr)})
		}
	}
	return out
}

const dashDatasource = `{"type":"prometheus","uid":"${DS_PROMETHEUS}"}`

// loadDashboard parses ops/dashboard.json and checks its model: unique
// panel ids inside the 24-column grid, every panel and query on the
// ${DS_PROMETHEUS} data source variable, queries using only the dashboard's
// variables.
func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(opsPath(t, "dashboard.json"))
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(b, &d), "ops/dashboard.json is not JSON")
	require.NotEmpty(t, d.Title)
	require.NotEmpty(t, d.UID)
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Name {
		case "DS_PROMETHEUS":
			require.Equal(t, "datasource", v.Type)
			require.JSONEq(t, `"prometheus"`, string(v.Query))
		case "pool":
			re := strings.TrimSuffix(strings.TrimPrefix(v.Regex, "/"), "/")
			d.poolVariable, err = regexp.Compile(re)
			require.NoError(t, err, "the pool variable's regex")
			fallthrough
		default:
			require.JSONEq(t, dashDatasource, string(v.Datasource), "variable %s", v.Name)
			require.Equal(t, ".+", v.AllValue, "variable %s: All must select every value", v.Name)
		}
	}
	for _, name := range []string{"DS_PROMETHEUS", "pool", "instance"} {
		require.True(t, vars[name], "variable %s", name)
	}
	require.NotNil(t, d.poolVariable)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Title)
		require.False(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		require.Contains(t, []string{"timeseries", "state-timeline"}, p.Type, p.Title)
		require.JSONEq(t, dashDatasource, string(p.Datasource), p.Title)
		require.True(t, p.GridPos.W > 0 && p.GridPos.H > 0 && p.GridPos.X >= 0 && p.GridPos.X+p.GridPos.W <= 24, "%s: gridPos %+v", p.Title, p.GridPos)
		require.NotEmpty(t, p.Targets, p.Title)
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, p.Title)
			require.False(t, refs[tg.RefID], "%s: refId %s twice", p.Title, tg.RefID)
			refs[tg.RefID] = true
			require.JSONEq(t, dashDatasource, string(tg.Datasource), p.Title)
			for _, v := range dashVariable.FindAllStringSubmatch(tg.Expr, -1) {
				require.True(t, vars[v[1]], "%s: variable %s is not defined", p.Title, v[1])
			}
		}
	}
	for _, q := range d.queries() {
		require.NotRegexp(t, dashVariable, q.expr, "%s: a variable the tests do not set", q.where)
	}
	return d
}

// dashVariable is a Grafana variable in a query ($1 is label_replace's).
var dashVariable = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// TestOps_DashboardIsAGrafanaModel: ops/dashboard.json parses and holds
// together without an Envoy (the Envoy tests check its queries).
func TestOps_DashboardIsAGrafanaModel(t *testing.T) {
	d := loadDashboard(t)
	require.GreaterOrEqual(t, len(d.queries()), 10)
}

// TestOps_AlertRulesPassPromtoolCheck: ops/alerts.yaml holds the alerts
// the Envoy tests drive, each with a severity and a runbook pointer, and
// promtool accepts it.
func TestOps_AlertRulesPassPromtoolCheck(t *testing.T) {
	bin := promtoolBin(t)
	rules := loadRules(t)
	out, err := exec.Command(bin, "check", "rules", rules.path).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
}
