package config

import (
	"os"
	"strings"
)

// An apiTokens entry is either the key itself (inline, as Higress writes
// it) or a reference to an environment variable of the wasm VM:
//
//	apiTokens:
//	- ${env:OPENAI_KEY_1}   # the value of OPENAI_KEY_1 in the VM's environment
//	- sk-inline-key         # the key itself
//
// The VM's environment is what Envoy passes through
// vm_config.environment_variables: host_env_keys copies named variables
// from Envoy's own environment, so the key stays out of every
// configuration Envoy holds and of /config_dump (docs/secure-keys.md).
//
// The value read is then validated exactly as an inline token (trimmed,
// header-safe, duplicates dropped) and hashed the same way, so a key has
// one fingerprint and one pool identity whether it is written inline or
// referenced. A missing or empty variable refuses the configuration,
// naming the entry and the variable, never a value.

// envRefPrefix opens every reference. No provider's key starts with "${";
// any entry that does is read as a reference, and refused if it is not
// one this plugin resolves, rather than sent upstream as a key.
const envRefPrefix = "${"

// lookupEnv reads the VM's environment. Go's wasip1 runtime copies the
// environment (WASI environ_get) once, in _initialize, before Envoy's
// first proxy_on_configure; tests replace it with a fake environment.
var lookupEnv = os.LookupEnv

// envRef parses a trimmed apiTokens entry. ref is false for an inline
// token; with ref true, name is the variable, or "" when the entry starts
// like a reference but is not a valid ${env:NAME}.
func envRef(s string) (name string, ref bool) {
	if !strings.HasPrefix(s, envRefPrefix) {
		return "", false
	}
	name, ok := strings.CutPrefix(s, "${env:")
	if !ok {
		return "", true
	}
	name, ok = strings.CutSuffix(name, "}")
	if !ok || !envName(name) {
		return "", true
	}
	return name, true
}

// envName tells whether s is a portable environment variable name: a
// letter or underscore, then letters, digits or underscores (POSIX's
// portable names; Istio's WasmPlugin env requires a C identifier too).
func envName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// resolveToken returns the key an apiTokens entry stands for: the entry
// itself when inline, else the value of the variable it names. el is the
// entry's path for messages; where is el, annotated with the reference
// when there is one, for the messages of the checks that follow. ok is
// false once the entry was refused. No message quotes the entry or the
// value.
func (r *reader) resolveToken(el, entry string) (key, where string, ok bool) {
	name, ref := envRef(strings.TrimSpace(entry))
	switch {
	case !ref:
		return entry, el, true
	case name == "" && strings.HasPrefix(strings.TrimSpace(entry), "${secret."):
		r.fail(el, "is a Higress secret reference that reached the plugin unresolved: Higress's controller (2.1+) "+
			"replaces ${secret.<namespace>/<name>.<key>} before Envoy sees it, and passes it on as written when that Secret "+
			"or key is missing; outside Higress, write ${env:NAME} and pass NAME with vm_config.environment_variables.host_env_keys")
		return "", el, false
	case name == "":
		r.fail(el, "starts like a reference but is not ${env:NAME} (NAME: a letter or _, then letters, digits or _); "+
			"no key starts with ${")
		return "", el, false
	}
	v, set := lookupEnv(name)
	if !set || strings.TrimSpace(v) == "" {
		r.fail(el, "environment variable %s is not set or empty (pass it with vm_config.environment_variables.host_env_keys)", name)
		return "", el, false
	}
	return v, el + " (${env:" + name + "})", true
}
