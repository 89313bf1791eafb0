package credential

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Google service-account keys for Vertex AI, per Google's "Using OAuth 2.0
// for Server to Server Applications" (developers.google.com/identity/
// protocols/oauth2/service-account): an RS256 JWT whose header names the key
// (kid) and whose claims are iss = client_email, scope, aud = token_uri,
// iat and exp (at most one hour after iat) is POSTed form-encoded as
// grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>;
// the answer is {"access_token","expires_in","token_type":"Bearer"}.

const (
	// CloudPlatformScope is the OAuth scope Vertex AI needs.
	CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"
	// DefaultTokenURI is used when a key file has no token_uri.
	DefaultTokenURI = "https://oauth2.googleapis.com/token"
	// AssertionLifetime is exp-iat of the assertion: Google's maximum, 1 h.
	AssertionLifetime = time.Hour
	// AssertionBackdate moves iat 10 s into the past, as golang.org/x/oauth2
	// does, so a host clock slightly ahead of Google's is not "in the future".
	AssertionBackdate = 10 * time.Second
	// jwtBearerGrant is the grant type of RFC 7523.
	jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// ServiceAccountKey is a parsed service-account JSON key file. It prints as
// "gcp-sa(<fingerprint of the private key>)".
type ServiceAccountKey struct {
	redacted
	clientEmail  string
	privateKeyID string
	projectID    string
	tokenURI     *url.URL // parsed, for the request line
	audience     string   // token_uri exactly as the file spells it
	key          *rsa.PrivateKey
}

// serviceAccountFile holds the fields of the JSON key file this package reads.
type serviceAccountFile struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// ParseServiceAccountKey reads a service-account JSON key file (the file
// Google's console downloads). Every problem is reported at once, and no
// message quotes the file: only field names and byte offsets.
func ParseServiceAccountKey(data []byte) (ServiceAccountKey, error) {
	var f serviceAccountFile
	if err := json.Unmarshal(data, &f); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return ServiceAccountKey{}, errors.New("service account key: not valid JSON (at byte " + strconv.FormatInt(syn.Offset, 10) + ")")
		}
		return ServiceAccountKey{}, errors.New("service account key: not a JSON object of strings")
	}
	var errs []error
	if f.Type != "service_account" {
		errs = append(errs, errors.New(`service account key: "type" is not "service_account"`))
	}
	if !strings.Contains(f.ClientEmail, "@") {
		errs = append(errs, errors.New(`service account key: "client_email" is missing or not an email address`))
	}
	if f.PrivateKeyID == "" {
		errs = append(errs, errors.New(`service account key: "private_key_id" is missing`))
	}
	if f.TokenURI == "" {
		f.TokenURI = DefaultTokenURI
	}
	u, err := url.Parse(f.TokenURI)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		errs = append(errs, errors.New(`service account key: "token_uri" is not an http(s) URL with a host`))
	}
	var key *rsa.PrivateKey
	if f.PrivateKey == "" {
		errs = append(errs, errors.New(`service account key: "private_key" is missing`))
	} else if key, err = parseRSAPrivateKey(f.PrivateKey); err != nil {
		errs = append(errs, errors.New("service account key: "+err.Error()))
	}
	if len(errs) > 0 {
		return ServiceAccountKey{}, errors.Join(errs...)
	}
	label := "gcp-sa(" + Fingerprint(f.PrivateKey) + ")"
	return ServiceAccountKey{redacted{label}, f.ClientEmail, f.PrivateKeyID, f.ProjectID, u, f.TokenURI, key}, nil
}

// ClientEmail is the service account's address (not a secret).
func (k ServiceAccountKey) ClientEmail() string { return k.clientEmail }

// ProjectID is the key file's project_id, which Vertex paths may need.
func (k ServiceAccountKey) ProjectID() string { return k.projectID }

// assertionClaims are the JWT claims Google's token endpoint expects.
type assertionClaims struct {
	Iss   string `json:"iss"`
	Scope string `json:"scope"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// assertion is the signed RS256 JWT for a token request made at now:
// iat = now-AssertionBackdate, exp = iat+AssertionLifetime, header kid =
// private_key_id. It is a derived secret: it buys an access token.
func (k ServiceAccountKey) assertion(now time.Time) (string, error) {
	if k.key == nil {
		return "", errors.New("service account key: zero ServiceAccountKey")
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}{"RS256", "JWT", k.privateKeyID})
	if err != nil {
		return "", errors.New("service account key: cannot encode the JWT header")
	}
	iat := now.Add(-AssertionBackdate).Unix()
	claims, err := json.Marshal(assertionClaims{
		Iss: k.clientEmail, Scope: CloudPlatformScope, Aud: k.audience,
		Iat: iat, Exp: iat + int64(AssertionLifetime/time.Second),
	})
	if err != nil {
		return "", errors.New("service account key: cannot encode the JWT claims")
	}
	jwt, err := signRS256(k.key, signingInput(header, claims))
	if err != nil {
		return "", errors.New("service account key: " + err.Error())
	}
	return jwt, nil
}

// TokenRequest is the HTTP request that exchanges an assertion for an access
// token, ready for proxy_http_call. It prints as "POST <token_uri>
// (assertion redacted)".
type TokenRequest struct {
	redacted
	// Authority, Path are ":authority" and ":path" of token_uri.
	Authority, Path string
	body            []byte
}

// Method is always POST.
func (TokenRequest) Method() string { return "POST" }

// ContentType is the form encoding the token endpoint expects.
func (TokenRequest) ContentType() string { return "application/x-www-form-urlencoded" }

// Body is grant_type=...&assertion=<JWT>: send it, never log it.
func (r TokenRequest) Body() []byte { return r.body }

// TokenRequest builds the token exchange for a request made at now.
func (k ServiceAccountKey) TokenRequest(now time.Time) (TokenRequest, error) {
	jwt, err := k.assertion(now)
	if err != nil {
		return TokenRequest{}, err
	}
	form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {jwt}}
	path := k.tokenURI.EscapedPath()
	if path == "" {
		path = "/"
	}
	if k.tokenURI.RawQuery != "" {
		path += "?" + k.tokenURI.RawQuery
	}
	label := "POST " + k.tokenURI.Scheme + "://" + k.tokenURI.Host + path + " (assertion redacted)"
	return TokenRequest{redacted{label}, k.tokenURI.Host, path, []byte(form.Encode())}, nil
}
