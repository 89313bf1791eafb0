package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/mockllm"
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
	// behave is each token's behaviour (by index) from the start.
	behave map[int]mockllm.Behaviour
	steps  []step
	// metrics are compared at the end (names after "tokenfailover.<id>.").
	metrics []string
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
	// leave makes the client go away after the answer's first bytes.
	leave bool
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
	r := fmt.Sprintf(`- _match_domain_: [%s]
  provider:
    type: openai
    id: %s
    apiTokens: [%s]
    tokenSelection: round-robin
    modelMapping: {"gpt-4o": mapped-4o, "gpt-4o-mini": mapped-mini}
    failover: {enabled: true, failureThreshold: 2, healthCheckInterval: 60000%s}
`, sc.domain(i), id, strings.Join(diffTokens(id), ", "), sc.failover)
	if sc.retry != "" {
		r += "    retryOnFailure: {enabled: true" + sc.retry + "}\n"
	}
	if sc.extra != "" {
		r += "    " + sc.extra + "\n"
	}
	return r
}

// differentialConfig is the plugin configuration holding every scenario.
func differentialConfig() string {
	var b strings.Builder
	b.WriteString("_rules_:\n")
	for i, sc := range scenarios {
		b.WriteString(sc.rule(i))
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
	config := differentialConfig()
	env := runEnvoy(t, config)
	emu := runEmulator(t, config, env.version)
	for i, sc := range scenarios {
		t.Run(sc.id(i)+"_"+sc.name, func(t *testing.T) {
			for k := range sc.steps {
				e, v := emu.steps[i][k], env.steps[i][k]
				require.Equal(t, e, v, "step %d: emulator (expected) vs Envoy (actual)", k+1)
			}
			for _, m := range sc.metrics {
				name := "tokenfailover." + sc.id(i) + "." + m
				require.Equal(t, emu.metrics[name], env.metrics[name], "metric %s: emulator vs Envoy", name)
			}
			if sc.check != nil {
				sc.check(t, emu.steps[i])
			}
		})
	}
}

// results are one host's observations: per scenario, per step.
type results struct {
	steps   [][]outcome
	metrics map[string]int64
	// version is the Envoy version that ran them ("1.40.0"; empty: the emulator).
	version string
}
