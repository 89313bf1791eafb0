package plugin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"html"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/config"
	"github.com/token-failover/token-failover/failover"
)

// The status page (config status). Any root with a status answers for every
// pool of the Envoy process, not only its own: each root lists its pools in
// one shared-data registry at configure time (id, name, token
// fingerprints), and the page reads the registry, each pool's state and
// its probe lease. So one status path shows the pools of every plugin
// configuration sharing the process (Higress gives each route its own),
// and a status-only filter on the listener shows the pools of upstream-mode
// filters too.
//
//	GET  <path>                                        JSON (HTML for a browser, or ?format=html)
//	POST <path>/pools/<pool>/tokens/<token>/demote     take a token out by hand
//	POST <path>/pools/<pool>/tokens/<token>/restore    put it back
//
// <pool> is a pool's id or name, <token> its index or fingerprint. Every
// request must come from an allowed address (Envoy's source.address);
// the actions also need the admin key in config.AdminHeader. Nothing a
// page shows is a secret: tokens appear by index and fingerprint.

// registryKey is the shared-data key of the process's pool registry.
const registryKey = KeyPrefix + "pools"

// maxRegistered bounds the registry: past it, the pools configured longest
// ago are dropped (a configuration removed by a reload leaves its pools
// behind until then).
const maxRegistered = 256

// registered is a pool as the registry lists it.
type registered struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Failover bool     `json:"failover"`
	Tokens   []string `json:"tokens"` // fingerprints, by index
	// IDs are the tokens' provider.Token.ID, by index: how a new pool finds
	// the state its keys had in another (ensureState).
	IDs []string `json:"ids"`
	// At is when a root last registered the pool (wall ms); the root that
	// works on a pool registers it again every registryRefreshMs.
	At int64 `json:"at"`
}

// A pool no root registered for registryTTLMs is gone from the process
// (its configuration was replaced): it leaves the registry and its state
// and lease values are emptied, so what old configurations leave behind
// in shared data is bounded.
const (
	registryRefreshMs = 60_000
	registryTTLMs     = 3_600_000
)

// register lists this root's pools in the registry, drops the pools no
// root registered for registryTTLMs (and beyond maxRegistered, the
// oldest), and empties the shared state of those dropped.
func (r *Root) register() {
	now := r.host.WallMs()
	r.registeredAt = now
	var dropped []registered
	err := failover.Update(r.store, registryKey, func(old []byte, _ bool) ([]byte, bool) {
		list := decodeRegistry(old)
		for _, p := range r.pools {
			e := registered{ID: p.id, Name: p.name, Failover: p.failover() != nil, At: now}
			for _, t := range p.tokens {
				e.Tokens, e.IDs = append(e.Tokens, t.Fingerprint), append(e.IDs, t.ID)
			}
			list = append(removeRegistered(list, p.id), e)
		}
		sort.SliceStable(list, func(i, j int) bool { return list[i].At > list[j].At })
		dropped = nil
		for len(list) > 0 && (len(list) > maxRegistered || list[len(list)-1].At < now-registryTTLMs) {
			dropped, list = append(dropped, list[len(list)-1]), list[:len(list)-1]
		}
		b, _ := json.Marshal(list)
		return b, true
	})
	if err != nil {
		r.logf(abi.LogWarn, "cannot list this configuration's pools for the status page: %v", err)
		return
	}
	for _, e := range dropped {
		_ = r.store.Set(stateKey(e.ID), nil, 0)
		_ = r.store.Set(leaseKey(e.ID), nil, 0)
		r.logf(abi.LogInfo, "pool %s: no configuration has used it for an hour; its shared state is cleared", e.Name)
	}
}

// refreshRegistration registers this root's pools again when it works on
// any of them and registryRefreshMs passed (on a tick).
func (r *Root) refreshRegistration() {
	if r.host.WallMs()-r.registeredAt < registryRefreshMs {
		return
	}
	for _, p := range r.pools {
		if r.owns(p) {
			r.register()
			return
		}
	}
}

