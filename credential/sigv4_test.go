package credential

import (
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	require.NoError(t, err)
	return at
}

func TestAWSKey_SignV4MatchesPublishedVectors(t *testing.T) {
	for _, v := range sigV4Vectors() {
		t.Run(v.source+"/"+v.name, func(t *testing.T) {
			key, err := NewAWSKey("AKIDEXAMPLE", suiteSecret, v.token)
			require.NoError(t, err)
			at := mustTime(t, v.at)
			got, err := key.SignV4(v.req, at)
			require.NoError(t, err)

			date := at.UTC().Format(amzDateFormat)
			want := []HeaderPair{{"authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" + date[:8] + "/" +
				v.req.Region + "/" + v.req.Service + "/aws4_request, " + v.wantAuthSuffix}, {"x-amz-date", date}}
			if v.req.ContentSHA256Header {
				want = append(want, HeaderPair{"x-amz-content-sha256", v.req.PayloadHash})
			}
			if v.token != "" {
				want = append(want, HeaderPair{"x-amz-security-token", v.token})
			}
			require.Equal(t, want, got.Pairs())

			if v.wantCanonical != "" {
				creq, _, err := canonicalRequest(v.req, want[1:])
				require.NoError(t, err)
				require.Equal(t, v.wantCanonical, creq)
			}
		})
	}
}

// The IAM guide's "derive a signing key" example and its canonical request hash.
func TestSigningKey_MatchesIAMGuideExample(t *testing.T) {
	k := signingKey(suiteSecret, "20150830", "us-east-1", "iam")
	require.Equal(t, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9", hex.EncodeToString(k))

	iam := vectorNamed(t, "iam-list-users")
	creq, _, err := canonicalRequest(iam.req, []HeaderPair{{"x-amz-date", "20150830T123600Z"}})
	require.NoError(t, err)
	require.Equal(t, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59", PayloadHash([]byte(creq)))
}

func TestCanonicalURI_EncodesTheWirePathAgain(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{name: "empty", in: "", want: "/"},
		{name: "root", in: "/", want: "/"},
		{name: "colon sent raw is encoded once", in: "/model/a.b-v1:0/invoke", want: "/model/a.b-v1%3A0/invoke"},
		{name: "colon sent escaped is encoded twice", in: "/model/a.b-v1%3A0/invoke", want: "/model/a.b-v1%253A0/invoke"},
		{name: "escaped slash stays in its segment", in: "/model/arn%2Fx/converse", want: "/model/arn%252Fx/converse"},
		{name: "documented example", in: "/documents%20and%20settings/", want: "/documents%2520and%2520settings/"},
		{name: "dot segments", in: "/a/./b/../c", want: "/a/c"},
		{name: "dot-dot above root", in: "/../a", want: "/a"},
		{name: "plus and space", in: "/a+b c", want: "/a%2Bb%20c"},
	} {
		t.Run(c.name, func(t *testing.T) { require.Equal(t, c.want, canonicalURI(c.in)) })
	}
}

func TestCanonicalQuery_SortsAndEncodesStrictly(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{name: "empty", in: "", want: ""},
		{name: "key without value", in: "b&a=1", want: "a=1&b="},
		{name: "same key sorted by value", in: "k=z&k=a", want: "k=a&k=z"},
		{name: "reserved characters", in: "p=a%2Fb%3Ac", want: "p=a%2Fb%3Ac"},
		{name: "plus is a space", in: "q=a+b", want: "q=a%20b"},
		{name: "lower-case escapes become upper", in: "q=%7e%2f", want: "q=~%2F"},
		{name: "empty pieces skipped", in: "&a=1&&", want: "a=1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := canonicalQuery(c.in)
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
	_, err := canonicalQuery("a=%zz")
	require.EqualError(t, err, "sigv4: query is not validly percent-encoded")
}

func TestAWSKey_SignV4RefusesBadRequests(t *testing.T) {
	key, err := NewAWSKey("AKIDEXAMPLE", suiteSecret, "")
	require.NoError(t, err)
	ok := suiteReq("GET", "/", "")
	for _, c := range []struct {
		name   string
		change func(*SigV4Request)
		want   string
	}{
		{name: "no host", change: func(r *SigV4Request) { r.Headers = nil }, want: "sigv4: no host (or :authority) header to sign"},
		{name: "signer header", change: func(r *SigV4Request) { r.Headers = append(r.Headers, HeaderPair{"X-Amz-Date", "x"}) },
			want: `sigv4: header "x-amz-date" is set by the signer`},
		{name: "authorization", change: func(r *SigV4Request) { r.Headers = append(r.Headers, HeaderPair{"Authorization", "x"}) },
			want: `sigv4: header "authorization" is set by the signer`},
		{name: "host twice", change: func(r *SigV4Request) { r.Headers = append(r.Headers, HeaderPair{":authority", "x"}) },
			want: "sigv4: host (or :authority) given twice"},
		{name: "pseudo header", change: func(r *SigV4Request) { r.Headers = append(r.Headers, HeaderPair{":path", "/"}) },
			want: `sigv4: header name ":path" cannot be signed`},
		{name: "payload hash", change: func(r *SigV4Request) { r.PayloadHash = "ABC" },
			want: "sigv4: payload hash is neither 64 lower-case hex digits nor UNSIGNED-PAYLOAD"},
		{name: "region and service", change: func(r *SigV4Request) { r.Region, r.Service = "", "a/b" },
			want: "sigv4: region \"\" is empty or has '/' or white space\nsigv4: service \"a/b\" is empty or has '/' or white space"},
		{name: "relative path", change: func(r *SigV4Request) { r.Path = "model" }, want: "sigv4: path does not start with '/'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := ok
			r.Headers = append([]HeaderPair(nil), ok.Headers...)
			c.change(&r)
			_, err := key.SignV4(r, time.Unix(0, 0))
			require.EqualError(t, err, c.want)
			require.NotContains(t, err.Error(), suiteSecret)
		})
	}
	_, err = AWSKey{}.SignV4(ok, time.Unix(0, 0))
	require.EqualError(t, err, "sigv4: zero AWSKey")
}

func TestNewAWSKey_ReportsEveryProblem(t *testing.T) {
	_, err := NewAWSKey(" ", "", "tok\nen")
	require.EqualError(t, err, "aws: access key id is empty\naws: secret access key is empty\naws: session token contains a line break")
	_, err = NewAWSKey("AKID/X", "s", "")
	require.EqualError(t, err, "aws: access key id contains '/', ',' or white space")
}

func TestAWSKey_UnsignedPayloadIsSignedLiterally(t *testing.T) {
	key, err := NewAWSKey("AKIDEXAMPLE", suiteSecret, "")
	require.NoError(t, err)
	r := suiteReq("PUT", "/bucket/key", "")
	r.PayloadHash, r.ContentSHA256Header = UnsignedPayload, true
	h, err := key.SignV4(r, time.Unix(0, 0))
	require.NoError(t, err)
	require.Equal(t, HeaderPair{"x-amz-content-sha256", UnsignedPayload}, h.Pairs()[2])
	creq, _, err := canonicalRequest(r, h.Pairs()[1:])
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(creq, "\n"+UnsignedPayload))
}

