package abi

import (
	"errors"
	"fmt"
)

// Status is a proxy-wasm WasmResult code as Envoy returns it from a hostcall.
type Status uint32

// Status codes of ABI v0.2.1 (envoy-host.md, "Encodings").
const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCasMismatch          Status = 8
	StatusInternalFailure      Status = 10
	StatusBrokenConnection     Status = 11
	StatusUnimplemented        Status = 12
)

// Sentinel errors for the statuses callers branch on; check them with errors.Is.
var (
	ErrNotFound         = errors.New("proxy-wasm: not found")
	ErrBadArgument      = errors.New("proxy-wasm: bad argument")
	ErrCasMismatch      = errors.New("proxy-wasm: cas mismatch")
	ErrEmpty            = errors.New("proxy-wasm: empty")
	ErrInternalFailure  = errors.New("proxy-wasm: internal failure")
	ErrBrokenConnection = errors.New("proxy-wasm: broken connection")
	ErrUnimplemented    = errors.New("proxy-wasm: unimplemented")
)

// Err turns a status into nil (OK), one of the sentinel errors, or a generic
// error naming the code.
func (s Status) Err() error {
	switch s {
	case StatusOK:
		return nil
	case StatusNotFound:
		return ErrNotFound
	case StatusBadArgument:
		return ErrBadArgument
	case StatusCasMismatch:
		return ErrCasMismatch
	case StatusEmpty:
		return ErrEmpty
	case StatusInternalFailure:
		return ErrInternalFailure
	case StatusBrokenConnection:
		return ErrBrokenConnection
	case StatusUnimplemented:
		return ErrUnimplemented
	default:
		return fmt.Errorf("proxy-wasm: status %d", uint32(s))
	}
}
