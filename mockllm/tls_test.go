package mockllm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// providerNames are the names the TLS tests serve, as a user's Envoy
// reaches two providers.
var providerNames = []string{"api.openai.com", "dashscope.aliyuncs.com"}

// tlsClient is a client that dials addr whatever the URL's host, trusts
// the mock's CA (or, insecure, any certificate), sends sni (empty: the
// URL's host, none for an IP address) and speaks only HTTP/2 (h2) or only
// HTTP/1.1.
func tlsClient(t *testing.T, s *Server, addr, sni string, h2, insecure bool) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(s.CACertPEM()))
	var protocols http.Protocols
	protocols.SetHTTP1(!h2)
	protocols.SetHTTP2(h2)
	config := &tls.Config{RootCAs: roots, ServerName: sni, InsecureSkipVerify: insecure}
	if !h2 {
		config.NextProtos = []string{"http/1.1"} // Go offers no ALPN for HTTP/1 only; ask, to see the server choose it
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig: config,
		Protocols:       &protocols,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// startTLS starts s on TLS for providerNames, strict or not.
func startTLS(t *testing.T, s *Server, strict bool) string {
	t.Helper()
	start := s.StartTLS
	if strict {
		start = s.StartStrictTLS
	}
	addr, err := start("127.0.0.1:0", providerNames...)
	require.NoError(t, err)
	return addr
}

func TestServer_TLSRecordsSNIAndHost(t *testing.T) {
	tests := []struct {
		name, host   string
		h2           bool
		method, path string
		body         string
		probe        bool
	}{
		{name: "HTTP/1.1 chat", host: "api.openai.com", method: "POST", path: "/v1/chat/completions", body: `{"model":"m1"}`},
		{name: "HTTP/2 chat", host: "api.openai.com", h2: true, method: "POST", path: "/v1/chat/completions", body: `{"model":"m1"}`},
		{name: "HTTP/2 streaming", host: "api.openai.com", h2: true, method: "POST", path: "/v1/chat/completions", body: `{"model":"m1","stream":true}`},
		{name: "HTTP/1.1 probe", host: "api.openai.com", method: "GET", path: "/v1/models", probe: true},
		{name: "HTTP/2 probe, second name", host: "dashscope.aliyuncs.com", h2: true, method: "POST",
			path: "/compatible-mode/v1/chat/completions", body: `{"model":"qwen","max_tokens":1,"messages":[{"role":"user","content":"ping"}]}`, probe: true},
	}
	for _, strict := range []bool{false, true} {
		s := New()
		defer s.Close()
		addr := startTLS(t, s, strict)
		for _, tc := range tests {
			t.Run(map[bool]string{false: "StartTLS/", true: "StartStrictTLS/"}[strict]+tc.name, func(t *testing.T) {
				token := "sk-" + strings.ReplaceAll(t.Name(), "/", "-")
				req, err := http.NewRequest(tc.method, "https://"+tc.host+tc.path, strings.NewReader(tc.body))
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := tlsClient(t, s, addr, "", tc.h2, false).Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
				wantProto, wantALPN := "HTTP/1.1", "http/1.1"
				if tc.h2 {
					wantProto, wantALPN = "HTTP/2.0", "h2"
				}
				require.Equal(t, wantProto, resp.Proto)
				require.Equal(t, wantALPN, resp.TLS.NegotiatedProtocol)

				var got []Record
				for _, r := range s.Records() {
					if r.Token == token {
						got = append(got, r)
					}
				}
				require.Len(t, got, 1)
				require.Equal(t, tc.host, got[0].SNI)
				require.Equal(t, tc.host, got[0].Host)
				require.Equal(t, tc.probe, got[0].Probe)
				require.Equal(t, http.StatusOK, got[0].Status)
			})
		}
	}
}

func TestServer_StrictTLSMisdirects(t *testing.T) {
	tests := []struct {
		name string
		// url is the request's URL host ("" = the listener's address), sni
		// the client's ServerName ("" = from the URL), host a Host override.
		url, sni, host string
		insecure       bool
		// wantErr is the client's handshake error (for both listeners);
		// else strict answers 421 naming gotSNI and gotHost, lenient 200.
		wantErr         string
		gotSNI, gotHost string
	}{
		{name: "no SNI: an IP address, as an Envoy cluster without sni sends",
			gotSNI: "", gotHost: "<addr>"},
		{name: "Host differs from SNI: no host rewrite", url: "api.openai.com", host: "127.0.0.1",
			gotSNI: "api.openai.com", gotHost: "127.0.0.1"},
		{name: "Host is the other name", url: "api.openai.com", host: "dashscope.aliyuncs.com",
			gotSNI: "api.openai.com", gotHost: "dashscope.aliyuncs.com"},
		{name: "SNI not a name, verified: the certificate does not match", url: "api.openai.com", sni: "api.example.com",
			wantErr: "certificate is valid for api.openai.com, dashscope.aliyuncs.com, not api.example.com"},
		{name: "SNI not a name, unverified", url: "api.openai.com", sni: "api.example.com", insecure: true,
			gotSNI: "api.example.com", gotHost: "api.openai.com"},
	}
	for _, strict := range []bool{false, true} {
		s := New()
		defer s.Close()
		addr := startTLS(t, s, strict)
		for _, tc := range tests {
			t.Run(map[bool]string{false: "StartTLS/", true: "StartStrictTLS/"}[strict]+tc.name, func(t *testing.T) {
				url := tc.url
				if url == "" {
					url = addr
				}
				token := "sk-" + strings.ReplaceAll(t.Name(), "/", "-")
				for _, h2 := range []bool{false, true} {
					req, err := http.NewRequest("POST", "https://"+url+"/v1/chat/completions", strings.NewReader(`{"model":"m1"}`))
					require.NoError(t, err)
					req.Header.Set("Authorization", "Bearer "+token)
					if tc.host != "" {
						req.Host = tc.host
					}
					resp, err := tlsClient(t, s, addr, tc.sni, h2, tc.insecure).Do(req)
					if tc.wantErr != "" {
						require.ErrorContains(t, err, tc.wantErr)
						continue
					}
					require.NoError(t, err)
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					require.NoError(t, err)
					wantHost := strings.ReplaceAll(tc.gotHost, "<addr>", addr)
					if strict {
						require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
						require.Contains(t, string(b), `"type":"mock_misdirected"`)
						require.Contains(t, string(b), `SNI \"`+tc.gotSNI+`\", Host \"`+wantHost+`\"`)
					} else {
						require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
					}
				}
				var got []Record
				for _, r := range s.Records() {
					if r.Token == token {
						got = append(got, r)
					}
				}
				if tc.wantErr != "" {
					require.Empty(t, got, "a failed handshake carries no request")
					return
				}
				require.Len(t, got, 2)
				for _, r := range got {
					require.Equal(t, tc.gotSNI, r.SNI)
					require.Equal(t, strings.ReplaceAll(tc.gotHost, "<addr>", addr), r.Host)
					require.Equal(t, map[bool]int{false: http.StatusOK, true: http.StatusMisdirectedRequest}[strict], r.Status)
				}
			})
		}
	}
}

func TestServer_CACert(t *testing.T) {
	s := New()
	defer s.Close()
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.Nil(t, s.CACertPEM(), "no CA before StartTLS")
	require.EqualError(t, s.WriteCACert(path), "mockllm: no CA yet: call StartTLS first")

	first := startTLS(t, s, false)
	pemBytes := s.CACertPEM()
	second, err := s.StartStrictTLS("127.0.0.1:0") // default name
	require.NoError(t, err)
	require.Equal(t, pemBytes, s.CACertPEM(), "one CA signs every listener")
	require.NoError(t, s.WriteCACert(path))
	written, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, pemBytes, written)

	block, rest := pem.Decode(pemBytes)
	require.NotNil(t, block)
	require.Empty(t, rest)
	ca, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	require.True(t, ca.IsCA)
	require.Equal(t, elliptic.P256(), ca.PublicKey.(*ecdsa.PublicKey).Curve)
	require.NoError(t, ca.CheckSignatureFrom(ca), "self-signed")

	tests := []struct {
		name, addr string
		dns        []string
	}{
		{"StartTLS names", first, providerNames},
		{"default name", second, []string{DefaultTLSName}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", tc.addr, &tls.Config{InsecureSkipVerify: true})
			require.NoError(t, err)
			defer conn.Close()
			leaf := conn.ConnectionState().PeerCertificates[0]
			require.Equal(t, tc.dns, leaf.DNSNames)
			require.Len(t, leaf.IPAddresses, 2)
			require.True(t, leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)))
			require.Equal(t, elliptic.P256(), leaf.PublicKey.(*ecdsa.PublicKey).Curve)
			roots := x509.NewCertPool()
			roots.AddCert(ca)
			for _, name := range append(tc.dns, "127.0.0.1") {
				_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name})
				require.NoError(t, err, name)
			}
		})
	}
}
