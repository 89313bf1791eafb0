package config

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/tidwall/gjson"
)

// StatusConfig is the top-level status: the plugin answers a path of the
// gateway's own listener with the health of every token (JSON, or HTML for
// a browser) and, with an admin key, takes a token out or puts it back by
// hand. Absent: no path is answered and every request goes on as before.
type StatusConfig struct {
	// Path is the exact path answered (its query ignored), and Path+"/..."
	// for the manual actions.
	Path string
	// Allow are the client addresses (Envoy's source.address) that may
	// ask; default loopback only.
	Allow []netip.Prefix
	// AdminKey enables the manual actions, for a request that carries it
	// in AdminHeader; empty: the page is read-only.
	AdminKey string
}

// AdminHeader is the request header that carries StatusConfig.AdminKey.
const AdminHeader = "x-token-failover-admin-key"

// defaultStatusAllow is loopback, IPv4 and IPv6.
var defaultStatusAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

var statusFields = []string{"path", "allow", "adminKey"}

// status reads the top-level status object (nil when absent).
func (r *reader) status(root gjson.Result) *StatusConfig {
	v, ok := r.field(root, "", "status")
	if !ok || !r.object(v, "status", statusFields...) {
		return nil
	}
	s := &StatusConfig{Path: r.str(v, "status", "path", ""), Allow: defaultStatusAllow}
	switch {
	case s.Path == "":
		r.fail("status.path", "is required: the path of this listener that answers the status (e.g. /token-failover/status)")
	case !strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, "?#\x00 ") || strings.HasSuffix(s.Path, "/"):
		r.fail("status.path", "must start with '/', not end with '/', and hold no '?', '#' or space, got %s", quote(s.Path))
	}
	if list, present := r.strings(v, "status", "allow", listOpts{}); present {
		s.Allow = nil
		for i, a := range list {
			p, err := parseAllow(a)
			if err != nil {
				r.fail(fmt.Sprintf("status.allow[%d]", i), "must be an IP address or CIDR prefix, got %s", quote(a))
				continue
			}
			s.Allow = append(s.Allow, p)
		}
		if len(list) == 0 {
			r.warn("status.allow", "is empty: no address may read the status")
		}
	}
	if k, present := r.field(v, "status", "adminKey"); present {
		if k.Type != gjson.String {
			r.fail("status.adminKey", "must be a string") // never quoted: it is a secret
			return s
		}
		resolved, _, ok := r.resolveToken("status.adminKey", k.Str)
		switch {
		case !ok:
		case len(strings.TrimSpace(resolved)) < 16:
			r.fail("status.adminKey", "must be at least 16 characters (a key a client cannot guess)")
		default:
			s.AdminKey = strings.TrimSpace(resolved)
		}
	}
	return s
}

// parseAllow reads an address ("10.0.0.7", a /32 or /128) or a prefix.
func parseAllow(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Allows tells whether Envoy's source.address ("ip:port", or a bare ip)
// may read the status. An address that does not parse is refused.
func (s *StatusConfig) Allows(source string) bool {
	a, err := netip.ParseAddrPort(source)
	addr := a.Addr()
	if err != nil {
		if addr, err = netip.ParseAddr(source); err != nil {
			return false
		}
	}
	addr = addr.Unmap()
	for _, p := range s.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
