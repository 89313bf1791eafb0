package wasmpatch

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// wasiCaller is a hand-assembled module that imports poll_oneoff and
// path_filestat_get and exports a function calling each, and its memory.
func wasiCaller() []byte {
	const tPoll, tStat = 0, 1
	return wasmModule(
		sec(secType,
			fnType(types(tI32, tI32, tI32, tI32), types(tI32)),
			fnType(types(tI32, tI32, tI32, tI32, tI32), types(tI32))),
		sec(secImport,
			importFunc("wasi_snapshot_preview1", "poll_oneoff", tPoll),
			importFunc("wasi_snapshot_preview1", "path_filestat_get", tStat)),
		sec(secFunction, uleb(tPoll), uleb(tStat)),
		sec(secMemory, []byte{0, 1}), // one page
		sec(secExport, exportOf("poll", kindFunc, 2), exportOf("filestat", kindFunc, 3),
			exportOf("memory", kindMemory, 0)),
		sec(secCode,
			body(0, localGet(0), localGet(1), localGet(2), localGet(3), call(0)),
			body(0, localGet(0), localGet(1), localGet(2), localGet(3), localGet(4), call(1))),
	)
}

// instantiateAlone instantiates a module that needs no imports.
func instantiateAlone(t *testing.T, module []byte) api.Module {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	mod, err := rt.Instantiate(ctx, module)
	require.NoError(t, err)
	return mod
}

type subscription struct {
	userdata uint64
	tag      byte // 0 clock, 1 fd_read, 2 fd_write
}

// TestPollOneoff_EventLayout calls the in-module poll_oneoff of a patched
// module directly and reads the events back from memory with the WASI
// preview1 layout (typenames.witx; see stubs.go): one 32-byte event per
// 48-byte subscription, userdata copied, clock events with error 0 and
// type 0, fd events with error ENOSYS and their own type, every other
// byte of each event zero, nothing written past the last event, nevents
// written, 0 returned.
func TestPollOneoff_EventLayout(t *testing.T) {
	patched, rep, err := Patch(wasiCaller(), Options{})
	require.NoError(t, err)
	require.Equal(t, []string{PollOneoff, "wasi_snapshot_preview1.path_filestat_get"}, rep.Replaced)
	require.Empty(t, importNames(t, patched))
	const in, out, nevents = 1024, 8192, 16384
	tests := []struct {
		name string
		subs []subscription
	}{
		{name: "none", subs: nil},
		{name: "one clock, as Go's usleep sends it", subs: []subscription{{0x1122334455667788, 0}}},
		{name: "fd_read and fd_write", subs: []subscription{{1, 1}, {^uint64(0), 2}}},
		{name: "clock then fds, as Go's netpoll sends them", subs: []subscription{{7, 0}, {8, 1}, {9, 2}, {10, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod := instantiateAlone(t, patched)
			mem := mod.Memory()
			garbage := bytes.Repeat([]byte{0xaa}, 4096)
			require.True(t, mem.Write(out, garbage))
			require.True(t, mem.Write(nevents, garbage[:8]))
			for i, s := range tt.subs {
				sub := make([]byte, subscriptionSize)
				for j := range sub {
					sub[j] = 0x5a // the union's contents must not matter
				}
				binary.LittleEndian.PutUint64(sub[0:], s.userdata)
				sub[8] = s.tag
				require.True(t, mem.Write(in+uint32(i)*subscriptionSize, sub))
			}
			res, err := mod.ExportedFunction("poll").Call(context.Background(), in, out, uint64(len(tt.subs)), nevents)
			require.NoError(t, err)
			require.Equal(t, uint64(errnoSuccess), res[0])
			n, _ := mem.ReadUint32Le(nevents)
			require.Equal(t, uint32(len(tt.subs)), n)
			for i, s := range tt.subs {
				ev, _ := mem.Read(out+uint32(i)*eventSize, eventSize)
				want := make([]byte, eventSize)
				binary.LittleEndian.PutUint64(want[0:], s.userdata) // userdata @0
				if s.tag != 0 {
					binary.LittleEndian.PutUint16(want[8:], ErrnoNosys) // error @8
				}
				want[10] = s.tag // type @10; nbytes @16 and flags @24 stay 0
				require.Equal(t, want, ev, "event %d", i)
			}
			rest, _ := mem.Read(out+uint32(len(tt.subs))*eventSize, 64)
			require.Equal(t, garbage[:64], rest, "nothing written past the last event")
			after, _ := mem.Read(nevents+4, 4)
			require.Equal(t, garbage[:4], after, "nevents is a u32")
		})
	}
}

// TestReplace_ErrnoStubTouchesNoMemory calls the replaced
// path_filestat_get with pointers into memory: it returns ENOSYS and no
// byte of memory changes.
func TestReplace_ErrnoStubTouchesNoMemory(t *testing.T) {
	patched, _, err := Patch(wasiCaller(), Options{})
	require.NoError(t, err)
	mod := instantiateAlone(t, patched)
	mem := mod.Memory()
	pattern := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 65536/7)
	require.True(t, mem.Write(0, pattern))
	before, _ := mem.Read(0, mem.Size())
	before = bytes.Clone(before)
	res, err := mod.ExportedFunction("filestat").Call(context.Background(), 3, 0, 100, 5, 200)
	require.NoError(t, err)
	require.Equal(t, uint64(ErrnoNosys), res[0])
	after, _ := mem.Read(0, mem.Size())
	require.Equal(t, before, after)
}
