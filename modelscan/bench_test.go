package modelscan

// Figures on a 2-CPU AMD EPYC VM, Go 1.26, best of three (ns per KiB of body;
// wasm is GOOS=wasip1 under Node 20's V8, steady state):
//
//	chat body, scanned whole   native   wasm
//	1 KiB, model first/last    437/331  921/905
//	64 KiB                     259/259  632/976
//	1 MiB                      265/286  640/622
//	8 MiB                      269/289  632/554
//	first member only          56-88 ns 196-283 ns, any size
//	encoding/json token walk   9400-12600 ns/KiB natively
//
// A leading model member in a small body (BenchmarkScanner_ModelValue,
// native/wasm ns): "gpt-4o-mini" 76/360, a 60-byte id 135/540, the same id
// all \u00XX escapes 1070/3460, 256 bytes so escaped 4240/13280.
//
// Adversarial 1 MiB bodies (native/wasm ns per KiB): an escape every other
// byte 449/1098, deep nesting 543/1223, six-byte top-level members
// 1078/3414, a base64 string 25/259.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
)

// chatBody builds an OpenAI-style chat body of about size bytes: a coding
// conversation whose user turns are prose and whose assistant turns hold
// code, with newlines, quotes, tabs, brackets and non-ASCII text, so string
// skipping meets escapes as it does on real traffic (one every 20-30 bytes).
func chatBody(size int, modelFirst bool) []byte {
	const prose = "I'm moving our billing service to Go and need help with retries. " +
		"The client calls a payment API that sometimes answers 429 or 503; I'd like " +
		"exponential back-off with jitter, at most five attempts, and the error of the " +
		"last attempt returned to the caller.\n\nCan you also explain what \"idempotency " +
		"key\" means here, and whether we should send one on every retry? Merci, Jürgen."
	const code = "Here is the function you asked for:\n```go\nfunc f(a []int) map[string]int {\n\treturn nil\n}\n```\n" +
		"It returns \"nil\" — see [docs] {for details}. Ünïcödé, 日本語, emoji 😀. "
	turns := [2][]byte{}
	turns[0], _ = json.Marshal(prose)
	turns[1], _ = json.Marshal(code)
	var b bytes.Buffer
	b.WriteString("{")
	if modelFirst {
		b.WriteString(`"model":"gpt-4o-mini",`)
	}
	b.WriteString(`"messages":[{"role":"system","content":"You are a helpful assistant."}`)
	for i := 0; b.Len() < size-120; i++ {
		role := [2]string{"user", "assistant"}[i%2]
		fmt.Fprintf(&b, `,{"role":%q,"content":%s}`, role, turns[i%2])
	}
	b.WriteString(`],"temperature":0.7,"max_tokens":1024,"stream":true`)
	if !modelFirst {
		b.WriteString(`,"model":"gpt-4o-mini"`)
	}
	b.WriteString("}")
	return b.Bytes()
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"8MiB", 8 << 20}}

// reportPerKiB adds an ns/KiB metric for a body of n bytes.
func reportPerKiB(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(float64(n)/1024), "ns/KiB")
}

// scanBody scans body in chunks of chunkSize to the end, as the plugin does
// to see every duplicate, and returns how many members it found.
func scanBody(s *Scanner, body []byte, chunkSize int) int {
	s.Reset()
	found := 0
	for len(body) > 0 && s.State() == Scanning {
		c := body[:min(chunkSize, len(body))]
		body = body[len(c):]
		for len(c) > 0 {
			n, _, ok := s.Feed(c)
			c = c[n:]
			if !ok {
				break
			}
			found++
		}
	}
	return found
}

// BenchmarkScanner_WholeBody scans every body to its closing '}' in Envoy's
// usual 16 KiB chunks, with the model first and last.
func BenchmarkScanner_WholeBody(b *testing.B) {
	for _, sz := range benchSizes {
		for _, first := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/model-first=%v", sz.name, first), func(b *testing.B) {
				body := chatBody(sz.size, first)
				var s Scanner
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if scanBody(&s, body, 16<<10) != 1 || s.State() != Complete {
						b.Fatal("scan failed")
					}
				}
				reportPerKiB(b, len(body))
			})
		}
	}
}

