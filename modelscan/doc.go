// Package modelscan finds the top-level "model" members of a JSON request
// body as it streams through the proxy, chunk by chunk, so the plugin can map
// the model without buffering the whole body and without a recursive parser.
//
// It reports every top-level member whose key is "model" ignoring ASCII case,
// each with its value's byte range for splicing: Python, Go and JavaScript
// servers keep the LAST of duplicate keys, and Go's encoding/json matches
// "Model" to a field named Model, so mapping only the first exact "model"
// would let a second one through. It is strict only about the structure it
// walks (the top-level object, its keys, colons and commas, and bracket
// nesting, counted, never recursed) and lenient about content: numbers and
// literals such as NaN and Infinity are runs of non-delimiter bytes, and
// control characters, invalid UTF-8 and unknown escapes inside strings do not
// stop it. On every body a standard parser accepts it finds the members that
// parser sees, and its results never depend on how the body is split.
//
// Feeding a body as it streams:
//
//	var s modelscan.Scanner
//	for _, chunk := range chunks {
//		for rest := chunk; ; {
//			n, m, found := s.Feed(rest)
//			if !found {
//				break
//			}
//			rest = rest[n:]
//			// map m.Value; splice the body's bytes [m.Start, m.End)
//		}
//		// bytes before s.Pending()'s start may go upstream now
//	}
//	if s.State() != modelscan.Complete {
//		// not a JSON object, truncated, UTF-16/32 or malformed
//	}
//
// A string model value is decoded as it streams, into a buffer of
// MaxModelBytes: a value that decodes to at most that many bytes is returned
// however it is escaped (up to six raw bytes per decoded byte, so up to
// MaxModelRawBytes raw), and a longer one is reported TooLong. Decoding as
// it streams, with at most eleven raw bytes waiting for the next chunk,
// keeps a Scanner at about 340 bytes, where buffering the raw text would
// take 1.5 KiB more in every in-flight request.
//
// Costs: a Feed allocates nothing but a found member's decoded Value. Strings
// are skipped eight bytes at a time, long clean runs with bytes.IndexByte;
// a chat body costs about 0.25-0.45 µs per KiB natively and 0.55-1 µs per KiB
// in the wasm build under V8, whatever its size; finding a leading model key
// costs a constant 0.1-0.3 µs (figures in bench_test.go).
package modelscan
