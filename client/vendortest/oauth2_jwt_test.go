package vendortest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// assertionSpec is one client assertion, with whatever a test gets wrong.
type assertionSpec struct {
	key      crypto.Signer
	alg      jose.SignatureAlgorithm
	kid      string
	iss, sub string
	aud      string
	jti      string
	iat, exp time.Time
}

func (s assertionSpec) sign(t *testing.T) string {
	t.Helper()
	var key any = s.key
	if s.kid != "" {
		key = jose.JSONWebKey{Key: s.key, KeyID: s.kid}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.Claims{Issuer: s.iss, Subject: s.sub, Audience: jwt.Audience{s.aud}, ID: s.jti,
		IssuedAt: jwt.NewNumericDate(s.iat), Expiry: jwt.NewNumericDate(s.exp)}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestOAuth2PrivateKeyJWTWire: the fake takes a signed assertion the way
// RFC 7523 lays out, and refuses every assertion a careful server refuses.
func TestOAuth2PrivateKeyJWTWire(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewPlainServer("oauth2",
		WithAccount(Account{ID: "jwt-rsa", PublicKey: &rsaKey.PublicKey}),
		WithAccount(Account{ID: "jwt-ec", PublicKey: &ecKey.PublicKey, KeyID: "ec-1"}),
		WithAccount(Account{ID: "svc", Secret: wireSecret}))
	defer srv.Close()
	aud := srv.URL + OAuth2TokenPath
	spec := func(edit func(*assertionSpec)) assertionSpec {
		now := time.Now()
		s := assertionSpec{key: rsaKey, alg: jose.RS256, iss: "jwt-rsa", sub: "jwt-rsa", aud: aud, jti: randomHex(16),
			iat: now, exp: now.Add(4 * time.Minute)}
		if edit != nil {
			edit(&s)
		}
		return s
	}
	withAssertion := func(s assertionSpec, kv ...string) wireReq {
		f := form("grant_type", "client_credentials", "client_assertion_type", ClientAssertionType,
			"client_assertion", s.sign(t))
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return formReq(OAuth2TokenPath, f)
	}
	edited := func(edit func(*assertionSpec), kv ...string) func() wireReq {
		return func() wireReq { return withAssertion(spec(edit), kv...) }
	}
	valid := edited(nil)
	replayed := withAssertion(spec(nil))
	ec := func(s *assertionSpec) {
		s.key, s.alg, s.iss, s.sub, s.kid = ecKey, jose.ES256, "jwt-ec", "jwt-ec", "ec-1"
	}
	runWire(t, srv, []endpointCases{{"token:private_key_jwt", valid, 200, []wireCase{
		{"ES256 with its kid", edited(ec), 200, ""},
		{"with client_id", edited(nil, "client_id", "jwt-rsa"), 200, ""},
		{"first use of an assertion", func() wireReq { return replayed }, 200, ""},
		{"replayed jti", func() wireReq { return replayed }, 401, "invalid_client"},
		{"same jti, new assertion", func() wireReq {
			return withAssertion(spec(func(s *assertionSpec) { s.jti = jtiOf(t, replayed) }))
		}, 401, "invalid_client"},
		{"no jti", edited(func(s *assertionSpec) { s.jti = "" }), 401, "invalid_client"},
		{"wrong aud", edited(func(s *assertionSpec) { s.aud = srv.URL + "/other/token" }), 401, "invalid_client"},
		{"aud of the issuer, not the endpoint", edited(func(s *assertionSpec) { s.aud = srv.URL }), 401, "invalid_client"},
		{"expired", edited(func(s *assertionSpec) { s.iat, s.exp = time.Now().Add(-3*time.Minute), time.Now().Add(-time.Second) }), 401, "invalid_client"},
		{"lives too long", edited(func(s *assertionSpec) { s.exp = s.iat.Add(MaxAssertionLifetime + time.Minute) }), 401, "invalid_client"},
		{"issued in the future", edited(func(s *assertionSpec) {
			s.iat, s.exp = time.Now().Add(2*time.Minute), time.Now().Add(4*time.Minute)
		}), 401, "invalid_client"},
		{"wrong iss", edited(func(s *assertionSpec) { s.iss = "svc" }), 401, "invalid_client"},
		{"wrong sub", edited(func(s *assertionSpec) { s.sub = "someone-else" }), 401, "invalid_client"},
		{"unknown client", edited(func(s *assertionSpec) { s.iss, s.sub = "nobody", "nobody" }), 401, "invalid_client"},
		{"client_id not the assertion's", edited(nil, "client_id", "jwt-ec"), 401, "invalid_client"},
		{"RS384, not taken", edited(func(s *assertionSpec) { s.alg = jose.RS384 }), 401, "invalid_client"},
		{"PS256, not taken", edited(func(s *assertionSpec) { s.alg = jose.PS256 }), 401, "invalid_client"},
		{"HS256 with a shared key", func() wireReq {
			signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
			now := time.Now()
			raw, _ := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "jwt-rsa", Subject: "jwt-rsa", Audience: jwt.Audience{aud},
				ID: randomHex(16), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
			return formReq(OAuth2TokenPath, form("grant_type", "client_credentials", "client_assertion_type", ClientAssertionType, "client_assertion", raw))
		}, 401, "invalid_client"},
		{"alg none", func() wireReq {
			return formReq(OAuth2TokenPath, form("grant_type", "client_credentials", "client_assertion_type", ClientAssertionType,
				"client_assertion", "eyJhbGciOiJub25lIn0."+jwtPart(`{"iss":"jwt-rsa","sub":"jwt-rsa"}`)+"."))
		}, 401, "invalid_client"},
		{"signed by another key", edited(func(s *assertionSpec) {
			ec(s)
			s.key = otherKey
		}), 401, "invalid_client"},
		{"ES256 for an RSA client", edited(func(s *assertionSpec) { s.key, s.alg = ecKey, jose.ES256 }), 401, "invalid_client"},
		{"wrong kid", edited(func(s *assertionSpec) { ec(s); s.kid = "ec-2" }), 401, "invalid_client"},
		{"no kid where one is registered", edited(func(s *assertionSpec) { ec(s); s.kid = "" }), 401, "invalid_client"},
		{"wrong assertion type", edited(nil, "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), 401, "invalid_client"},
		{"client_secret alongside", edited(nil, "client_id", "jwt-rsa", "client_secret", "x"), 400, "invalid_request"},
		{"Basic alongside", func() wireReq { return valid().with("Authorization", escapedBasic("jwt-rsa", "x")) }, 400, "invalid_request"},
		{"a secret for a private_key_jwt client", func() wireReq {
			return formReq(OAuth2TokenPath, form("grant_type", "client_credentials")).with("Authorization", escapedBasic("jwt-rsa", ""))
		}, 401, "invalid_client"},
		{"an assertion for a secret client", edited(func(s *assertionSpec) { s.iss, s.sub = "svc", "svc" }), 401, "invalid_client"},
	}}})
	if got := srv.Fake.LastForm("token").Get("client_assertion_type"); got != ClientAssertionType {
		t.Fatalf("last accepted form has client_assertion_type %q", got)
	}
	// The token an assertion bought works on the API.
	st, body := wireCase{req: valid}.send(t, srv)
	var reply struct {
		AccessToken string `json:"access_token"`
	}
	if st != http.StatusOK || json.Unmarshal([]byte(body), &reply) != nil {
		t.Fatalf("token: %d %s", st, body)
	}
	api := wireReq{method: http.MethodGet, path: "/api/resource", header: http.Header{"Authorization": {"Bearer " + reply.AccessToken}}}
	if st, body := (wireCase{req: func() wireReq { return api }}).send(t, srv); st != http.StatusOK {
		t.Fatalf("api with the token: %d %s", st, body)
	}
}

func jwtPart(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

func jtiOf(t *testing.T, r wireReq) string {
	t.Helper()
	f, _ := url.ParseQuery(r.body)
	tok, err := jwt.ParseSigned(f.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}
