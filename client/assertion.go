package client

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Client authentication with a signed JWT (RFC 7523 section 2.2, OpenID
// Connect Core section 9's private_key_jwt): the client proves itself with
// a short-lived assertion signed by its private key instead of a shared
// secret. go-jose does the signing, as Vault itself does.

// ClientAssertionType is the client_assertion_type of RFC 7523.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionLifetime is how long an assertion is good for. RFC 7523 leaves
// it to the server; servers cap it (Okta at an hour, others at minutes),
// and an assertion is made fresh for every attempt, so it needs little.
const AssertionLifetime = 5 * time.Minute

// minRSABits is the smallest RSA key taken: NIST and the servers that
// take private_key_jwt refuse shorter ones.
const minRSABits = 2048

// errKey is what a key that cannot be used is refused with. It never
// quotes the key, not even a line of it.
func errKey(why string) error { return errors.New(why) }

// parsePrivateKey reads one PEM block holding an RSA key (PKCS#1 or
// PKCS#8) of at least 2048 bits or an EC P-256 key (SEC 1 or PKCS#8), and
// returns it with the JWS algorithm it signs with. Its errors name the
// problem, never the key's content.
func parsePrivateKey(text string) (crypto.Signer, jose.SignatureAlgorithm, error) {
	// pem.Decode skips whatever precedes the block; nothing but white
	// space may come before or after it.
	trimmed := strings.TrimSpace(text)
	block, rest := pem.Decode([]byte(trimmed))
	if block == nil {
		return nil, "", errKey("is not a PEM private key (want -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, "", errKey("holds more than one PEM block; give the private key only")
	}
	if !strings.HasPrefix(trimmed, "-----BEGIN ") || len(bytes.TrimSpace(rest)) > 0 {
		return nil, "", errKey("holds text before or after the PEM block; give the private key only")
	}
	if len(block.Headers) > 0 {
		return nil, "", errKey("is an encrypted or annotated PEM block; give an unencrypted private key")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, "", errKey("is an encrypted private key; give it unencrypted (Vault's storage encrypts it)")
	default:
		return nil, "", errKey("is a PEM block of type " + clip(block.Type, 40) + ", not a private key")
	}
	if err != nil {
		// x509's reasons describe the structure, never the bytes; kept
		// out all the same.
		return nil, "", errKey("does not parse as a " + block.Type + " block")
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < minRSABits {
			return nil, "", errKey("is an RSA key shorter than 2048 bits; servers refuse it, use 2048 bits or more")
		}
		if err := k.Validate(); err != nil {
			return nil, "", errKey("is an RSA key that does not hold together")
		}
		return k, jose.RS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, "", errKey("is an EC key on a curve other than P-256; only P-256 (ES256) is taken")
		}
		return k, jose.ES256, nil
	}
	return nil, "", errKey("is a key of a type not taken here (Ed25519 or other); use RSA (RS256) or EC P-256 (ES256)")
}

// checkPrivateKey is parsePrivateKey for a Field Check.
func checkPrivateKey(v any) error {
	s, _ := v.(string)
	_, _, err := parsePrivateKey(s)
	return err
}

// assertionSigner makes client assertions for one client and audience.
type assertionSigner struct {
	signer   jose.Signer
	clientID string
	audience string
	now      func() time.Time
}

// newAssertionSigner signs with the PEM key, putting kid (when set) in
// the JWS header.
func newAssertionSigner(keyPEM, kid, clientID, audience string, now func() time.Time) (*assertionSigner, error) {
	key, alg, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	sk := jose.SigningKey{Algorithm: alg, Key: key}
	if kid != "" {
		sk.Key = jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg)}
	}
	signer, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, errKey("cannot sign with this key")
	}
	if now == nil {
		now = time.Now
	}
	return &assertionSigner{signer: signer, clientID: clientID, audience: audience, now: now}, nil
}

// assertion is a fresh signed JWT: its own jti, issued now, good for
// AssertionLifetime.
func (s *assertionSigner) assertion() (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := s.now()
	claims := jwt.Claims{
		Issuer:   s.clientID,
		Subject:  s.clientID,
		Audience: jwt.Audience{s.audience},
		ID:       hex.EncodeToString(jti),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(AssertionLifetime)),
	}
	return jwt.Signed(s.signer).Claims(claims).Serialize()
}