// BenchmarkScanner_FirstMember stops at the first model member: constant when
// the model is the first key, whatever the body's size.
func BenchmarkScanner_FirstMember(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			body := chatBody(sz.size, true)
			var s Scanner
			b.ReportAllocs()
			for b.Loop() {
				s.Reset()
				if _, _, ok := s.Feed(body); !ok {
					b.Fatal("no model")
				}
			}
		})
	}
}

// BenchmarkScanner_ModelValue finds a leading model member in a small body,
// by the model's length and spelling: the cost of decoding the value as it
// streams (before the decoded bound, a 60-byte escaped id was TooLong).
func BenchmarkScanner_ModelValue(b *testing.B) {
	for _, tc := range []struct{ name, value string }{
		{"short", `"gpt-4o-mini"`},
		{"60-bytes", `"` + modelID(60) + `"`},
		{"60-bytes-escaped", `"` + escapeAll(modelID(60)) + `"`},
		{"256-bytes-escaped", `"` + escapeAll(modelID(MaxModelBytes)) + `"`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body := []byte(`{"model":` + tc.value + `,"messages":[]}`)
			var s Scanner
			b.ReportAllocs()
			for b.Loop() {
				s.Reset()
				if _, _, ok := s.Feed(body); !ok {
					b.Fatal("no model")
				}
			}
		})
	}
}

// BenchmarkScanner_Adversarial scans 1 MiB bodies built to be slow: an
// escape every other byte, a long string with an escape every 100 bytes (the
// quote search must not restart at each one), deep nesting, tiny top-level
// members, and one long clean string (a base64 image).
func BenchmarkScanner_Adversarial(b *testing.B) {
	const size = 1 << 20
	rep := func(prefix, unit, suffix string) []byte {
		n := (size - len(prefix) - len(suffix)) / len(unit)
		return []byte(prefix + strings.Repeat(unit, n) + suffix)
	}
	bodies := []struct {
		name string
		body []byte
	}{
		{"dense-escapes", rep(`{"a":"`, `\"`, `","model":"x"}`)},
		{"sparse-escapes", rep(`{"a":"`, strings.Repeat("x", 98)+`\n`, `","model":"x"}`)},
		{"deep-nesting", []byte(`{"a":` + strings.Repeat("[", size/2-16) + strings.Repeat("]", size/2-16) + `,"model":"x"}`)},
		{"tiny-members", rep(`{`, `"a":1,`, `"model":"x"}`)},
		{"base64-image", rep(`{"a":"data:image/png;base64,`, "iVBORw0KGgoAAAANSUhEUgAA", `","model":"x"}`)},
	}
	for _, tc := range bodies {
		b.Run(tc.name, func(b *testing.B) {
			var s Scanner
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if scanBody(&s, tc.body, 16<<10) != 1 || s.State() != Complete {
					b.Fatal("scan failed")
				}
			}
			reportPerKiB(b, len(tc.body))
		})
	}
}

// BenchmarkEncodingJSON_TokenWalk is the contrast: json.Valid plus a
// json.Decoder.Token walk of the top level, skipping values as RawMessage.
func BenchmarkEncodingJSON_TokenWalk(b *testing.B) {
	for _, sz := range benchSizes[:3] {
		for _, first := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/model-first=%v", sz.name, first), func(b *testing.B) {
				body := chatBody(sz.size, first)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if !json.Valid(body) || tokenWalk(body) != 1 {
						b.Fatal("walk failed")
					}
				}
				reportPerKiB(b, len(body))
			})
		}
	}
}

// tokenWalk counts top-level "model" members with encoding/json.
func tokenWalk(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return -1
	}
	found := 0
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return -1
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil && err != io.EOF {
			return -1
		}
		if key == "model" {
			found++
		}
	}
	return found
}