func decodeRegistry(b []byte) []registered {
	var list []registered
	if len(b) > 0 && json.Unmarshal(b, &list) != nil {
		return nil // corrupt: rebuilt by the next registrations
	}
	return list
}

func removeRegistered(list []registered, id string) []registered {
	out := list[:0]
	for _, e := range list {
		if e.ID != id {
			out = append(out, e)
		}
	}
	return out
}

// propSourceAddress is the client's address as Envoy sees it.
var propSourceAddress = abi.Prop("source", "address")

// statusAction is what a request to the status path asks.
type statusAction struct {
	page           bool   // GET the page
	pool, token    string // the action's target
	demote, manual bool   // demote (else restore); manual: an action at all
}

// parseStatusPath reads a request path under the status path; ok is false
// when the path is not the status page's.
func parseStatusPath(base, path string) (a statusAction, query string, ok bool) {
	path, query, _ = strings.Cut(path, "?")
	if path == base {
		return statusAction{page: true}, query, true
	}
	rest, found := strings.CutPrefix(path, base+"/pools/")
	if !found {
		return a, "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[1] != "tokens" || parts[0] == "" || parts[2] == "" {
		return statusAction{manual: true}, query, true // under the path, but no action: 404
	}
	switch parts[3] {
	case "demote":
		a.demote = true
	case "restore":
	default:
		return statusAction{manual: true}, query, true
	}
	a.manual, a.pool, a.token = true, parts[0], parts[2]
	return a, query, true
}

// serveStatus answers a request on the status path; false when the path is
// not the status page's (the request goes on).
func (s *stream) serveStatus(st *config.StatusConfig, path string) (abi.Action, bool) {
	a, query, ok := parseStatusPath(st.Path, path)
	if !ok {
		return abi.ActionContinue, false
	}
	r := s.root
	s.ownReply = true
	source, _ := r.host.GetProperty(propSourceAddress)
	if !st.Allows(source) {
		r.logf(abi.LogWarn, "status page refused to %s: not in status.allow", printable(source))
		return s.statusReply(403, "token_failover_status_forbidden", "text/plain", "forbidden\n"), true
	}
	method, _ := r.host.GetHeader(abi.MapRequestHeaders, ":method")
	if a.page {
		if method != "GET" && method != "HEAD" {
			return s.statusReply(405, "token_failover_status_method", "text/plain", "the status page answers GET\n"), true
		}
		view := r.statusView()
		accept, _ := r.host.GetHeader(abi.MapRequestHeaders, "accept")
		if strings.Contains(query, "format=html") || (!strings.Contains(query, "format=json") && strings.Contains(accept, "text/html")) {
			return s.statusReply(200, "token_failover_status", "text/html; charset=utf-8", renderStatusHTML(view)), true
		}
		b, _ := json.MarshalIndent(view, "", "  ")
		return s.statusReply(200, "token_failover_status", "application/json", string(b)+"\n"), true
	}
	if a.pool == "" {
		return s.statusReply(404, "token_failover_status_not_found", "text/plain", "no such status action\n"), true
	}
	if method != "POST" {
		return s.statusReply(405, "token_failover_status_method", "text/plain", "actions are POSTed\n"), true
	}
	if st.AdminKey == "" {
		return s.statusReply(403, "token_failover_status_read_only", "text/plain",
			"this status page is read-only: no status.adminKey is configured\n"), true
	}
	given, _ := r.host.GetHeader(abi.MapRequestHeaders, config.AdminHeader)
	if !sameKey(given, st.AdminKey) {
		r.logf(abi.LogWarn, "status: %s asked to %s token %s of pool %s without the admin key", printable(source),
			verb(a.demote), printable(a.token), printable(a.pool))
		return s.statusReply(401, "token_failover_status_unauthorized", "text/plain", "the admin key is missing or wrong\n"), true
	}
	actor, _ := r.host.GetHeader(abi.MapRequestHeaders, "x-token-failover-actor")
	code, msg := r.manualAction(a, source, actor)
	return s.statusReply(code, "token_failover_status_action", "application/json", msg), true
}

