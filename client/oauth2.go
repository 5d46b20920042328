package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Any RFC 6749 authorization server, client credentials grant. Unlike PrivX
// and Code42, RFC 6749 section 2.3.1 form-encodes the id and secret before
// Basic, so that is what auth_style=basic does here.
type oauth2 struct{}

func init() { Register(oauth2{}) }

// Auth styles for the oauth2 vendor.
const (
	AuthStyleBasic = "basic"
	AuthStyleBody  = "body"
)

// The oauth2 vendor's role fields.
const (
	FieldTokenURL    = "token_url"
	FieldScopes      = "scopes"
	FieldAudience    = "audience"
	FieldAuthStyle   = "auth_style"
	FieldTokenParams = "token_params"
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

func (oauth2) Fields() []Field {
	return []Field{
		{Name: FieldTokenURL, Kind: KindAddressQuery, Required: true, Check: checkTokenURLQuery,
			Description: "The authorization server's token endpoint URL."},
		{Name: FieldScopes, Kind: KindList, Check: checkScopes,
			Description: "Scopes to request, comma-separated."},
		{Name: FieldAudience, Description: "The audience parameter to send, for servers that require one."},
		{Name: FieldAuthStyle, Kind: KindLowerString, Default: AuthStyleBasic, Allowed: []string{AuthStyleBasic, AuthStyleBody},
			Description: "How to send the client credentials: basic (HTTP Basic, RFC 6749's default) or body (in the form)."},
		{Name: FieldTokenParams, Kind: KindPairs, Check: checkTokenParams,
			Description: "Extra form parameters for the token request, as key=value pairs."},
	}
}

// checkTokenURLQuery refuses a token_url whose query sets what the grant does.
func checkTokenURLQuery(v any) error {
	raw, _ := v.(string)
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return nil // CheckURL has said what is wrong, if anything
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return errors.New("has a ?query that does not parse")
	}
	for k := range q {
		if reservedParam(k) {
			return fmt.Errorf("must not carry %s in its ?query: the token request sets it itself", strconvQuote(k))
		}
	}
	return nil
}

func checkTokenParams(v any) error {
	params, _ := v.(map[string]string)
	for k := range params {
		if k == "" {
			return errors.New("has an empty parameter name")
		}
		if reservedParam(k) {
			return errors.New("must not set " + strconvQuote(k) + ": the token request sets it itself (use the role's client_id, client_secret, scopes or audience)")
		}
	}
	return nil
}

func checkScopes(v any) error {
	scopes, _ := v.([]string)
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return errors.New("holds an invalid scope " + strconvQuote(s) + " (no spaces, quotes or backslashes)")
		}
	}
	return nil
}

func (v oauth2) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scopes := c.Fields.List(FieldScopes); len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	if aud := c.Fields.String(FieldAudience); aud != "" {
		form.Set("audience", aud)
	}
	for k, val := range c.Fields.Pairs(FieldTokenParams) {
		form.Set(k, val)
	}
	var auth string
	if c.Fields.String(FieldAuthStyle) == AuthStyleBody {
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
