//go:build wasm

package modelscan

// swarSpan: in the wasm build bytes.IndexByte is a 4-byte SWAR loop and
// skip needs two of them (quote, then backslash), so one 8-byte SWAR pass
// looking for both is faster however long the string (measured in the
// emulator: see docs/performance.md).
const swarSpan = 1 << 40
