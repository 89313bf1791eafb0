package failover

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
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
	// ReasonManual marks a token an operator took out by hand: it serves
	// no request, not even as a last resort, and no probe or cooldown
	// brings it back; only a restore by hand does.
	ReasonManual
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
	case ReasonManual:
		return "manual"
	}
	return "none"
}

// Class is what an outcome means for the token that served it.
type Class uint8

// Outcome classes (design section 4).
const (
	// ClassIgnore is the client's fault (400, 404, 413, 422, ...), a
	// request-scoped provider error, or not the token's business (Envoy's
	// own refusal, another filter's local reply, the client leaving).
	ClassIgnore Class = iota
	// ClassSuccess resets the token's consecutive failures.
	ClassSuccess
	// ClassAuth (401, 403) demotes at once.
	ClassAuth
	// ClassQuota (402, a 429 that says the account is out of credit)
	// demotes at once.
	ClassQuota
	// ClassRateLimit (429) cools the token until its retry time.
	ClassRateLimit
	// ClassUpstream (5xx, 408, the provider's reset, timeout) counts towards
	// FailureThreshold.
	ClassUpstream
)

// String names the class in access logs: ignored, success, auth, quota,
// ratelimit or upstream.
func (c Class) String() string {
	if c == ClassSuccess {
		return "success"
	}
	if r := c.Reason(); r != ReasonNone {
		return r.String()
	}
	return "ignored"
}

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

// Failing tells whether the class counts against the token.
func (c Class) Failing() bool { return c.Reason() != ReasonNone }

// Outcome is a classified response.
type Outcome struct {
	Class Class
	// RetryAfterMs is how long the token should rest, when HasRetryAfter.
	RetryAfterMs  int64
	HasRetryAfter bool
	// Account is the organization/project the answer named, if any.
	Account string
	// Why explains the class in a few words for logs ("status 429,
	// insufficient_quota"); never a token, never the whole body.
	Why string
	// Status is the HTTP status of the answer (0: none came).
	Status int
}

// DefaultRateLimitCooldownMs is the rest of a 429'd token when the provider
// gives no retry time and cooldownDuration is 0.
const DefaultRateLimitCooldownMs = 30_000

// MaxCooldownMs bounds any provider-given retry time, so a bogus header
// cannot park a token for days.
const MaxCooldownMs = 3_600_000

// StatusPatterns is a compiled failoverOnStatus (or retryOnStatus) list; a
// nil *StatusPatterns means the default set. Every status from 100 to 599
// is matched once when the list is compiled, so a request's answer is
// judged without running a regular expression.
type StatusPatterns struct {
	res   []*regexp.Regexp
	table [600]bool // table[s]: s matches, for 100 <= s < 600
}

// CompileStatusPatterns compiles failoverOnStatus entries. Each is anchored:
// "5xx" (x = any digit), "429" and "4.*" match whole status codes only.
func CompileStatusPatterns(patterns []string) (*StatusPatterns, error) {
	out := &StatusPatterns{res: make([]*regexp.Regexp, 0, len(patterns))}
	for _, p := range patterns {
		expr := strings.ReplaceAll(strings.ToLower(p), "x", "[0-9]")
		re, err := regexp.Compile("^(?:" + expr + ")$")
		if err != nil {
			return nil, fmt.Errorf("%q is not a valid pattern: %v", p, err)
		}
		out.res = append(out.res, re)
	}
	for s := 100; s < len(out.table); s++ {
		out.table[s] = out.matchText(s)
	}
	return out, nil
}

// Match tells whether status matches one of the patterns.
func (ps *StatusPatterns) Match(status int) bool {
	if ps == nil {
		return false
	}
	if status >= 100 && status < len(ps.table) {
		return ps.table[status]
	}
	return ps.matchText(status)
}

