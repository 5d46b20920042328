package vendor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// accountOrigin now runs the host through normalHost, which returns an
// empty name for an IP literal: every vendor addressed by IP (on-premises
// PVWA often is) has the origin "https://" (or "http://:PORT"), so two
// different vendor servers share one guard whenever their client ids match.
// A writer of one role points it at another allowed address with the admin
// account's id: one success there (which takes the guard's "worked" mark),
// then five refusals there, and the real, working admin role on the other
// server is held back for an hour.
func TestDistinctIPVendorsAreDistinctAccounts(t *testing.T) {
	h := newHarness(t)
	real := client.Creds{BaseURL: "https://10.0.0.5", ClientID: "Administrator", ClientSecret: "Real-Admin-Secret-1"}
	other := client.Creds{BaseURL: "https://10.0.0.6", ClientID: "Administrator"}
	if a, b := accountOrigin(real.BaseURL), accountOrigin(other.BaseURL); a == b {
		t.Errorf("two vendor servers at different addresses have the same account origin %q", a)
	}
	ctx := context.Background()
	ok := func(context.Context) error { return nil }
	refuse := func(context.Context) error {
		return &client.RejectedError{Vendor: "cyberark-pam", Op: "logon", Status: 401, Message: "Authentication failure"}
	}
	if err := h.b.logon(ctx, "cyberark-pam", real, ok); err != nil {
		t.Fatal(err)
	}
	// The writer's own server takes anything once (the guard's "worked"
	// mark moves to it), then refuses five guesses.
	other.ClientSecret = "Anything-At-My-Server"
	if err := h.b.logon(ctx, "cyberark-pam", other, ok); err != nil {
		t.Fatal(err)
	}
	for i := range maxFailedLogons - 1 {
		other.ClientSecret = fmt.Sprintf("Guess-%d", i)
		_ = h.b.logon(ctx, "cyberark-pam", other, refuse)
	}
	if err := h.b.logon(ctx, "cyberark-pam", real, ok); err != nil {
		t.Fatalf("the working admin credential of the vendor at 10.0.0.5 is held back by logons made to another server: %v", err)
	}
}

// A 5xx answer counts as a failed logon "unless the credential is the one
// that last worked". But the credential that last worked is exactly the
// one that goes stale when the secret is changed at the vendor (the
// issue's first lockout case), and PVWA answers its bad password with a
// 500: with the backoff topping out at five minutes, readers keep offering
// it about twenty times an hour, none of them counted.
func TestStaleWorkingCredentialAnswered5xxIsCapped(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark-pam")
	h.ok(logical.CreateOperation, "roles/pam", role)
	h.ok(logical.ReadOperation, "token/pam", nil) // it worked
	// The secret is changed at the vendor; PVWA answers the old one with a 500.
	srv.Inject("token", vendortest.Fault{Status: 500, Body: `{"ErrorCode":"PASWS013E","ErrorMessage":"Authentication failure"}`, Times: -1})
	before := srv.Calls("token")
	for range 60 {
		h.clock.Add(time.Minute)
		h.b.dropRole("pam")
		h.do(logical.ReadOperation, "token/pam", nil)
	}
	if n := srv.Calls("token") - before; n > maxFailedLogons {
		t.Fatalf("an hour of a read a minute made %d logons with a stale secret, each answered 500 (PVWA counts every one)", n)
	}
}
