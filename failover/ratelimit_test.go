package failover

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestResetMs_EpochInSecondsOrMilliseconds(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() // 1767225600000
	tests := []struct {
		name string
		v    string
		ms   int64
		ok   bool
	}{
		{"plain seconds are a delay", "30", 30_000, true},
		{"epoch in seconds", "1767225610", 10_000, true},
		{"epoch in seconds with a fraction", "1767225600.5", 500, true},
		{"epoch in milliseconds", "1767225612345", 12_345, true},
		{"epoch in milliseconds, under a second ahead", "1767225600123", 123, true},
		{"epoch in milliseconds one hour ahead", "1767229200000", MaxCooldownMs, true},
		{"epoch in milliseconds two hours ahead is capped", "1767232800000", MaxCooldownMs, true},
		{"epoch in milliseconds in the past says nothing", "1767225599999", 0, false},
		{"1e12 is already milliseconds (2001)", "1000000000000", 0, false},
		{"just under 1e12 is seconds, far ahead, capped", "999999999999", MaxCooldownMs, true},
		{"an absurd epoch is capped, not overflowed", "1e300", MaxCooldownMs, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, ok := resetMs(tc.v, now)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.ms, ms)
		})
	}
}

func TestClassify_RateLimitResetInMilliseconds(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	tests := []struct {
		name string
		resp Response
		ms   int64
	}{
		{"plain x-ratelimit-reset", Response{Status: 429, Header: headers("x-ratelimit-reset", "1767225612345")}, 12_345},
		{"exhausted counter's reset", Response{Status: 429, Header: headers(
			"x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "1767225604000")}, 4_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Classify(tc.resp, nil, now)
			require.Equal(t, ClassRateLimit, o.Class)
			require.True(t, o.HasRetryAfter)
			require.Equal(t, tc.ms, o.RetryAfterMs)
		})
	}
}