func (ps *StatusPatterns) matchText(status int) bool {
	s := strconv.Itoa(status)
	for _, re := range ps.res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// Failing tells whether a status counts against the token under these
// patterns (nil: 401, 402, 403, 408, 429 and 5xx).
func (ps *StatusPatterns) Failing(status int) bool {
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
	// Header returns a response header's value ("" when absent); nil means
	// no headers.
	Header func(name string) string
	// Body is the start of the response body (at most MaxErrorBody bytes
	// are read), for error answers; nil when not read.
	Body []byte
	// Dialect is the provider type, where the same error code means
	// different things ("qwen": insufficient_quota is a per-minute limit).
	Dialect string
}

func (r Response) header(name string) string {
	if r.Header == nil {
		return ""
	}
	return r.Header(name)
}

// Classify applies the failure policy to a response. wallNowMs is the wall
// clock (unix ms), used only to turn HTTP dates and epochs into durations.
func Classify(r Response, patterns *StatusPatterns, wallNowMs int64) Outcome {
	if r.CodeDetails != "" && r.CodeDetails != "via_upstream" {
		// Envoy (or another filter) answered: only the provider's own
		// failures count, never Envoy's refusals or the client leaving.
		if ProviderFault(r.CodeDetails) {
			return Outcome{Class: ClassUpstream, Why: r.CodeDetails, Status: r.Status}
		}
		return Outcome{Class: ClassIgnore, Why: r.CodeDetails, Status: r.Status}
	}
	if r.Status >= 200 && r.Status < 300 && !patterns.Failing(r.Status) {
		// The common case, decided before building any text: a success
		// needs no reason (nothing logs one) and no account.
		return Outcome{Class: ClassSuccess, Status: r.Status}
	}
	why := "status " + strconv.Itoa(r.Status)
	var e errorBody
	if r.Status >= 400 {
		e = readErrorBody(r.Body)
		if l := e.label(); l != "" {
			why += ", " + l
		}
	}
	o := Outcome{Why: why, Account: account(r), Status: r.Status}
	// The body can say the key or its account is the problem even where the
	// status alone would not count (Gemini: 400 API_KEY_INVALID; Anthropic,
	// DashScope: a 400 for an account out of credit). Only what the provider
	// sets says so (codes, types, reasons, and Anthropic's code-less sentences
	// as whole messages), never words inside a message, which a 400 fills with
	// the client's own input (docs/outcomes.md).
	bodyCounts := patterns.Failing(r.Status) || (patterns == nil && r.Status == 400)
	switch {
	case bodyCounts && e.keyInvalid():
		o.Class = ClassAuth
	case bodyCounts && e.accountBlocked(r.Dialect):
		o.Class = ClassQuota
	case !patterns.Failing(r.Status):
		o.Class = ClassIgnore
		if r.Status >= 200 && r.Status < 400 {
			o.Class = ClassSuccess
		}
	case e.requestScoped():
		// Another key would get the same answer: not this key's fault.
		o.Class = ClassIgnore
	case e.overloaded():
		o.Class = ClassUpstream
	case r.Status == 401 || r.Status == 403:
		o.Class = ClassAuth
	case r.Status == 402:
		o.Class = ClassQuota
	case r.Status == 429:
		o.Class = ClassRateLimit
		o.RetryAfterMs, o.HasRetryAfter = retryAfter(r, e, wallNowMs)
	default:
		o.Class = ClassUpstream
		if r.Status == 503 || r.Status == 529 {
			o.RetryAfterMs, o.HasRetryAfter = retryAfterHeader(r, wallNowMs)
		}
	}
	return o
}

// account names the organization/project a response came from, for logs:
// providers count rate limits per account, so keys of one account cool
// together.
func account(r Response) string {
	var parts []string
	for _, h := range [...]string{"openai-organization", "openai-project", "anthropic-organization-id"} {
		if v := r.header(h); v != "" {
			parts = append(parts, clip(v, 64))
		}
	}
	return strings.Join(parts, "/")
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
