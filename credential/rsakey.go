package credential

import (
	"crypto/rsa"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
)

// The RSA key of a service-account file is parsed here with encoding/asn1
// rather than crypto/x509: x509 would add about 1.1 MB to the .wasm for
// certificate code this package never uses (measured: 5.2 MB vs 4.1 MB for a
// minimal wasip1 program using rsa+asn1). Errors are fixed strings: asn1 and
// pem errors can carry fragments of the input, which here is the secret.

// errPrivateKey is the only error a bad private_key gives.
var errPrivateKey = errors.New("private_key is not a PEM \"PRIVATE KEY\" (PKCS #8) or \"RSA PRIVATE KEY\" (PKCS #1) holding a 2-prime RSA key of at least 2048 bits")

// oidRSAEncryption is rsaEncryption, RFC 8017 appendix C.
var oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}

// pkcs8 is PrivateKeyInfo, RFC 5208 section 5.
type pkcs8 struct {
	Version    int
	Algorithm  algorithmIdentifier
	PrivateKey []byte
	// Attributes [0] IMPLICIT are optional and ignored.
}

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

// pkcs1 is RSAPrivateKey, RFC 8017 appendix A.1.2 (two primes only).
type pkcs1 struct {
	Version int
	N       *big.Int
	E       int
	D       *big.Int
	P       *big.Int
	Q       *big.Int
	Dp      *big.Int `asn1:"optional"`
	Dq      *big.Int `asn1:"optional"`
	Qinv    *big.Int `asn1:"optional"`
}

// minRSABits is Google's key size and the floor for RS256 (RFC 7518 3.3).
const minRSABits = 2048

// parseRSAPrivateKey reads one PEM block of type "PRIVATE KEY" or "RSA
// PRIVATE KEY" and returns a validated, precomputed key.
func parseRSAPrivateKey(pemText string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errPrivateKey
	}
	der := block.Bytes
	switch block.Type {
	case "PRIVATE KEY":
		var info pkcs8
		if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 ||
			!info.Algorithm.Algorithm.Equal(oidRSAEncryption) {
			return nil, errPrivateKey
		}
		der = info.PrivateKey
	case "RSA PRIVATE KEY":
	default:
		return nil, errPrivateKey
	}
	var k pkcs1
	if rest, err := asn1.Unmarshal(der, &k); err != nil || len(rest) > 0 || k.Version != 0 {
		return nil, errPrivateKey
	}
	if k.N == nil || k.D == nil || k.P == nil || k.Q == nil || k.E < 3 || k.N.BitLen() < minRSABits {
		return nil, errPrivateKey
	}
	key := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: k.N, E: k.E},
		D:         k.D,
		Primes:    []*big.Int{k.P, k.Q},
	}
	if key.Validate() != nil {
		return nil, errPrivateKey
	}
	key.Precompute()
	return key, nil
}
