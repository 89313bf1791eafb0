//go:build !wasm

package modelscan

// swarSpan is how far skip looks for a quote or backslash with SWAR before
// it calls bytes.IndexByte: natively IndexByte is vectorised (16-32 bytes a
// step), so past a few words its fixed cost pays off.
const swarSpan = 64
