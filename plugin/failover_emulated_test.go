package plugin_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	tfprovider "github.com/token-failover/token-failover/provider"
	"github.com/token-failover/token-failover/wasmhost"
)

func cfg(extra string) string {
	return `provider: {type: openai, apiTokens: [` + strings.Join(threeTokens, ", ") + `], tokenSelection: round-robin,
  failover: {enabled: true, failureThreshold: 3, healthCheckInterval: 1000` + extra + `}}`
}

// TestFailover_500DemotesOnEveryVMAfterThreshold keeps 4 requests in flight
// across 4 workers. Token 1 answers 500. It must be demoted by exactly the
// third failure, and no request that starts afterwards, on any VM, may
// reach it: only those already in flight at the demotion.
func TestFailover_500DemotesOnEveryVMAfterThreshold(t *testing.T) {
	p := newProvider(threeTokens...)
	p.always(1, wasmhost.Status(500))
	h := start(t, cfg(""), p)
	workers := h.Workers()
	var inflight []*wasmhost.Stream
	failuresSeen, demotedAt := 0, -1
	startedAfterDemotion := map[*wasmhost.Stream]bool{}
	for i := 0; i < 400; i++ {
		s, err := workers[i%4].Start(wasmhost.Chat("gpt-4o"))
		require.NoError(t, err)
		startedAfterDemotion[s] = demotedAt >= 0
		inflight = append(inflight, s)
		if len(inflight) < 4 {
			continue
		}
		oldest := inflight[0]
		inflight = inflight[1:]
		reply := p.cluster(oldest.Upstream)
		require.NoError(t, oldest.Respond(reply))
		if p.token(oldest.Upstream) == 1 {
			require.False(t, startedAfterDemotion[oldest], "request %d started after the demotion yet reached token 1", i)
			if demotedAt < 0 {
				failuresSeen++
			}
		}
		if demotedAt < 0 && state(t, h, 3).Tokens[1].Status == failover.Unhealthy {
			demotedAt = i
			require.Equal(t, 3, failuresSeen, "demoted by exactly the failureThreshold-th failure")
		}
	}
	require.GreaterOrEqual(t, demotedAt, 0, "token 1 was never demoted")
	st := state(t, h, 3)
	require.Equal(t, failover.Unhealthy, st.Tokens[1].Status)
	require.Equal(t, failover.ReasonUpstream, st.Tokens[1].Reason)
	require.Equal(t, uint32(1), st.Tokens[1].Demotions)
	for _, i := range []int{0, 2} {
		require.Equal(t, failover.Available, st.Tokens[i].Status)
		require.Greater(t, p.count(i, false), 150)
	}
	require.Contains(t, h.LogText(), fmt.Sprintf("token #1(%s) demoted to unhealthy (upstream, status 500)", fp(threeTokens[1])))
}

func TestFailover_AuthAndQuotaDemoteAtOnce(t *testing.T) {
	for _, status := range []int{401, 402, 403} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			p := newProvider(threeTokens...)
			p.always(0, wasmhost.Status(status))
			h := start(t, cfg(""), p)
			for i := 0; p.count(0, false) == 0; i++ {
				do(t, h.Workers()[i%4], wasmhost.Chat("m"))
			}
			st := state(t, h, 3)
			require.Equal(t, failover.Unhealthy, st.Tokens[0].Status, "one %d demotes", status)
			before := p.count(0, false)
			for i := 0; i < 40; i++ {
				do(t, h.Workers()[i%4], wasmhost.Chat("m"))
			}
			require.Equal(t, before, p.count(0, false))
		})
	}
}

