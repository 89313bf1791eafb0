package plugin_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
	"github.com/token-failover/token-failover/wasmhost"
)

// stateful is a request of consumer to a stateful API path (issue 24 item
// 4), as Higress's consumer_affinity cases send them.
func stateful(consumer, method, path string) wasmhost.Request {
	r := wasmhost.Chat("gpt-4o")
	r.Headers = []wasmhost.Pair{{":method", method}, {":path", path}, {":authority", "gateway.local"},
		{"content-type", "application/json"}, {"x-mse-consumer", consumer}}
	if method == "GET" {
		r.Body = nil
	}
	return r
}

// TestConsumerAffinity_StatefulAPIsKeepOneToken: a consumer's Responses,
// Files, Batches and fine-tuning calls all use one token, on every worker,
// whatever the selection policy (before, six calls of one consumer used
// tokens 1,2,1,1,1,2), consumers spread over the tokens, a consumer moves
// only when its token is demoted (and stays on its new one), and comes
// back once it is restored; a chat call is not held. Higress's own cases
// (test/consumer_affinity.go) name the same APIs and header.
func TestConsumerAffinity_StatefulAPIsKeepOneToken(t *testing.T) {
	for _, selection := range []string{"random", "round-robin"} {
		t.Run(selection, func(t *testing.T) {
			p := newProvider(threeTokens...)
			h := start(t, `provider: {type: openai, apiTokens: [`+strings.Join(threeTokens, ", ")+`], tokenSelection: `+selection+`,
  failover: {enabled: true, healthCheckInterval: 1000}}`, p)
			calls := []struct{ method, path string }{
				{"POST", "/v1/files"}, {"GET", "/v1/files/file-1"}, {"GET", "/v1/files/file-1/content"},
				{"POST", "/v1/responses"}, {"GET", "/v1/responses/resp_1"}, {"POST", "/v1/batches"},
				{"GET", "/v1/batches/batch_1"}, {"POST", "/v1/batches/batch_1/cancel"}, {"POST", "/v1/fine_tuning/jobs"},
				{"GET", "/v1/fine_tuning/jobs/ft-1/events"},
			}
			home := map[string]int{}
			for i := 0; i < 200; i++ {
				consumer := fmt.Sprintf("consumer-%d", i%20)
				c := calls[i%len(calls)]
				s := do(t, h.Workers()[i%4], stateful(consumer, c.method, c.path))
				tok := p.token(s.Upstream)
				if prev, ok := home[consumer]; ok {
					require.Equal(t, prev, tok, "%s changed token on %s %s", consumer, c.method, c.path)
				}
				home[consumer] = tok
			}
			spread := map[int]bool{}
			for _, tok := range home {
				spread[tok] = true
			}
			require.Len(t, spread, 3, "consumers spread over every token")

			chat := map[int]bool{}
			for i := 0; i < 30; i++ {
				r := wasmhost.Chat("gpt-4o")
				r.Headers = append(r.Headers, wasmhost.Pair{"x-mse-consumer", "consumer-0"})
				chat[p.token(do(t, h.Workers()[i%4], r).Upstream)] = true
			}
			require.Greater(t, len(chat), 1, "a chat call is not held to the consumer's token")

			var moved []string
			for consumer, tok := range home {
				if tok == 0 {
					moved = append(moved, consumer)
				}
			}
			p.always(0, wasmhost.Status(401))
			do(t, h.Workers()[0], stateful(moved[0], "POST", "/v1/files")) // the 401 that demotes token 0
			require.Equal(t, failover.Unhealthy, state(t, h, 3).Tokens[0].Status)
			for i, consumer := range moved {
				s := do(t, h.Workers()[i%4], stateful(consumer, "GET", "/v1/files/file-1"))
				next := p.token(s.Upstream)
				require.NotEqual(t, 0, next, "%s must move off the demoted token", consumer)
				s = do(t, h.Workers()[(i+1)%4], stateful(consumer, "POST", "/v1/batches"))
				require.Equal(t, next, p.token(s.Upstream), "and stay on its new token")
			}
			p.always(0, wasmhost.OK())
			advance(t, h, 2500*time.Millisecond)
			require.Equal(t, failover.Available, state(t, h, 3).Tokens[0].Status)
			for i, consumer := range moved {
				s := do(t, h.Workers()[i%4], stateful(consumer, "POST", "/v1/responses"))
				require.Equal(t, 0, p.token(s.Upstream), "%s comes back after restoration", consumer)
			}
		})
	}
}
