package e2e

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/mockllm"
	"github.com/token-failover/token-failover/wasmhost"
)

// The differential tier runs one table of scenarios (stream shapes,
// upstream behaviours, Envoy's own failures, failover, retries) in the
// emulator and in real Envoy, and requires that what the plugin can be
// seen to do is the same in both: what reached the provider (token, path,
// model, body), what the client got, and the plugin's metrics. Both hosts
// run one worker, so round-robin picks the same tokens; every scenario has
// its own pool (a rule matched by its own domain), so scenarios share one
// Envoy start. A divergence prints both sides.

// scenario is one differential case.
type scenario struct {
	name string
	// failover and retry extend the provider block's failover settings and
	// add retryOnFailure; extra adds provider fields.
	failover, retry, extra string
	// interval is healthCheckInterval in ms (0: 60000, so that no probe
	// runs during the table); a scenario about probes sets 1000.
	interval int
	// noMapping leaves modelMapping out: the body is then never scanned.
	noMapping bool
	// listener "second" puts the scenario's pool on the second listener,
	// whose filter has a plugin configuration of its own in the same VM
	// (issue 20 A1b); "" is the main listener.
	listener string
	// vhost, when set, gives the scenario's domain a virtual host of its
	// own with these routes, as a user restricts a host to the gateway's
	// domain (issue 20 A1a); otherwise it rides the catch-all host.
	vhost []wasmhost.Route
	// behave is each token's behaviour (by index) from the start.
	behave map[int]mockllm.Behaviour
	steps  []step
	// metrics are compared at the end (names after "tokenfailover.<id>.").
	metrics []string
	// want are metric values the scenario must end with (names as in
	// metrics), in both hosts.
	want map[string]int64
	// wantProbes is what the scenario's probes asked, each distinct probe
	// once ("token<i> <method> <path> <model>"), in both hosts.
	wantProbes []string
	// check asserts what the scenario is about, on the emulator's outcome
	// (Envoy's equals it).
	check func(t *testing.T, steps []outcome)
}

// step is one client request, after an optional wait and behaviour change.
type step struct {
	wait    time.Duration
	behave  map[int]mockllm.Behaviour
	route   string // the x-route header: an Envoy fault route ("" = chat)
	method  string
	path    string
	body    string
	headers [][2]string
	// chunks sends the body in pieces (chunked); trailers end it.
	chunks   []int
	trailers [][2]string
	// shape sets this request's upstream answer for every token.
	shape *mockllm.Behaviour
	// leave makes the client go away after the answer's first bytes;
	// leaveAfter makes it go away this long after sending, before any
	// answer.
	leave      bool
	leaveAfter time.Duration
	// settle is waited after the step before reading what reached the
	// provider (a retry still in flight when the client left).
	settle time.Duration
}

// hop is one request that reached the provider (probes excluded).
type hop struct {
	Token    int
	Method   string
	Path     string
	Model    string
	BodySHA  string
	Trailers string
	Auth     string
	// Internal names any header of the plugin's own (x-token-failover-*)
	// that reached the provider: none may (issue 20 B10).
	Internal string
}

// outcome is what a step shows.
type outcome struct {
	Status int
	Body   string
	Reset  bool
	Hops   []hop
}

// diffTokens are the scenario's tokens: never real-looking keys.
func diffTokens(id string) []string {
	return []string{id + "-tok-alpha-01", id + "-tok-bravo-02", id + "-tok-charlie-03"}
}

func (sc scenario) id(i int) string { return fmt.Sprintf("s%02d", i+1) }

func (sc scenario) domain(i int) string { return sc.id(i) + ".diff" }

// rule is the scenario's _rules_ entry.
func (sc scenario) rule(i int) string {
	id := sc.id(i)
	mapping := "\n    modelMapping: {\"gpt-4o\": mapped-4o, \"gpt-4o-mini\": mapped-mini}"
	if sc.noMapping {
		mapping = ""
	}
	r := fmt.Sprintf(`- _match_domain_: [%s]
  provider:
    type: openai
    id: %s
    apiTokens: [%s]
    tokenSelection: round-robin%s
    failover: {enabled: true, failureThreshold: 2, healthCheckInterval: %d%s}
`, sc.domain(i), id, strings.Join(diffTokens(id), ", "), mapping, cmp.Or(sc.interval, 60000), sc.failover)
	if sc.retry != "" {
		r += "    retryOnFailure: {enabled: true" + sc.retry + "}\n"
	}
	if sc.extra != "" {
		r += "    " + sc.extra + "\n"
	}
	return r
}

// differential is one scenario table run in both hosts.
type differential struct {
	scenarios []scenario
	// upstream runs the table with the plugin as the cluster's upstream
	// filter (mode: upstream), in Envoy as the shipped envoy-upstream.yaml
	// configures it and in the emulator with the router retrying as that
	// file's retry_policy says.
	upstream bool
}

// upstreamRetry is envoy-upstream.yaml's retry_policy, for the emulator.
var upstreamRetry = wasmhost.RouterRetry{NumRetries: 2, Resets: true, Statuses: []int{401, 402, 403, 429, 500, 502, 503, 504}}

// config is the plugin configuration of a listener ("" the main one,
// "second"): every scenario on it.
func (d differential) config(listener string) string {
	var b strings.Builder
	if d.upstream {
		b.WriteString("mode: upstream\n")
	}
	b.WriteString("_rules_:\n")
	for i, sc := range d.scenarios {
		if sc.listener == listener {
			b.WriteString(sc.rule(i))
		}
	}
	return b.String()
}

