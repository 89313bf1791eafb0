package wasmhost

import "strconv"

// Respond answers the stream's upstream request with reply, at whatever
// point the request is: an upstream may answer before it has read the
// whole request. A Fault is answered by Envoy's own local reply; otherwise
// the answer's headers, body chunks (with ChunkDelay of virtual time
// between them, during which ticks and http-call answers fire) and
// trailers reach this filter under Envoy's rules, and a MidStreamReset
// cuts the body short. It returns once the answer is delivered or held by
// the plugin (see Held).
func (s *Stream) Respond(r Reply) error {
	if s.ended {
		return ErrEnded
	}
	if len(r.Trailers) == 0 {
		r.Trailers = nil // no trailers at all, not an empty trailer block
	}
	if s.Upstream != nil {
		s.Upstream.Answered = true
	}
	if r.Fault != NoFault {
		lr := localReplyFor(r.Fault, s.vm.h.opts.EnvoyVersion)
		if s.Upstream != nil && !s.Upstream.Complete {
			s.Upstream.Reset = true
		}
		return s.envoyReply(lr.status, lr.body, lr.details, lr.flags)
	}
	s.props["response.code_details"] = detailsViaUpstream
	headers := append([]Pair{{":status", strconv.Itoa(r.Status)}}, r.Headers...)
	if len(r.Body) > 0 && r.Chunks == nil && !r.MidStreamReset && header(headers, "content-length") == "" {
		headers = append(headers, Pair{"content-length", itoa(len(r.Body))})
	}
	noBody := len(r.Body) == 0 && r.Trailers == nil && !r.MidStreamReset && !r.Open
	if err := s.encodeHeaders(headers, noBody); err != nil || s.ended || noBody {
		return err
	}
	sent, chunk := 0, 0
	for sent < len(r.Body) || (r.MidStreamReset && sent == 0 && chunk == 0) {
		n := len(r.Body) - sent
		if chunk < len(r.Chunks) {
			n = min(r.Chunks[chunk], n)
		}
		if r.MidStreamReset && sent+n > r.ResetAfter {
			n = max(r.ResetAfter-sent, 0)
		}
		if chunk > 0 && r.ChunkDelay > 0 {
			if err := s.vm.h.Advance(r.ChunkDelay); err != nil || s.ended {
				return err
			}
		}
		last := sent+n == len(r.Body) && r.Trailers == nil && !r.MidStreamReset && !r.Open
		if n > 0 || last {
			if err := s.encodeData(r.Body[sent:sent+n], last); err != nil || s.ended {
				return err
			}
		}
		sent += n
		chunk++
		if r.MidStreamReset && sent >= r.ResetAfter {
			return s.upstreamResetLate()
		}
	}
	if r.Trailers != nil && !r.Open {
		return s.encodeTrailers(append([]Pair(nil), r.Trailers...))
	}
	return nil
}

// encodeHeaders hands this filter the response headers.
func (s *Stream) encodeHeaders(headers []Pair, eos bool) error {
	s.respHdrs, s.respStarted = headers, true
	res, err := s.callback("proxy_on_response_headers", len(s.respHdrs), eos)
	if err != nil || s.ended {
		return err
	}
	if res == actionPause {
		// StopAllIterationAndWatermark: the body and trailers wait for
		// proxy_continue_stream(response), then reach this filter.
		s.held = true
		s.respPendEnd = eos
		return s.after()
	}
	s.clientHeaders = append([]Pair(nil), s.respHdrs...)
	if eos {
		return s.finish()
	}
	return s.after()
}

// encodeData hands this filter a response body chunk (or keeps it while
// the headers are held).
func (s *Stream) encodeData(chunk []byte, eos bool) error {
	if s.held {
		s.respPendBody = append(s.respPendBody, chunk...)
		s.respPendEnd = eos
		return s.checkResponseLimit(len(s.respPendBody))
	}
	if s.respBuffering {
		s.respBuf = append(s.respBuf, chunk...)
	} else {
		s.respBuf = append([]byte(nil), chunk...)
	}
	return s.runResponseBody(eos)
}

func (s *Stream) runResponseBody(eos bool) error {
	res, err := s.callback("proxy_on_response_body", len(s.respBuf), eos)
	if err != nil || s.ended {
		return err
	}
	if res == actionPause {
		s.respBuffering = true
		if err := s.checkResponseLimit(len(s.respBuf)); err != nil || s.ended {
			return err
		}
		return s.after()
	}
	s.respBuffering = false
	s.clientBody = append(s.clientBody, s.respBuf...)
	s.respBuf = nil
	if eos {
		return s.finish()
	}
	if s.req.ClientLeavesMidResponse && len(s.clientBody) > 0 {
		return s.ResetByClient()
	}
	return s.after()
}

