// Command wasmcalls runs a wasip1 Go test binary (or any WASI command) under
// wazero's interpreter and prints how many times each wasm function was
// called, most first: the only view into where a Go wasm module's time
// goes, since Go's CPU profiler does not run on wasip1 and V8's JIT code
// has no names. With -by, each call is attributed to the nearest frame on
// the stack whose name contains that string (e.g. token_failover), so
// runtime work (allocation, hashing, copying) is charged to the project
// function that caused it.
//
//	GOOS=wasip1 GOARCH=wasm go test -c -o /tmp/plugin.wasm ./plugin
//	cd plugin && go run ../cmd/wasmcalls -by token_failover /tmp/plugin.wasm \
//	    -test.run '^$' -test.bench 'Request_Native$' -test.benchtime 1000x
//
// Run it twice (1x and Nx) and subtract to get the calls per iteration
// (docs/performance.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// counter counts calls per function, or per attributed frame.
type counter struct {
	by    string
	calls map[string]int
}

func (c *counter) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	name := def.DebugName()
	return experimental.FunctionListenerFunc(func(_ context.Context, _ api.Module, _ api.FunctionDefinition, _ []uint64, si experimental.StackIterator) {
		if c.by == "" {
			c.calls[name]++
			return
		}
		for si.Next() {
			if fn := si.Function().Definition().DebugName(); strings.Contains(fn, c.by) {
				c.calls[fn]++
				return
			}
		}
		c.calls["(no "+c.by+" frame)"]++
	})
}

func main() {
	by := flag.String("by", "", "attribute each call to the nearest stack frame whose name contains this")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: wasmcalls [-by substring] module.wasm [args...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*by, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "wasmcalls:", err)
		os.Exit(1)
	}
}

func run(by string, args []string) error {
	c := &counter{by: by, calls: map[string]int{}}
	ctx := experimental.WithFunctionListenerFactory(context.Background(), c)
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	code, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	cfg := wazero.NewModuleConfig().WithArgs(args...).WithStdout(os.Stderr).WithStderr(os.Stderr).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(".", "/").WithDirMount(os.TempDir(), os.TempDir())).
		WithSysNanotime().WithSysWalltime()
	if _, err := r.InstantiateWithConfig(ctx, code, cfg); err != nil && !strings.Contains(err.Error(), "exit_code(0)") {
		fmt.Fprintln(os.Stderr, "module:", err)
	}
	names := make([]string, 0, len(c.calls))
	for k := range c.calls {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return c.calls[names[i]] > c.calls[names[j]] })
	for _, k := range names {
		fmt.Printf("%d\t%s\n", c.calls[k], k)
	}
	return nil
}
