package provider

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// MappingEntry is one modelMapping key and target, in the order written.
type MappingEntry struct {
	Key, Target string
}

// Mapping maps a requested model to the provider's model. Precedence is
// fixed: exact key, then the longest matching prefix key ("gpt-4*"), then
// "~regex" keys in the order written, then "*" (Higress tries prefix and
// regex keys in Go's random map order). A regex key's target replaces what
// the regex matched, every match, as Higress does ("~^o(\d)" to
// "qwen-o$1" maps "o1-mini" to "qwen-o1-mini").
//
// Two deliberate differences from Higress: a "~regex" key is used exactly
// as written, so "~gpt-.*" keeps its ".*" (Higress drops a trailing "*"
// from every key first, and maps "gpt-4o" to "qweno" with target "qwen");
// and an empty target keeps the requested model for every kind of key
// (Higress deletes the matched text of a regex key: "~gpt-" to "" maps
// "gpt-4" to "4").
type Mapping struct {
	exact    map[string]string
	prefixes []MappingEntry // key without '*', longest first
	regexes  []regexEntry
	fallback *string
}

type regexEntry struct {
	re     *regexp.Regexp
	target string
}

// CompileMapping validates and compiles entries; an error names the key.
func CompileMapping(entries []MappingEntry) (*Mapping, error) {
	m := &Mapping{exact: map[string]string{}}
	for _, e := range entries {
		switch {
		case e.Key == "*":
			t := e.Target
			m.fallback = &t
		case strings.HasPrefix(e.Key, "~"):
			re, err := regexp.Compile(e.Key[1:])
			if err != nil {
				return nil, fmt.Errorf("key %q: invalid regex: %v", e.Key, err)
			}
			m.regexes = append(m.regexes, regexEntry{re, e.Target})
		case strings.HasSuffix(e.Key, "*"):
			m.prefixes = append(m.prefixes, MappingEntry{strings.TrimSuffix(e.Key, "*"), e.Target})
		case e.Key == "":
			return nil, fmt.Errorf("empty key")
		default:
			m.exact[e.Key] = e.Target
		}
	}
	sort.SliceStable(m.prefixes, func(i, j int) bool { return len(m.prefixes[i].Key) > len(m.prefixes[j].Key) })
	return m, nil
}

// Empty tells whether the mapping has no entries (nothing to rewrite).
func (m *Mapping) Empty() bool {
	return m == nil || (len(m.exact) == 0 && len(m.prefixes) == 0 && len(m.regexes) == 0 && m.fallback == nil)
}

// Map returns the provider model for model.
func (m *Mapping) Map(model string) string {
	if m == nil {
		return model
	}
	if t, ok := m.exact[model]; ok {
		return keep(model, t)
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(model, p.Key) {
			return keep(model, p.Target)
		}
	}
	for _, r := range m.regexes {
		if r.re.MatchString(model) {
			if r.target == "" {
				return model
			}
			// As Higress does: the target replaces what the regex matched
			// ($1 expands), the rest of the name stays.
			return r.re.ReplaceAllString(model, r.target)
		}
	}
	if m.fallback != nil {
		return keep(model, *m.fallback)
	}
	return model
}

func keep(model, target string) string {
	if target == "" {
		return model
	}
	return target
}

// Constant returns the one model every request maps to, when the mapping
// has nothing but a "*" key with a non-empty target.
func (m *Mapping) Constant() (string, bool) {
	if m == nil || len(m.exact) > 0 || len(m.prefixes) > 0 || len(m.regexes) > 0 || m.fallback == nil || *m.fallback == "" {
		return "", false
	}
	return *m.fallback, true
}
