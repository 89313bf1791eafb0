package plugin

import (
	"fmt"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/failover"
)

// MetricPrefix starts every stat name; Envoy shows them under wasmcustom.
const MetricPrefix = "tokenfailover"

// tokenMetrics are one token's counters. Names carry the pool name and token
// index, never the token.
type tokenMetrics struct {
	requests     metric
	failures     [len(failoverReasons)]metric
	demotions    metric
	restorations metric
	probesOK     metric
	probesFailed metric
	// state is a gauge: 0 available, 1 cooling, 2 unhealthy.
	state metric
	// latency is a histogram of the time to the answer's headers, in ms
	// (telemetry.latency; undefined otherwise).
	latency metric
}

// metric is a defined stat; ok is false when the host refused to define it
// (ids are opaque, so 0 cannot mark "undefined").
type metric struct {
	id uint32
	ok bool
}

var failoverReasons = [...]failover.Reason{failover.ReasonAuth, failover.ReasonQuota, failover.ReasonRateLimit, failover.ReasonUpstream}

// poolMetrics are the stats of one pool.
type poolMetrics struct {
	host   abi.Host
	tokens []tokenMetrics
	// pending counts requests per token not yet added to the stat: the hot
	// path bumps a Go counter and the tick flushes it (one hostcall per
	// token per tick instead of one per request).
	pending      []int64
	available    metric
	leaseChanges metric
	allDown      metric
	retries      metric
	// probesNotSent counts probes that found no cluster to go through.
	probesNotSent metric
	// modelUnmapped counts request bodies whose model was left as sent
	// because it is not a string (no server takes it as a model name).
	modelUnmapped metric
	// refused counts requests answered 4xx because their body could
	// bypass the mapping (a second top-level model key, a model over
	// modelscan.MaxModelBytes, not UTF-8 JSON, an encoded body, a JSON body
	// labelled as a form).
	refused metric
	// rerouted counts answers that came by another route than the one the
	// client's request matched (see route.go).
	rerouted metric
	// fleetAdopted counts transitions of this pool's tokens made by other
	// replicas and applied here.
	fleetAdopted metric
}

// metricName keeps names bounded and Prometheus-safe.
func metricName(parts ...string) string {
	var b strings.Builder
	b.WriteString(MetricPrefix)
	for _, p := range parts {
		b.WriteByte('.')
		for _, r := range p {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
	}
	return b.String()
}

func newPoolMetrics(host abi.Host, pool string, n int, latency bool) *poolMetrics {
	m := &poolMetrics{host: host, tokens: make([]tokenMetrics, n), pending: make([]int64, n)}
	def := func(t abi.MetricType, parts ...string) metric {
		id, err := host.DefineMetric(t, metricName(parts...))
		if err != nil {
			host.Log(abi.LogWarn, fmt.Sprintf("token-failover: cannot define metric %s: %v", metricName(parts...), err))
		}
		return metric{id: id, ok: err == nil}
	}
	m.available = def(abi.MetricGauge, pool, "available_tokens")
	m.leaseChanges = def(abi.MetricCounter, pool, "lease_changes")
	m.allDown = def(abi.MetricCounter, pool, "all_tokens_down")
	m.retries = def(abi.MetricCounter, pool, "retries")
	m.probesNotSent = def(abi.MetricCounter, pool, "probes_not_sent")
	m.modelUnmapped = def(abi.MetricCounter, pool, "model_unmapped")
	m.refused = def(abi.MetricCounter, pool, "requests_refused")
	m.rerouted = def(abi.MetricCounter, pool, "requests_rerouted")
	m.fleetAdopted = def(abi.MetricCounter, pool, "fleet_adopted")
	for i := range m.tokens {
		tok := fmt.Sprintf("token%d", i)
		t := &m.tokens[i]
		t.requests = def(abi.MetricCounter, pool, tok, "requests")
		for k, r := range failoverReasons {
			t.failures[k] = def(abi.MetricCounter, pool, tok, "failures_"+r.String())
		}
		t.demotions = def(abi.MetricCounter, pool, tok, "demotions")
		t.restorations = def(abi.MetricCounter, pool, tok, "restorations")
		t.probesOK = def(abi.MetricCounter, pool, tok, "probes_ok")
		t.probesFailed = def(abi.MetricCounter, pool, tok, "probes_failed")
		t.state = def(abi.MetricGauge, pool, tok, "state")
		if latency {
			t.latency = def(abi.MetricHistogram, pool, tok, "latency_ms")
		}
	}
	return m
}

func (m *poolMetrics) inc(x metric) {
	if x.ok {
		_ = m.host.IncrementMetric(x.id, 1)
	}
}

// observe records one answer's time to its headers for token.
func (m *poolMetrics) observe(token int, ms int64) {
	if x := m.tokens[token].latency; x.ok && ms >= 0 {
		_ = m.host.RecordMetric(x.id, uint64(ms))
	}
}

// request counts a request served by token; flush publishes it.
func (m *poolMetrics) request(token int) { m.pending[token]++ }

// flush adds the pending request counts to the stats.
func (m *poolMetrics) flush() {
	for i, n := range m.pending {
		if n > 0 && m.tokens[i].requests.ok {
			_ = m.host.IncrementMetric(m.tokens[i].requests.id, n)
		}
		m.pending[i] = 0
	}
}

func (m *poolMetrics) failure(token int, r failover.Reason) {
	for k, fr := range failoverReasons {
		if fr == r {
			m.inc(m.tokens[token].failures[k])
		}
	}
}

// publish records the pool's gauges from a state read or written at now:
// the available-token count and each token's state.
func (m *poolMetrics) publish(p failover.Pool, now int64) {
	record := func(x metric, v uint64) {
		if x.ok {
			_ = m.host.RecordMetric(x.id, v)
		}
	}
	record(m.available, uint64(p.UsableCount(now)))
	for i, t := range p.Tokens {
		st := t.Status
		if t.Usable(now) {
			st = failover.Available
		}
		record(m.tokens[i].state, uint64(st))
	}
}
