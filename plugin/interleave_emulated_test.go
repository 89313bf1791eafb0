package plugin_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// model is an independent, sequential re-statement of the failure policy
// (design section 4) for the counters the interleaving test checks.
type model struct {
	tokens             []mtoken
	threshold, success uint32
}

type mtoken struct {
	status                       failover.Status
	failures, okProbes, badProbe uint32
	until                        int64
	demotions, restorations      uint32
}

func (m *model) settle(i int, now int64) {
	t := &m.tokens[i]
	if t.status != failover.Available && t.until > 0 && t.until <= now {
		back := mtoken{demotions: t.demotions, restorations: t.restorations + 1}
		if t.status == failover.Cooling {
			back.failures = t.failures // a rest does not forgive earlier failures
		}
		*t = back
	}
}

func (m *model) demote(i int) {
	t := &m.tokens[i]
	*t = mtoken{status: failover.Unhealthy, demotions: t.demotions + 1, restorations: t.restorations}
}

// outcome applies a live response with HTTP status code (0 = reset).
func (m *model) outcome(i, code int, retryAfterMs, now int64) {
	m.settle(i, now)
	t := &m.tokens[i]
	switch {
	case code == 200:
		if t.status != failover.Unhealthy {
			t.failures = 0
		}
	case code == 401 || code == 402:
		if t.status != failover.Unhealthy {
			m.demote(i)
		}
	case code == 429:
		if t.status == failover.Available {
			*t = mtoken{status: failover.Cooling, until: now + retryAfterMs, failures: t.failures, demotions: t.demotions + 1, restorations: t.restorations}
		} else if t.status == failover.Cooling && now+retryAfterMs > t.until {
			t.until = now + retryAfterMs
		}
	case code == 0 || code >= 500:
		if t.status != failover.Unhealthy {
			t.failures++
			if t.failures >= m.threshold {
				m.demote(i)
			}
		}
	}
}

func (m *model) probe(i int, ok bool, now int64) {
	m.settle(i, now)
	t := &m.tokens[i]
	if t.status != failover.Unhealthy {
		return
	}
	if !ok {
		t.okProbes = 0
		t.badProbe++
		return
	}
	t.okProbes++
	t.badProbe = 0
	if t.okProbes >= m.success {
		*t = mtoken{demotions: t.demotions, restorations: t.restorations + 1}
	}
}

// TestInterleaving_RandomSchedulesMatchSequentialModel runs 1,000 seeded
// schedules of 4 workers and the main VM mixing request starts, responses
// (200, 500, reset, 401, 402, 429, 400) while other requests are in flight,
// racing writes (another VM's response runs between a VM's read and write),
// virtual time (ticks, probes, cooldown expiry), stuck VMs (lease expiry)
// and reloads. After every step: the state decodes (every token in exactly
// one state), its counters equal the model fed the same outcomes in the
// order they landed, and every probe came from the one unexpired lease
// holder. A failure prints its seed; TF_SEED=<seed> replays just that one.
func TestInterleaving_RandomSchedulesMatchSequentialModel(t *testing.T) {
	seeds := make([]int64, 1000)
	for i := range seeds {
		seeds[i] = int64(i + 1)
	}
	if s := os.Getenv("TF_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err)
		seeds = []int64{n}
	}
	// One host serves every schedule: each reloads a config with its own
	// token list, i.e. a new pool with fresh state, fresh root contexts and
	// reset tick phases, so a schedule behaves the same alone (TF_SEED).
	env := &schedule{}
	h, err := wasmhost.New(wasmhost.Options{Config: []byte(`provider: {type: openai, apiTokens: [x]}`), Workers: 4, SkipCanary: true,
		Clusters: map[string]wasmhost.Cluster{"llm": func(r *wasmhost.UpstreamRequest) wasmhost.Reply { return env.cluster(r) }},
		BeforeSharedSet: func(vm *wasmhost.VM, key string) {
			if env.beforeSet != nil {
				env.beforeSet(vm, key)
			}
		},
		AfterCallDelivered: func(req *wasmhost.UpstreamRequest, r wasmhost.Reply, live bool) {
			env.afterCall(req, r, live)
		},
	})
	require.NoError(t, err)
	defer h.Close()
	for _, seed := range seeds {
		if !runSchedule(t, h, env, seed) {
			t.Fatalf("schedule failed; replay with: TF_SEED=%d go test ./plugin -run TestInterleaving -v", seed)
		}
	}
}

// schedule holds the current schedule's hooks for the shared host.
type schedule struct {
	cluster   func(*wasmhost.UpstreamRequest) wasmhost.Reply
	beforeSet func(*wasmhost.VM, string)
	afterCall func(*wasmhost.UpstreamRequest, wasmhost.Reply, bool)
}

