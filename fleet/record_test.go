package fleet

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/token-failover/token-failover/failover"
)

func TestMerge_LaterTransitionWinsWhateverTheOrder(t *testing.T) {
	down1 := Record{Gen: 1, Reason: "auth"}
	up1 := Record{Gen: 1, Restored: true}
	down2 := Record{Gen: 2, Reason: "upstream"}
	cool1a := Record{Gen: 1, Cooling: true, UntilMs: 1000, RestMs: 500}
	cool1b := Record{Gen: 1, Cooling: true, UntilMs: 3000, RestMs: 2500}
	tests := []struct {
		name string
		a, b Record
		want Record
	}{
		{"restoration ends its demotion", down1, up1, up1},
		{"a late restoration never resurrects a newer demotion", down2, up1, down2},
		{"a newer demotion wins over a restoration", up1, down2, down2},
		{"the same cooling keeps the longer rest", cool1a, cool1b, cool1b},
		{"the same cooling repeated changes nothing", cool1b, cool1a, cool1b},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Merge(tc.a, tc.b))
			require.Equal(t, tc.want, Merge(tc.b, tc.a), "commutative")
		})
	}
}

// TestMerge_ConvergesInAnyOrder: replicas applying the same writes in any
// order end with the same record (the merge is a join).
func TestMerge_ConvergesInAnyOrder(t *testing.T) {
	writes := []Record{{Gen: 1}, {Gen: 1, Cooling: true, UntilMs: 50, RestMs: 50}, {Gen: 1, Restored: true},
		{Gen: 2, Reason: "quota"}, {Gen: 2, Cooling: true, UntilMs: 900, RestMs: 100}, {Gen: 3, Restored: true}}
	want := Record{}
	for _, w := range writes {
		want = Merge(want, w)
	}
	rnd := rand.New(rand.NewSource(7))
	for k := 0; k < 200; k++ {
		got := Record{}
		for _, i := range rnd.Perm(len(writes)) {
			got = Merge(got, writes[i])
		}
		require.Equal(t, want, got)
	}
}

func TestRemaining_BoundedByTheRestGiven(t *testing.T) {
	tests := []struct {
		name string
		r    Record
		now  int64
		want int64
	}{
		{"on time", Record{Cooling: true, UntilMs: 10_000, RestMs: 5000}, 6000, 4000},
		{"a writer ten minutes ahead rests no longer than it was given", Record{Cooling: true, UntilMs: 600_000 + 5000, RestMs: 5000}, 1000, 5000},
		{"over", Record{Cooling: true, UntilMs: 10_000, RestMs: 5000}, 11_000, 0},
		{"not cooling", Record{UntilMs: 10_000}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, tc.r.Remaining(tc.now)) })
	}
}

func TestApply_AdoptsLaterRecordsKeepsPendingLocalOnes(t *testing.T) {
	c := Clock{ProcessMs: 50_000, WallMs: 1_700_000_000_000}
	tests := []struct {
		name       string
		local      failover.Token
		remote     Record
		wantStatus failover.Status
		wantMark   failover.FleetMark
	}{
		{"a remote demotion", failover.Token{}, Record{Gen: 1, Reason: "auth"},
			failover.Unhealthy, failover.FleetMark{Gen: 1, Down: true, Rev: 7}},
		{"a remote cooling rests for what remains", failover.Token{}, Record{Gen: 1, Cooling: true, UntilMs: c.WallMs + 3000, RestMs: 5000},
			failover.Cooling, failover.FleetMark{Gen: 1, Down: true, Rev: 7}},
		{"a cooling already over changes nothing but the mark", failover.Token{}, Record{Gen: 1, Cooling: true, UntilMs: c.WallMs - 1, RestMs: 5000},
			failover.Available, failover.FleetMark{Gen: 1, Down: true, Rev: 7}},
		{"a restoration", failover.Token{Status: failover.Unhealthy, Fleet: failover.FleetMark{Gen: 1, Down: true}},
			Record{Gen: 1, Restored: true}, failover.Available, failover.FleetMark{Gen: 1, Rev: 7}},
		{"an older restoration never resurrects a pending demotion",
			failover.Token{Status: failover.Unhealthy, Fleet: failover.FleetMark{Gen: 2, Down: true, Pending: true, Rev: 3}},
			Record{Gen: 1, Restored: true}, failover.Unhealthy, failover.FleetMark{Gen: 2, Down: true, Pending: true, Rev: 7}},
		{"the same demotion already stored: nothing left to write",
			failover.Token{Status: failover.Unhealthy, Fleet: failover.FleetMark{Gen: 1, Down: true, Pending: true}},
			Record{Gen: 1, Reason: "auth"}, failover.Unhealthy, failover.FleetMark{Gen: 1, Down: true, Rev: 7}},
		{"a remote restoration leaves a token taken out by hand here",
			failover.Token{Status: failover.Unhealthy, Reason: failover.ReasonManual, Fleet: failover.FleetMark{Gen: 1, Down: true}},
			Record{Gen: 2, Restored: true}, failover.Unhealthy, failover.FleetMark{Gen: 2, Rev: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := failover.Pool{Tokens: []failover.Token{tc.local}}
			Apply(&p, 0, tc.remote, 7, c, 1000)
			require.Equal(t, tc.wantStatus, p.Tokens[0].Status)
			require.Equal(t, tc.wantMark, p.Tokens[0].Fleet)
		})
	}
}

func TestRecordOf_LocalTransitions(t *testing.T) {
	c := Clock{ProcessMs: 10_000, WallMs: 1_700_000_000_000}
	cool := failover.Token{Status: failover.Cooling, Until: 14_000, Reason: failover.ReasonRateLimit,
		Fleet: failover.FleetMark{Gen: 3, Down: true, Pending: true}}
	require.Equal(t, Record{Gen: 3, Cooling: true, Reason: "ratelimit", UntilMs: c.WallMs + 4000, RestMs: 4000, By: "r1"},
		RecordOf(cool, c, "r1"))
	up := failover.Token{Fleet: failover.FleetMark{Gen: 3, Pending: true}}
	require.Equal(t, Record{Gen: 3, Restored: true, By: "r1"}, RecordOf(up, c, "r1"))
	r, err := DecodeRecord(RecordOf(cool, c, "r1").Encode())
	require.NoError(t, err)
	require.Equal(t, RecordOf(cool, c, "r1"), r)
	_, err = DecodeRecord([]byte("not json"))
	require.ErrorIs(t, err, ErrMalformed)
}

func TestKeys_TokenRangeAndFingerprint(t *testing.T) {
	k := Keys{Prefix: "/tf"}
	start, end := k.Tokens()
	require.Equal(t, "/tf/token/", string(start))
	require.Equal(t, "/tf/token0", string(end))
	require.Equal(t, "0123456789abcdef", k.FingerprintOf(k.Token("0123456789abcdef")))
	require.Empty(t, k.FingerprintOf([]byte("/tf/prober/x")))
}
