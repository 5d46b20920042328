package client

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
)

// Any RFC 6749 authorization server, client credentials grant. Unlike PrivX
// and Code42, RFC 6749 section 2.3.1 form-encodes the id and secret before
// Basic, so that is what auth_style=basic does here.
type oauth2 struct{}

func init() { register(oauth2{}) }

// Auth styles for the oauth2 vendor.
const (
	AuthStyleBasic = "basic"
	AuthStyleBody  = "body"
)

// reservedParams are set by the grant itself, or by other grants and client
// authentication methods that a server could prefer over the role's own;
// token_params and a token_url's query may not carry them, in any case.
// Every client_assertion* is reserved too (RFC 7523).
var reservedParams = []string{"grant_type", "client_id", "client_secret", "scope", "audience", "username", "password"}

// reservedParam reports whether k is reserved, whatever its case. A name
// that is not plain ASCII counts as reserved too: a server that folds case
// by Unicode's rules reads client_ſecret as client_secret.
func reservedParam(k string) bool {
	for _, r := range k {
		if r >= 0x80 || r < 0x20 {
			return true
		}
	}
	k = strings.ToLower(k)
	return contains(reservedParams, k) || strings.HasPrefix(k, "client_assertion")
}

func (oauth2) Name() string { return "oauth2" }
func (oauth2) Fields() []string {
	return []string{FieldScopes, FieldAudience, FieldAuthStyle, FieldTokenParams}
}

func (oauth2) Check(c Creds) error {
	if c.AuthStyle != "" && c.AuthStyle != AuthStyleBasic && c.AuthStyle != AuthStyleBody {
		return &FieldError{Field: FieldAuthStyle, Msg: "must be basic (HTTP Basic, RFC 6749's default) or body (credentials in the form)"}
	}
	for k := range c.TokenParams {
		if k == "" {
			return &FieldError{Field: FieldTokenParams, Msg: "has an empty parameter name"}
		}
		if reservedParam(k) {
			return &FieldError{Field: FieldTokenParams, Msg: "must not set " + strconvQuote(k) + ": the token request sets it itself (use the role's client_id, client_secret, scopes or audience)"}
		}
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return &FieldError{Field: FieldScopes, Msg: "holds an invalid scope " + strconvQuote(s) + " (no spaces, quotes or backslashes)"}
		}
	}
	return nil
}

func (v oauth2) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(c.Scopes) > 0 {
		form.Set("scope", strings.Join(c.Scopes, " "))
	}
	if c.Audience != "" {
		form.Set("audience", c.Audience)
	}
	for k, val := range c.TokenParams {
		form.Set(k, val)
	}
	var auth string
	if c.AuthStyle == AuthStyleBody {
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.ClientSecret)
	} else {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ClientID)+":"+url.QueryEscape(c.ClientSecret)))
	}
	return oauthToken(ctx, h, v.Name(), c.BaseURL, form, auth, c)
}

func strconvQuote(s string) string { return `"` + clip(s, 40) + `"` }

// NoRotation: RFC 6749 defines no way for a client to change its secret.
func (oauth2) NoRotation() string {
	return "oauth2 has no rotation API (OAuth 2.0 defines no standard way to change a client secret): renew the secret at the authorization server, then write it to the role with client_secret=..."
}