func runSchedule(t *testing.T, h *wasmhost.Host, env *schedule, seed int64) bool {
	rnd := rand.New(rand.NewSource(seed))
	tokens := []string{fmt.Sprintf("tok-%d-a", seed), fmt.Sprintf("tok-%d-b", seed), fmt.Sprintf("tok-%d-c", seed)}
	threshold := uint32(1 + rnd.Intn(3))
	success := uint32(1 + rnd.Intn(2))
	config := fmt.Sprintf(`provider: {type: openai, apiTokens: [%s], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: %d, successThreshold: %d, healthCheckInterval: 1000, healthCheckModel: m}}`,
		strings.Join(tokens, ", "), threshold, success)
	m := &model{tokens: make([]mtoken, 3), threshold: threshold, success: success}
	p := newProvider(tokens...)
	var inflight []*wasmhost.Stream
	ok := true
	fail := func(format string, args ...any) {
		if ok {
			t.Errorf("seed %d: "+format, append([]any{seed}, args...)...)
		}
		ok = false
	}
	codes := []int{200, 200, 200, 500, 500, 0, 401, 402, 429, 400}
	respond := func(s *wasmhost.Stream) {
		code := codes[rnd.Intn(len(codes))]
		retry := int64(1+rnd.Intn(3)) * 1000
		var r wasmhost.Reply
		switch code {
		case 0:
			r = wasmhost.Reply{Fault: wasmhost.FaultRemoteReset}
		case 429:
			r = wasmhost.Status(429, [2]string{"retry-after", strconv.FormatInt(retry/1000, 10)})
		default:
			r = wasmhost.Status(code)
		}
		if err := s.Respond(r); err != nil {
			fail("respond: %v (response %+v, upstream %+v)", err, s.Response, s.Upstream)
			return
		}
		m.outcome(p.token(s.Upstream), code, retry, h.ProcessMs())
	}
	probeOK := map[*wasmhost.UpstreamRequest]bool{}
	var leaseKey string
	p.set(0, nil)
	cluster := func(r *wasmhost.UpstreamRequest) wasmhost.Reply {
		if !r.HTTPCall {
			return wasmhost.OK()
		}
		if holder, held := holderVM(t, h, leaseKey); !held || holder != r.From {
			fail("probe from %s, lease holder %q (held %v)", r.From, holder, held)
		}
		good := rnd.Intn(2) == 0
		probeOK[r] = good
		if good {
			return wasmhost.Reply{Status: 200, Delay: time.Duration(rnd.Intn(500)) * time.Millisecond}
		}
		return wasmhost.Reply{Status: 503, Delay: time.Duration(rnd.Intn(500)) * time.Millisecond}
	}
	env.cluster = cluster
	env.beforeSet = func(vm *wasmhost.VM, key string) {
		// Another VM's response lands between this VM's read and write.
		if !strings.HasSuffix(key, "/state") || rnd.Intn(3) != 0 {
			return
		}
		for i, s := range inflight {
			if s.Upstream != nil && s.Upstream.From != vm.Name() {
				inflight = append(inflight[:i], inflight[i+1:]...)
				respond(s)
				return
			}
		}
	}
	env.afterCall = func(req *wasmhost.UpstreamRequest, _ wasmhost.Reply, live bool) {
		if live && p.token(req) >= 0 {
			m.probe(p.token(req), probeOK[req], h.ProcessMs())
		}
	}
	vms := h.VMs()
	for _, vm := range vms {
		vm.Freeze(false)
	}
	before := h.SharedKeys()
	if accepted, err := h.Reload([]byte(config)); err != nil || !accepted {
		fail("load schedule config: %v %v", accepted, err)
	}
	key := newStateKey(t, h, before)
	leaseKey = strings.TrimSuffix(key, "/state") + "/lease"
	for step := 0; step < 40 && ok; step++ {
		switch k := rnd.Intn(10); {
		case k < 4:
			s, err := vms[1+rnd.Intn(4)].Start(wasmhost.Chat("m"))
			if err != nil {
				fail("start: %v", err)
				break
			}
			inflight = append(inflight, s)
		case k < 7 && len(inflight) > 0:
			i := rnd.Intn(len(inflight))
			s := inflight[i]
			inflight = append(inflight[:i], inflight[i+1:]...)
			respond(s)
		case k < 9:
			if err := h.Advance(time.Duration(rnd.Intn(2500)) * time.Millisecond); err != nil {
				fail("advance: %v", err)
			}
		case rnd.Intn(2) == 0:
			vm := vms[rnd.Intn(len(vms))]
			vm.Freeze(rnd.Intn(2) == 0)
		default:
			if accepted, err := h.Reload([]byte(config)); err != nil || !accepted {
				fail("reload: %v %v", accepted, err)
			}
		}
		checkAgainstModel(h, key, m, fail)
	}
	for len(inflight) > 0 { // drain, so the next schedule starts clean (respond may drain some itself)
		s := inflight[0]
		inflight = inflight[1:]
		respond(s)
	}
	for _, vm := range vms {
		if vm.Failed() != nil {
			fail("VM %s failed: %v", vm.Name(), vm.Failed())
		}
	}
	if !ok {
		t.Log(h.LogText())
	}
	return ok
}

func checkAgainstModel(h *wasmhost.Host, key string, m *model, fail func(string, ...any)) {
	v, _, _ := h.SharedData(key)
	st, err := failover.Decode(v, len(m.tokens))
	if err != nil {
		fail("state does not decode: %v", err)
		return
	}
	now := h.ProcessMs()
	for i := range m.tokens {
		m.settle(i, now)
		got := st.Tokens[i]
		if got.Status != failover.Available && got.Until > 0 && got.Until <= now {
			back := failover.Token{Status: failover.Available, Demotions: got.Demotions, Restorations: got.Restorations + 1}
			if got.Status == failover.Cooling {
				back.Failures = got.Failures
			}
			got = back
		}
		want := m.tokens[i]
		if got.Status != want.status || got.Failures != want.failures || got.ProbeSuccesses != want.okProbes ||
			got.ProbeFailures != want.badProbe || got.Demotions != want.demotions || got.Restorations != want.restorations ||
			(got.Status == failover.Cooling && got.Until != want.until) {
			b, _ := json.Marshal(got)
			fail("token %d: state %s, model %+v", i, b, want)
		}
	}
}
