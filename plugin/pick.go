package plugin

import (
	"strconv"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/provider"
)

// pick chooses the request's token; false means a local reply was sent.
func (s *stream) pick(headers []abi.HeaderPair) (int, bool) {
	r, b := s.root, s.block
	p := b.pool
	state := p.static
	if b.cfg.Failover.Enabled {
		state = p.read(r)
	}
	s.key = s.affinity(headers)
	var now int64
	if !state.AllAvailable() {
		now = r.host.ProcessMs() // only a token that is down needs the clock
	}
	var buf [16]int
	may := s.mayServe(now)
	if cands := state.Candidates(now, may, buf[:0]); len(cands) > 0 {
		return cands[s.choose(cands, s.key)], true
	}
	tok, backAt := state.Fallback(may)
	if tok < 0 { // every token was tried: any may serve this last attempt
		if cands := state.Candidates(now, nil, buf[:0]); len(cands) > 0 {
			return cands[s.choose(cands, s.key)], true
		}
		tok, backAt = state.Fallback(nil)
	}
	if now == 0 {
		now = r.host.ProcessMs()
	}
	p.metrics.inc(p.metrics.allDown)
	if b.cfg.Failover.RejectWhenAllDown {
		retry := int64(1)
		if backAt > now {
			retry = (backAt - now + 999) / 1000
		}
		s.ownReply = true
		_ = r.host.SendLocalResponse(503, "token_failover_all_tokens_down",
			[]byte(`{"error":{"message":"all API tokens are unavailable","type":"token_failover_all_tokens_down"}}`),
			[]abi.HeaderPair{{"content-type", "application/json"}, {"retry-after", strconv.FormatInt(retry, 10)}}, -1)
		return 0, false
	}
	r.logf(abi.LogDebug, "pool %s: all tokens down; using the one back soonest, %s", p.name, p.tokens[tok])
	return tok, true
}

// consumerHeader names the consumer Higress's authentication plugins
// identified; Higress keeps a consumer's stateful API calls on one token
// by it.
const consumerHeader = "x-mse-consumer"

// affinity is the key that keeps the request on one token ("" none): for
// a stateful API (Responses, Files, Batches, fine-tuning: what one key
// creates, another cannot see) the consumer, as Higress does, whatever the
// selection policy; else the session under sticky selection. A consumer's
// key is "\x00consumer\x00<name>", which no session header value can
// equal (a header value holds no NUL).
func (s *stream) affinity(headers []abi.HeaderPair) string {
	cfg := s.block.cfg
	var path, consumer, session string
	for _, h := range headers {
		switch {
		case h[0] == ":path":
			path = h[1]
		case h[0] == consumerHeader:
			consumer = h[1]
		case cfg.Selection == "sticky" && h[0] == cfg.StickyHeader && session == "":
			session = h[1]
		}
	}
	if consumer != "" && provider.Stateful(path) {
		return "\x00consumer\x00" + consumer
	}
	return session
}

// choose is the block's selection policy over the candidates (an index
// into them): by key's rendezvous hash when the request has one (see
// affinity: a consumer or session keeps its token while it is usable,
// moves to its next-highest token when demoted, returns on restore, and
// cannot be steered: the hash is keyed with the process's secret), else
// round-robin in this VM or random. A method, not a closure, so that
// picking allocates nothing.
func (s *stream) choose(cands []int, key string) int {
	b := s.block
	switch {
	case key != "":
		seed := s.root.vm.stickySeed(key)
		best, bestScore := 0, uint64(0)
		for k, i := range cands {
			if sc := mix64(seed ^ uint64(i)*0x9e3779b97f4a7c15); k == 0 || sc > bestScore {
				best, bestScore = k, sc
			}
		}
		return best
	case b.cfg.Selection == "round-robin":
		b.rr++
		return int(b.rr % uint32(len(cands)))
	}
	return s.root.vm.rnd.IntN(len(cands))
}

// mix64 is SplitMix64's finaliser: a cheap bijective scramble.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// recentFailureMs is how long a token that failed on this VM is avoided by
// router retries (mode: upstream): a router attempt cannot tell which
// tokens earlier attempts of its request used, but they ran on this VM, just
// before (Envoy's retry back-off is tens of milliseconds).
const recentFailureMs = 10_000

// mayServe returns which tokens may serve this request's next attempt
// (nil: any): not one that already failed it, and for a router retry not
// one that failed on this VM within recentFailureMs. The one rule for a
// first pick, a plugin retry and a router retry.
func (s *stream) mayServe(now int64) func(int) bool {
	if len(s.tried) == 0 && !s.routerRetry {
		return nil
	}
	p := s.block.pool
	return func(i int) bool {
		for _, t := range s.tried {
			if t == i {
				return false
			}
		}
		return !s.routerRetry || p.failedAt[i] == 0 || now-p.failedAt[i] > recentFailureMs
	}
}
