package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
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
	// AuthStylePrivateKeyJWT signs an assertion with private_key (RFC 7523
	// section 2.2, OpenID Connect Core section 9) in place of a secret.
	AuthStylePrivateKeyJWT = "private_key_jwt"
)

// The oauth2 vendor's role fields.
const (
	FieldTokenURL    = "token_url"
	FieldScopes      = "scopes"
	FieldAudience    = "audience"
	FieldAuthStyle   = "auth_style"
	FieldTokenParams = "token_params"
	FieldPrivateKey  = "private_key"
	// FieldPrivateKeyID is the kid a server finds the public key by.
	FieldPrivateKeyID = "private_key_id"
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
		{Name: FieldAuthStyle, Kind: KindLowerString, Default: AuthStyleBasic, Allowed: []string{AuthStyleBasic, AuthStyleBody, AuthStylePrivateKeyJWT},
			Credential:  map[string]string{AuthStylePrivateKeyJWT: FieldPrivateKey},
			Description: "How the client authenticates: basic (client_secret in HTTP Basic, RFC 6749's default), body (client_secret in the form) or private_key_jwt (an assertion signed with private_key, RFC 7523; no client_secret)."},
		{Name: FieldPrivateKey, Secret: true, Check: checkPrivateKey,
			Description: "The client's private key, PEM: RSA of 2048 bits or more (PKCS#1 or PKCS#8, signs RS256) or EC P-256 (SEC 1 or PKCS#8, signs ES256). Required with auth_style=private_key_jwt, refused otherwise; the server holds the public key."},
		{Name: FieldPrivateKeyID, Check: checkKeyID,
			Description: "The key id (JWS kid header) the server knows the public key by, with auth_style=private_key_jwt."},
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

func checkKeyID(v any) error {
	s, _ := v.(string)
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("holds a control character")
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
	switch c.Fields.String(FieldAuthStyle) {
	case AuthStylePrivateKeyJWT:
		return v.assertionToken(ctx, h, c, form)
	case AuthStyleBody:
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", c.ClientSecret)
	default:
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ClientID)+":"+url.QueryEscape(c.ClientSecret)))
	}
	return oauthToken(ctx, h, v.Name(), c.BaseURL, form, auth, c)
}

// assertionToken authenticates with a fresh signed assertion per attempt
// and no secret: aud is the token_url, iss and sub the client_id, which
// the form carries too (some servers, Entra ID among them, require it).
func (v oauth2) assertionToken(ctx context.Context, h *HTTP, c Creds, form url.Values) (Token, error) {
	s, err := newAssertionSigner(c.Fields.String(FieldPrivateKey), c.Fields.String(FieldPrivateKeyID), c.ClientID, c.BaseURL, h.opts.Now)
	if err != nil {
		return Token{}, invalid(FieldPrivateKey, err.Error())
	}
	form.Set("client_id", c.ClientID)
	form.Set("client_assertion_type", ClientAssertionType)
	hdr, _ := postForm(form)
	data, err := h.do(ctx, request{
		vendor: v.Name(), op: "token", method: http.MethodPost,
		url: c.BaseURL, header: hdr, secrets: c.Secrets(), logon: true,
		fresh: func() ([]byte, []string, error) {
			jws, err := s.assertion()
			if err != nil {
				return nil, nil, err
			}
			f := maps.Clone(form)
			f.Set("client_assertion", jws)
			// The header is fixed and public: what follows it is the
			// assertion too, as an echo that leaves the header out shows.
			_, claimsAndSig, _ := strings.Cut(jws, ".")
			return []byte(f.Encode()), []string{jws, claimsAndSig}, nil
		},
	})
	if err != nil {
		return Token{}, err
	}
	return ParseOAuthToken(v.Name(), data)
}

func strconvQuote(s string) string { return `"` + clip(s, 40) + `"` }

// NoRotation: RFC 6749 defines no way for a client to change its secret.
func (oauth2) NoRotation() string {
	return "oauth2 has no rotation API (OAuth 2.0 defines no standard way to change a client secret): renew the secret at the authorization server, then write it to the role with client_secret=..."
}
