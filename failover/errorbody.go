package failover

import (
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// MaxErrorBody is how much of an error answer's body the policy reads.
// Every provider error object seen fits (the largest, Gemini's 429 with
// three quota violations, is about 2.3 KB).
const MaxErrorBody = 4096

// maxErrorDepth bounds the nesting an error body may have before it is
// parsed at all; deeper input is ignored, so nothing recurses on it.
const maxErrorDepth = 16

// errorBody is what a provider's error object says about whose fault it is.
// Sources for every code below: docs/outcomes.md.
type errorBody struct {
	// fields holds error.code, error.type, error.status, top-level code and
	// type, and Anthropic's error.details.error_code, whichever are present.
	fields []string
	// message is the error's message, clipped; it may quote the client's
	// own input, so it never raises a charge (see accountSentence).
	message string
	// accountSentence: the whole message, in a body that parsed completely,
	// is one of the fixed sentences a provider sends without a code for an
	// account that cannot be used (accountSentences).
	accountSentence bool
	// reasons are Google's ErrorInfo reasons (error.details[].reason).
	reasons []string
	// retryDelayMs is Google's RetryInfo.retryDelay, or a "Please retry in
	// 1.5s" / "try again in 9.8s" in the message; hasRetryDelay when set.
	retryDelayMs  int64
	hasRetryDelay bool
}

// readErrorBody extracts the fields of an OpenAI-style ({"error":{"code",
// "type","message"}}), Anthropic ({"type":"error","error":{"type",
// "details":{"error_code"}}}), Google ({"error":{"status","details":[...]}},
// also wrapped in a one-element list by its OpenAI-compatible endpoint),
// Mistral (flat {"type","code","message"}) or DashScope ({"code"}) error
// from the start of a body.
func readErrorBody(body []byte) errorBody {
	if len(body) > MaxErrorBody {
		body = body[:MaxErrorBody]
	}
	if len(body) == 0 || !shallow(body, maxErrorDepth) {
		return errorBody{}
	}
	root := gjson.ParseBytes(body)
	if root.IsArray() {
		root = root.Get("0")
	}
	var e errorBody
	add := func(v gjson.Result) {
		if s := v.String(); s != "" && len(s) <= 64 && (v.Type == gjson.String || v.Type == gjson.Number) {
			e.fields = append(e.fields, s)
		}
	}
	errObj := root.Get("error")
	if errObj.IsObject() {
		add(errObj.Get("code"))
		add(errObj.Get("type"))
		add(errObj.Get("status"))
		add(errObj.Get("details.error_code"))
		e.message = errObj.Get("message").String()
		errObj.Get("details").ForEach(func(_, d gjson.Result) bool {
			if r := d.Get("reason").String(); r != "" {
				e.reasons = append(e.reasons, r)
			}
			if strings.HasSuffix(d.Get("@type").String(), "google.rpc.RetryInfo") {
				e.retryDelayMs, e.hasRetryDelay = protoDurationMs(d.Get("retryDelay").String())
			}
			return true
		})
	} else {
		add(root.Get("code"))
		add(root.Get("type"))
		e.message = root.Get("message").String()
		if e.message == "" && errObj.Type == gjson.String {
			e.message = errObj.Str
		}
	}
	// Judged before clipping, and only on a body that parsed whole: a cut
	// message could otherwise end exactly where a sentence does.
	e.accountSentence = gjson.ValidBytes(body) && isAccountSentence(e.message)
	e.message = clip(e.message, 512)
	if !e.hasRetryDelay {
		e.retryDelayMs, e.hasRetryDelay = messageRetryDelay(e.message)
	}
	return e
}

// messageRetryDelay reads "Please retry in 1.68s." (Gemini) or "Please try
// again in 9.816s." (OpenAI, Groq) from an error message. The last marker
// wins: the provider writes it after anything quoted from the request (a
// model name), so text a client got quoted cannot set the delay.
func messageRetryDelay(msg string) (int64, bool) {
	at, marker := -1, ""
	for _, m := range [...]string{"retry in ", "try again in "} {
		if i := strings.LastIndex(msg, m); i > at {
			at, marker = i, m
		}
	}
	if at < 0 {
		return 0, false
	}
	rest := msg[at+len(marker):]
	end := 0
	for end < len(rest) && (rest[end] >= '0' && rest[end] <= '9' || rest[end] == '.' || rest[end] == 'm' || rest[end] == 's' || rest[end] == 'h') {
		end++
	}
	return resetMs(strings.TrimRight(rest[:end], "."), 0)
}

// shallow reports whether JSON-ish bytes nest no deeper than max, counting
// brackets outside strings in one iterative pass.
func shallow(b []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return false
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return true
}

// label is the error's first code or type, for logs ("insufficient_quota").
func (e errorBody) label() string {
	if len(e.fields) > 0 {
		return e.fields[0]
	}
	return ""
}

func (e errorBody) is(values ...string) bool {
	for _, v := range values {
		for _, f := range e.fields {
			if f == v {
				return true
			}
		}
		for _, r := range e.reasons {
			if r == v {
				return true
			}
		}
	}
	return false
}

// zhipu returns Zhipu's numeric business code (0 when none).
func (e errorBody) zhipu() int {
	for _, f := range e.fields {
		if n, err := strconv.Atoi(f); err == nil && n >= 1000 && n < 2000 {
			return n
		}
	}
	return 0
}

// keyInvalid: the provider says the key itself is wrong, revoked or leaked.
// Only codes the provider sets count, never words in the message: a 400's
// message quotes the client's own field names and values.
func (e errorBody) keyInvalid() bool {
	z := e.zhipu()
	return e.is("invalid_api_key", "API_KEY_INVALID", "authentication_error", "InvalidApiKey",
		"invalid_authentication_error", "incorrect_api_key_error") || (z >= 1000 && z <= 1005)
}

// accountBlocked: the account behind the key is out of credit, over a spend
// limit or disabled; only a probe can tell when it works again. dialect is
// the provider type: DashScope's "insufficient_quota" is its per-minute
// token limit, not billing. Codes the provider sets count, and Anthropic's
// few code-less sentences count only as whole messages (accountSentences).
func (e errorBody) accountBlocked(dialect string) bool {
	if dialect != "qwen" && e.is("insufficient_quota") {
		return true
	}
	z := e.zhipu()
	return e.is("credit_balance_exhausted", "organization_spend_limit_exceeded", "project_spend_limit_exceeded",
		"organization_usage_limit_exceeded", "account_deactivated", "billing_hard_limit_reached", "billing_error",
		"Arrearage", "exceeded_current_quota_error", "enforced_spend_limit_reached", "contract_spend_limit_reached") ||
		e.accountSentence ||
		z == 1113 || (z >= 1110 && z <= 1112) || z == 1121 || (z >= 1308 && z <= 1321 && z != 1312)
}

// accountSentences are Anthropic's answers, with no code beyond
// invalid_request_error, for an account that cannot be used: out of credit,
// disabled, over the spend limit its owner set. Each is recognised only as
// the whole message (trimmed), never as a part of one, so a client that gets
// its own text quoted in a message cannot produce one. In the last two, the
// date is read with every ASCII digit as 0; nothing but digits may vary.
var accountSentences = [...]string{
	"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
	"This organization has been disabled.",
	"You have reached your specified API usage limits. You will regain access on 0000-00-00 at 00:00 UTC.",
	"You have reached your specified workspace API usage limits. You will regain access on 0000-00-00 at 00:00 UTC.",
}

// isAccountSentence reports whether msg, trimmed, is one of accountSentences.
func isAccountSentence(msg string) bool {
	msg = strings.TrimSpace(msg)
	for _, s := range accountSentences {
		if len(msg) == len(s) && digitsAsZero(msg) == s {
			return true
		}
	}
	return false
}

// digitsAsZero returns s with every ASCII digit replaced by '0'.
func digitsAsZero(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= '0' && c <= '9' {
			b[i] = '0'
		}
	}
	return string(b)
}

// overloaded: the provider as a whole is overloaded (a 429 that is not
// about this account): count it like a 5xx.
func (e errorBody) overloaded() bool {
	z := e.zhipu()
	return e.is("engine_overloaded_error", "overloaded_error") || z == 1305 || z == 1312
}

// requestScoped: the answer is about this request (or the gateway's region),
// not the key: another key would get the same answer, so no key is charged.
func (e errorBody) requestScoped() bool {
	return e.is("model_not_found", "unsupported_country_region_territory", "context_length_exceeded",
		"request_too_large", "FAILED_PRECONDITION", "NOT_FOUND", "permission_error", "AccessDenied",
		"access_denied", "ModelNotFound", "DeploymentNotFound", "1220", "1211") ||
		// OpenAI: one request larger than the tokens-per-minute limit.
		strings.HasPrefix(e.message, "Request too large")
}
