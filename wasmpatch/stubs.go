package wasmpatch

import (
	"fmt"
	"slices"
)

// WASI preview1 errno values (legacy/preview1/witx/typenames.witx, enum
// $errno, tag u16: success is 0, badf the 9th case, nosys the 53rd).
const (
	// errnoSuccess is WASI errno success (0).
	errnoSuccess = 0
	// errnoBadf is WASI errno badf (8), "Bad file descriptor".
	errnoBadf = 8
	// ErrnoNosys is WASI errno nosys (52), "Function not supported": what
	// every replaced import other than poll_oneoff returns, and the error
	// of the fd events the in-module poll_oneoff reports.
	ErrnoNosys = 52
)

// The WASI preview1 layouts the in-module poll_oneoff reads and writes,
// checked against WebAssembly/WASI legacy/preview1/witx/typenames.witx
// (https://github.com/WebAssembly/WASI/blob/main/legacy/preview1/witx/typenames.witx:
// records $subscription, $subscription_u, $event, $event_fd_readwrite;
// enum $eventtype with tag u8; $errno u16; $userdata and $filesize u64)
// and the sizes and offsets its generated legacy/preview1/docs.md lists:
//
//	subscription (size 48, align 8): userdata u64 @0; u: subscription_u @8,
//	    a variant with a u8 tag (@8) and its payload at 8-byte alignment (@16)
//	event (size 32, align 8): userdata u64 @0, error errno(u16) @8,
//	    type eventtype(u8) @10, fd_readwrite @16 = {nbytes u64 @16, flags u16 @24}
//	eventtype: clock 0, fd_read 1, fd_write 2
//
// poll_oneoff(in, out, nsubscriptions, nevents_ptr) -> errno is lowered to
// (i32 i32 i32 i32) -> i32 (witx/wasi_snapshot_preview1.witx).
const (
	subscriptionSize = 48 // bytes per WASI subscription
	eventSize        = 32 // bytes per WASI event
)

var (
	pollType  = funcType{params: []valType{tI32, tI32, tI32, tI32}, results: []valType{tI32}}
	errnoType = []valType{tI32}
)

// pollOneoffBody is the in-module poll_oneoff: every subscription is done
// at once. For subscription i it writes event i: the subscription's
// userdata, then for a clock (tag 0) error 0 and type 0 (the timeout
// elapsed); for any other tag (fd_read, fd_write) error ENOSYS and the
// subscription's own tag as type, nbytes 0, flags 0. Then *nevents =
// nsubscriptions, and it returns 0.
//
// Why ENOSYS for fd events: this function cannot wait on, or even look at,
// a file descriptor. EBADF would claim the descriptor is invalid, which
// may be false (stdout is valid on every host); ENOSYS says only what is
// true, that waiting for descriptors is not supported here, and it is what
// the old hosts answered for the whole call. Any non-zero error makes Go's
// netpoller wake the waiter with an error rather than leave it blocked
// forever on a reactor that can never deliver readiness.
//
// Locals: 0 in, 1 out, 2 nsubscriptions, 3 nevents_ptr (parameters);
// 4 i, 5 event address, 6 subscription address, 7 tag.
func pollOneoffBody() []byte {
	const (
		in, out, nsubs, nevents, i, ev, sub, tag   = 0, 1, 2, 3, 4, 5, 6, 7
		i32Add, i32Mul, i32GeU                     = 0x6a, 0x6c, 0x4f
		i64Load, i64Store                          = 0x29, 0x37
		i32Load8U, i32Store, i32Store8, i32Store16 = 0x2d, 0x36, 0x3a, 0x3b
	)
	get := func(x byte) []byte { return []byte{opLocalGet, x} }
	set := func(x byte) []byte { return []byte{opLocalSet, x} }
	i32 := func(v byte) []byte { return []byte{opI32Const, v} } // v < 64: one-byte LEB128
	zero64At := func(off byte) []byte {                         // i64.store align=8 offset=off of 0 at the event
		return slices.Concat(get(ev), []byte{opI64Const, 0, i64Store, 3, off})
	}
	return slices.Concat(
		[]byte{1, 4, byte(tI32)}, // locals: 4 x i32
		[]byte{opBlock, 0x40, opLoop, 0x40},
		// if i >= nsubscriptions: break
		get(i), get(nsubs), []byte{i32GeU, opBrIf, 1},
		// ev = out + i*32; sub = in + i*48
		get(out), get(i), i32(eventSize), []byte{i32Mul, i32Add}, set(ev),
		get(in), get(i), i32(subscriptionSize), []byte{i32Mul, i32Add}, set(sub),
		// event.userdata = subscription.userdata
		get(ev), get(sub), []byte{i64Load, 3, 0, i64Store, 3, 0},
		// error 0, type 0 (clock), padding, nbytes 0, flags 0
		zero64At(8), zero64At(16), zero64At(24),
		// tag = subscription.u.tag; if tag != 0 (an fd subscription):
		get(sub), []byte{i32Load8U, 0, 8, opLocalTee, tag, opIf, 0x40},
		get(ev), i32(ErrnoNosys), []byte{i32Store16, 1, 8}, // event.error = ENOSYS
		get(ev), get(tag), []byte{i32Store8, 0, 10}, //          event.type = tag
		[]byte{opEnd},
		// i++; continue
		get(i), i32(1), []byte{i32Add}, set(i), []byte{opBr, 0},
		[]byte{opEnd, opEnd},
		// *nevents = nsubscriptions; return 0
		get(nevents), get(nsubs), []byte{i32Store, 2, 0},
		i32(errnoSuccess), []byte{opEnd},
	)
}

// errnoBody returns a body that ignores its parameters, touches no memory
// and returns errno.
func errnoBody(errno byte) []byte { return []byte{0, opI32Const, errno, opEnd} }

// replacement returns the body that replaces import im of type t.
func replacement(im importDesc, t funcType) ([]byte, error) {
	if im.key() == PollOneoff {
		if !slices.Equal(t.params, pollType.params) || !slices.Equal(t.results, pollType.results) {
			return nil, fmt.Errorf("%s has type %v, want %v", im.key(), t, pollType)
		}
		return pollOneoffBody(), nil
	}
	if !slices.Equal(t.results, errnoType) {
		return nil, fmt.Errorf("%s has type %v: only a function returning one i32 errno can be replaced", im.key(), t)
	}
	return errnoBody(ErrnoNosys), nil
}
