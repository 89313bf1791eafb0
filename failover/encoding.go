package failover

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The shared-data value of a pool is a compact binary record rather than
// JSON: every VM decodes it again whenever its cas changes, which during an
// error storm is on almost every request, and this layout decodes in a
// fraction of encoding/json's time with no reflection.
//
//	"TF" version(1)
//	uvarint tokens, string cluster
//	per token: status(1) reason(1)
//	           uvarint failures, probeSuccesses, probeFailures, demotions, restorations
//	           varint until, nextProbe, demotedAt
//	           string target.cluster, target.authority, target.path, target.model, account
//	           version 2: uvarint fleet.gen, flags(1: down 1, pending 2), varint fleet.rev
//	           version 3: uvarint httpStatus, string why, varint lastProbeAt, lastProbeOK(1)
//	           version 4: varint window.start, uvarint req, fail, prevReq, prevFail,
//	                      latSum, prevLatSum, latN, prevLatN, slow(1)
//
// A string is a uvarint length and its bytes. Older values still decode,
// with the later fields zero.
const (
	encodingVersion = 4
	// maxStringLen bounds every string of a decoded value, so a corrupt
	// value cannot make the decoder allocate without bound.
	maxStringLen = 4096
)

// ErrCorrupt is returned by Decode for a value that is not a pool of the
// expected size.
var ErrCorrupt = errors.New("failover: corrupt pool state")

// Encode serialises the pool for shared data.
func (p Pool) Encode() []byte {
	b := make([]byte, 0, 16+len(p.Tokens)*24+len(p.Cluster))
	b = append(b, 'T', 'F', encodingVersion)
	b = binary.AppendUvarint(b, uint64(len(p.Tokens)))
	b = appendString(b, p.Cluster)
	for _, t := range p.Tokens {
		b = append(b, byte(t.Status), byte(t.Reason))
		for _, v := range [...]uint32{t.Failures, t.ProbeSuccesses, t.ProbeFailures, t.Demotions, t.Restorations} {
			b = binary.AppendUvarint(b, uint64(v))
		}
		for _, v := range [...]int64{t.Until, t.NextProbe, t.DemotedAt} {
			b = binary.AppendVarint(b, v)
		}
		for _, s := range [...]string{t.Target.Cluster, t.Target.Authority, t.Target.Path, t.Target.Model, t.Account} {
			b = appendString(b, s)
		}
		b = binary.AppendUvarint(b, uint64(t.Fleet.Gen))
		var flags byte
		if t.Fleet.Down {
			flags |= 1
		}
		if t.Fleet.Pending {
			flags |= 2
		}
		b = append(b, flags)
		b = binary.AppendVarint(b, t.Fleet.Rev)
		b = binary.AppendUvarint(b, uint64(t.HTTPStatus))
		b = appendString(b, t.Why)
		b = binary.AppendVarint(b, t.LastProbeAt)
		ok := byte(0)
		if t.LastProbeOK {
			ok = 1
		}
		b = append(b, ok)
		w := t.Window
		b = binary.AppendVarint(b, w.Start)
		for _, v := range [...]uint64{uint64(w.Req), uint64(w.Fail), uint64(w.PrevReq), uint64(w.PrevFail),
			w.LatSum, w.PrevLatSum, uint64(w.LatN), uint64(w.PrevLatN)} {
			b = binary.AppendUvarint(b, v)
		}
		slow := byte(0)
		if w.Slow {
			slow = 1
		}
		b = append(b, slow)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	if len(s) > maxStringLen {
		s = s[:maxStringLen]
	}
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads the layout above; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint32(what string) uint32 {
	v, n := binary.Uvarint(d.b)
	if d.err != nil || n <= 0 || v > 1<<32-1 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return uint32(v)
}

func (d *decoder) uint64(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if d.err != nil || n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int64(what string) int64 {
	v, n := binary.Varint(d.b)
	if d.err != nil || n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string {
	n := d.uint32(what)
	if d.err != nil || n > maxStringLen || int(n) > len(d.b) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// Decode parses a shared-data value for a pool of n tokens.
func Decode(b []byte, n int) (Pool, error) {
	if len(b) < 3 || b[0] != 'T' || b[1] != 'F' || b[2] < 1 || b[2] > encodingVersion {
		return Pool{}, fmt.Errorf("%w: not a version-%d pool value", ErrCorrupt, encodingVersion)
	}
	version := b[2]
	d := &decoder{b: b[3:]}
	count := d.uint32("token count")
	if d.err == nil && int(count) != n {
		return Pool{}, fmt.Errorf("%w: %d tokens, want %d", ErrCorrupt, count, n)
	}
	p := Pool{Tokens: make([]Token, n), Cluster: d.string("cluster")}
	for i := range p.Tokens {
		t := &p.Tokens[i]
		t.Status, t.Reason = Status(d.byte("status")), Reason(d.byte("reason"))
		t.Failures, t.ProbeSuccesses, t.ProbeFailures = d.uint32("failures"), d.uint32("probe successes"), d.uint32("probe failures")
		t.Demotions, t.Restorations = d.uint32("demotions"), d.uint32("restorations")
		t.Until, t.NextProbe, t.DemotedAt = d.int64("until"), d.int64("next probe"), d.int64("demoted at")
		t.Target = Target{Cluster: d.string("target cluster"), Authority: d.string("target authority"),
			Path: d.string("target path"), Model: d.string("target model")}
		t.Account = d.string("account")
		if version >= 2 {
			t.Fleet.Gen = d.uint32("fleet generation")
			flags := d.byte("fleet flags")
			t.Fleet.Down, t.Fleet.Pending = flags&1 != 0, flags&2 != 0
			t.Fleet.Rev = d.int64("fleet revision")
		}
		if version >= 3 {
			t.HTTPStatus = uint16(min(d.uint32("http status"), 999))
			t.Why = d.string("why")
			t.LastProbeAt = d.int64("last probe")
			t.LastProbeOK = d.byte("last probe result") == 1
		}
		if version >= 4 {
			w := &t.Window
			w.Start = d.int64("window start")
			w.Req, w.Fail, w.PrevReq, w.PrevFail = d.uint32("window requests"), d.uint32("window failures"),
				d.uint32("previous requests"), d.uint32("previous failures")
			w.LatSum, w.PrevLatSum = d.uint64("latency sum"), d.uint64("previous latency sum")
			w.LatN, w.PrevLatN = d.uint32("latency count"), d.uint32("previous latency count")
			w.Slow = d.byte("slow") == 1
		}
		if d.err == nil && (t.Status > Unhealthy || t.Reason > ReasonManual) {
			return Pool{}, fmt.Errorf("%w: token %d has status %d, reason %d", ErrCorrupt, i, t.Status, t.Reason)
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("length")
	}
	if d.err != nil {
		return Pool{}, d.err
	}
	return p, nil
}
