package failover

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Reason says why a token left Available.
type Reason uint8

// Reasons, named in logs and metrics.
const (
	ReasonNone Reason = iota
	ReasonAuth
	ReasonQuota
	ReasonRateLimit
	ReasonUpstream
)

// Reasons lists every failure reason, in metric order.
var Reasons = []Reason{ReasonAuth, ReasonQuota, ReasonRateLimit, ReasonUpstream}

func (r Reason) String() string {
	switch r {
	case ReasonAuth:
		return "auth"
	case ReasonQuota:
		return "quota"
	case ReasonRateLimit:
		return "ratelimit"
	case ReasonUpstream:
		return "upstream"
	}
	return "none"
}

// Class is what an outcome means for the token that served it.
type Class uint8

// Outcome classes (design section 4).
const (
	// ClassIgnore is the client's fault (400, 404, 413, 422, ...) or not the
	// token's business (a local reply by another filter): no change.
	ClassIgnore Class = iota
	// ClassSuccess resets the token's consecutive failures.
	ClassSuccess
	// ClassAuth (401, 403) demotes at once.
	ClassAuth
	// ClassQuota (402) demotes at once.
	ClassQuota
	// ClassRateLimit (429) cools the token until its retry time.
	ClassRateLimit
	// ClassUpstream (5xx, 408, reset, timeout) counts towards FailureThreshold.
	ClassUpstream
)

// Reason is the failure reason of a failing class (ReasonNone otherwise).
func (c Class) Reason() Reason {
	switch c {
	case ClassAuth:
		return ReasonAuth
	case ClassQuota:
		return ReasonQuota
	case ClassRateLimit:
		return ReasonRateLimit
	case ClassUpstream:
		return ReasonUpstream
	}
	return ReasonNone
}

// Outcome is a classified response.
type Outcome struct {
	Class Class
	// RetryAfterMs is how long a rate-limited token should rest; 0 = unknown.
	RetryAfterMs int64
}

// DefaultRateLimitCooldownMs is the rest of a 429'd token when the provider
// gives no retry time and cooldownDuration is 0.
const DefaultRateLimitCooldownMs = 30_000

// MaxCooldownMs bounds any provider-given retry time, so a bogus header
// cannot park a token for days.
const MaxCooldownMs = 3_600_000

// StatusPatterns is a compiled failoverOnStatus list; nil means the default set.
type StatusPatterns []*regexp.Regexp

// CompileStatusPatterns compiles failoverOnStatus entries. Each is anchored:
// "5xx" (x = any digit), "429" and "4.*" match whole status codes only.
func CompileStatusPatterns(patterns []string) (StatusPatterns, error) {
	out := make(StatusPatterns, 0, len(patterns))
	for _, p := range patterns {
		expr := strings.ReplaceAll(strings.ToLower(p), "x", "[0-9]")
		re, err := regexp.Compile("^(?:" + expr + ")$")
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid pattern: %v", p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// Match tells whether status matches one of the patterns.
func (ps StatusPatterns) Match(status int) bool {
	s := strconv.Itoa(status)
	for _, re := range ps {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func (ps StatusPatterns) failing(status int) bool {
	if ps == nil {
		return status == 401 || status == 402 || status == 403 || status == 408 || status == 429 || status >= 500
	}
	return ps.Match(status)
}

// Response is what Classify needs to know of a response.
type Response struct {
	Status int
	// CodeDetails is Envoy's response.code_details ("via_upstream" for a real
	// upstream answer); empty when the host did not say.
	CodeDetails string
	// Header returns a response header's value ("" when absent).
	Header func(name string) string
}

// transportFailure tells whether Envoy's local reply means the upstream
// connection failed, reset or timed out for this request.
func transportFailure(details string) bool {
	return strings.HasPrefix(details, "upstream_reset") ||
		strings.HasPrefix(details, "upstream_response_timeout") ||
		strings.HasPrefix(details, "upstream_per_try_timeout") ||
		strings.HasPrefix(details, "upstream_max_stream_duration_reached")
}

// Classify applies the failure policy to a response at time now (unix ms).
func Classify(r Response, patterns StatusPatterns, now int64) Outcome {
	if r.CodeDetails != "" && r.CodeDetails != "via_upstream" {
		// Envoy (or another filter) answered locally.
		if transportFailure(r.CodeDetails) {
			return Outcome{Class: ClassUpstream}
		}
		return Outcome{Class: ClassIgnore}
	}
	if !patterns.failing(r.Status) {
		if r.Status >= 200 && r.Status < 400 {
			return Outcome{Class: ClassSuccess}
		}
		return Outcome{Class: ClassIgnore}
	}
	switch r.Status {
	case 401, 403:
		return Outcome{Class: ClassAuth}
	case 402:
		return Outcome{Class: ClassQuota}
	case 429:
		return Outcome{Class: ClassRateLimit, RetryAfterMs: retryAfterMs(r.Header, now)}
	}
	return Outcome{Class: ClassUpstream}
}

// retryAfterMs reads Retry-After (seconds or HTTP date), else the largest
// x-ratelimit-reset-* value; 0 when none parses.
func retryAfterMs(header func(string) string, now int64) int64 {
	if header == nil {
		return 0
	}
	if v := strings.TrimSpace(header("retry-after")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			return clampCooldown(int64(secs * 1000))
		}
		for _, layout := range []string{time.RFC1123, time.RFC1123Z, time.RFC850, time.ANSIC} {
			if t, err := time.Parse(layout, v); err == nil {
				return clampCooldown(t.UnixMilli() - now)
			}
		}
	}
	var best int64
	for _, name := range []string{"x-ratelimit-reset-requests", "x-ratelimit-reset-tokens", "x-ratelimit-reset"} {
		if ms := resetMs(strings.TrimSpace(header(name)), now); ms > best {
			best = ms
		}
	}
	return clampCooldown(best)
}

// resetMs parses one x-ratelimit-reset value: a Go-style duration ("6m0s",
// "20ms", OpenAI's form), plain seconds, or a unix epoch in seconds.
func resetMs(v string, now int64) int64 {
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil {
		return d.Milliseconds()
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f > 1e9 { // an epoch, not a delay
			return int64(f*1000) - now
		}
		return int64(f * 1000)
	}
	return 0
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
