package modelscan

import (
	"bytes"
	"fmt"
	"strings"
)

// genObject turns arbitrary bytes into a JSON object that encoding/json
// accepts, so that every fuzz input also tests agreement on a valid body:
// model keys in every spelling, nested values, and strings full of escapes,
// non-ASCII text, invalid UTF-8 and brackets. The bytes drive each choice.
func genObject(data []byte) []byte {
	g := gen{data: data}
	g.object(0)
	return g.out.Bytes()
}

// gen is genObject's state: the bytes left to read and the text so far.
type gen struct {
	data []byte
	out  bytes.Buffer
}

// maxGenDepth bounds the generator's own recursion (the scanner never
// recurses; the generator may, a little).
const maxGenDepth = 4

// pick returns the next choice in [0, n); 0 once the bytes run out.
func (g *gen) pick(n int) int {
	if len(g.data) == 0 {
		return 0
	}
	c := g.data[0]
	g.data = g.data[1:]
	return int(c) % n
}

func (g *gen) space() {
	for range g.pick(3) {
		g.out.WriteByte(" \t\n\r"[g.pick(4)])
	}
}

var genKeys = []string{
	`"model"`, `"Model"`, `"MODEL"`, `"mOdEl"`, `"mod\u0065l"`, `"\u006d\u006f\u0064\u0065\u006c"`,
	`"\u004Dodel"`, `"mode"`, `"models"`, `"model "`, `"mod\"el"`, `"messages"`, `""`, `"\u006d"`,
}

func (g *gen) object(depth int) {
	g.out.WriteByte('{')
	g.space()
	for n := range g.pick(6) {
		if n > 0 {
			g.out.WriteByte(',')
			g.space()
		}
		if k := g.pick(len(genKeys) + 1); k < len(genKeys) {
			g.out.WriteString(genKeys[k])
		} else {
			g.str()
		}
		g.space()
		g.out.WriteByte(':')
		g.space()
		g.value(depth)
		g.space()
	}
	g.out.WriteByte('}')
}

func (g *gen) value(depth int) {
	kind := g.pick(8)
	if depth >= maxGenDepth && kind >= 6 {
		kind = 0
	}
	switch kind {
	case 0, 1, 2:
		g.str()
	case 3:
		g.out.WriteString([]string{"0", "-1.5e3", "12345678901234567890", "0.25E-2"}[g.pick(4)])
	case 4:
		g.out.WriteString([]string{"true", "false", "null"}[g.pick(3)])
	case 5:
		g.out.WriteString(genFixed[g.pick(len(genFixed))])
	case 6:
		g.object(depth + 1)
	case 7:
		g.out.WriteByte('[')
		for n := range g.pick(4) {
			if n > 0 {
				g.out.WriteByte(',')
			}
			g.space()
			g.value(depth + 1)
		}
		g.out.WriteByte(']')
	}
}

// genFixed are whole values: empty ones, brackets in a string, and strings
// on either side of the decoded bound MaxModelBytes, plain or with the
// longest spellings (\u00XX, surrogate pairs).
var genFixed = []string{
	"[]", "{}", `"]}"`, `"` + strings.Repeat("x", 300) + `"`,
	`"` + strings.Repeat("x", MaxModelBytes) + `"`,
	`"` + strings.Repeat(`\u0078`, MaxModelBytes) + `"`,
	`"` + strings.Repeat(`\u0078`, MaxModelBytes+1) + `"`,
	`"` + strings.Repeat(`\ud83d\ude00`, MaxModelBytes/4) + `"`,
	`"` + strings.Repeat(`\ud83d\ude00`, MaxModelBytes/4) + `x"`,
	`"` + strings.Repeat(mixRaw, MaxModelBytes/len(mixText)) + `"`,
}

// genPieces are the pieces strings are made of: plain and non-ASCII text,
// every escape (surrogate pairs, lone halves), invalid UTF-8, brackets and a
// long clean run that sends the scanner to bytes.IndexByte.
var genPieces = []string{
	"a", "gpt-4o", " ", "é", "日本", "😀", "{", "}", "[", "]", ":", ",",
	`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, `\u0041`, `\u00e9`, `\ud83d\ude00`,
	`\ud83d`, `\ude00`, `\ud83d\u0041`, "\xff", "\xed\xa0\x80", "\xc3", "\x7f",
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
}

func (g *gen) str() {
	g.out.WriteByte('"')
	for range g.pick(12) {
		if p := g.pick(len(genPieces) + 1); p < len(genPieces) {
			g.out.WriteString(genPieces[p])
		} else {
			fmt.Fprintf(&g.out, `\u%04x`, g.pick(256)<<8|g.pick(256))
		}
	}
	g.out.WriteByte('"')
}
