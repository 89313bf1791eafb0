//go:build !wasip1

package main

// The plugin only exists as a wasip1 reactor (see main.go); this file lets
// native tooling (go vet ./..., go test ./...) see a buildable package.
func main() {}
