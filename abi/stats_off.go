//go:build wasip1 && !tfstats

package abi

// Without the tfstats build tag the profile hooks do nothing; being empty
// they are inlined away, so a normal build pays nothing for them.

// statsCallback counts a callback (context id) on entry.
func statsCallback(statCallback, uint32) {}

// statsHostcall counts a hostcall and the bytes the guest hands the host.
func statsHostcall(statHostcall, int32) {}

// statsMemoryAllocate counts a proxy_on_memory_allocate of size bytes.
func statsMemoryAllocate(uint32) {}
