package modelscan_test

import (
	"fmt"

	"github.com/token-failover/token-failover/modelscan"
)

// A body arrives in three chunks; the second "model" is the one Python, Go
// and JavaScript servers keep, and the second chunk ends inside it.
func ExampleScanner() {
	chunks := []string{`{"model":"gpt-4o-mini","messages":[{"role":"user",`, `"content":"hi"}],"model":"o1`, `-pro"}`}
	var s modelscan.Scanner
	for _, chunk := range chunks {
		for rest := []byte(chunk); ; {
			n, m, found := s.Feed(rest)
			if !found {
				break
			}
			rest = rest[n:]
			fmt.Printf("model %q at [%d, %d)\n", m.Value, m.Start, m.End)
		}
		if start, ok := s.Pending(); ok {
			fmt.Printf("keep the body from %d on\n", start)
		}
	}
	fmt.Println(s.State())
	// Output:
	// model "gpt-4o-mini" at [9, 22)
	// keep the body from 75 on
	// model "o1-pro" at [75, 83)
	// complete
}