func verb(demote bool) string {
	if demote {
		return "demote"
	}
	return "restore"
}

// sameKey compares the given key with the configured one in constant time
// (as digests, so not even the length is told).
func sameKey(given, want string) bool {
	g, w := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(want))
	return given != "" && subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// printable keeps what a client sent fit for one log line: printable ASCII,
// at most 64 bytes.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 64; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

func (s *stream) statusReply(code uint32, details, contentType, body string) abi.Action {
	err := s.root.host.SendLocalResponse(code, details, []byte(body),
		[]abi.HeaderPair{{"content-type", contentType}, {"cache-control", "no-store"}}, -1)
	if err != nil {
		s.root.logf(abi.LogError, "cannot send the status page: %v", err)
	}
	return abi.ActionPause
}

// manualAction applies an operator's demote or restore to the shared state
// (every worker sees it at its next read) and logs one line naming who
// asked and what changed; it returns the reply's status and JSON body.
func (r *Root) manualAction(a statusAction, source, actor string) (uint32, string) {
	reg, ok := findRegistered(decodeRegistry(r.registry()), a.pool)
	if !ok {
		return 404, `{"error":"no such pool"}` + "\n"
	}
	i := tokenIndex(reg, a.token)
	if i < 0 {
		return 404, `{"error":"no such token in pool ` + jsonText(reg.Name) + `"}` + "\n"
	}
	if !reg.Failover {
		return 409, `{"error":"pool ` + jsonText(reg.Name) + ` has failover off: its tokens have no shared state to change"}` + "\n"
	}
	now := r.host.ProcessMs()
	var c failover.Change
	state, _, err := failover.UpdatePool(r.store, stateKey(reg.ID), len(reg.Tokens), func(p *failover.Pool) bool {
		if a.demote {
			c = p.Demote(i, now)
		} else {
			c = p.Restore(i)
		}
		return c.Changed
	})
	if err != nil {
		return 503, `{"error":"the shared state could not be written; try again"}` + "\n"
	}
	who := printable(source)
	if actor != "" {
		who += " (" + printable(actor) + ")"
	}
	tok := fmt.Sprintf("#%d(%s)", i, reg.Tokens[i])
	if !c.Changed {
		r.logf(abi.LogInfo, "status: %s asked to %s token %s of pool %s: nothing to change (it is %s)", who, verb(a.demote), tok, reg.Name, c.From)
	} else {
		r.logf(abi.LogWarn, "status: %s %s token %s of pool %s by hand: %s -> %s", who, map[bool]string{true: "took out", false: "put back"}[a.demote],
			tok, reg.Name, c.From, c.To)
		if a.demote {
			r.publishManual(reg.ID, state)
		}
	}
	return 200, fmt.Sprintf(`{"pool":"%s","token":%d,"fingerprint":"%s","from":"%s","to":"%s","changed":%v}`+"\n",
		jsonText(reg.Name), i, reg.Tokens[i], c.From, state.Tokens[i].Status, c.Changed)
}

// publishManual moves the gauges of this root's copy of the pool at once
// (other roots move theirs at their next tick).
func (r *Root) publishManual(id string, state failover.Pool) {
	for _, p := range r.pools {
		if p.id == id {
			p.metrics.publish(state, r.host.ProcessMs())
		}
	}
}

func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

func (r *Root) registry() []byte {
	b, _, err := r.store.Get(registryKey)
	if err != nil {
		return nil
	}
	return b
}

func findRegistered(list []registered, pool string) (registered, bool) {
	for _, e := range list {
		if e.ID == pool || e.Name == pool {
			return e, true
		}
	}
	return registered{}, false
}

