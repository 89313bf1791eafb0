package wasmhost

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// RouterRetry is the route's retry_policy when the plugin runs as the
// cluster's upstream filter (Options.UpstreamFilter): the router retries an
// attempt whose answer has one of Statuses (retriable_status_codes), or that
// ended without an answer (Resets: retry_on reset,connect-failure), up to
// NumRetries times.
type RouterRetry struct {
	NumRetries int
	Statuses   []int
	Resets     bool
}

func (p RouterRetry) retriable(r Reply) bool {
	if r.Fault != NoFault {
		return p.Resets && resetBeforeAnswer(r.Fault)
	}
	for _, s := range p.Statuses {
		if s == r.Status {
			return true
		}
	}
	return false
}

// resetBeforeAnswer tells whether a fault ends the attempt with no answer
// from the upstream (the ones an upstream filter sees as an attempt that
// just ends): a refused connection, a reset, a per-try timeout.
func resetBeforeAnswer(f Fault) bool {
	switch f {
	case FaultConnectFailure, FaultRemoteReset, FaultConnectionTermination, FaultPerTryTimeout, FaultLocalReset:
		return true
	}
	return false
}

// routerDo is Do in upstream-filter mode: Envoy's router running the
// cluster's filter chain once per attempt (docs/envoy-routing.md). Every
// attempt is a new stream context that starts from the router's one copy of
// the request headers, as the previous attempt's filter left them; the
// filter gets on_done and on_delete at an attempt's end, never on_log. An
// attempt that ends without an answer (reset, refused connection, per-try
// timeout) shows the filter no response at all, with empty
// response.code_details (and URX in response.flags on the last one); the
// client then gets Envoy's 503, which no upstream filter sees. An attempt
// retried on its status shows the filter that answer's headers first.
func (vm *VM) routerDo(req Request) (*Stream, error) {
	policy := vm.h.opts.RouterRetry
	headers := req.Headers
	vm.requestState = map[string]string{}
	defer func() { vm.requestState = nil }()
	for attempt := 1; ; attempt++ {
		r := req
		r.Headers = headers
		s, err := vm.openAttempt(r, attempt)
		if err != nil || s.ended {
			return s, err
		}
		if err := s.SendAll(); err != nil || s.ended {
			return s, err
		}
		if s.Upstream == nil {
			return s, ErrStalled
		}
		c, ok := vm.h.opts.Clusters[s.Upstream.Cluster]
		if !ok {
			return s, fmt.Errorf("wasmhost: no cluster %q", s.Upstream.Cluster)
		}
		reply := c(s.Upstream)
		s.Upstream.Answered = true
		retried := attempt <= policy.NumRetries && policy.retriable(reply)
		switch {
		case reply.Fault != NoFault && resetBeforeAnswer(reply.Fault):
			if !retried {
				return s, s.attemptEndsUnanswered(reply.Fault, true, attempt > 1)
			}
			if err := s.attemptEndsUnanswered(reply.Fault, false, false); err != nil {
				return s, err
			}
		case !retried:
			if err := s.Respond(reply); err != nil {
				return s, err
			}
			return s, vm.h.settle(s)
		default:
			// The filter sees the retried answer's headers; the router then
			// resets the attempt and tries again.
			s.respHdrs, s.respStarted = append([]Pair{{":status", strconv.Itoa(reply.Status)}}, reply.Headers...), true
			s.props["response.code_details"] = detailsViaUpstream
			if _, err := s.callback("proxy_on_response_headers", len(s.respHdrs), false); err != nil {
				return s, err
			}
			if err := s.end(); err != nil {
				return s, err
			}
		}
		headers = s.sentHeaders
	}
}

// openAttempt opens one attempt's stream: the route is the one the router
// picked for the request, and upstream.request_attempt_count its number.
func (vm *VM) openAttempt(req Request, attempt int) (*Stream, error) {
	vm.attempt = attempt
	defer func() { vm.attempt = 0 }()
	return vm.Open(req)
}

// attemptEndsUnanswered ends an attempt that got no answer (fault f): the
// filter sees nothing but its end, with empty details, URX on the last of
// several attempts, and the transport failure of a refused connection. The
// last attempt gives the client Envoy's 503.
func (s *Stream) attemptEndsUnanswered(f Fault, last, retriedBefore bool) error {
	s.props["response.code_details"] = ""
	if f == FaultConnectFailure {
		s.props["upstream.transport_failure_reason"] = "delayed connect error: Connection refused"
	}
	if s.Upstream != nil && !s.Upstream.Complete {
		s.Upstream.Reset = true
	}
	if last && retriedBefore {
		s.flags |= flagUpstreamRetryLimitExceeded
	}
	if err := s.end(); err != nil {
		return err
	}
	if last {
		lr := localReplyFor(f, s.vm.h.opts.EnvoyVersion)
		if retriedBefore { // router.cc onUpstreamReset: is_retry_
			lr.body = strings.Replace(lr.body, "before headers. ", "before headers. retried and the latest ", 1)
		}
		s.Response = &Response{Status: lr.status, LocalReply: true, Details: lr.details, Body: []byte(lr.body)}
	}
	return nil
}

// attemptCount is upstream.request_attempt_count as Envoy encodes it.
func attemptCount(n int) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	return string(b[:])
}
