package client_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// wantFieldError wants a refusal by the check declared on field.
func wantFieldError(t *testing.T, err error, field string) *client.CheckError {
	t.Helper()
	var fe *client.CheckError
	if !errors.As(err, &fe) || fe.Field != field {
		t.Fatalf("want a refusal by the check on %s, got %T %v", field, err, err)
	}
	return fe
}

// wantInvalid wants a refusal, before any call, that names field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	if !errors.Is(err, client.ErrInvalid) || !strings.HasPrefix(err.Error(), field+" ") {
		t.Fatalf("want an ErrInvalid naming %s, got %T %v", field, err, err)
	}
}

// Parameters the grant sets itself are refused in token_params whatever
// their case, and in a token_url's query.
func TestReservedOAuthParametersAreRefused(t *testing.T) {
	v, _ := client.Lookup("oauth2")
	base := client.Creds{BaseURL: "https://idp.example.com/oauth/token", ClientID: "id", ClientSecret: "secret"}
	reserved := []string{"grant_type", "GRANT_TYPE", "client_id", "Client_Id", "client_secret", "Client_Secret",
		"client_assertion", "client_assertion_type", "CLIENT_ASSERTION_TYPE", "client_assertion_x", "scope", "Scope",
		"audience", "AUDIENCE", "username", "UserName", "password", "PASSWORD"}
	for _, k := range reserved {
		c := base
		c.Fields = client.Values{client.FieldTokenParams: map[string]string{k: "x"}}
		fe := wantFieldError(t, client.Validate(v, c), "token_params")
		if !strings.Contains(fe.Msg, k) {
			t.Errorf("%s: message %q does not name it", k, fe.Msg)
		}
		c = base
		c.BaseURL += "?" + k + "=Query-Value-42"
		fe = wantFieldError(t, client.Validate(v, c), "token_url")
		if strings.Contains(fe.Error(), "Query-Value-42") {
			t.Errorf("%s: the query's value is quoted: %v", k, fe)
		}
	}
	for _, k := range []string{"resource", "client", "scopes", "grant", "user"} {
		c := base
		c.Fields = client.Values{client.FieldTokenParams: map[string]string{k: "x"}}
		if err := client.Validate(v, c); err != nil {
			t.Errorf("%s refused: %v", k, err)
		}
	}
	c := base
	c.BaseURL += "?api-version=2"
	if err := client.Validate(v, c); err != nil {
		t.Fatalf("a harmless query refused: %v", err)
	}
	// A token_url that does not parse is refused without quoting it.
	c.BaseURL = "https://idp.example.com/%zz?key=Query-Value-42"
	if err := client.Validate(v, c); err == nil || strings.Contains(err.Error(), "Query-Value-42") {
		t.Fatalf("unparsable URL: %v", err)
	}
}

// A URL's query never reaches an error, even where Go's HTTP client quotes
// the URL (every network failure).
func TestNetworkErrorsDoNotQuoteTheQuery(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	v, _ := client.Lookup("oauth2")
	h, _ := client.NewHTTP(client.Options{MaxRetries: -1, Timeout: time.Second})
	for _, tokenURL := range []string{
		"http://" + addr + "/oauth/token?key=Query-Value-42",
		"http://" + addr + "/oauth/token?key=Query%20Value%2042&x=\"quoted\"",
	} {
		c := client.Creds{BaseURL: tokenURL, ClientID: "id", ClientSecret: "secret-value-7"}
		_, err = v.Token(context.Background(), h, c)
		var ue *client.UnavailableError
		if !errors.As(err, &ue) || ue.Class != client.ClassRefused {
			t.Fatalf("want connection refused, got %v", err)
		}
		if strings.Contains(err.Error(), "Query") || strings.Contains(err.Error(), "key=") || !strings.Contains(err.Error(), "/oauth/token") {
			t.Fatalf("error %q", err)
		}
	}
}

// Vendors that put the client id in a URL path refuse ids that would walk
// out of their segment.
func TestClientIDsThatEscapeTheirPathSegmentAreRefused(t *testing.T) {
	for _, vendor := range []string{"cyral", "privx"} {
		v, _ := client.Lookup(vendor)
		creds := func(id string) client.Creds {
			c := client.Creds{BaseURL: "https://vendor.example.com", ClientID: id, ClientSecret: "s"}
			if vendor == "privx" {
				c.Fields = client.Values{client.FieldOAuthClientID: "privx-external", client.FieldOAuthClientSecret: "o"}
			}
			return c
		}
		for _, id := range []string{".", "..", "...", "a/b", "../admin", `a\b`} {
			wantFieldError(t, client.Validate(v, creds(id)), "client_id")
		}
		c := creds("svc.vault..1")
		if err := client.Validate(v, c); err != nil {
			t.Fatalf("%s: dots inside an id refused: %v", vendor, err)
		}
	}
	// A role stored before the check is refused at rotation, before any call.
	srv, c, h := setup(t, "cyral")
	c.ClientID = ".."
	v, _ := client.Lookup("cyral")
	by := client.Actor{Authorization: func(context.Context) (string, error) { return "Bearer x", nil }}
	_, err := v.(client.SecretRegenerator).RegenerateSecret(context.Background(), h, c, by)
	wantInvalid(t, err, "client_id")
	if srv.Calls("rotate") != 0 {
		t.Fatal("the vendor was called")
	}
	psrv, pc, ph := setup(t, "privx")
	pc.ClientID = ".."
	pv, _ := client.Lookup("privx")
	_, err = pv.(client.ClientReplacer).CreateReplacement(context.Background(), ph, pc, by)
	wantInvalid(t, err, "client_id")
	if n := psrv.Calls("read") + psrv.Calls("create"); n != 0 {
		t.Fatalf("the vendor was called %d times", n)
	}
}

// An expires_in the vendor left out means "not said"; 0 and anything under
// a second mean the token is dead already; what is not a number of seconds
// is a bad response.
func TestExpiresInZeroIsNotSilence(t *testing.T) {
	for body, want := range map[string]struct {
		life  time.Duration
		known bool
	}{
		`{"access_token":"a"}`:                    {0, false},
		`{"access_token":"a","expires_in":null}`:  {0, false},
		`{"access_token":"a","expires_in":0}`:     {0, true},
		`{"access_token":"a","expires_in":"0"}`:   {0, true},
		`{"access_token":"a","expires_in":0.9}`:   {0, true},
		`{"access_token":"a","expires_in":"0.9"}`: {0, true},
		`{"access_token":"a","expires_in":1.5}`:   {time.Second, true},
		`{"access_token":"a","expires_in":"300"}`: {300 * time.Second, true},
	} {
		tok, err := client.ParseOAuthToken("x", []byte(body))
		if err != nil || tok.Lifetime != want.life || tok.LifetimeKnown != want.known {
			t.Errorf("%s: got %v known=%v, %v; want %v known=%v", body, tok.Lifetime, tok.LifetimeKnown, err, want.life, want.known)
		}
	}
	for _, v := range []string{`"NaN"`, `"nan"`, `"Inf"`, `"+Inf"`, `"-Inf"`, `"infinity"`, `"abc"`, `-1`, `"-0.5"`, `"0x10"`, `"1_000"`, `1e400`, `"1e400"`, `true`} {
		_, err := client.ParseOAuthToken("x", []byte(`{"access_token":"a","expires_in":`+v+`}`))
		var ue *client.UnavailableError
		if !errors.As(err, &ue) || ue.Class != client.ClassBadResponse {
			t.Errorf("expires_in %s: want a bad response, got %v", v, err)
		}
	}
}
