// Package client knows how each vendor issues bearer tokens and how to talk
// to it over HTTP. It knows nothing of Vault: the plugin's root package hands
// it a role's credentials and gets back a token or a classified error.
package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Creds is what a vendor needs to mint a token for one role. BaseURL is the
// token URL itself for the generic oauth2 vendor.
type Creds struct {
	BaseURL      string
	ClientID     string
	ClientSecret string

	// privx: the OAuth client that fronts the API client.
	OAuthClientID     string
	OAuthClientSecret string

	// cyberark-pam: cyberark, ldap, radius or windows.
	AuthMethod string

	// oauth2
	Scopes      []string
	Audience    string
	AuthStyle   string // basic or body
	TokenParams map[string]string
}

// Secrets lists the values that must never appear in an error text: the
// secrets, and the base64 of each Basic pair they travel in (privx's OAuth
// client and incydr send the pair raw, oauth2 form-encodes it first), which
// a vendor may echo from the Authorization header.
func (c Creds) Secrets() []string {
	out := []string{c.ClientSecret, c.OAuthClientSecret}
	b64 := base64.StdEncoding.EncodeToString
	if c.ClientSecret != "" {
		out = append(out, b64([]byte(c.ClientID+":"+c.ClientSecret)),
			b64([]byte(url.QueryEscape(c.ClientID)+":"+url.QueryEscape(c.ClientSecret))))
	}
	if c.OAuthClientSecret != "" {
		out = append(out, b64([]byte(c.OAuthClientID+":"+c.OAuthClientSecret)))
	}
	return out
}

// Token is a minted bearer token.
type Token struct {
	AccessToken string
	// TokenType is the scheme the token is presented with ("Bearer"), or
	// "session" for tokens sent as-is.
	TokenType string
	// Authorization is the exact Authorization header value for the vendor.
	Authorization string
	// Lifetime is what the vendor said the token lives, in whole seconds.
	Lifetime time.Duration
	// LifetimeKnown is whether the vendor said it. An unsaid lifetime is
	// the role's to choose; a said one of 0 means the token is dead already.
	LifetimeKnown bool
}

// Vendor mints tokens for one kind of vendor. Each lives in its own file and
// registers itself, so adding a vendor touches nothing else.
type Vendor interface {
	// Name is the role's `vendor` value.
	Name() string
	// Fields lists the vendor-specific role fields the vendor uses, beyond
	// base_url, client_id and client_secret.
	Fields() []string
	// Check reports the first problem with creds as a *FieldError.
	Check(c Creds) error
	// Token mints one token.
	Token(ctx context.Context, h *HTTP, c Creds) (Token, error)
}

var registry = map[string]Vendor{}

func register(v Vendor) {
	if _, dup := registry[v.Name()]; dup {
		panic("client: vendor registered twice: " + v.Name())
	}
	registry[v.Name()] = v
}

// Lookup returns the vendor registered under name.
func Lookup(name string) (Vendor, bool) {
	v, ok := registry[name]
	return v, ok
}

// Names lists every vendor, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Vendor-specific role fields. The generic ones (base_url, client_id,
// client_secret) every vendor takes.
const (
	FieldOAuthClientID     = "oauth_client_id"
	FieldOAuthClientSecret = "oauth_client_secret"
	FieldAuthMethod        = "auth_method"
	FieldScopes            = "scopes"
	FieldAudience          = "audience"
	FieldAuthStyle         = "auth_style"
	FieldTokenParams       = "token_params"
)

// Set reports whether the vendor-specific field is set in c.
func (c Creds) Set(field string) bool {
	switch field {
	case FieldOAuthClientID:
		return c.OAuthClientID != ""
	case FieldOAuthClientSecret:
		return c.OAuthClientSecret != ""
	case FieldAuthMethod:
		return c.AuthMethod != ""
	case FieldScopes:
		return len(c.Scopes) > 0
	case FieldAudience:
		return c.Audience != ""
	case FieldAuthStyle:
		return c.AuthStyle != ""
	case FieldTokenParams:
		return len(c.TokenParams) > 0
	}
	return false
}

var vendorFields = []string{
	FieldOAuthClientID, FieldOAuthClientSecret, FieldAuthMethod,
	FieldScopes, FieldAudience, FieldAuthStyle, FieldTokenParams,
}

// Validate checks creds for vendor v: the URL, the credentials, fields that
// belong to another vendor, then the vendor's own rules.
func Validate(v Vendor, c Creds) error {
	urlField := "base_url"
	if v.Name() == "oauth2" {
		urlField = "token_url"
	}
	if c.BaseURL == "" {
		return &FieldError{Field: urlField, Msg: "is required"}
	}
	if err := checkURL(c.BaseURL, v.Name() == "oauth2"); err != nil {
		return &FieldError{Field: urlField, Msg: err.Error()}
	}
	if c.ClientID == "" {
		return &FieldError{Field: "client_id", Msg: "is required"}
	}
	if c.ClientSecret == "" {
		return &FieldError{Field: "client_secret", Msg: "is required"}
	}
	for _, f := range vendorFields {
		if c.Set(f) && !contains(v.Fields(), f) {
			return &FieldError{Field: f, Msg: fmt.Sprintf("does not apply to vendor %s; leave it out, or set it empty on an existing role", v.Name())}
		}
	}
	return v.Check(c)
}

// checkURL accepts an absolute http(s) URL with a host and nothing that
// could smuggle credentials or be silently dropped.
func checkURL(raw string, queryOK bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		// Only the parser's reason: the URL's query could hold a key.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("is not a valid URL: %v", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("must start with https:// (got %q)", u.Scheme+":")
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("must name a host, like https://vendor.example.com")
	}
	if u.User != nil {
		return fmt.Errorf("must not carry user:password@; put credentials in client_id and client_secret")
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return fmt.Errorf("must not have a #fragment")
	}
	if !queryOK && (u.RawQuery != "" || u.ForceQuery) {
		return fmt.Errorf("must not have a ?query; give the vendor's address only")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return fmt.Errorf("has a ?query that does not parse")
		}
		for k := range q {
			if reservedParam(k) {
				return fmt.Errorf("must not carry %s in its ?query: the token request sets it itself", strconvQuote(k))
			}
		}
	}
	return nil
}

// pathSegment refuses, as a *FieldError on field, an id that a vendor puts
// in a URL path but that would not stay one segment of it: made only of
// dots (which walk up the path) or holding a slash.
func pathSegment(field, id string) error {
	if strings.Trim(id, ".") == "" || strings.ContainsAny(id, `/\`) {
		return &FieldError{Field: field, Msg: "must not be made only of dots or hold / or \\: this vendor puts it in a URL path, where it would address another resource"}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// join appends an API path to a base URL without doubling slashes.
func join(base, path string) string {
	return strings.TrimRight(base, "/") + path
}

// sameUser compares user names as the vendors' directories do, without
// case, but only ASCII case: Unicode folding would take "adminiſtrator"
// for "Administrator", and an admin would then act on the wrong user.
func sameUser(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// authorization builds the header value for a token of the given type.
// Some vendors answer "bearer" but reject that spelling on their APIs.
func authorization(tokenType, token string) (string, string) {
	if tokenType == "" || strings.EqualFold(tokenType, "bearer") {
		return "Bearer", "Bearer " + token
	}
	return tokenType, tokenType + " " + token
}