// secondListenerCluster and secondListenerRoute are the second listener's
// only route and its cluster, named as Istio and Envoy Gateway name them
// (issue 20 A1d): probes of its pools go through that cluster.
const (
	secondListenerCluster = "outbound|443||api.openai.com"
	secondListenerRoute   = "httproute/default/llm/rule/0/match/0/*"
)

// routes are each listener's route configuration as
// e2e/testdata/envoy-differential.yaml has it, plus the scenarios' own
// virtual hosts: the emulator routes by it, and Envoy's configuration gets
// the same virtual hosts (hosts). In mode upstream the emulator routes
// nothing (the route is picked before the filter runs): nil.
func (d differential) routes() (main, second *wasmhost.RouteTable) {
	if d.upstream {
		return nil, nil
	}
	main = &wasmhost.RouteTable{}
	for i, sc := range d.scenarios {
		if sc.vhost != nil {
			main.VirtualHosts = append(main.VirtualHosts, wasmhost.VirtualHost{Name: sc.id(i), Domains: []string{sc.domain(i)}, Routes: sc.vhost})
		}
	}
	star := wasmhost.VirtualHost{Name: "llm", Domains: []string{"*"}}
	for _, r := range []string{"timeout", "pertry", "dead", "empty", "maint", "overflow", "h2"} {
		star.Routes = append(star.Routes, wasmhost.Route{Name: r, Prefix: "/", Headers: map[string]string{"x-route": r}, Cluster: routeCluster(r)})
	}
	star.Routes = append(star.Routes, wasmhost.Route{Name: "chat", Prefix: "/", Cluster: "llm"})
	main.VirtualHosts = append(main.VirtualHosts, star)
	second = &wasmhost.RouteTable{VirtualHosts: []wasmhost.VirtualHost{{Name: "llm", Domains: []string{"*"},
		Routes: []wasmhost.Route{{Name: secondListenerRoute, Prefix: "/", Cluster: secondListenerCluster}}}}}
	return main, second
}

// hosts renders the scenarios' own virtual hosts for Envoy's main
// listener.
func (d differential) hosts() string {
	var b strings.Builder
	for i, sc := range d.scenarios {
		if sc.vhost == nil {
			continue
		}
		fmt.Fprintf(&b, "            - name: %s\n              domains: [%q]\n              routes:\n", sc.id(i), sc.domain(i))
		for _, r := range sc.vhost {
			match := fmt.Sprintf("prefix: %q", r.Prefix)
			if r.Path != "" {
				match = fmt.Sprintf("path: %q", r.Path)
			}
			fmt.Fprintf(&b, "              - {name: %q, match: {%s}, route: {cluster: %q, timeout: 60s}}\n", r.Name, match, r.Cluster)
		}
	}
	return b.String()
}

// tokenIndex maps a token seen upstream back to its index (-1: none, or
// another scenario's).
func tokenIndex(id, token string) int {
	for i, t := range diffTokens(id) {
		if t == token {
			return i
		}
	}
	return -1
}

// internalHeaders lists the plugin's own headers among a request's.
func internalHeaders(headers [][2]string) string {
	var out []string
	for _, h := range headers {
		if strings.HasPrefix(strings.ToLower(h[0]), "x-token-failover") {
			out = append(out, strings.ToLower(h[0]))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:6])
}

func shapeHeader(b *mockllm.Behaviour) string {
	j, _ := json.Marshal(b)
	return string(j)
}

// TestDifferential_EmulatorAndEnvoyAgree runs every scenario in both hosts.
func TestDifferential_EmulatorAndEnvoyAgree(t *testing.T) {
	require.GreaterOrEqual(t, len(scenarios), 25)
	differential{scenarios: scenarios}.run(t)
}

// TestDifferential_UpstreamModeAgrees runs the upstream table with the
// plugin as the cluster's upstream filter in both hosts (issue 20 B4, B10).
func TestDifferential_UpstreamModeAgrees(t *testing.T) {
	differential{scenarios: upstreamScenarios, upstream: true}.run(t)
}

// run runs the table in Envoy, then in the emulator as that Envoy version,
// and compares scenario by scenario.
func (d differential) run(t *testing.T) {
	env := d.runEnvoy(t)
	emu := d.runEmulator(t, env.version)
	for i, sc := range d.scenarios {
		t.Run(sc.id(i)+"_"+sc.name, func(t *testing.T) {
			for k := range sc.steps {
				e, v := emu.steps[i][k], env.steps[i][k]
				require.Equal(t, e, v, "step %d: emulator (expected) vs Envoy (actual)", k+1)
			}
			for _, m := range sc.metrics {
				name := "tokenfailover." + sc.id(i) + "." + m
				require.Equal(t, emu.metrics[name], env.metrics[name], "metric %s: emulator vs Envoy", name)
			}
			require.Equal(t, emu.probes[i], env.probes[i], "probes: emulator vs Envoy")
			for m, v := range sc.want {
				require.Equal(t, v, emu.metrics["tokenfailover."+sc.id(i)+"."+m], "metric %s", m)
			}
			if sc.wantProbes != nil {
				require.Equal(t, sc.wantProbes, emu.probes[i], "what the probes asked")
			}
			if sc.check != nil {
				sc.check(t, emu.steps[i])
			}
		})
	}
}

// results are one host's observations: per scenario, per step.
type results struct {
	steps [][]outcome
	// probes are, per scenario, the distinct probes of its tokens seen
	// while it ran, sorted.
	probes  [][]string
	metrics map[string]int64
	// version is the Envoy version that ran them ("1.40.0"; empty: the emulator).
	version string
}