func vectorNamed(t testing.TB, name string) sigV4Vector {
	t.Helper()
	for _, v := range sigV4Vectors() {
		if v.name == name {
			return v
		}
	}
	t.Fatalf("no vector %q", name)
	return sigV4Vector{}
}

// One key shared by goroutines that alternate between scopes (dates,
// regions, services): the cached signing key must always be the right one.
func TestAWSKey_SigningKeyCacheFollowsTheScopeUnderConcurrency(t *testing.T) {
	key, err := NewAWSKey("AKIDEXAMPLE", suiteSecret, "")
	require.NoError(t, err)
	vectors := []sigV4Vector{vectorNamed(t, "get-vanilla"), vectorNamed(t, "iam-list-users"),
		vectorNamed(t, "bedrock-invoke-model-id-with-colon"), vectorNamed(t, "post-vanilla")}
	ats := make([]time.Time, len(vectors))
	for i, v := range vectors {
		ats[i] = mustTime(t, v.at)
	}
	const goroutines, rounds = 8, 50 // enough interleavings to hit stale-cache bugs
	var wg sync.WaitGroup
	errs := make(chan string, goroutines*rounds)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				j := (g + i) % len(vectors)
				v := vectors[j]
				h, err := key.SignV4(v.req, ats[j])
				if err != nil || !strings.HasSuffix(h.Pairs()[0][1], v.wantAuthSuffix) {
					errs <- v.name
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for name := range errs {
		t.Errorf("wrong signature for %s", name)
	}
}
