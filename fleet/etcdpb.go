package fleet

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
)

// The etcd v3 messages the fleet tier sends and reads, written with
// protowire from etcd's api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto
// (field numbers in the comments): generated code would pull etcd's api
// module and its gRPC stubs into the wasm module for five messages.

// gRPC services and methods of etcd v3.
const (
	ServiceKV    = "etcdserverpb.KV"
	ServiceLease = "etcdserverpb.Lease"
	ServiceWatch = "etcdserverpb.Watch"
	MethodRange  = "Range"
	MethodTxn    = "Txn"
	MethodGrant  = "LeaseGrant"
	MethodWatch  = "Watch"
)

// GRPCService is a serialized envoy.config.core.v3.GrpcService naming an
// Envoy cluster (envoy_grpc (1) { cluster_name (1) }): the argument Envoy's
// gRPC hostcalls parse first. A bare cluster name also works, but one that
// happens to parse as this proto would reach an unset target and crash
// Envoy (docs/fleet.md).
func GRPCService(cluster string) []byte {
	return appendBytes(nil, 1, appendBytes(nil, 1, []byte(cluster)))
}

// KeyValue is mvccpb.KeyValue.
type KeyValue struct {
	Key            []byte // 1
	CreateRevision int64  // 2
	ModRevision    int64  // 3
	Value          []byte // 5
	Lease          int64  // 6
}

// Header is etcdserverpb.ResponseHeader (revision 3).
type Header struct{ Revision int64 }

// Range is a RangeRequest: key (1), range_end (2), serializable (7).
type Range struct {
	Key, RangeEnd []byte
	Serializable  bool
}