// encodeTrailers hands this filter the response trailers.
func (s *Stream) encodeTrailers(t []Pair) error {
	if s.held {
		s.respPendTrail = t
		return nil
	}
	s.respTrailers = t
	res, err := s.callback("proxy_on_response_trailers", len(t), false)
	if err != nil || s.ended {
		return err
	}
	if res == actionPause {
		return s.after() // held until continue_stream(response)
	}
	return s.finishWithTrailers()
}

func (s *Stream) finishWithTrailers() error {
	s.clientBody = append(s.clientBody, s.respBuf...)
	s.respBuf, s.respBuffering = nil, false
	s.clientTrailers = s.respTrailers
	return s.finish()
}

// resumeResponse carries out proxy_continue_stream(response): held headers
// (as the plugin left them) go to the client and Envoy hands this filter
// the body and trailers it kept meanwhile.
func (s *Stream) resumeResponse() error {
	s.resume = false
	if !s.held {
		if s.respBuffering {
			s.clientBody = append(s.clientBody, s.respBuf...)
			s.respBuf, s.respBuffering = nil, false
		}
		if s.respTrailers != nil {
			return s.finishWithTrailers()
		}
		return nil
	}
	s.held = false
	s.clientHeaders = append([]Pair(nil), s.respHdrs...)
	body, end, trailers := s.respPendBody, s.respPendEnd, s.respPendTrail
	s.respPendBody, s.respPendTrail = nil, nil
	if len(body) > 0 || (end && trailers == nil) {
		s.respBuf = body
		if err := s.runResponseBody(end && trailers == nil); err != nil || s.ended {
			return err
		}
	}
	if trailers != nil {
		return s.encodeTrailers(trailers)
	}
	return nil
}

// checkResponseLimit follows Envoy when a filter buffers more of the
// response than the buffer limit: before the client got headers it
// answers 500 itself; after, it resets the stream.
func (s *Stream) checkResponseLimit(n int) error {
	if n <= s.vm.h.opts.BufferLimit {
		return nil
	}
	if s.clientHeaders == nil {
		return s.envoyReply(500, "Internal Server Error", detailsResponseTooLarge, 0)
	}
	s.props["response.code_details"] = detailsResponseTooLarge
	s.Response = s.clientView(true)
	return s.end()
}

// upstreamResetLate is the upstream resetting the stream after its
// headers: Envoy resets the client's stream too.
func (s *Stream) upstreamResetLate() error {
	s.props["response.code_details"] = detailsResetLate
	s.flags |= flagUpstreamProtocolError
	s.Response = s.clientView(true)
	return s.end()
}

// finish ends a stream whose answer reached the client whole. If the
// client was still sending (the upstream answered early), Envoy resets
// the rest of the request: no more request callbacks run.
func (s *Stream) finish() error {
	s.Response = s.clientView(false)
	return s.end()
}

// envoyReply is a local reply of Envoy's own (router fault, buffer limit):
// it passes through this filter's response callbacks like any answer.
func (s *Stream) envoyReply(status int, body, details string, flags uint64) error {
	s.props["response.code_details"] = details
	s.flags |= flags
	s.respLocal = true
	headers := []Pair{{":status", strconv.Itoa(status)}, {"content-length", itoa(len(body))}, {"content-type", "text/plain"}}
	s.held, s.respBuffering, s.respBuf, s.respPendBody = false, false, nil, nil
	if err := s.encodeHeaders(headers, body == ""); err != nil || s.ended {
		return err
	}
	if s.held {
		// The plugin held Envoy's reply: it goes out on continue_stream.
		s.respPendBody, s.respPendEnd = []byte(body), true
		return nil
	}
	return s.encodeData([]byte(body), true)
}

// finishLocal sends the plugin's local reply through the encoder path, as
// Envoy does (the plugin's own response callbacks see it), then ends. An
// upstream request already under way is reset.
func (s *Stream) finishLocal() error {
	l := s.local
	s.local = nil
	if s.Upstream != nil && !s.Upstream.Complete {
		s.Upstream.Reset = true
	}
	s.props["response.code_details"] = l.Details
	s.respLocal = true
	headers := append([]Pair{{":status", strconv.Itoa(l.Status)}}, l.Headers...)
	if len(l.Body) > 0 {
		headers = setHeader(headers, "content-length", itoa(len(l.Body)))
	}
	if err := s.encodeHeaders(headers, len(l.Body) == 0); err != nil || s.ended {
		return err
	}
	return s.encodeData(l.Body, true)
}

// settle delivers the http-call answers already due while s's response is
// held (a retry in flight), without moving the clock or firing ticks.
func (h *Host) settle(s *Stream) error {
	for s.held && !s.ended {
		c := h.nextCall()
		if c == nil || c.due > h.now {
			return nil
		}
		h.removeCall(c)
		if err := c.deliver(); err != nil {
			return err
		}
	}
	return nil
}
