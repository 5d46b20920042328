package vendortest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The oauth2 fake's private_key_jwt client authentication (RFC 7523
// section 3, OpenID Connect Core section 9), checked as a careful server
// checks it: the signature with the public key the client registered
// (RS256 or ES256 only), iss and sub the client, aud this token endpoint,
// a jti never seen before, an exp in the future and no more than
// MaxAssertionLifetime after iat, an iat and any nbf not in the future. A client
// registered with a public key authenticates no other way.

// ClientAssertionType is RFC 7523's client_assertion_type.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// MaxAssertionLifetime is the longest an assertion may live, exp - iat.
const MaxAssertionLifetime = 5 * time.Minute

// assertionSkew is the clock difference between client and server the
// fake tolerates on iat.
const assertionSkew = 30 * time.Second

// ParsePublicKeyPEM reads a PEM public key (PKIX "PUBLIC KEY" or PKCS#1
// "RSA PUBLIC KEY"), RSA or EC, for Account.PublicKey.
func ParsePublicKeyPEM(text string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("not PEM")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			return k, nil
		}
		return nil, errors.New("not an RSA or EC key")
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	}
	return nil, errors.New("PEM block " + block.Type + " is not a public key")
}

// assertionClient checks a client_assertion and returns the account it
// authenticates, or why it does not (the error_description, and the
// reason the fake records).
func (f *Fake) assertionClient(r *http.Request, form url.Values) (a *Account, desc, why string) {
	if t := form.Get("client_assertion_type"); t != ClientAssertionType {
		return nil, "client_assertion_type must be " + ClientAssertionType, "client_assertion_type " + strconv.Quote(t)
	}
	raw := form.Get("client_assertion")
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, "client_assertion is not a JWS signed with RS256 or ES256", "assertion does not parse or has another alg: " + err.Error()
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, "client_assertion has no claims", "assertion claims: " + err.Error()
	}
	a = f.account(unverified.Issuer)
	if a == nil || a.PublicKey == nil {
		return nil, "client authentication failed", "no client " + strconv.Quote(unverified.Issuer) + " registered with a public key"
	}
	if len(tok.Headers) != 1 {
		return nil, "client authentication failed", "assertion with " + strconv.Itoa(len(tok.Headers)) + " signatures"
	}
	h := tok.Headers[0]
	if !algFits(h.Algorithm, a.PublicKey) {
		return nil, "client authentication failed", "alg " + h.Algorithm + " does not fit the registered key"
	}
	if a.KeyID != "" && h.KeyID != a.KeyID {
		return nil, "client authentication failed", "kid " + strconv.Quote(h.KeyID) + ", want " + strconv.Quote(a.KeyID)
	}
	var c jwt.Claims
	if err := tok.Claims(a.PublicKey, &c); err != nil {
		return nil, "client authentication failed", "assertion signature does not verify with the registered key"
	}
	if c.Issuer != a.ID || c.Subject != a.ID {
		return nil, "client authentication failed", "iss " + strconv.Quote(c.Issuer) + " and sub " + strconv.Quote(c.Subject) + " must both be the client"
	}
	if id := form.Get("client_id"); form.Has("client_id") && id != a.ID {
		return nil, "client authentication failed", "client_id " + strconv.Quote(id) + " is not the assertion's client"
	}
	aud := endpointURL(r)
	if !c.Audience.Contains(aud) {
		return nil, "client authentication failed", "aud " + strconv.Quote(fmtAud(c.Audience)) + ", want " + strconv.Quote(aud)
	}
	now := f.now()
	switch {
	case c.Expiry == nil || c.IssuedAt == nil:
		return nil, "client authentication failed", "assertion without exp or iat"
	case !now.Before(c.Expiry.Time()):
		return nil, "client authentication failed", "assertion expired"
	case c.IssuedAt.Time().After(now.Add(assertionSkew)):
		return nil, "client authentication failed", "assertion issued in the future"
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(assertionSkew)):
		return nil, "client authentication failed", "assertion not valid yet (nbf)"
	case c.Expiry.Time().Sub(c.IssuedAt.Time()) > MaxAssertionLifetime:
		return nil, "client authentication failed", "assertion lives longer than " + MaxAssertionLifetime.String()
	case c.ID == "":
		return nil, "client authentication failed", "assertion without jti"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for jti, until := range f.seenJTI {
		if !now.Before(until) {
			delete(f.seenJTI, jti)
		}
	}
	if _, seen := f.seenJTI[a.ID+"\x00"+c.ID]; seen {
		return nil, "client authentication failed", "jti replayed"
	}
	f.seenJTI[a.ID+"\x00"+c.ID] = c.Expiry.Time()
	return a, "", ""
}

// algFits reports whether alg is the one the registered key signs with.
func algFits(alg string, key crypto.PublicKey) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS256)
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256) && k.Curve == elliptic.P256()
	}
	return false
}

// endpointURL is the URL the request was sent to, as a client names the
// token endpoint in aud.
func endpointURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

func fmtAud(a jwt.Audience) string {
	if len(a) == 1 {
		return a[0]
	}
	out := ""
	for i, s := range a {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}