// Marshal encodes the request.
func (r Range) Marshal() []byte {
	var b []byte
	b = appendBytes(b, 1, r.Key)
	b = appendBytes(b, 2, r.RangeEnd)
	if r.Serializable {
		b = protowire.AppendTag(b, 7, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return b
}

// RangeResult is a RangeResponse: header (1), kvs (2).
type RangeResult struct {
	Header Header
	KVs    []KeyValue
}

// Compare is one txn condition: key (3) compared (result 1: EQUAL 0) on
// target (2: CREATE 1, MOD 2, VALUE 3) with create_revision (5),
// mod_revision (6) or value (7).
type Compare struct {
	Key            []byte
	Target         int // CompareCreate, CompareMod, CompareValue
	Revision       int64
	Value          []byte
	ResultNotEqual bool
}

// Compare targets.
const (
	CompareCreate = 1
	CompareMod    = 2
	CompareValue  = 3
)

// Put is a PutRequest: key (1), value (2), lease (3).
type Put struct {
	Key, Value []byte
	Lease      int64
}

// Txn is a TxnRequest: compare (1), success (2), failure (3); each op a
// RequestOp with request_range (1) or request_put (2).
type Txn struct {
	If           []Compare
	Then         []Put
	ElseRangeKey []byte // a range of this key on failure: the current value
}

// Marshal encodes the request.
func (t Txn) Marshal() []byte {
	var b []byte
	for _, c := range t.If {
		var m []byte
		if c.ResultNotEqual {
			m = appendVarint(m, 1, 3)
		}
		m = appendVarint(m, 2, uint64(c.Target))
		m = appendBytes(m, 3, c.Key)
		switch c.Target {
		case CompareCreate:
			m = appendVarintAlways(m, 5, uint64(c.Revision))
		case CompareMod:
			m = appendVarintAlways(m, 6, uint64(c.Revision))
		case CompareValue:
			m = protowire.AppendTag(m, 7, protowire.BytesType)
			m = protowire.AppendBytes(m, c.Value)
		}
		b = appendBytes(b, 1, m)
	}
	for _, p := range t.Then {
		var put []byte
		put = appendBytes(put, 1, p.Key)
		put = appendBytes(put, 2, p.Value)
		put = appendVarint(put, 3, uint64(p.Lease))
		b = appendBytes(b, 2, appendBytes(nil, 2, put))
	}
	if t.ElseRangeKey != nil {
		b = appendBytes(b, 3, appendBytes(nil, 1, Range{Key: t.ElseRangeKey}.Marshal()))
	}
	return b
}

// TxnResult is a TxnResponse: header (1), succeeded (2; absent when false),
// and the ranges among its responses (3: ResponseOp, response_range 1).
type TxnResult struct {
	Header    Header
	Succeeded bool
	KVs       []KeyValue
}

// Grant is a LeaseGrantRequest: TTL (1) in seconds.
type Grant struct{ TTLSeconds int64 }

// Marshal encodes the request.
func (g Grant) Marshal() []byte { return appendVarint(nil, 1, uint64(g.TTLSeconds)) }

// GrantResult is a LeaseGrantResponse: ID (2), TTL (3), error (4).
type GrantResult struct {
	ID    int64
	TTL   int64
	Error string
}

// WatchCreate is a WatchRequest with create_request (1): key (1),
// range_end (2), start_revision (3), progress_notify (4).
type WatchCreate struct {
	Key, RangeEnd  []byte
	StartRevision  int64
	ProgressNotify bool
}

// Marshal encodes the request.
func (w WatchCreate) Marshal() []byte {
	var c []byte
	c = appendBytes(c, 1, w.Key)
	c = appendBytes(c, 2, w.RangeEnd)
	c = appendVarint(c, 3, uint64(w.StartRevision))
	if w.ProgressNotify {
		c = appendVarint(c, 4, 1)
	}
	return appendBytes(nil, 1, c)
}

// WatchEvent is an mvccpb.Event: type (1: PUT 0, DELETE 1), kv (2).
type WatchEvent struct {
	Delete bool
	KV     KeyValue
}

// WatchResult is a WatchResponse: header (1), watch_id (2), created (3),
// canceled (4), compact_revision (5), cancel_reason (6), events (11).
type WatchResult struct {
	Header          Header
	Created         bool
	Canceled        bool
	CompactRevision int64
	CancelReason    string
	Events          []WatchEvent
}

// ErrMalformed is returned for bytes that are not the expected message.
var ErrMalformed = errors.New("fleet: malformed etcd message")

// UnmarshalRange decodes a RangeResponse.
func UnmarshalRange(b []byte) (RangeResult, error) {
	var r RangeResult
	err := fields(b, func(num protowire.Number, v []byte, _ uint64) error {
		switch num {
		case 1:
			h, err := unmarshalHeader(v)
			r.Header = h
			return err
		case 2:
			kv, err := unmarshalKV(v)
			r.KVs = append(r.KVs, kv)
			return err
		}
		return nil
	})
	return r, err
}

// UnmarshalTxn decodes a TxnResponse.
func UnmarshalTxn(b []byte) (TxnResult, error) {
	var t TxnResult
	err := fields(b, func(num protowire.Number, v []byte, n uint64) error {
		switch num {
		case 1:
			h, err := unmarshalHeader(v)
			t.Header = h
			return err
		case 2:
			t.Succeeded = n != 0
		case 3:
			return fields(v, func(num protowire.Number, v []byte, _ uint64) error {
				if num != 1 {
					return nil
				}
				rr, err := UnmarshalRange(v)
				t.KVs = append(t.KVs, rr.KVs...)
				return err
			})
		}
		return nil
	})
	return t, err
}

// UnmarshalGrant decodes a LeaseGrantResponse.
func UnmarshalGrant(b []byte) (GrantResult, error) {
	var g GrantResult
	err := fields(b, func(num protowire.Number, v []byte, n uint64) error {
		switch num {
		case 2:
			g.ID = int64(n)
		case 3:
			g.TTL = int64(n)
		case 4:
			g.Error = string(v)
		}
		return nil
	})
	return g, err
}

// UnmarshalWatch decodes a WatchResponse.
func UnmarshalWatch(b []byte) (WatchResult, error) {
	var w WatchResult
	err := fields(b, func(num protowire.Number, v []byte, n uint64) error {
		switch num {
		case 1:
			h, err := unmarshalHeader(v)
			w.Header = h
			return err
		case 3:
			w.Created = n != 0
		case 4:
			w.Canceled = n != 0
		case 5:
			w.CompactRevision = int64(n)
		case 6:
			w.CancelReason = string(v)
		case 11:
			var e WatchEvent
			err := fields(v, func(num protowire.Number, v []byte, n uint64) error {
				switch num {
				case 1:
					e.Delete = n == 1
				case 2:
					kv, err := unmarshalKV(v)
					e.KV = kv
					return err
				}
				return nil
			})
			w.Events = append(w.Events, e)
			return err
		}
		return nil
	})
	return w, err
}

func unmarshalHeader(b []byte) (Header, error) {
	var h Header
	err := fields(b, func(num protowire.Number, _ []byte, n uint64) error {
		if num == 3 {
			h.Revision = int64(n)
		}
		return nil
	})
	return h, err
}

func unmarshalKV(b []byte) (KeyValue, error) {
	var kv KeyValue
	err := fields(b, func(num protowire.Number, v []byte, n uint64) error {
		switch num {
		case 1:
			kv.Key = append([]byte(nil), v...)
		case 2:
			kv.CreateRevision = int64(n)
		case 3:
			kv.ModRevision = int64(n)
		case 5:
			kv.Value = append([]byte(nil), v...)
		case 6:
			kv.Lease = int64(n)
		}
		return nil
	})
	return kv, err
}

// fields walks a message's fields, handing fn each one's number and its
// bytes (length-delimited) or value (varint); others are skipped.
func fields(b []byte, fn func(num protowire.Number, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ErrMalformed
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return ErrMalformed
		}
		b = b[n:]
		if err := fn(num, v, x); err != nil {
			return err
		}
	}
	return nil
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendVarintAlways(b, num, v)
}

// appendVarintAlways writes a varint field even when it is 0 (a oneof
// member, whose presence is its meaning).
func appendVarintAlways(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}
