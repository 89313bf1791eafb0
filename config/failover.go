package config

import (
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/token-failover/token-failover/failover"
)

var (
	failoverFields = []string{"enabled", "failureThreshold", "successThreshold", "healthCheckInterval",
		"healthCheckTimeout", "healthCheckModel", "cooldownDuration", "failoverOnStatus", "allTokensDown",
		"failureRate", "slowToken"}
	failureRateFields = []string{"percent", "minRequests", "window"}
	slowTokenFields   = []string{"factor"}
	retryFields       = []string{"enabled", "maxRetries", "retryTimeout", "retryOnStatus", "maxBodyBytes"}
)

// failover reads provider.failover. An explicit 0 for a threshold,
// interval or timeout means the default, as in Higress (with a warning).
func (r *reader) failover(block gjson.Result, blockPath string) FailoverConfig {
	f := FailoverConfig{Settings: failover.Settings{FailureThreshold: DefaultFailureThreshold,
		SuccessThreshold: DefaultSuccessThreshold, HealthCheckInterval: DefaultHealthCheckInterval},
		HealthCheckTimeout: DefaultHealthCheckTimeout}
	v, ok := r.field(block, blockPath, "failover")
	path := join(blockPath, "failover")
	if !ok || !r.object(v, path, failoverFields...) {
		return f
	}
	f.Enabled = r.boolean(v, path, "enabled", false)
	f.Settings.FailureThreshold = uint32(r.integer(v, path, "failureThreshold", DefaultFailureThreshold, 1, MaxThreshold, true))
	f.Settings.SuccessThreshold = uint32(r.integer(v, path, "successThreshold", DefaultSuccessThreshold, 1, MaxThreshold, true))
	f.Settings.HealthCheckInterval = r.integer(v, path, "healthCheckInterval", DefaultHealthCheckInterval, 1, MaxDurationMs, true)
	f.Settings.CooldownDuration = r.integer(v, path, "cooldownDuration", 0, 0, MaxDurationMs, false)
	f.HealthCheckTimeout = r.integer(v, path, "healthCheckTimeout", DefaultHealthCheckTimeout, 1, MaxDurationMs, true)
	f.HealthCheckModel = r.str(v, path, "healthCheckModel", "")
	f.RejectWhenAllDown = r.oneOf(v, path, "allTokensDown", "fallback", "fallback", "reject") == "reject"
	f.Patterns = r.patterns(v, path, "failoverOnStatus")
	r.rateTrip(v, path, &f.Settings)
	return f
}

// Defaults of failureRate and slowToken.
const (
	DefaultRateMinRequests = 20
	DefaultRateWindowMs    = 60_000
	maxSlowFactor          = 1000
)

// rateTrip reads failover.failureRate ({percent, minRequests, window}: a
// key whose upstream failures exceed percent of its requests over the
// window is demoted) and failover.slowToken ({factor}: a key whose mean
// time to a 2xx's headers exceeds factor times its siblings' median is
// used only when no other may). Both are off when absent.
func (r *reader) rateTrip(v gjson.Result, path string, s *failover.Settings) {
	s.RateMinRequests, s.RateWindowMs = DefaultRateMinRequests, DefaultRateWindowMs
	if fr, ok := r.field(v, path, "failureRate"); ok {
		at := join(path, "failureRate")
		if r.object(fr, at, failureRateFields...) {
			if !fr.Get("percent").Exists() {
				r.fail(join(at, "percent"), "is required: the share of failed requests (1-99) that demotes a key")
			}
			s.FailureRatePercent = uint32(r.integer(fr, at, "percent", 0, 1, 99, false))
			s.RateMinRequests = uint32(r.integer(fr, at, "minRequests", DefaultRateMinRequests, 1, 1_000_000, false))
			s.RateWindowMs = r.integer(fr, at, "window", DefaultRateWindowMs, 1000, MaxDurationMs, false)
		}
	}
	if st, ok := r.field(v, path, "slowToken"); ok {
		at := join(path, "slowToken")
		if r.object(st, at, slowTokenFields...) {
			f := st.Get("factor")
			switch {
			case !f.Exists():
				r.fail(join(at, "factor"), "is required: how many times slower than its siblings' median a key is slow (e.g. 3)")
			case f.Type != gjson.Number || f.Float() <= 1 || f.Float() > maxSlowFactor:
				r.fail(join(at, "factor"), "must be a number above 1 and at most %d, got %s", maxSlowFactor, describe(f))
			default:
				s.SlowFactor = f.Float()
			}
		}
	}
}

// retry reads provider.retryOnFailure. maxRetries 0 means 1, as in
// Higress (with a warning); enabled: false turns retries off.
func (r *reader) retry(block gjson.Result, blockPath string) RetryConfig {
	c := RetryConfig{MaxRetries: 1, TimeoutMs: DefaultRetryTimeout, MaxBodyBytes: DefaultRetryMaxBodyBytes}
	v, ok := r.field(block, blockPath, "retryOnFailure")
	path := join(blockPath, "retryOnFailure")
	if !ok || !r.object(v, path, retryFields...) {
		return c
	}
	c.Enabled = r.boolean(v, path, "enabled", false)
	c.MaxRetries = r.integer(v, path, "maxRetries", 1, 1, MaxTokens, true)
	c.TimeoutMs = r.integer(v, path, "retryTimeout", DefaultRetryTimeout, 1, MaxDurationMs, true)
	c.MaxBodyBytes = r.integer(v, path, "maxBodyBytes", DefaultRetryMaxBodyBytes, 0, MaxRetryBodyBytes, false)
	c.Patterns = r.patterns(v, path, "retryOnStatus")
	return c
}

// patterns reads a status pattern list (failoverOnStatus, retryOnStatus).
// Status codes written as numbers are read as their text; an empty list
// means the default set, as in Higress (whose default is every 4xx and
// 5xx; ours is the failure policy's).
func (r *reader) patterns(v gjson.Result, path, key string) *failover.StatusPatterns {
	before := len(r.errs)
	list, present := r.strings(v, path, key, listOpts{numbers: true})
	if !present || len(r.errs) > before {
		return nil
	}
	at := join(path, key)
	if len(list) == 0 {
		r.warn(at, "an empty list, read as absent: the default failure statuses apply")
		return nil
	}
	for i, p := range list {
		if p == "" {
			r.fail(fmt.Sprintf("%s[%d]", at, i), "must not be empty (Higress's unanchored match would count every status; write \"[0-9]xx\" for that)")
			return nil
		}
	}
	ps, err := failover.CompileStatusPatterns(list)
	if err != nil {
		r.fail(at, "%v", err)
		return nil
	}
	return ps
}
