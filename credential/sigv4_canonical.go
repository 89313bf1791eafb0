package credential

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// The canonical request, step 1 of SigV4:
//
//	Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
//
// where CanonicalHeaders ends with its own newline.

// canonicalRequest builds the canonical request of r plus the signer's own
// headers, and the SignedHeaders list.
func canonicalRequest(r SigV4Request, extra []HeaderPair) (creq, signed string, err error) {
	query, err := canonicalQuery(r.Query)
	if err != nil {
		return "", "", err
	}
	headers, signed, err := canonicalHeaders(r.Headers, extra)
	if err != nil {
		return "", "", err
	}
	var b strings.Builder
	b.Grow(len(r.Method) + len(r.Path)*2 + len(query) + len(headers) + len(signed) + 70)
	b.WriteString(r.Method + "\n")
	b.WriteString(canonicalURI(r.Path) + "\n")
	b.WriteString(query + "\n")
	b.WriteString(headers + "\n")
	b.WriteString(signed + "\n")
	b.WriteString(r.PayloadHash)
	return b.String(), signed, nil
}

// canonicalURI normalises the wire path as AWS does for every service but S3
// (RFC 3986 dot-segment removal, empty segments dropped, a trailing slash
// kept) and URI-encodes each segment. The wire path is already encoded once,
// so its escapes are encoded again ("%3A" becomes "%253A"): this is the
// "encode each path segment twice" of AWS's documentation, counted from the
// raw segment. Signers that skip it fail on Bedrock model ids, which carry a
// ':' ("...-v1:0") sent as "%3A".
func canonicalURI(path string) string {
	var segs []string
	for _, s := range strings.Split(path, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	var b strings.Builder
	b.Grow(len(path) * 2)
	b.WriteByte('/')
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('/')
		}
		uriEncode(&b, s)
	}
	if len(segs) > 0 && strings.HasSuffix(path, "/") {
		b.WriteByte('/')
	}
	return b.String()
}

// canonicalQuery decodes each name and value of the wire query, encodes them
// strictly and sorts by name, then value. "a" without '=' is "a=".
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	var pairs [][2]string
	for _, p := range strings.Split(raw, "&") {
		if p == "" {
			continue
		}
		name, value, _ := strings.Cut(p, "=")
		n, err1 := url.QueryUnescape(name)
		v, err2 := url.QueryUnescape(value)
		if err1 != nil || err2 != nil {
			return "", errors.New("sigv4: query is not validly percent-encoded")
		}
		pairs = append(pairs, [2]string{encodeString(n), encodeString(v)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p[0] + "=" + p[1])
	}
	return b.String(), nil
}

// signerHeaders are set by SignV4 and may not be passed in.
var signerHeaders = map[string]bool{
	"authorization": true, "x-amz-date": true, "x-amz-security-token": true, "x-amz-content-sha256": true,
}

// canonicalHeaders lower-cases names, trims values and collapses inner runs
// of white space to one space, joins repeated names with ',' in their order,
// and sorts by name. ":authority" is host.
func canonicalHeaders(in, extra []HeaderPair) (block, signed string, err error) {
	values := make(map[string][]string, len(in)+len(extra))
	var names []string
	add := func(name, value string) {
		if _, seen := values[name]; !seen {
			names = append(names, name)
		}
		values[name] = append(values[name], collapseSpace(value))
	}
	var errs []error
	for _, h := range in {
		name := strings.ToLower(strings.TrimSpace(h[0]))
		if name == ":authority" {
			name = "host"
		}
		switch {
		case name == "" || strings.HasPrefix(name, ":") || strings.ContainsAny(name, " \t\r\n;:"):
			errs = append(errs, fmt.Errorf("sigv4: header name %q cannot be signed", h[0]))
			continue
		case signerHeaders[name]:
			errs = append(errs, fmt.Errorf("sigv4: header %q is set by the signer", name))
			continue
		case name == "host" && values["host"] != nil:
			errs = append(errs, errors.New("sigv4: host (or :authority) given twice"))
			continue
		}
		add(name, h[1])
	}
	if _, ok := values["host"]; !ok {
		errs = append(errs, errors.New("sigv4: no host (or :authority) header to sign"))
	}
	if err := errors.Join(errs...); err != nil {
		return "", "", err
	}
	for _, h := range extra {
		add(h[0], h[1])
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + ":" + strings.Join(values[n], ",") + "\n")
	}
	return b.String(), strings.Join(names, ";"), nil
}

// collapseSpace trims s and replaces each inner run of white space (space,
// tab, CR, LF: an obsolete folded line included) with one space.
func collapseSpace(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	var b strings.Builder
	b.Grow(len(s))
	pending := false
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			pending = b.Len() > 0
			continue
		}
		if pending {
			b.WriteByte(' ')
			pending = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// uriEncode writes s with every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper
// case hex), per AWS's UriEncode.
func uriEncode(b *strings.Builder, s string) {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexUpper[c>>4])
		b.WriteByte(hexUpper[c&15])
	}
}

func encodeString(s string) string {
	var b strings.Builder
	uriEncode(&b, s)
	return b.String()
}
