package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// leakForms is every form in which c's secrets travel: raw, encoded and
// escaped, and the base64 of each Basic pair.
func leakForms(c client.Creds) []string {
	return vendortest.LeakForms(nil, []vendortest.Pair{{ID: c.ClientID, Secret: c.ClientSecret}, {ID: c.Fields.String(client.FieldOAuthClientID), Secret: c.Fields.String(client.FieldOAuthClientSecret)}})
}

func assertNoLeak(t *testing.T, text string, c client.Creds) {
	t.Helper()
	for _, form := range leakForms(c) {
		if i := strings.Index(text, form); i >= 0 {
			t.Fatalf("a form of a secret (%d bytes) at byte %d of %q", len(form), i, text)
		}
	}
}

// A vendor whose error echoes the request, in every way vendors do, gets
// no form of a secret into the error, which still names the vendor.
func TestVendorEchoOfTheRequestLeaksNoSecret(t *testing.T) {
	for _, vendor := range []string{"cyral", "incydr", "privx", "oauth2"} {
		for _, echo := range []string{vendortest.EchoHTML, vendortest.EchoJSON, vendortest.EchoJSONHTML, vendortest.EchoTruncated} {
			t.Run(vendor+"/"+echo, func(t *testing.T) {
				srv, c, h := setup(t, vendor)
				srv.Inject("token", vendortest.Fault{Echo: echo})
				v, _ := client.Lookup(vendor)
				_, err := v.Token(context.Background(), h, c)
				if !errors.Is(err, client.ErrRefused) || !strings.HasPrefix(err.Error(), vendor+" refused the token request") {
					t.Fatalf("want a refusal naming %s, got %v", vendor, err)
				}
				assertNoLeak(t, err.Error(), c)
			})
		}
	}
}

// The Basic header's base64 is what incydr and privx echo; prove the echo
// carries it, so the test above is not vacuous.
func TestEchoFaultCarriesTheBasicHeader(t *testing.T) {
	for _, vendor := range []string{"incydr", "privx"} {
		srv, c, h := setup(t, vendor)
		srv.Inject("token", vendortest.Fault{Echo: vendortest.EchoJSON})
		v, _ := client.Lookup(vendor)
		_, _ = v.Token(context.Background(), h, c)
		auth := srv.LastHeader("token").Get("Authorization")
		if !strings.HasPrefix(auth, "Basic ") {
			t.Fatalf("%s sent %q", vendor, auth)
		}
	}
}

// A redirect is neither followed nor quoted: its Location, which here holds
// the credentials and names another server, appears nowhere.
func TestRedirectLocationIsNotQuoted(t *testing.T) {
	var hits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	for _, vendor := range []string{"cyral", "incydr", "privx"} {
		t.Run(vendor, func(t *testing.T) {
			srv, c, h := setup(t, vendor)
			srv.Inject("token", vendortest.Fault{Echo: vendortest.EchoRedirect, Location: other.URL + "/login"})
			v, _ := client.Lookup(vendor)
			_, err := v.Token(context.Background(), h, c)
			if !errors.Is(err, client.ErrRefused) || !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), "another host") {
				t.Fatalf("want a redirect refusal saying it points elsewhere, got %v", err)
			}
			assertNoLeak(t, err.Error(), c)
			if strings.Contains(err.Error(), strings.TrimPrefix(other.URL, "http://")) || strings.Contains(err.Error(), "/login") {
				t.Fatalf("the Location is quoted: %v", err)
			}
			if hits.Load() != 0 || srv.Calls("token") != 1 {
				t.Fatalf("redirect followed (%d) or retried (%d calls)", hits.Load(), srv.Calls("token"))
			}
		})
	}
	// A redirect to the same host says so, still without the address.
	srv, c, h := setup(t, "cyral")
	srv.Inject("token", vendortest.Fault{Echo: vendortest.EchoRedirect, Location: srv.URL + "/elsewhere"})
	v, _ := client.Lookup("cyral")
	_, err := v.Token(context.Background(), h, c)
	if !strings.Contains(fmtErr(err), "same host") || strings.Contains(fmtErr(err), "/elsewhere") {
		t.Fatalf("same-host redirect: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A body that is not a known error shape is described by status, type and
// size, never quoted, on token calls as on admin calls.
func TestUnparsedBodyIsDescribedNotQuoted(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   []string
	}{
		{401, "<html><body>Login failed for hunter-two</body></html>", []string{"HTTP 401", "53 bytes", "not quoted"}},
		{500, "stack trace: NullPointerException at hunter-two", []string{"HTTP 500", "47 bytes", "not quoted"}},
		{403, `{"detail":"hunter-two may not"}`, []string{"HTTP 403", "JSON", "31 bytes", "not quoted"}},
	}
	for _, tc := range cases {
		srv, c, h := setup(t, "cyral")
		h2, _ := client.NewHTTP(client.Options{CACertPEM: srv.CACert(), MaxRetries: -1})
		srv.Inject("token", vendortest.Fault{Status: tc.status, Body: tc.body})
		v, _ := client.Lookup("cyral")
		_, err := v.Token(context.Background(), h2, c)
		_ = h
		if err == nil || strings.Contains(err.Error(), "hunter-two") {
			t.Fatalf("%d: body quoted: %v", tc.status, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%d: %q lacks %q", tc.status, err, w)
			}
		}
	}
}

// A 1-character secret on a 256 KiB error field: the error stays small, and
// neither holds the secret nor marks where it was.
func TestOneCharacterSecretOnAHugeBody(t *testing.T) {
	srv, c, h := setup(t, "incydr")
	srv.AddAccount(vendortest.Account{ID: "tiny", Secret: "e"})
	c.ClientID, c.ClientSecret = "tiny", "e"
	big := strings.Repeat("the vendor rejected the credentials. ", 256<<10/37)
	srv.Inject("token", vendortest.Fault{Status: 401, Body: `{"error":"invalid_client","error_description":"` + big + `"}`})
	v, _ := client.Lookup("incydr")
	_, err := v.Token(context.Background(), h, c)
	var re *client.RejectedError
	if !errors.As(err, &re) {
		t.Fatalf("want a refusal, got %v", err)
	}
	if len(err.Error()) > 600 {
		t.Fatalf("error of %d bytes", len(err.Error()))
	}
	if strings.Contains(re.Code+re.Message, "e") {
		t.Fatalf("the 1-character secret, or markers spelling it, in %q / %q", re.Code, re.Message)
	}
}
