package mockllm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// certLifetime is how long the generated certificates are valid: longer
// than any test or demo run (each Server makes a fresh CA anyway).
const certLifetime = 30 * 24 * time.Hour

// clockSkew backdates NotBefore so a peer whose clock is slightly behind
// still accepts a certificate made a moment ago.
const clockSkew = time.Hour

// DefaultTLSName is the certificate's DNS name when StartTLS is given none.
const DefaultTLSName = "localhost"

// authority is the Server's self-signed CA: made at the first StartTLS, it
// signs every TLS listener's certificate, so one PEM verifies them all.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// StartTLS listens on addr ("127.0.0.1:0" for a free port) and serves TLS
// in the background, HTTP/1.1 and HTTP/2 by ALPN ("h2", "http/1.1"); it
// returns the address. The certificate is valid for names (default
// DefaultTLSName) and for 127.0.0.1 and ::1, and is signed by the Server's
// CA (CACertPEM). Every request is served whatever its SNI or Host; both
// are recorded (Record.SNI, Record.Host). It may be called more than once
// (one listener per provider's names, say) and beside Start.
//
//	addr, err := s.StartTLS("127.0.0.1:0", "api.openai.com")
func (s *Server) StartTLS(addr string, names ...string) (string, error) {
	return s.startTLS(addr, false, names)
}

// StartStrictTLS is StartTLS, except that a request whose SNI is not one of
// names, or whose Host (:authority, port ignored) is not the same name, is
// answered 421 Misdirected Request with the SNI and Host in the error
// message, and recorded with Status 421: an Envoy cluster that lacks sni or
// a host rewrite fails visibly instead of passing by accident.
//
//	addr, err := s.StartStrictTLS("127.0.0.1:0", "api.openai.com")
func (s *Server) StartStrictTLS(addr string, names ...string) (string, error) {
	return s.startTLS(addr, true, names)
}

// startTLS starts a TLS listener; strict makes it answer 421 to a request
// for another name.
func (s *Server) startTLS(addr string, strict bool, names []string) (string, error) {
	if len(names) == 0 {
		names = []string{DefaultTLSName}
	}
	ca, err := s.authority()
	if err != nil {
		return "", err
	}
	leaf, err := ca.issue(names)
	if err != nil {
		return "", err
	}
	var only []string
	if strict {
		only = names
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, only) }),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{leaf},
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS12,
		},
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	srv.Protocols = &protocols
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.tlsServers = append(s.tlsServers, srv)
	s.mu.Unlock()
	go func() { _ = srv.ServeTLS(l, "", "") }()
	return l.Addr().String(), nil
}

// CACertPEM returns the PEM of the CA that signs the TLS listeners'
// certificates (nil before the first StartTLS or StartStrictTLS), for a
// client's trust store: Envoy's
// UpstreamTlsContext.common_tls_context.validation_context.trusted_ca
// (inline_string or, through WriteCACert, filename).
func (s *Server) CACertPEM() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ca == nil {
		return nil
	}
	return append([]byte(nil), s.ca.pem...)
}

// WriteCACert writes CACertPEM to path (mode 0644); it fails before the
// first StartTLS or StartStrictTLS.
//
//	err := s.WriteCACert(filepath.Join(t.TempDir(), "mock-ca.pem"))
func (s *Server) WriteCACert(path string) error {
	b := s.CACertPEM()
	if b == nil {
		return fmt.Errorf("mockllm: no CA yet: call StartTLS first")
	}
	return os.WriteFile(path, b, 0o644)
}

// authority returns the Server's CA, making it on first use.
func (s *Server) authority() (*authority, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ca != nil {
		return s.ca, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mockllm test CA", Organization: []string{"token-failover mockllm"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(certLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	s.ca = &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	return s.ca, nil
}

// issue makes a server certificate for names (an IP address among them
// goes in the IP SANs), 127.0.0.1 and ::1, signed by the CA.
func (ca *authority) issue(names []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := serialNumber()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// serialNumber is a random 128-bit certificate serial.
func serialNumber() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// misdirected tells why a request is not for one of names ("" when it is,
// or when names is nil: a lenient listener): its SNI must be one of them
// and its Host (port ignored) the same name, as a provider behind a CDN
// demands.
func misdirected(r *http.Request, names []string) string {
	if names == nil {
		return ""
	}
	sni := ""
	if r.TLS != nil {
		sni = r.TLS.ServerName
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	for _, n := range names {
		if strings.EqualFold(sni, n) && strings.EqualFold(host, n) {
			return ""
		}
	}
	return fmt.Sprintf("misdirected request: SNI %q, Host %q; this listener serves %s with SNI and Host alike",
		sni, r.Host, strings.Join(names, ", "))
}
