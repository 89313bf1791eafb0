// Command etcd is etcd v3's own server (go.etcd.io/etcd/server/v3), built
// from the Go module proxy by ./build.sh so that the fleet tests run a real
// etcd on a fresh machine with nothing but Go. It is a module of its own:
// etcd's dependencies never enter the plugin's go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
