package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pkcs8(t *testing.T, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

// jwtKeys are one RSA and one EC key, in every PEM form private_key takes.
type jwtKeys struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

var (
	keysOnce sync.Once
	keys     jwtKeys
)

func testKeys(t *testing.T) jwtKeys {
	keysOnce.Do(func() {
		var err error
		if keys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if keys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return keys
}

// jwtServer is the oauth2 fake behind a recorder of every assertion sent;
// the first `limited` requests get a 429 without reaching the fake.
func jwtServer(t *testing.T, limited int, accounts ...vendortest.Account) (*httptest.Server, *vendortest.Fake, *[]string) {
	t.Helper()
	var opts []vendortest.Option
	for _, a := range accounts {
		opts = append(opts, vendortest.WithAccount(a))
	}
	f := vendortest.New("oauth2", opts...)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == vendortest.OAuth2TokenPath {
			r.ParseForm()
			mu.Lock()
			seen = append(seen, r.PostForm.Get("client_assertion"))
			n := len(seen)
			mu.Unlock()
			r.Body = http.NoBody
			if n <= limited {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			// The fake reads the form again.
			r2 := r.Clone(r.Context())
			r2.Body = nopBody(r.PostForm.Encode())
			f.ServeHTTP(w, r2)
			return
		}
		f.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, f, &seen
}

func jwtHTTP(t *testing.T, retries int) *client.HTTP {
	t.Helper()
	h, err := client.NewHTTP(client.Options{UserAgent: "test", MaxRetries: retries, Timeout: 2 * time.Second,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func jwtCreds(tokenURL, id, keyPEM, kid string) client.Creds {
	return client.Creds{BaseURL: tokenURL, ClientID: id, Fields: client.Values{
		client.FieldAuthStyle: client.AuthStylePrivateKeyJWT, client.FieldPrivateKey: keyPEM, client.FieldPrivateKeyID: kid}}
}

func claimsOf(t *testing.T, raw string) (jwt.Claims, jose.Header) {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		t.Fatalf("assertion does not parse: %v", err)
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c, tok.Headers[0]
}

// Every PEM form of an RSA or EC P-256 key mints through the strict fake,
// with the claims RFC 7523 asks for, no secret and no Basic header, and a
// new jti for every token.
func TestOAuth2PrivateKeyJWTMints(t *testing.T) {
	k := testKeys(t)
	ecDER, _ := x509.MarshalECPrivateKey(k.ec)
	for _, tc := range []struct {
		name, pem, alg string
	}{
		{"RSA PKCS#1", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)), "RS256"},
		{"RSA PKCS#8", pkcs8(t, k.rsa), "RS256"},
		{"EC SEC 1", pemOf("EC PRIVATE KEY", ecDER), "ES256"},
		{"EC PKCS#8", pkcs8(t, k.ec), "ES256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := any(&k.rsa.PublicKey)
			if tc.alg == "ES256" {
				pub = &k.ec.PublicKey
			}
			srv, f, seen := jwtServer(t, 0, vendortest.Account{ID: "svc:jwt", PublicKey: pub, KeyID: "k1"})
			tokenURL := srv.URL + vendortest.OAuth2TokenPath
			v, _ := client.Lookup("oauth2")
			h := jwtHTTP(t, 0)
			for i := 0; i < 2; i++ {
				tok, err := v.Token(context.Background(), h, jwtCreds(tokenURL, "svc:jwt", tc.pem, "k1"))
				if err != nil {
					t.Fatalf("Token: %v (the fake refused: %q)", err, f.Rejections())
				}
				if !f.Valid(tok.Authorization) {
					t.Fatal("the token is not accepted by the fake's API")
				}
			}
			form, hdr := f.LastForm("token"), f.LastHeader("token")
			if form.Has("client_secret") || hdr.Get("Authorization") != "" {
				t.Fatal("a secret or Basic header sent with the assertion")
			}
			if form.Get("client_id") != "svc:jwt" || form.Get("client_assertion_type") != client.ClientAssertionType {
				t.Fatalf("form %v", form)
			}
			if len(*seen) != 2 {
				t.Fatalf("%d token requests, want 2", len(*seen))
			}
			c1, h1 := claimsOf(t, (*seen)[0])
			c2, _ := claimsOf(t, (*seen)[1])
			if h1.Algorithm != tc.alg || h1.KeyID != "k1" {
				t.Fatalf("alg %s kid %q", h1.Algorithm, h1.KeyID)
			}
			if c1.Issuer != "svc:jwt" || c1.Subject != "svc:jwt" || len(c1.Audience) != 1 || c1.Audience[0] != tokenURL {
				t.Fatalf("claims %+v", c1)
			}
			if c1.ID == "" || c1.ID == c2.ID {
				t.Fatalf("jti %q then %q: want a fresh one each time", c1.ID, c2.ID)
			}
			if life := c1.Expiry.Time().Sub(c1.IssuedAt.Time()); life <= 0 || life > 5*time.Minute {
				t.Fatalf("assertion lives %s", life)
			}
		})
	}
}

// A retry after a 429 sends a new assertion, not the one the server has
// seen, which a server that remembers jti would refuse as a replay.
func TestOAuth2PrivateKeyJWTRetryIsNoReplay(t *testing.T) {
	k := testKeys(t)
	srv, f, seen := jwtServer(t, 1, vendortest.Account{ID: "svc", PublicKey: &k.ec.PublicKey})
	v, _ := client.Lookup("oauth2")
	if _, err := v.Token(context.Background(), jwtHTTP(t, 2), jwtCreds(srv.URL+vendortest.OAuth2TokenPath, "svc", pkcs8(t, k.ec), "")); err != nil {
		t.Fatalf("Token: %v (the fake refused: %q)", err, f.Rejections())
	}
	if len(*seen) != 2 {
		t.Fatalf("%d attempts, want 2", len(*seen))
	}
	c1, _ := claimsOf(t, (*seen)[0])
	c2, _ := claimsOf(t, (*seen)[1])
	if c1.ID == c2.ID {
		t.Fatal("the retry replayed the first assertion's jti")
	}
}

// A vendor that echoes the request in its error gets no assertion and no
// key into the error text.
func TestOAuth2PrivateKeyJWTErrorsHoldNoAssertion(t *testing.T) {
	k := testKeys(t)
	srv := vendortest.NewPlainServer("oauth2", vendortest.WithAccount(vendortest.Account{ID: "svc", PublicKey: &k.ec.PublicKey}))
	t.Cleanup(srv.Close)
	srv.Fake.Inject("token", vendortest.Fault{Status: 400, Echo: vendortest.EchoJSON})
	key := pkcs8(t, k.ec)
	v, _ := client.Lookup("oauth2")
	_, err := v.Token(context.Background(), jwtHTTP(t, 0), jwtCreds(srv.URL+vendortest.OAuth2TokenPath, "svc", key, ""))
	if err == nil {
		t.Fatal("the echoing vendor's 400 was taken for a token")
	}
	if strings.Contains(err.Error(), "eyJ") || strings.Contains(err.Error(), "client_assertion=ey") {
		t.Fatalf("the error quotes the assertion: %v", err)
	}
	for _, line := range strings.Split(key, "\n")[1:3] {
		if strings.Contains(err.Error(), line) {
			t.Fatalf("the error quotes the key: %v", err)
		}
	}
}

// Keys that cannot sign as private_key_jwt asks are refused naming the
// problem and never quoting the key.
func TestOAuth2PrivateKeyRefusals(t *testing.T) {
	k := testKeys(t)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	good := pkcs8(t, k.rsa)
	body := strings.Split(good, "\n")[1]
	bad := map[string]string{
		"RSA 1024":         pkcs8(t, small),
		"EC P-384":         pkcs8(t, p384),
		"Ed25519":          pkcs8(t, ed),
		"a public key":     pemOf("PUBLIC KEY", spki),
		"not PEM":          "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ",
		"damaged":          strings.Replace(good, body, body[:20]+"AAAA"+body[24:], 1),
		"two blocks":       good + good,
		"encrypted":        pemOf("ENCRYPTED PRIVATE KEY", []byte("x")),
		"PKCS#1 label, EC": pemOf("RSA PRIVATE KEY", mustDER(x509.MarshalECPrivateKey(k.ec))),
		"truncated PEM":    good[:len(good)/2],
		"empty":            "",
		"with PEM headers": "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n" + body + "\n-----END RSA PRIVATE KEY-----\n",
	}
	var check func(any) error
	v, _ := client.Lookup("oauth2")
	for _, f := range v.Fields() {
		if f.Name == client.FieldPrivateKey {
			if !f.Secret {
				t.Fatal("private_key is not declared secret")
			}
			check = f.Check
		}
	}
	if check == nil || check(good) != nil {
		t.Fatalf("the good key is refused: %v", check(good))
	}
	for name, pemText := range bad {
		t.Run(name, func(t *testing.T) {
			err := check(pemText)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, line := range strings.Split(pemText, "\n") {
				if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
					t.Fatalf("the refusal quotes the key: %v", err)
				}
			}
			_, terr := v.Token(context.Background(), jwtHTTP(t, 0), jwtCreds("http://127.0.0.1:1/token", "svc", pemText, ""))
			if terr == nil || !strings.Contains(terr.Error(), client.FieldPrivateKey) {
				t.Fatalf("Token with the key: %v, want an error naming private_key", terr)
			}
		})
	}
}

func mustDER(der []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return der
}

func nopBody(s string) *readCloser { return &readCloser{strings.NewReader(s)} }

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
