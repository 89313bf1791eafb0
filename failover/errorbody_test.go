package failover

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type echoPhrase struct{ label, text string }

// echoPhrases is everything the classifier once looked for inside a message,
// in the providers' own wording, plus the codes it looks for in fields: a
// client can put any of them in a field name or value that a 400 quotes.
var echoPhrases = []echoPhrase{
	{"gemini invalid key", "API key not valid. Please pass a valid API key."},
	{"gemini leaked key", "Your API key was reported as leaked. Please use another API key."},
	{"anthropic credit", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},
	{"anthropic disabled", "This organization has been disabled."},
	{"restricted", "This organization has been restricted."},
	{"anthropic usage limit", "You have reached your specified API usage limits. You will regain access on 2026-02-01 at 00:00 UTC."},
	{"anthropic workspace limit", "You have reached your specified workspace API usage limits. You will regain access on 2026-02-01 at 00:00 UTC."},
	{"code names", "invalid_api_key API_KEY_INVALID insufficient_quota credit_balance_exhausted billing_error 1113"},
}

// Each provider's 400 for a field it does not know, quoting the client's
// field name (the shapes the providers send; the field name is the client's).
var echoBodies = []struct {
	provider, dialect string
	body              func(field string) string
}{
	{"openai", "openai", func(f string) string {
		return `{"error":{"message":"Unrecognized request argument supplied: ` + f + `","type":"invalid_request_error","param":null,"code":null}}`
	}},
	{"openai responses", "openai", func(f string) string {
		return `{"error":{"message":"Unknown parameter: '` + f + `'.","type":"invalid_request_error","param":"` + f + `","code":"unknown_parameter"}}`
	}},
	{"anthropic", "claude", func(f string) string {
		return `{"type":"error","error":{"type":"invalid_request_error","message":"messages.0.` + f +
			`: Extra inputs are not permitted"},"request_id":"req_011CZ47RMqKBKxEPtTzaX2wE"}`
	}},
	{"gemini", "gemini", func(f string) string {
		msg := `Invalid JSON payload received. Unknown name \"` + f + `\" at 'contents[0]': Cannot find field.`
		return `{"error":{"code":400,"message":"` + msg + `","status":"INVALID_ARGUMENT","details":[{"@type":` +
			`"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"contents[0]","description":"` + msg + `"}]}]}}`
	}},
}

// TestClassify_ClientEchoNeverEscalates: a 400 whose message quotes the
// client's input is the client's, whatever the input says.
func TestClassify_ClientEchoNeverEscalates(t *testing.T) {
	all := make([]string, 0, len(echoPhrases))
	for _, p := range echoPhrases {
		all = append(all, p.text)
	}
	phrases := append(append([]echoPhrase{}, echoPhrases...), echoPhrase{"every phrase at once", strings.Join(all, " ")})
	type row struct {
		name, dialect, body string
	}
	var tests []row
	for _, b := range echoBodies {
		for _, p := range phrases {
			tests = append(tests, row{b.provider + ": " + p.label, b.dialect, b.body(p.text)})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, status := range []int{400, 404, 413, 422} {
				o := Classify(Response{Status: status, Body: []byte(tc.body), Dialect: tc.dialect}, nil, 0)
				require.Equal(t, ClassIgnore, o.Class, "status %d: %s", status, o.Why)
			}
		})
	}
}

// TestClassify_ClientEchoInFailingStatusKeepsTheStatusClass: where the
// status counts anyway, text in the message does not change the class.
func TestClassify_ClientEchoInFailingStatusKeepsTheStatusClass(t *testing.T) {
	credit := echoPhrases[2].text
	tests := []struct {
		name   string
		status int
		body   string
		class  Class
	}{
		{"429 naming a model whose name is the credit sentence", 429,
			`{"error":{"message":"Rate limit reached for ft:gpt-4o:` + credit + ` in organization org-x on requests per min (RPM).","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			ClassRateLimit},
		{"429 anthropic rate limit quoting text", 429,
			`{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your organization's rate limit (model: ` + credit + `)."}}`,
			ClassRateLimit},
		{"500 quoting the disabled sentence", 500, `{"error":{"message":"failed on: This organization has been disabled.","type":"server_error"}}`, ClassUpstream},
		{"403 quoting the credit sentence is auth by status", 403, `{"error":{"message":"denied: ` + credit + `","type":"forbidden"}}`, ClassAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Classify(Response{Status: tc.status, Body: []byte(tc.body)}, nil, 0)
			require.Equal(t, tc.class, o.Class, o.Why)
		})
	}
}

