package plugin

import (
	"strconv"
	"strings"

	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/modelscan"
	"github.com/token-failover/token-failover/provider"
)

// mapsBody prepares the mapping of the body's model when the block maps
// one; false means a local reply was sent (returned as the action).
func (s *stream) mapsBody(endOfStream bool, contentType, encoding string, hasContentLength bool) (abi.Action, bool) {
	cfg := s.block.cfg
	if endOfStream || cfg.Mapping.Empty() || cfg.Provider.ModelInPath(s.sent.Path) {
		return abi.ActionContinue, true
	}
	if encoding != "" && !strings.EqualFold(encoding, "identity") {
		// The provider would decode a body the mapping cannot read.
		return s.refuse(415, "token_failover_encoded_body",
			"request bodies with content-encoding cannot have their model mapped by this gateway; send it unencoded"), false
	}
	s.body = &bodyMapper{}
	if formContentType(contentType) {
		// A form is not rewritten (it keeps its content-length), but it is
		// read all the same: a server that ignores the content type would
		// read a JSON body's model, so one that needs mapping is refused.
		s.body.checkOnly, s.body.contentType = true, contentType
		return abi.ActionContinue, true
	}
	if hasContentLength {
		_ = s.root.host.RemoveHeader(abi.MapRequestHeaders, "content-length")
	}
	return abi.ActionContinue, true
}

// formContentType tells whether a body of this content type is a form:
// every body is read for a JSON model (many clients omit content-type or
// send text/plain with a JSON body, and a server that ignores the type
// reads it as JSON), but only a JSON-labelled one may be rewritten: a
// form keeps its content-length and is never edited.
func formContentType(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "multipart/") || strings.HasPrefix(ct, "application/x-www-form-urlencoded")
}

// bodyMapper is the state of mapping a streaming body's model. In a body
// callback Envoy's buffer is what this filter held back so far (held
// bytes, heldOrig of them in the body as the client sent it) and then the
// newest chunk.
type bodyMapper struct {
	scan     modelscan.Scanner
	held     int
	heldOrig int
	// bufStart is the body offset of the buffer's first byte.
	bufStart int64
	// keepBase is where the buffer starts in a retry's copy of the body.
	keepBase int
	// models counts top-level model members seen.
	models int
	// checkOnly is set for a form-labelled body (contentType): it is read,
	// never rewritten; a JSON model in it that the mapping would change is
	// refused.
	checkOnly   bool
	contentType string
}

// peekWindow is the most of the body one read copies into the VM, in
// memory reused for every read: the scanner needs every byte once (a
// second model key is refused). A buffer up to this size is read whole,
// from its first byte, so the bytes before the model are at hand for the
// rewrite; Envoy's body callbacks are rarely larger.
const peekWindow = 1 << 20

// mapBody feeds the newest chunk to the scanner and rewrites the model in
// Envoy's buffer once its value is complete, by replacing only the bytes
// up to the value's end. A value that runs past the chunk's end is held
// (Pause: Envoy buffers and hands this filter the whole buffer with the
// next chunk); nothing else is ever held.
func (s *stream) mapBody(size int, endOfStream bool) abi.Action {
	bm, host, p := s.body, s.root.host, s.block.pool
	if bm.held == 0 && s.retry != nil {
		bm.keepBase = len(s.retry.body)
	}
	var edit []byte // what replaces the buffer's first editEnd bytes
	var editStart, editEnd int
	for off := bm.held; off < size; {
		from := off // the window is buffer bytes [from, from+len(window))
		if size <= peekWindow {
			from = 0 // the held bytes again, for the rewrite's prefix
		}
		window, err := host.PeekBuffer(abi.BufferRequestBody, from, min(peekWindow, size-from))
		if err != nil || len(window) <= off-from {
			s.root.logf(abi.LogWarn, "pool %s: cannot read the request body (%v); passing it unmapped", p.name, err)
			if s.retry != nil {
				s.retry.keep(nil, abi.ErrNotFound)
			}
			s.body = nil
			return abi.ActionContinue
		}
		fresh := window[off-from:]
		if s.retry != nil {
			s.retry.keep(fresh, nil)
		}
		for rest := fresh; len(rest) > 0; {
			n, m, found := bm.scan.Feed(rest)
			rest = rest[n:]
			if !found {
				break
			}
			if bm.models++; bm.models > 1 {
				return s.refuse(400, "token_failover_duplicate_model",
					"the request body has more than one top-level model key; send exactly one")
			}
			if m.TooLong {
				return s.refuse(400, "token_failover_model_too_long",
					"the request's model is longer than "+strconv.Itoa(modelscan.MaxModelBytes)+" bytes; no model name is")
			}
			if !m.String {
				p.metrics.inc(p.metrics.modelUnmapped)
				s.root.logf(abi.LogDebug, "pool %s: body model left unmapped (not a string)", p.name)
				continue
			}
			to := s.block.cfg.Mapping.Map(m.Value)
			s.model = to
			if to == m.Value {
				continue
			}
			if bm.checkOnly {
				return s.refuse(415, "token_failover_json_body_mislabelled", "the request body is a JSON object with a model "+
					"but is labelled "+strconv.Quote(bm.contentType)+"; send it as application/json so this gateway can map its model")
			}
			// The only rewrite of this body (a second model key is
			// refused), so the buffer's offsets are the body's less bufStart.
			editStart, editEnd = int(m.Start-bm.bufStart), int(m.End-bm.bufStart)
			prefix := window[:0]
			if from == 0 {
				prefix = window[:editStart]
			} else if prefix, err = host.GetBuffer(abi.BufferRequestBody, 0, editStart); err != nil || len(prefix) != editStart {
				return s.refuse(500, "token_failover_rewrite_failed", "the gateway could not map the request's model")
			}
			edit = provider.AppendQuotedJSON(append(s.root.vm.edit[:0], prefix...), to)
			s.root.vm.edit = edit
		}
		off = from + len(window)
	}
	if bm.scan.State() == modelscan.NotUTF8 {
		return s.refuse(400, "token_failover_body_not_utf8", "the request body must be UTF-8 JSON")
	}
	if edit != nil {
		if err := host.SetBuffer(abi.BufferRequestBody, 0, editEnd, edit); err != nil {
			s.root.logf(abi.LogWarn, "pool %s: cannot rewrite the request body's model (%v)", p.name, err)
			return s.refuse(500, "token_failover_rewrite_failed", "the gateway could not map the request's model")
		}
		if s.retry != nil {
			s.retry.edit(bm.keepBase+editStart, bm.keepBase+editEnd, edit[editStart:])
		}
	}
	newBytes := size - bm.held
	if start, pending := bm.scan.Pending(); pending && !endOfStream && bm.scan.Offset()-start <= modelscan.MaxModelRawBytes {
		bm.held, bm.heldOrig = size+len(edit)-editEnd, bm.heldOrig+newBytes
		return abi.ActionPause
	}
	bm.bufStart += int64(bm.heldOrig + newBytes)
	bm.held, bm.heldOrig = 0, 0
	if st := bm.scan.State(); st != modelscan.Scanning || endOfStream {
		s.body = nil
	}
	return abi.ActionContinue
}
