package failover

import (
	"strconv"
	"strings"
	"time"
)

// retryAfter reads how long a 429'd token must rest, the way each provider
// means it: Azure's retry-after-ms, then Retry-After (seconds or an HTTP
// date in the future), then Google's RetryInfo in the body, then the reset
// of the counter that is exhausted (OpenAI/Groq x-ratelimit-*, Anthropic
// anthropic-ratelimit-*), then a plain x-ratelimit-reset.
func retryAfter(r Response, e errorBody, wallNowMs int64) (int64, bool) {
	if ms, ok := retryAfterHeader(r, wallNowMs); ok {
		return ms, true
	}
	if e.hasRetryDelay {
		return clampCooldown(e.retryDelayMs), true
	}
	if ms, ok := exhaustedReset(r, wallNowMs); ok {
		return ms, true
	}
	if ms, ok := resetMs(strings.TrimSpace(r.header("x-ratelimit-reset")), wallNowMs); ok {
		return ms, true
	}
	return 0, false
}

// retryAfterHeader reads retry-after-ms, then Retry-After. A date in the
// past says nothing (clock skew), so the next source is tried.
func retryAfterHeader(r Response, wallNowMs int64) (int64, bool) {
	if v := strings.TrimSpace(r.header("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return clampCooldown(int64(ms)), true
		}
	}
	v := strings.TrimSpace(r.header("retry-after"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return clampCooldown(int64(secs * 1000)), true
	}
	for _, layout := range [...]string{time.RFC1123, time.RFC1123Z, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, v); err == nil {
			if ms := t.UnixMilli() - wallNowMs; ms > 0 {
				return clampCooldown(ms), true
			}
			return 0, false
		}
	}
	return 0, false
}

// rateLimitCounters are the provider counters whose remaining/reset pairs
// say which limit was hit.
var rateLimitCounters = [...]struct{ remaining, reset string }{
	{"x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"},
	{"x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"},
	{"anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"},
	{"anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"},
	{"anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset"},
	{"anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset"},
}

// exhaustedReset is the reset time of the counter whose remaining is 0 (the
// longest, if several are): not simply the largest reset, since OpenAI's
// reset is when the counter is full again and Groq's request window is a
// day, so the largest would rest a key far too long.
func exhaustedReset(r Response, wallNowMs int64) (int64, bool) {
	best, found := int64(0), false
	for _, c := range rateLimitCounters {
		if strings.TrimSpace(r.header(c.remaining)) != "0" {
			continue
		}
		if ms, ok := resetMs(strings.TrimSpace(r.header(c.reset)), wallNowMs); ok && (!found || ms > best) {
			best, found = ms, true
		}
	}
	return best, found
}

// resetMs parses one reset value: a Go-style duration ("6m0s", "20ms",
// OpenAI's form), an RFC 3339 time (Anthropic), plain seconds, a unix epoch
// in seconds (above 1e9, from 2001 on) or in milliseconds (from 1e12 on:
// 13 digits; as seconds that would be the year 33658).
func resetMs(v string, wallNowMs int64) (int64, bool) {
	if v == "" {
		return 0, false
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return clampCooldown(d.Milliseconds()), true
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		if ms := t.UnixMilli() - wallNowMs; ms > 0 {
			return clampCooldown(ms), true
		}
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
		if f > 1e9 { // an epoch, not a delay
			atMs := f * 1000
			if f >= 1e12 {
				atMs = f
			}
			// In float, capped before converting: "1e300" must not overflow.
			if ms := atMs - float64(wallNowMs); ms > 0 {
				return clampCooldown(int64(min(ms, MaxCooldownMs))), true
			}
			return 0, false
		}
		return clampCooldown(int64(f * 1000)), true
	}
	return 0, false
}

// protoDurationMs parses a protobuf JSON duration ("30s", "1.5s").
func protoDurationMs(v string) (int64, bool) {
	if !strings.HasSuffix(v, "s") {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64)
	if err != nil || f < 0 {
		return 0, false
	}
	return int64(f * 1000), true
}

func clampCooldown(ms int64) int64 {
	if ms <= 0 {
		return 0
	}
	if ms > MaxCooldownMs {
		return MaxCooldownMs
	}
	return ms
}