// tokenIndex finds a token by index or fingerprint (-1: none).
func tokenIndex(reg registered, token string) int {
	if i, err := strconv.Atoi(token); err == nil && i >= 0 && i < len(reg.Tokens) && strconv.Itoa(i) == token {
		return i
	}
	for i, fp := range reg.Tokens {
		if fp == token {
			return i
		}
	}
	return -1
}

// statusView is the page's content (its JSON form).
type statusView struct {
	GeneratedAt string       `json:"generatedAt"`
	VM          string       `json:"vm"`
	Warnings    []string     `json:"warnings"`
	Pools       []poolStatus `json:"pools"`
}

type poolStatus struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Failover  bool   `json:"failover"`
	Available int    `json:"available"`
	// ProbeLease is the VM that probes the pool's demoted tokens, until
	// ProbeLeaseUntil ("" when no VM holds it).
	ProbeLease      string        `json:"probeLease"`
	ProbeLeaseUntil string        `json:"probeLeaseUntil,omitempty"`
	Tokens          []tokenStatus `json:"tokens"`
	ConfiguredAt    string        `json:"configuredAt"`
}

type tokenStatus struct {
	Index       int    `json:"index"`
	Fingerprint string `json:"fingerprint"`
	// State is available, cooling or unhealthy; Serving whether it takes
	// requests now (a cooled-down token may, before its state says so).
	State   string `json:"state"`
	Serving bool   `json:"serving"`
	Manual  bool   `json:"manual"`
	Reason  string `json:"reason,omitempty"`
	// HTTPStatus and Why: the answer that took it out.
	HTTPStatus          int        `json:"httpStatus,omitempty"`
	Why                 string     `json:"why,omitempty"`
	Account             string     `json:"account,omitempty"`
	Since               string     `json:"since,omitempty"`
	Until               string     `json:"until,omitempty"`
	ConsecutiveFailures uint32     `json:"consecutiveFailures"`
	NextProbe           string     `json:"nextProbe,omitempty"`
	LastProbe           *probeSeen `json:"lastProbe,omitempty"`
	Demotions           uint32     `json:"demotions"`
	Restorations        uint32     `json:"restorations"`
}

type probeSeen struct {
	At string `json:"at"`
	OK bool   `json:"ok"`
}

