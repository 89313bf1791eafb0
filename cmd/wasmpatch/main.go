// Command wasmpatch rewrites a built proxy-wasm module so that it runs on
// Envoy 1.36-1.38 as well (see package wasmpatch): it replaces the WASI
// import poll_oneoff by an in-module function and the imports those hosts
// lack by in-module ENOSYS functions.
//
//	go run ./cmd/wasmpatch [-replace list] in.wasm [out.wasm]
//
// It rewrites in.wasm in place unless out.wasm is given, and prints one
// line: what it replaced and the size before and after. Running it again
// on its output changes nothing and says so.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/token-failover/token-failover/wasmpatch"
)

func main() {
	replace := flag.String("replace", strings.Join(wasmpatch.DefaultReplace, ","),
		"comma-separated imports (module.name) to replace by an in-module ENOSYS function (empty: none); poll_oneoff is always replaced")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: wasmpatch [-replace list] in.wasm [out.wasm]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 || flag.NArg() > 2 {
		flag.Usage()
		os.Exit(2)
	}
	in, out := flag.Arg(0), flag.Arg(0)
	if flag.NArg() == 2 {
		out = flag.Arg(1)
	}
	if err := run(os.Stdout, in, out, split(*replace)); err != nil {
		fmt.Fprintln(os.Stderr, "wasmpatch:", err)
		os.Exit(1)
	}
}

// split parses the -replace list.
func split(list string) []string {
	out := []string{} // non-nil: an empty -replace replaces nothing but poll_oneoff
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// run patches in into out (which may be in) and writes the report line to w.
func run(w io.Writer, in, out string, replace []string) error {
	module, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	start := time.Now()
	patched, rep, err := wasmpatch.Patch(module, wasmpatch.Options{Replace: replace})
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	took := time.Since(start).Round(time.Millisecond)
	if len(rep.Replaced) > 0 || out != in {
		if err := writeFile(out, patched); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "%s: %v (%v)\n", out, rep, took)
	return nil
}

// writeFile replaces path through a temporary file and a rename, so a
// failed write never leaves a truncated module behind.
func writeFile(path string, b []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp := path + ".wasmpatch-tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
