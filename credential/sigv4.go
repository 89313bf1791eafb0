package credential

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// AWS Signature Version 4 for Amazon Bedrock (service "bedrock", host
// bedrock-runtime.<region>.amazonaws.com), following the IAM user guide
// "Create a signed AWS API request" and checked against AWS's SigV4 test
// suite and botocore (see sigv4_vectors_test.go).
//
// Bedrock and UNSIGNED-PAYLOAD: no AWS document says Bedrock Runtime accepts
// UNSIGNED-PAYLOAD. AWS documents that literal for Amazon S3 (and operations
// whose model carries the aws.auth#unsignedPayload trait); Bedrock Runtime's
// model has no such trait on InvokeModel, InvokeModelWithResponseStream,
// Converse or ConverseStream, and the AWS SDKs hash the body for them
// (aws-sdk-go-v2 adds ComputePayloadSHA256). So treat the body hash as
// required: the whole request body must be hashed before the headers leave,
// which means buffering it. LLM request bodies are small JSON, and streaming
// concerns the response, which SigV4 does not touch.
// InvokeModelWithBidirectionalStream (HTTP/2 event stream, each frame signed)
// cannot be signed by this function.

// Payload hash values for SigV4Request.PayloadHash.
const (
	// UnsignedPayload skips the body hash: S3 accepts it; Bedrock is not
	// documented to (see above).
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// EmptyPayloadHash is the hex SHA-256 of an empty body.
	EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// PayloadHash is the hex SHA-256 of body, for SigV4Request.PayloadHash.
func PayloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

const (
	sigV4Algorithm  = "AWS4-HMAC-SHA256"
	sigV4Terminator = "aws4_request"
	amzDateFormat   = "20060102T150405Z"
)

// AWSKey is an AWS access key pair, with the session token of temporary
// (STS) credentials when there is one. It prints as "aws(<fingerprint>)",
// the fingerprint being of the access key id and secret together.
type AWSKey struct {
	redacted
	accessKeyID  string
	secret       string
	sessionToken string
	derived      *atomic.Pointer[derivedKey] // shared by copies of this key
}

// derivedKey is the signing key of one credential scope. It changes once a
// day (the scope starts with the date), so caching it saves the four HMACs
// that derive it, about half of SignV4's hashing.
type derivedKey struct {
	scope string // "20150830/us-east-1/service/aws4_request"
	key   []byte
}

// NewAWSKey checks the pair; sessionToken may be empty. Example:
// NewAWSKey("AKIDEXAMPLE", "wJalr...", "").
func NewAWSKey(accessKeyID, secretAccessKey, sessionToken string) (AWSKey, error) {
	var errs []error
	if strings.TrimSpace(accessKeyID) == "" {
		errs = append(errs, errors.New("aws: access key id is empty"))
	} else if strings.ContainsAny(accessKeyID, "/, \t\r\n") {
		errs = append(errs, errors.New("aws: access key id contains '/', ',' or white space"))
	}
	if secretAccessKey == "" {
		errs = append(errs, errors.New("aws: secret access key is empty"))
	}
	if strings.ContainsAny(sessionToken, "\r\n") {
		errs = append(errs, errors.New("aws: session token contains a line break"))
	}
	if len(errs) > 0 {
		return AWSKey{}, errors.Join(errs...)
	}
	fp := Fingerprint(accessKeyID + "\x00" + secretAccessKey)
	return AWSKey{redacted{"aws(" + fp + ")"}, accessKeyID, secretAccessKey, sessionToken, new(atomic.Pointer[derivedKey])}, nil
}

// SigV4Request is the part of a request a SigV4 signature covers.
type SigV4Request struct {
	// Region and Service form the credential scope, e.g. "us-east-1" and
	// "bedrock" (Bedrock Runtime signs as "bedrock", not "bedrock-runtime").
	Region, Service string
	// Method is the HTTP method, e.g. "POST".
	Method string
	// Path is the path exactly as it goes on the wire, already
	// percent-encoded and without the query, e.g.
	// "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke". It is
	// normalised and encoded once more, as AWS does for every service but S3.
	Path string
	// Query is the raw query as it goes on the wire, without '?'.
	Query string
	// Headers are the headers to sign. They must include host (":authority"
	// counts as host). Sign only headers nothing after this filter changes:
	// host and content-type are enough. Authorization and the x-amz-* headers
	// the signer sets are refused here.
	Headers []HeaderPair
	// PayloadHash is PayloadHash(body), EmptyPayloadHash or UnsignedPayload.
	PayloadHash string
	// ContentSHA256Header also sends and signs x-amz-content-sha256 (S3
	// requires it; the AWS SDKs do not send it to Bedrock). Default false.
	ContentSHA256Header bool
}

// SigV4Headers are the headers a signature adds. Pairs is for the request
// only; it prints as "sigv4[<header names>]", never the values.
type SigV4Headers struct {
	redacted
	pairs []HeaderPair
}

// Pairs are the headers to set, names in lower case: authorization,
// x-amz-date, then x-amz-content-sha256 and x-amz-security-token when used.
func (h SigV4Headers) Pairs() []HeaderPair { return h.pairs }

// SignV4 signs r at now and returns the headers to set. Errors name the
// faulty field, never a secret.
func (k AWSKey) SignV4(r SigV4Request, now time.Time) (SigV4Headers, error) {
	if k.secret == "" {
		return SigV4Headers{}, errors.New("sigv4: zero AWSKey")
	}
	if err := r.check(); err != nil {
		return SigV4Headers{}, err
	}
	amzDate := now.UTC().Format(amzDateFormat)
	extra := []HeaderPair{{"x-amz-date", amzDate}}
	if r.ContentSHA256Header {
		extra = append(extra, HeaderPair{"x-amz-content-sha256", r.PayloadHash})
	}
	if k.sessionToken != "" {
		extra = append(extra, HeaderPair{"x-amz-security-token", k.sessionToken})
	}
	creq, signed, err := canonicalRequest(r, extra)
	if err != nil {
		return SigV4Headers{}, err
	}
	scope := amzDate[:8] + "/" + r.Region + "/" + r.Service + "/" + sigV4Terminator
	sts := stringToSign(amzDate, scope, creq)
	sig := hex.EncodeToString(hmacSHA256(k.cachedSigningKey(scope, amzDate[:8], r.Region, r.Service), sts))

	auth := sigV4Algorithm + " Credential=" + k.accessKeyID + "/" + scope +
		", SignedHeaders=" + signed + ", Signature=" + sig
	pairs := append([]HeaderPair{{"authorization", auth}}, extra...)
	names := make([]string, len(pairs))
	for i, p := range pairs {
		names[i] = p[0]
	}
	return SigV4Headers{redacted{"sigv4[" + strings.Join(names, ",") + "]"}, pairs}, nil
}

func (r SigV4Request) check() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"region", r.Region}, {"service", r.Service}} {
		if f.v == "" || strings.ContainsAny(f.v, "/ \t\r\n") {
			errs = append(errs, fmt.Errorf("sigv4: %s %q is empty or has '/' or white space", f.name, f.v))
		}
	}
	if r.Method == "" || strings.ContainsAny(r.Method, " \t\r\n") {
		errs = append(errs, fmt.Errorf("sigv4: method %q is not a token", r.Method))
	}
	if r.Path != "" && r.Path[0] != '/' {
		errs = append(errs, errors.New("sigv4: path does not start with '/'"))
	}
	if r.PayloadHash != UnsignedPayload && !isLowerHex64(r.PayloadHash) {
		errs = append(errs, errors.New("sigv4: payload hash is neither 64 lower-case hex digits nor UNSIGNED-PAYLOAD"))
	}
	return errors.Join(errs...)
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// stringToSign is the second step of SigV4.
func stringToSign(amzDate, scope, canonicalRequest string) []byte {
	sum := sha256.Sum256([]byte(canonicalRequest))
	var b strings.Builder
	b.Grow(len(sigV4Algorithm) + len(amzDate) + len(scope) + 3 + 64)
	b.WriteString(sigV4Algorithm + "\n")
	b.WriteString(amzDate + "\n")
	b.WriteString(scope + "\n")
	b.WriteString(hex.EncodeToString(sum[:]))
	return []byte(b.String())
}

// cachedSigningKey is the derived key of scope, from the cache when it holds that
// scope.
func (k AWSKey) cachedSigningKey(scope, date, region, service string) []byte {
	if d := k.derived.Load(); d != nil && d.scope == scope {
		return d.key
	}
	key := signingKey(k.secret, date, region, service)
	k.derived.Store(&derivedKey{scope, key})
	return key
}

// signingKey is HMAC chain "AWS4"+secret → date → region → service →
// "aws4_request".
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	return hmacSHA256(k, []byte(sigV4Terminator))
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
