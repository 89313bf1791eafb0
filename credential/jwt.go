package credential

import (
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
)

// b64 is the unpadded base64url of RFC 7515 section 2.
var b64 = base64.RawURLEncoding

// signingInput is BASE64URL(header) "." BASE64URL(claims), RFC 7515 5.1.
func signingInput(header, claims []byte) []byte {
	out := make([]byte, 0, b64.EncodedLen(len(header))+1+b64.EncodedLen(len(claims))+1+b64.EncodedLen(sha256.Size))
	out = b64.AppendEncode(out, header)
	out = append(out, '.')
	return b64.AppendEncode(out, claims)
}

// signHS256 completes a compact JWS with HMAC-SHA256 under key (RFC 7518 3.2).
func signHS256(key, input []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(input)
	out := append(input, '.')
	return string(b64.AppendEncode(out, mac.Sum(nil)))
}

// errRSASign hides crypto/rsa's error text, which is about the key.
var errRSASign = errors.New("RS256: the RSA key cannot sign")

// signRS256 completes a compact JWS with RSASSA-PKCS1-v1_5 SHA-256 (RFC 7518
// 3.3). PKCS #1 v1.5 is deterministic, so no randomness is needed.
func signRS256(key *rsa.PrivateKey, input []byte) (string, error) {
	digest := sha256.Sum256(input)
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", errRSASign
	}
	out := append(input, '.')
	return string(b64.AppendEncode(out, sig)), nil
}
