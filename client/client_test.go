package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// hardSecret holds every character that URL-escaping or form-encoding would
// change, so a wire mistake cannot pass unnoticed.
const hardSecret = "s3 cr%et#:@&+=/?x"

// setup starts a fake for vendor with one account and returns creds for it.
func setup(t *testing.T, vendor string) (*vendortest.Server, client.Creds, *client.HTTP) {
	t.Helper()
	acct := vendortest.Account{ID: "svc-vault", Secret: hardSecret}
	c := client.Creds{ClientID: "svc-vault", ClientSecret: hardSecret}
	switch vendor {
	case "cyberark":
		acct.ID = "svc-vault@cyberark.cloud.1234"
		c.ClientID = acct.ID
	case "privx":
		acct.OAuthClientID, acct.OAuthClientSecret = "privx-external", "oauth %sec#ret:x"
		c.Fields = client.Values{client.FieldOAuthClientID: acct.OAuthClientID, client.FieldOAuthClientSecret: acct.OAuthClientSecret}
	case "oauth2":
		acct.Scopes = []string{"read", "write"}
		c.Fields = client.Values{client.FieldScopes: []string{"read"}}
	}
	srv := vendortest.NewServer(vendor, vendortest.WithAccount(acct))
	t.Cleanup(srv.Close)
	c.BaseURL = srv.RoleURL()
	h, err := client.NewHTTP(client.Options{CACertPEM: srv.CACert(), UserAgent: "test", MaxRetries: 2,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 20 * time.Millisecond, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, h
}

func TestEveryVendorMintsATokenItsAPIAccepts(t *testing.T) {
	for _, vendor := range vendortest.Vendors() {
		t.Run(vendor, func(t *testing.T) {
			srv, c, h := setup(t, vendor)
			v, ok := client.Lookup(vendor)
			if !ok {
				t.Fatalf("no client for %s", vendor)
			}
			if err := client.Validate(v, c); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			tok, err := v.Token(context.Background(), h, c)
			if err != nil {
				t.Fatalf("Token: %v (fake rejections: %q)", err, srv.Rejections())
			}
			status, err := srv.CallAPI(tok.Authorization)
			if err != nil || status != 200 {
				t.Fatalf("vendor API answered %d, %v for %q", status, err, tok.Authorization)
			}
			if vendor == "cyberark-pam" {
				if tok.Authorization != tok.AccessToken || tok.Lifetime != 0 {
					t.Fatalf("pam token must be raw with no lifetime: %+v", tok)
				}
			} else {
				if tok.Authorization != "Bearer "+tok.AccessToken || tok.TokenType != "Bearer" {
					t.Fatalf("authorization %q type %q", tok.Authorization, tok.TokenType)
				}
				if tok.Lifetime <= 0 {
					t.Fatalf("no lifetime parsed: %+v", tok)
				}
			}
			if srv.Calls("token") != 1 {
				t.Fatalf("token calls = %d", srv.Calls("token"))
			}
		})
	}
}

func TestWrongSecretIsARejectionNamingTheVendor(t *testing.T) {
	for _, vendor := range vendortest.Vendors() {
		t.Run(vendor, func(t *testing.T) {
			srv, c, h := setup(t, vendor)
			c.ClientSecret = "wrong %secret#"
			v, _ := client.Lookup(vendor)
			_, err := v.Token(context.Background(), h, c)
			var re *client.RejectedError
			if !errors.As(err, &re) || !errors.Is(err, client.ErrRefused) {
				t.Fatalf("want a rejection, got %T %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), vendor+" refused") || re.Status < 400 || re.Status > 403 {
				t.Fatalf("message %q status %d", err, re.Status)
			}
			if strings.Contains(err.Error(), c.ClientSecret) {
				t.Fatal("secret in error")
			}
			if srv.Calls("token") != 1 {
				t.Fatalf("a rejection must not be retried: %d calls", srv.Calls("token"))
			}
		})
	}
}

func TestTransientFailuresAreRetriedThenClassified(t *testing.T) {
	cases := []struct {
		name      string
		fault     vendortest.Fault
		wantClass string
		wantCalls int
		succeeds  bool
	}{
		// A logon answered with a 5xx is not sent again: the vendor may
		// have counted it as a failed logon already.
		{"a 503 is not retried on a logon", vendortest.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`}, client.ClassServer, 1, false},
		{"429 with Retry-After then success", vendortest.Fault{Status: 429, RetryAfter: "0"}, "", 2, true},
		{"5xx every time", vendortest.Fault{Status: 500, Body: "boom", Times: -1}, client.ClassServer, 1, false},
		{"429 asking for an hour", vendortest.Fault{Status: 429, RetryAfter: "3600", Times: -1}, client.ClassRateLimited, 1, false},
		{"truncated JSON", vendortest.Fault{Body: `{"access_token":"abc","expi`}, client.ClassBadResponse, 1, false},
		{"garbage", vendortest.Fault{Body: `<html>maintenance</html>`}, client.ClassBadResponse, 1, false},
		{"no access_token", vendortest.Fault{Body: `{"token_type":"bearer"}`}, client.ClassBadResponse, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, h := setup(t, "incydr")
			srv.Inject("token", tc.fault)
			v, _ := client.Lookup("incydr")
			_, err := v.Token(context.Background(), h, c)
			if tc.succeeds != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				var ue *client.UnavailableError
				if !errors.As(err, &ue) || ue.Class != tc.wantClass || (errors.Is(err, client.ErrRefused) || errors.Is(err, client.ErrInvalid)) {
					t.Fatalf("want class %q, got %T %v", tc.wantClass, err, err)
				}
			}
			if got := srv.Calls("token"); got != tc.wantCalls {
				t.Fatalf("calls = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestAdminReadsAreRetriedAfterA5xx(t *testing.T) {
	srv, c, h := setup(t, "privx")
	v, _ := client.Lookup("privx")
	srv.AddAccount(vendortest.Account{ID: "admin", Secret: "admin secret", Admin: true, OAuthClientID: c.Fields.String(client.FieldOAuthClientID), OAuthClientSecret: c.Fields.String(client.FieldOAuthClientSecret)})
	admin := c
	admin.ClientID, admin.ClientSecret = "admin", "admin secret"
	tok, err := v.Token(context.Background(), h, admin)
	if err != nil {
		t.Fatal(err)
	}
	by := client.Actor{Authorization: func(context.Context) (string, error) { return tok.Authorization, nil }}
	srv.Inject("read", vendortest.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`})
	if _, err := v.(client.ClientReplacer).ReadClient(context.Background(), h, c, by, c.ClientID); err != nil {
		t.Fatalf("a GET answered once with 503 must be retried: %v", err)
	}
	if got := srv.Calls("read"); got != 2 {
		t.Fatalf("read calls = %d, want 2", got)
	}
}

func TestSlowVendorTimesOut(t *testing.T) {
	srv, c, _ := setup(t, "cyral")
	h, err := client.NewHTTP(client.Options{CACertPEM: srv.CACert(), Timeout: 50 * time.Millisecond, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Inject("token", vendortest.Fault{Delay: 5 * time.Second})
	v, _ := client.Lookup("cyral")
	start := time.Now()
	_, err = v.Token(context.Background(), h, c)
	var ue *client.UnavailableError
	if !errors.As(err, &ue) || ue.Class != client.ClassTimeout {
		t.Fatalf("want timeout, got %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("timeout not enforced")
	}
}

func TestUntrustedCertificateIsATLSError(t *testing.T) {
	_, c, _ := setup(t, "cyral")
	h, _ := client.NewHTTP(client.Options{MaxRetries: 2})
	v, _ := client.Lookup("cyral")
	_, err := v.Token(context.Background(), h, c)
	var ue *client.UnavailableError
	if !errors.As(err, &ue) || ue.Class != client.ClassTLS || !strings.Contains(err.Error(), "ca_cert") {
		t.Fatalf("want TLS error naming ca_cert, got %v", err)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	srv, c, h := setup(t, "cyral")
	srv.Inject("token", vendortest.Fault{Status: 307, Body: ""})
	v, _ := client.Lookup("cyral")
	_, err := v.Token(context.Background(), h, c)
	if !errors.Is(err, client.ErrRefused) || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("want redirect rejection, got %v", err)
	}
	if srv.Calls("token") != 1 {
		t.Fatal("redirect followed or retried")
	}
}

// The raw-Basic vendors must not URL-escape; the fakes say so when they do.
func TestURLEscapedBasicIsRejectedByRawVendors(t *testing.T) {
	srv, c, _ := setup(t, "incydr")
	req, _ := srv.APIRequest(srv.URL, "")
	req.Method = "POST"
	req.URL.Path = "/v1/oauth"
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ClientID)+":"+url.QueryEscape(c.ClientSecret))))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("escaped Basic accepted: %d", resp.StatusCode)
	}
	if r := srv.Rejections(); len(r) == 0 || !strings.Contains(r[len(r)-1], "URL-escaped") {
		t.Fatalf("rejection reason %q", r)
	}
}

func TestParseExpiresInShapes(t *testing.T) {
	for body, want := range map[string]time.Duration{
		`{"access_token":"a","expires_in":"300"}`: 300 * time.Second,
		`{"access_token":"a","expires_in":900}`:   900 * time.Second,
		`{"access_token":"a","expires_in":null}`:  0,
		`{"access_token":"a"}`:                    0,
		`{"access_token":"a","expires_in":"  "}`:  0,
		`{"access_token":"a","expires_in":1.5e3}`: 1500 * time.Second,
	} {
		tok, err := client.ParseOAuthToken("x", []byte(body))
		if err != nil || tok.Lifetime != want {
			t.Errorf("%s: got %v, %v; want %v", body, tok.Lifetime, err, want)
		}
	}
	for _, body := range []string{`{"access_token":"a","expires_in":"soon"}`, `{"access_token":"a","expires_in":-5}`, `{"access_token":"a","expires_in":{}}`, `[]`, `"tok"`} {
		if _, err := client.ParseOAuthToken("x", []byte(body)); err == nil {
			t.Errorf("%s: accepted", body)
		}
	}
}

func TestBackoffIsBounded(t *testing.T) {
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if got := client.Backoff(100, 1000, attempt); got != want {
			t.Errorf("attempt %d: %v want %v", attempt, got, want)
		}
	}
	if got := client.Backoff(time.Second, 5*time.Second, 1000); got != 5*time.Second {
		t.Errorf("large attempt: %v", got)
	}
}

func TestClosedPortIsConnectionRefused(t *testing.T) {
	srv, c, h := setup(t, "privx")
	srv.Close()
	v, _ := client.Lookup("privx")
	_, err := v.Token(context.Background(), h, c)
	var ue *client.UnavailableError
	if !errors.As(err, &ue) || ue.Class != client.ClassRefused || (errors.Is(err, client.ErrRefused) || errors.Is(err, client.ErrInvalid)) {
		t.Fatalf("want connection refused, got %v", err)
	}
	if strings.Contains(err.Error(), hardSecret) {
		t.Fatal("secret in error")
	}
}

// Replies to admin calls can carry secrets, so an error reply of an unknown
// shape is described, never quoted.
func TestAdminCallErrorBodiesAreNotQuoted(t *testing.T) {
	srv, c, h := setup(t, "cyral")
	srv.Inject("rotate", vendortest.Fault{Status: 500, Body: "clientSecret=leaked-new-secret"})
	v, _ := client.Lookup("cyral")
	by := client.Actor{Self: true, Authorization: func(ctx context.Context) (string, error) {
		tok, err := v.Token(ctx, h, c)
		return tok.Authorization, err
	}}
	_, err := v.(client.SecretRegenerator).RegenerateSecret(context.Background(), h, c, by)
	if err == nil || strings.Contains(err.Error(), "leaked-new-secret") || !strings.Contains(err.Error(), "not quoted") {
		t.Fatalf("error %v", err)
	}
	if srv.Calls("rotate") != 1 {
		t.Fatalf("a rotation call was retried: %d calls", srv.Calls("rotate"))
	}
}

func TestHTTPLayerPromises(t *testing.T) {
	v, _ := client.Lookup("incydr")
	t.Run("User-Agent names the plugin", func(t *testing.T) {
		srv, c, _ := setup(t, "incydr")
		h, _ := client.NewHTTP(client.Options{CACertPEM: srv.CACert(), UserAgent: "vault-plugin-secrets-vendor/v9.9.9"})
		if _, err := v.Token(context.Background(), h, c); err != nil {
			t.Fatal(err)
		}
		if ua := srv.LastHeader("token").Get("User-Agent"); ua != "vault-plugin-secrets-vendor/v9.9.9" {
			t.Fatalf("User-Agent %q", ua)
		}
	})
	for _, status := range []int{400, 401, 403, 404} {
		t.Run(fmt.Sprintf("%d is never retried", status), func(t *testing.T) {
			srv, c, h := setup(t, "incydr")
			srv.Inject("token", vendortest.Fault{Status: status, Body: `{"error":"nope"}`, Times: -1})
			_, err := v.Token(context.Background(), h, c)
			if !errors.Is(err, client.ErrRefused) || srv.Calls("token") != 1 {
				t.Fatalf("err %v after %d calls", err, srv.Calls("token"))
			}
		})
	}
	t.Run("Retry-After as an HTTP date", func(t *testing.T) {
		now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		srv, c, _ := setup(t, "incydr")
		h, _ := client.NewHTTP(client.Options{CACertPEM: srv.CACert(), MaxRetries: 2, Now: func() time.Time { return now },
			RetryWaitMin: time.Millisecond, RetryWaitMax: 50 * time.Millisecond})
		// A date already reached: retry at once, and succeed.
		srv.Inject("token", vendortest.Fault{Status: 429, RetryAfter: now.Add(-time.Second).Format(http.TimeFormat)})
		if _, err := v.Token(context.Background(), h, c); err != nil || srv.Calls("token") != 2 {
			t.Fatalf("err %v after %d calls", err, srv.Calls("token"))
		}
		// A date an hour away is beyond the wait bound: fail now, saying when.
		srv.Inject("token", vendortest.Fault{Status: 503, RetryAfter: now.Add(time.Hour).Format(http.TimeFormat)})
		_, err := v.Token(context.Background(), h, c)
		var ue *client.UnavailableError
		if !errors.As(err, &ue) || ue.Class != client.ClassServer || srv.Calls("token") != 3 {
			t.Fatalf("err %v after %d calls", err, srv.Calls("token"))
		}
		// The wait it asked for travels with the error, for the caller's backoff.
		if ue.RetryAfter != time.Hour {
			t.Fatalf("RetryAfter %v, want 1h", ue.RetryAfter)
		}
		srv.Inject("token", vendortest.Fault{Status: 429, RetryAfter: "3600"})
		_, err = v.Token(context.Background(), h, c)
		if !errors.As(err, &ue) || ue.Class != client.ClassRateLimited || ue.RetryAfter != time.Hour {
			t.Fatalf("429: err %v, RetryAfter %v", err, ue.RetryAfter)
		}
	})
	t.Run("response bodies are capped", func(t *testing.T) {
		srv, c, _ := setup(t, "incydr")
		h, _ := client.NewHTTP(client.Options{CACertPEM: srv.CACert(), MaxBodyBytes: 1024})
		srv.Inject("token", vendortest.Fault{Body: `{"access_token":"` + strings.Repeat("a", 4096) + `"}`})
		_, err := v.Token(context.Background(), h, c)
		var ue *client.UnavailableError
		if !errors.As(err, &ue) || ue.Class != client.ClassBadResponse || !strings.Contains(err.Error(), "larger than 1024 bytes") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("ca_cert replaces the system roots", func(t *testing.T) {
		_, c, _ := setup(t, "incydr")
		// Trusting an unrelated CA trusts nothing else, this server included.
		h, _ := client.NewHTTP(client.Options{CACertPEM: unrelatedCA(t)})
		_, err := v.Token(context.Background(), h, c)
		var ue *client.UnavailableError
		if !errors.As(err, &ue) || ue.Class != client.ClassTLS {
			t.Fatalf("err %v", err)
		}
	})
}

func unrelatedCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "unrelated CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