// TestClassify_ProviderAccountAnswersStillCount: the providers' own answers
// for a bad key or a blocked account keep their class (docs/outcomes.md).
func TestClassify_ProviderAccountAnswersStillCount(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		dialect string
		body    string
		class   Class
	}{
		{"openai wrong key", 401, "openai", `{"error":{"message":"Incorrect API key provided: sk-proj-****wxyz. You can find your API key at ` +
			`https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, ClassAuth},
		{"openai no prepaid credit", 429, "openai",
			`{"error":{"message":"You have no prepaid credits left.","type":"insufficient_quota","param":null,"code":"credit_balance_exhausted"}}`, ClassQuota},
		{"openai organization spend limit", 429, "openai",
			`{"error":{"message":"Spend limit reached.","type":"insufficient_quota","param":null,"code":"organization_spend_limit_exceeded"}}`, ClassQuota},
		{"openai project spend limit", 429, "openai",
			`{"error":{"message":"Spend limit reached.","type":"insufficient_quota","param":null,"code":"project_spend_limit_exceeded"}}`, ClassQuota},
		{"openai organization usage limit", 429, "openai",
			`{"error":{"message":"Usage limit reached.","type":"insufficient_quota","param":null,"code":"organization_usage_limit_exceeded"}}`, ClassQuota},
		{"openai deactivated account", 401, "openai", `{"error":{"message":"Your OpenAI account has been deactivated, please check your email ` +
			`for more information.","type":"invalid_request_error","param":null,"code":"account_deactivated"}}`, ClassQuota},
		{"anthropic wrong key", 401, "claude",
			`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CbrFTcXhtiMzr3s6EocF7"}`, ClassAuth},
		{"anthropic credit, 400", 400, "claude", `{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low ` +
			`to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."},"request_id":"req_011CbrFTcXhtiMzr3s6EocF7"}`, ClassQuota},
		{"anthropic credit, openai-compatible endpoint", 400, "claude", `{"error":{"type":"invalid_request_error","message":"Your credit balance is ` +
			`too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}`, ClassQuota},
		{"anthropic disabled organization", 400, "claude",
			`{"type":"error","error":{"type":"invalid_request_error","message":"This organization has been disabled."},"request_id":"req_011CXF1SZ3S3oXChsdxhoUwV"}`, ClassQuota},
		{"anthropic own spend limit", 400, "claude", `{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your ` +
			`specified API usage limits. You will regain access on 2026-04-01 at 00:00 UTC."},"request_id":"req_011CZLrUfBVkVHn5T6EqQaf7"}`, ClassQuota},
		{"anthropic workspace spend limit", 400, "claude", `{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your ` +
			`specified workspace API usage limits. You will regain access on 2026-06-01 at 00:00 UTC."},"request_id":"req_011CahTT19rCWDmWQPwbYb7s"}`, ClassQuota},
		{"anthropic tier spend cap", 429, "claude", `{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your API usage limits.",` +
			`"details":{"error_code":"enforced_spend_limit_reached"}}}`, ClassQuota},
		{"anthropic contract spend limit", 429, "claude", `{"type":"error","error":{"type":"rate_limit_error","message":"Contract spend limit reached.",` +
			`"details":{"error_code":"contract_spend_limit_reached"}}}`, ClassQuota},
		{"anthropic billing_error", 402, "claude", `{"type":"error","error":{"type":"billing_error","message":"There is an issue with your billing."}}`, ClassQuota},
		{"anthropic plain rate limit", 429, "claude", `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your ` +
			`account's rate limit. Please try again later."},"request_id":"req_011CcR9mkMvXdaiWP4739PSN"}`, ClassRateLimit},
		{"gemini invalid key", 400, "gemini", `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",` +
			`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com",` +
			`"metadata":{"service":"generativelanguage.googleapis.com"}},{"@type":"type.googleapis.com/google.rpc.LocalizedMessage",` +
			`"locale":"en-US","message":"API key not valid. Please pass a valid API key."}]}}`, ClassAuth},
		{"gemini key not found", 400, "gemini", `{"error":{"code":400,"message":"API Key not found. Please pass a valid API key.","status":"INVALID_ARGUMENT",` +
			`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`, ClassAuth},
		{"gemini leaked key is auth by its status", 403, "gemini",
			`{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}`, ClassAuth},
		{"dashscope wrong key", 401, "qwen",
			`{"error":{"message":"Incorrect API key provided. ","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, ClassAuth},
		{"dashscope arrears", 400, "qwen", `{"error":{"message":"Access denied, please make sure your account is in good standing.",` +
			`"type":"Arrearage","param":null,"code":"Arrearage"}}`, ClassQuota},
		{"zhipu wrong key", 401, "zhipuai", `{"error":{"code":"1000","message":"身份验证失败。"}}`, ClassAuth},
		{"zhipu arrears", 429, "zhipuai", `{"error":{"code":"1113","message":"您的账户已欠费，请充值后重试。"}}`, ClassQuota},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Classify(Response{Status: tc.status, Body: []byte(tc.body), Dialect: tc.dialect}, nil, 0)
			require.Equal(t, tc.class, o.Class, o.Why)
		})
	}
}

func TestIsAccountSentence_WholeMessageOnly(t *testing.T) {
	credit := echoPhrases[2].text
	limit := "You have reached your specified API usage limits. You will regain access on 2026-04-01 at 00:00 UTC."
	tests := []struct {
		name string
		msg  string
		want bool
	}{
		{"credit sentence", credit, true},
		{"credit sentence with surrounding whitespace", " \n" + credit + "\t", true},
		{"disabled sentence", "This organization has been disabled.", true},
		{"usage limit with its date", limit, true},
		{"workspace limit with its date", echoPhrases[6].text, true},
		{"first sentence alone", "Your credit balance is too low to access the Anthropic API.", false},
		{"text before", "messages.0." + credit, false},
		{"text after", credit + ": Extra inputs are not permitted", false},
		{"other case", strings.ToLower(credit), false},
		{"letter where a date digit goes", strings.Replace(limit, "2026-04-01", "2026-O4-01", 1), false},
		{"longer date", strings.Replace(limit, "2026-04-01", "12026-04-01", 1), false},
		{"digit where the sentence has none", "This organization has been disab1ed.", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, isAccountSentence(tc.msg))
		})
	}
}

// TestClassify_AccountSentenceNeedsTheWholeBody: a sentence followed by
// padding and more text counts neither where the message is clipped nor
// where the body is cut.
func TestClassify_AccountSentenceNeedsTheWholeBody(t *testing.T) {
	credit := echoPhrases[2].text
	body := func(msg string) []byte {
		return []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"` + msg + `"}}`)
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"padding past the message clip", body(credit + strings.Repeat(" ", 600) + "x")},
		{"padding past the body cut", body(credit + strings.Repeat(" ", MaxErrorBody) + "x")},
		{"body cut inside the message", body(credit + strings.Repeat(" ", MaxErrorBody))[:MaxErrorBody]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, ClassIgnore, Classify(Response{Status: 400, Body: tc.body, Dialect: "claude"}, nil, 0).Class)
		})
	}
}

// TestMessageRetryDelay_LastMarkerWins: the provider's own "try again in"
// comes after anything it quotes from the request.
func TestMessageRetryDelay_LastMarkerWins(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		ms   int64
		ok   bool
	}{
		{"openai", "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, " +
			"Requested 2000. Please try again in 9.816s. Visit https://platform.openai.com/account/rate-limits to learn more.", 9_816, true},
		{"gemini", "Quota exceeded for metric: x, limit: 15. Please retry in 1.68s.", 1_680, true},
		{"a quoted model name cannot set the delay", "Rate limit reached for ft:gpt-4o:acme:retry in 59m:abc in organization org-x " +
			"on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits.", 20_000, true},
		{"no marker", "Rate limited", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, ok := messageRetryDelay(tc.msg)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.ms, ms)
		})
	}
}
