package vendortest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Review 15: the strict fake checks exp and iat but not nbf. An assertion
// that says it is not valid for another hour (RFC 7519 section 4.1.5: it
// MUST NOT be accepted before then) gets a token.
func TestReview15FakeRefusesAssertionNotYetValid(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewPlainServer("oauth2", WithAccount(Account{ID: "jwt-ec", PublicKey: &key.PublicKey}))
	defer srv.Close()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "jwt-ec", Subject: "jwt-ec", Audience: jwt.Audience{srv.URL + OAuth2TokenPath},
		ID: randomHex(16), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)),
		NotBefore: jwt.NewNumericDate(now.Add(time.Hour))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	req := formReq(OAuth2TokenPath, form("grant_type", "client_credentials", "client_assertion_type", ClientAssertionType, "client_assertion", raw))
	if st, body := (wireCase{req: func() wireReq { return req }}).send(t, srv); st == http.StatusOK {
		t.Fatalf("an assertion with nbf an hour ahead got a token: %d %s", st, body)
	}
}
