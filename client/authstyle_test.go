package client_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"testing"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// An oauth2 role with no auth_style authenticates with HTTP Basic, RFC
// 6749's default (section 2.3.1), id and secret form-encoded first. The
// fake accepts only client_secret_basic here, so a default that drifted to
// the form body fails the token request. Only the role-less credentials are
// set: no auth_style, no other vendor field.
func TestOAuth2DefaultAuthStyleIsBasic(t *testing.T) {
	const id, secret = "svc:vault@x", "s3 cr%et#:@&+=/?x"
	srv := vendortest.NewServer("oauth2",
		vendortest.WithAccount(vendortest.Account{ID: id, Secret: secret}),
		vendortest.WithClientAuth(vendortest.ClientAuthBasic))
	t.Cleanup(srv.Close)
	h, err := client.NewHTTP(client.Options{CACertPEM: srv.CACert(), UserAgent: "test", MaxRetries: -1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := client.Lookup("oauth2")
	if !ok {
		t.Fatal("no oauth2 client")
	}
	tok, err := v.Token(context.Background(), h, client.Creds{BaseURL: srv.RoleURL(), ClientID: id, ClientSecret: secret})
	if err != nil {
		t.Fatalf("Token with the default auth style: %v (the fake refused: %q)", err, srv.Rejections())
	}
	if status, err := srv.CallAPI(tok.Authorization); err != nil || status != 200 {
		t.Fatalf("the token is not accepted: %d %v", status, err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	if got := srv.LastHeader("token").Get("Authorization"); got != want {
		t.Fatalf("Authorization %q, want the form-encoded pair in Basic", got)
	}
	if form := srv.LastForm("token"); form.Has("client_secret") || form.Has("client_id") {
		t.Fatal("credentials in the form as well")
	}
}
