package plugin

import (
	"crypto/hmac"
	"strconv"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/provider"
)

// upstreamAttempt reads what an upstream-mode filter needs to know of the
// attempt: whether it is the plugin's own probe (true: leave it alone; a
// client cannot forge the mark, signed with the process's secret, and one
// that does not verify is removed), and whether it is a router retry.
// Nothing is written to the request for later attempts: every attempt's
// headers go to the provider. A router retry starts from the headers the
// attempt before left (the router keeps one copy of them), already
// rewritten for the provider: it takes the client's :authority and :path,
// and the tokens tried, from the request's filter state (noteAttempt), so
// that it matches the same rule and is rewritten and mapped like the first.
func (s *stream) upstreamAttempt(headers []abi.HeaderPair, head *provider.Head) bool {
	r := s.root
	for _, h := range headers {
		if h[0] != probeHeader {
			continue
		}
		_ = r.host.RemoveHeader(abi.MapRequestHeaders, probeHeader)
		if hmac.Equal([]byte(h[1]), []byte(r.vm.probeMark())) {
			s.probe = true
			return true
		}
	}
	if v, err := r.host.GetProperty(propAttemptCount); err == nil && len(v) == 8 {
		s.routerRetry = v[0] > 1 || v[1:] != "\x00\x00\x00\x00\x00\x00\x00"
	}
	if !s.routerRetry {
		return false
	}
	v, err := r.host.GetProperty(propRouterAttempts)
	if err != nil {
		return false // the first attempt matched no rule: nor does this one
	}
	authority, path, tried, ok := parseAttempts(v)
	if !ok {
		return false
	}
	head.Authority, head.Path, s.tried = authority, path, tried
	if tel := r.cfg.Telemetry; tel != nil && tel.AccessLog {
		// The access-log fields are the request's too: count on from the
		// attempts before, and keep naming the keys that failed it.
		if v, err := r.host.GetProperty("tf_attempts"); err == nil {
			s.attempts, _ = strconv.Atoi(v)
		}
		if v, err := r.host.GetProperty("tf_failed"); err == nil {
			s.failed = v
		}
	}
	for i := range headers {
		switch headers[i][0] {
		case ":authority":
			headers[i][1] = authority
		case ":path":
			headers[i][1] = path
		}
	}
	return false
}

// propRouterAttempts is the filter state (wasm.tf_router) in which a router
// attempt leaves the client's :authority and :path and the tokens tried so
// far for the attempts after it. An upstream filter's stream info is the
// downstream request's (Envoy's UpstreamFilterManager::streamInfo), so the
// value lives as long as the request and no client can set it.
// (A name of its own: telemetry's wasm.tf_* fields are for the access log.)
const propRouterAttempts = "tf_router"

// maxAttemptsNoted bounds the tokens a request's filter state lists.
const maxAttemptsNoted = 16

// noteAttempt records the client's :authority and :path, and the tokens
// tried with this attempt's (none when the client's own key is passed),
// for the router's next attempt. It writes into the VM's reused buffer
// (the host copies the value): one hostcall per request, no allocation.
func (s *stream) noteAttempt(head provider.Head) {
	if s.probe {
		return
	}
	vm := s.root.vm
	b := append(append(append(append(vm.note[:0], head.Authority...), '\n'), head.Path...), '\n')
	tried := s.tried
	if n := len(tried) + 1; n > maxAttemptsNoted { // keep the newest, this attempt's last
		tried = tried[n-maxAttemptsNoted:]
	}
	for _, t := range tried {
		b = append(strconv.AppendInt(b, int64(t), 10), ',')
	}
	if s.token >= 0 {
		b = strconv.AppendInt(b, int64(s.token), 10)
	}
	vm.note = b
	if err := s.root.host.SetProperty(propRouterAttempts, b); err != nil && vm.debug {
		s.root.logf(abi.LogDebug, "the attempt could not be noted for the router's retries: %v", err)
	}
}

// parseAttempts reads noteAttempt's value.
func parseAttempts(v string) (authority, path string, tried []int, ok bool) {
	authority, rest, ok1 := strings.Cut(v, "\n")
	path, list, ok2 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 || path == "" {
		return "", "", nil, false
	}
	for _, f := range strings.Split(list, ",") {
		if n, err := strconv.Atoi(f); err == nil && n >= 0 && len(tried) < maxAttemptsNoted {
			tried = append(tried, n)
		}
	}
	return authority, path, tried, true
}
