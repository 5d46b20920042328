package client

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// A PVWA under a renamed application: the role's pvwa_app_name leads the
// logon, the user search and the reset there.
func TestPAMCallsGoUnderPVWAAppName(t *testing.T) {
	srv := vendortest.NewServer("cyberark-pam", vendortest.WithPVWAAppName("CustomVault"),
		vendortest.WithAccount(vendortest.Account{ID: "svc", Secret: "Svc-secret-1"}),
		vendortest.WithAccount(vendortest.Account{ID: "admin", Secret: "Admin-secret-1", Admin: true}))
	defer srv.Close()
	h, err := NewHTTP(Options{CACertPEM: srv.CACert(), UserAgent: "test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v := cyberarkPAM{}
	creds := func(id, secret, app string) Creds {
		c := Creds{BaseURL: srv.URL, ClientID: id, ClientSecret: secret}
		if app != "" {
			c.Fields = Values{FieldPVWAAppName: app}
		}
		return c
	}

	// Left at the default, the logon finds no PVWA and says what to set.
	_, err = v.Token(ctx, h, creds("svc", "Svc-secret-1", ""))
	var re *RejectedError
	if !errors.As(err, &re) || re.Status != http.StatusNotFound || re.Code != "" {
		t.Fatalf("want a 404 rejection with no code, got %T %v", err, err)
	}
	for _, want := range []string{"/PasswordVault", FieldPVWAAppName} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%q lacks %q", err, want)
		}
	}

	tok, err := v.Token(ctx, h, creds("svc", "Svc-secret-1", "CustomVault"))
	if err != nil {
		t.Fatalf("Token: %v (fake: %q)", err, srv.Rejections())
	}
	if status, err := srv.CallAPI(tok.Authorization); err != nil || status != 200 {
		t.Fatalf("API: %d %v", status, err)
	}

	admin := creds("admin", "Admin-secret-1", "CustomVault")
	by := Actor{Secrets: admin.Secrets(), Authorization: func(ctx context.Context) (string, error) {
		t, err := v.Token(ctx, h, admin)
		return t.Authorization, err
	}}
	if err := v.SetSecret(ctx, h, creds("svc", "Svc-secret-1", "CustomVault"), by, "Svc-secret-2"); err != nil {
		t.Fatalf("SetSecret as admin: %v (fake: %q)", err, srv.Rejections())
	}
	if a, _ := srv.Account("svc"); a.Secret != "Svc-secret-2" {
		t.Fatal("the reset did not reach the account")
	}
	// The role left at the default: the admin logs on, the search finds no PVWA.
	err = v.SetSecret(ctx, h, creds("svc", "Svc-secret-2", ""), by, "Svc-secret-3")
	if !errors.As(err, &re) || re.Status != http.StatusNotFound || !strings.Contains(err.Error(), FieldPVWAAppName) {
		t.Fatalf("want a 404 naming %s, got %v", FieldPVWAAppName, err)
	}
	if srv.Calls("query") != 1 || srv.Calls("rotate") != 1 {
		t.Fatalf("calls %v", srv.AllCalls())
	}
}

// PVWA's own 404s (an unknown user, an unsupported logon method) carry its
// error code and stay as PVWA worded them.
func TestPAMNotFoundKeepsPVWAsOwnAnswers(t *testing.T) {
	c := Creds{Fields: Values{FieldPVWAAppName: "CustomVault"}}
	for _, code := range []string{"PASWS013E", "PASWS002E", "CAWS00001E"} {
		in := &RejectedError{Vendor: "cyberark-pam", Op: "ResetPassword", Status: 404, Code: code, Message: "User was not found."}
		if out := pamNotFound(in, c); out != error(in) {
			t.Errorf("%s rewritten: %v", code, out)
		}
	}
	in := &RejectedError{Vendor: "cyberark-pam", Op: "logon", Status: 403, Code: "ITATS004E"}
	if out := pamNotFound(in, c); out != error(in) {
		t.Errorf("a 403 rewritten: %v", out)
	}
	in = &RejectedError{Vendor: "cyberark-pam", Op: "logon", Status: 404, Code: "not_found"}
	out := pamNotFound(in, c)
	if !strings.Contains(out.Error(), "/CustomVault") || strings.Contains(out.Error(), "not_found") || !errors.Is(out, ErrRefused) {
		t.Errorf("a web server's 404: %v", out)
	}
	if in.Code != "not_found" {
		t.Error("the original error was changed in place")
	}
}