func TestFailover_429CoolsAndReturnsWithoutProbe(t *testing.T) {
	p := newProvider(threeTokens...)
	limited := true
	p.set(2, func(*wasmhost.UpstreamRequest) wasmhost.Reply {
		if limited {
			return wasmhost.Status(429, [2]string{"retry-after", "2"})
		}
		return wasmhost.OK()
	})
	h := start(t, cfg(""), p)
	for i := 0; p.count(2, false) == 0; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("m"))
	}
	st := state(t, h, 3)
	require.Equal(t, failover.Cooling, st.Tokens[2].Status)
	require.Equal(t, h.ProcessMs()+2000, st.Tokens[2].Until)
	limited = false
	advance(t, h, 1900*time.Millisecond)
	for i := 0; i < 12; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("m"))
	}
	require.Equal(t, 1, p.count(2, false), "still cooling before 2 s")
	advance(t, h, 200*time.Millisecond)
	for i := 0; i < 12; i++ {
		do(t, h.Workers()[i%4], wasmhost.Chat("m"))
	}
	require.Greater(t, p.count(2, false), 1, "serves again after 2 s of virtual time")
	require.Zero(t, p.count(2, true), "without any probe")
	require.Equal(t, failover.Available, state(t, h, 3).Tokens[2].Status)
}

func TestFailover_ClientErrorsChangeNothing(t *testing.T) {
	for _, status := range []int{400, 404, 413, 422} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			p := newProvider(threeTokens...)
			p.always(0, wasmhost.Status(status))
			p.always(1, wasmhost.Status(status))
			p.always(2, wasmhost.Status(status))
			h := start(t, cfg(""), p)
			before := state(t, h, 3)
			for i := 0; i < 30; i++ {
				s := do(t, h.Workers()[i%4], wasmhost.Chat("m"))
				require.Equal(t, status, s.Response.Status, "the client gets the provider's answer")
			}
			require.Equal(t, before, state(t, h, 3))
		})
	}
}

func TestFailover_UpstreamResetAndTimeoutCount(t *testing.T) {
	for name, reply := range map[string]wasmhost.Reply{"reset": {Fault: wasmhost.FaultConnectFailure}, "timeout": {Fault: wasmhost.FaultRouteTimeout}} {
		t.Run(name, func(t *testing.T) {
			p := newProvider(threeTokens...)
			p.always(0, reply)
			h := start(t, cfg(""), p)
			for i := 0; p.count(0, false) < 3; i++ {
				do(t, h.Workers()[i%4], wasmhost.Chat("m"))
			}
			require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[0].Status)
		})
	}
}

// allRateLimited makes every token answer 429 (token i with Retry-After
// 10+i) and sends one request to each, so all three are cooling.
func allRateLimited(t *testing.T, extra string) (*provider, *wasmhost.Host) {
	p := newProvider(threeTokens...)
	for i := range threeTokens {
		p.always(i, wasmhost.Status(429, [2]string{"retry-after", fmt.Sprint(10 + i)}))
	}
	h := start(t, cfg(extra), p)
	for i := 0; i < 3; i++ {
		do(t, h.Workers()[0], wasmhost.Chat("m"))
	}
	return p, h
}

func TestFailover_AllTokensDown(t *testing.T) {
	t.Run("default uses the soonest back", func(t *testing.T) {
		p, h := allRateLimited(t, "")
		p.always(0, wasmhost.OK())
		s := do(t, h.Workers()[1], wasmhost.Chat("m"))
		require.Equal(t, 0, p.token(s.Upstream), "token 0 is back first (10 s)")
		require.Equal(t, 200, s.Response.Status)
	})
	t.Run("reject answers 503 with Retry-After", func(t *testing.T) {
		p, h := allRateLimited(t, ", allTokensDown: reject")
		n := len(p.requests)
		before := state(t, h, 3)
		s := do(t, h.Workers()[2], wasmhost.Chat("m"))
		require.Nil(t, s.Upstream)
		require.Equal(t, n, len(p.requests), "nothing reached the provider")
		require.True(t, s.Response.LocalReply)
		require.Equal(t, 503, s.Response.Status)
		require.Equal(t, [2]string{"retry-after", "10"}, s.Response.Headers[1])
		require.Equal(t, before, state(t, h, 3), "a rejected request changes no token's state")
	})
}

func fp(secret string) string { return tfprovider.Fingerprint(secret) }
