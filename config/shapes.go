package config

import (
	"fmt"

	"github.com/tidwall/gjson"
)

// Higress's configuration shapes (higress-facts.md section 1.1-1.3):
//
//   - provider: {...}                          the top level's provider, active
//   - providers: [...] + activeProviderId: id  the entry with that id is active
//   - _rules_: [{_match_...: [...], provider | providers | activeProviderId}]
//
// A rule inherits the top level's providers list, never its
// activeProviderId: a rule with neither provider nor activeProviderId
// passes its requests through. Only entries some activeProviderId names
// are read (Higress never validates the others).

// providerList is a providers list: each entry is parsed once, when an
// activeProviderId first names it.
type providerList struct {
	path    string
	entries []gjson.Result
	blocks  map[int]*ProviderBlock
}

// shapes reads the top level and the rules into cfg.
func (r *reader) shapes(root gjson.Result, cfg *Config) {
	hasProvider := !r.absent(root, "", "provider")
	hasProviders := !r.absent(root, "", "providers")
	hasActive := !r.absent(root, "", "activeProviderId")
	rules, hasRules := r.field(root, "", "_rules_")
	if !hasProvider && !hasProviders && !hasActive && !hasRules {
		if root.Get("status").Exists() {
			return // a filter that only answers the status page
		}
		r.fail("provider", "is required (or providers with activeProviderId, or _rules_, or a status alone)")
		return
	}
	var lists []*providerList
	global := r.list(root, "")
	if global != nil {
		lists = append(lists, global)
	}
	if hasProvider || hasProviders || hasActive {
		cfg.Global = r.active(root, "", global)
	}
	if hasRules {
		cfg.Rules, lists = r.rules(rules, global, lists)
		if !hasProvider && !hasProviders && !hasActive && rules.IsArray() && len(rules.Array()) == 0 {
			r.fail("_rules_", "must hold at least one rule when there is no provider, got an empty list")
		}
	}
	for _, l := range lists {
		for i, e := range l.entries {
			if _, used := l.blocks[i]; used || !e.IsObject() {
				continue
			}
			at := fmt.Sprintf("%s[%d]", l.path, i)
			if id := e.Get("id").String(); id != "" {
				r.warn(at, "not checked and never used: no activeProviderId names its id %s (Higress ignores it too)", quote(id))
			} else {
				r.warn(at, "not checked and never used: it has no id for activeProviderId to name (Higress ignores it too)")
			}
		}
	}
	switch {
	case len(r.errs) > 0:
	case cfg.Global == nil && !anyBlock(cfg.Rules):
		r.warn("(root)", "no provider is active: every request passes through untouched (as in Higress)")
	case cfg.Global == nil && hasProviders && !hasProvider && !hasActive:
		r.warn("activeProviderId", "absent: requests that no rule matches pass through untouched (as in Higress)")
	}
}

// absent tells whether key is absent (or null), without a warning.
func (r *reader) absent(obj gjson.Result, path, key string) bool {
	v := obj.Get(gjson.Escape(key))
	return !v.Exists() || v.Type == gjson.Null
}

func anyBlock(rules []Rule) bool {
	for _, ru := range rules {
		if ru.Block != nil {
			return true
		}
	}
	return false
}

// list reads obj's providers list (nil when absent).
func (r *reader) list(obj gjson.Result, path string) *providerList {
	v, ok := r.field(obj, path, "providers")
	if !ok {
		return nil
	}
	at := join(path, "providers")
	if !v.IsArray() {
		// Higress ignores a providers that is not a list.
		r.fail(at, "must be a list of provider objects, got %s", describe(v))
		return nil
	}
	l := &providerList{path: at, entries: v.Array(), blocks: map[int]*ProviderBlock{}}
	seen := map[string]int{}
	for i, e := range l.entries {
		if !e.IsObject() {
			r.fail(fmt.Sprintf("%s[%d]", at, i), "must be an object, got %s", describe(e))
			continue
		}
		id := e.Get("id").String()
		if j, dup := seen[id]; dup && id != "" {
			r.warn(fmt.Sprintf("%s[%d].id", at, i), "%s is also the id of %s[%d]; activeProviderId picks the first (as in Higress)", quote(id), at, j)
			continue
		}
		seen[id] = i
	}
	return l
}

// active returns the active block of a level (the top level, or a rule):
// its provider object, else the first entry of list (its own providers,
// or a rule's inherited ones) whose id is activeProviderId; nil when none
// is active.
func (r *reader) active(obj gjson.Result, path string, list *providerList) *ProviderBlock {
	if p, ok := r.field(obj, path, "provider"); ok {
		if !p.IsObject() {
			r.fail(join(path, "provider"), "must be an object, got %s", describe(p))
			return nil
		}
		for _, k := range []string{"providers", "activeProviderId"} {
			if !r.absent(obj, path, k) {
				r.warn(join(path, k), "ignored: provider is set, and it wins (as in Higress)")
			}
		}
		return r.pool(p, join(path, "provider"))
	}
	id := r.str(obj, path, "activeProviderId", "")
	if id == "" {
		return nil
	}
	at := join(path, "activeProviderId")
	if list == nil {
		r.warn(at, "%s names no entry: there is no providers list; requests pass through untouched (as in Higress)", quote(id))
		return nil
	}
	for i, e := range list.entries {
		if e.IsObject() && e.Get("id").String() == id {
			if b, done := list.blocks[i]; done {
				return b
			}
			b := r.pool(e, fmt.Sprintf("%s[%d]", list.path, i))
			list.blocks[i] = b
			return b
		}
	}
	r.warn(at, "%s names no entry of %s: requests pass through untouched (as in Higress)", quote(id), list.path)
	return nil
}

// rules reads _rules_; lists gains the rules' own providers lists.
func (r *reader) rules(v gjson.Result, global *providerList, lists []*providerList) ([]Rule, []*providerList) {
	if !v.IsArray() {
		r.fail("_rules_", "must be a list, got %s", describe(v))
		return nil, lists
	}
	var out []Rule
	for i, e := range v.Array() {
		path := fmt.Sprintf("_rules_[%d]", i)
		if !r.object(e, path, ruleFields...) {
			continue
		}
		ru := r.matchers(e, path)
		list := global
		if own := r.list(e, path); own != nil {
			lists, list = append(lists, own), own
		}
		ru.Block = r.active(e, path, list)
		if ru.Block == nil && r.absent(e, path, "provider") && r.absent(e, path, "activeProviderId") {
			r.warn(path, "has no provider and no activeProviderId: its requests pass through untouched "+
				"(as in Higress: a rule does not inherit the top level's activeProviderId)")
		}
		out = append(out, ru)
	}
	return out, lists
}
