//go:build wasip1

// Command token-failover is the proxy-wasm plugin. Built with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared it is a reactor: main never
// runs, and init wires the ABI to the plugin.
package main

import (
	"github.com/token-failover/token-failover/abi"
	"github.com/token-failover/token-failover/plugin"
)

func init() {
	abi.SetVMContext(plugin.NewVM(abi.WasmHost{}))
}

func main() {}