// statusView reads every registered pool's state and lease.
func (r *Root) statusView() statusView {
	wall, proc := r.host.WallMs(), r.host.ProcessMs()
	at := func(processMs int64) string { // a process-clock time as wall time
		if processMs <= 0 || processMs == failover.NeverProbed {
			return ""
		}
		return time.UnixMilli(wall - (proc - processMs)).UTC().Format(time.RFC3339)
	}
	v := statusView{GeneratedAt: time.UnixMilli(wall).UTC().Format(time.RFC3339), VM: r.vm.ID, Warnings: r.cfg.Warnings, Pools: []poolStatus{}}
	if v.Warnings == nil {
		v.Warnings = []string{}
	}
	list := decodeRegistry(r.registry())
	sort.SliceStable(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	for _, reg := range list {
		ps := poolStatus{ID: reg.ID, Name: reg.Name, Failover: reg.Failover, Tokens: []tokenStatus{},
			ConfiguredAt: time.UnixMilli(reg.At).UTC().Format(time.RFC3339)}
		state := failover.NewPool(len(reg.Tokens))
		if reg.Failover {
			if b, _, err := r.store.Get(stateKey(reg.ID)); err == nil {
				if p, err := failover.Decode(b, len(reg.Tokens)); err == nil {
					state = p
				}
			}
			if b, _, err := r.store.Get(leaseKey(reg.ID)); err == nil {
				var l failover.Lease
				if json.Unmarshal(b, &l) == nil && l.Expires > proc {
					ps.ProbeLease, ps.ProbeLeaseUntil = l.Holder, at(l.Expires)
				}
			}
		}
		ps.Available = state.UsableCount(proc)
		for i, t := range state.Tokens {
			ts := tokenStatus{Index: i, Fingerprint: reg.Tokens[i], State: t.Status.String(), Serving: t.Usable(proc),
				Manual: t.Manual(), ConsecutiveFailures: t.Failures, Demotions: t.Demotions, Restorations: t.Restorations}
			if t.Status != failover.Available {
				ts.Reason, ts.HTTPStatus, ts.Why, ts.Account = t.Reason.String(), int(t.HTTPStatus), t.Why, t.Account
				ts.Since, ts.Until = at(t.DemotedAt), at(t.Until)
				if t.Status == failover.Unhealthy {
					ts.NextProbe = at(t.NextProbe)
				}
			}
			if t.LastProbeAt > 0 {
				ts.LastProbe = &probeSeen{At: at(t.LastProbeAt), OK: t.LastProbeOK}
			}
			ps.Tokens = append(ps.Tokens, ts)
		}
		v.Pools = append(v.Pools, ps)
	}
	return v
}

// renderStatusHTML is the page for people: one table per pool, inline
// style, no script, no external asset; every value escaped.
func renderStatusHTML(v statusView) string {
	var b strings.Builder
	e := html.EscapeString
	b.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>token-failover status</title>` +
		`<style>body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}` +
		`th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}` +
		`.available{background:#e6f4e6}.cooling{background:#fff4d6}.unhealthy{background:#fbe0e0}.manual{background:#e4e4f8}` +
		`small{color:#666}</style></head><body>`)
	b.WriteString(`<h1>token-failover</h1><p><small>generated ` + e(v.GeneratedAt) + ` by VM ` + e(v.VM) + `</small></p>`)
	if len(v.Warnings) > 0 {
		b.WriteString(`<h2>Configuration warnings</h2><ul>`)
		for _, w := range v.Warnings {
			b.WriteString(`<li>` + e(w) + `</li>`)
		}
		b.WriteString(`</ul>`)
	}
	if len(v.Pools) == 0 {
		b.WriteString(`<p>No pool is configured in this Envoy process.</p>`)
	}
	for _, p := range v.Pools {
		fo := "failover on"
		if !p.Failover {
			fo = "failover off"
		}
		lease := "no VM holds the probe lease"
		if p.ProbeLease != "" {
			lease = "probes by VM " + e(p.ProbeLease) + " (lease until " + e(p.ProbeLeaseUntil) + ")"
		}
		fmt.Fprintf(&b, `<h2 id="pool-%s">Pool %s</h2><p>%d of %d tokens serving; %s; %s. <small>id %s, configured %s</small></p>`,
			e(p.ID), e(p.Name), p.Available, len(p.Tokens), fo, lease, e(p.ID), e(p.ConfiguredAt))
		b.WriteString(`<table><tr><th>token</th><th>state</th><th>reason</th><th>answer</th><th>since</th><th>until</th>` +
			`<th>failures in a row</th><th>next probe</th><th>last probe</th><th>demotions / restorations</th></tr>`)
		for _, t := range p.Tokens {
			class, state := t.State, t.State
			if t.Manual {
				class, state = "manual", "taken out by hand"
			}
			answer := t.Why
			if t.HTTPStatus != 0 && !strings.Contains(answer, strconv.Itoa(t.HTTPStatus)) {
				answer = strconv.Itoa(t.HTTPStatus) + " " + answer
			}
			last := ""
			if t.LastProbe != nil {
				last = t.LastProbe.At + map[bool]string{true: " ok", false: " failed"}[t.LastProbe.OK]
			}
			fmt.Fprintf(&b, `<tr class="%s"><td>#%d <code>%s</code></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>`+
				`<td>%d</td><td>%s</td><td>%s</td><td>%d / %d</td></tr>`,
				e(class), t.Index, e(t.Fingerprint), e(state), e(t.Reason), e(answer), e(t.Since), e(t.Until),
				t.ConsecutiveFailures, e(t.NextProbe), e(last), t.Demotions, t.Restorations)
		}
		b.WriteString(`</table>`)
	}
	b.WriteString(`</body></html>` + "\n")
	return b.String()
}
