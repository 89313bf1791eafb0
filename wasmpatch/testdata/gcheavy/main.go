//go:build wasip1

// Command gcheavy is a wasip1 reactor for wasmpatch's tests: its export
// churn allocates many megabytes and collects several times, so Go's
// runtime stops and starts the world (and calls WASI poll_oneoff) again
// and again. It imports os, as the plugin does, which starts the netpoller.
package main

import (
	"os"
	"runtime"
)

// live keeps some of the garbage reachable, so each collection has work.
var live [][]byte

// churn allocates mb MiB in 64 KiB blocks per round, keeping the last 4
// MiB alive, and runs gcs rounds each ending in runtime.GC. It returns the
// number of bytes allocated.
//
//go:wasmexport churn
func churn(mb, gcs int32) int64 {
	var total int64
	for g := int32(0); g < gcs; g++ {
		for i := int32(0); i < mb*16; i++ {
			b := make([]byte, 64<<10)
			b[len(b)-1] = byte(i)
			live = append(live, b)
			if len(live) > 64 {
				live = live[1:]
			}
			total += int64(len(b))
		}
		runtime.GC()
	}
	return total
}

// stat calls os.Stat, which reaches WASI path_filestat_get when a
// directory is preopened; it returns whether the call failed.
//
//go:wasmexport stat
func stat() int32 {
	if _, err := os.Stat("/nonexistent"); err != nil {
		return 1
	}
	return 0
}

func main() {}
