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

// Creds is what a vendor needs to mint a token for one role. BaseURL is
// the vendor's address, whatever its role field is called (AddressField).
type Creds struct {
	BaseURL      string
	ClientID     string
	ClientSecret string
	// Fields are the vendor's own role fields (Vendor.Fields).
	Fields Values
}

// SecretForms is implemented by a vendor that sends a secret field in a
// form of its own (the base64 of a Basic pair), which a vendor may echo.
type SecretForms interface {
	SecretForms(c Creds) []string
}

// Secrets lists the values that must never appear in an error text: the
// client secret, every field any vendor declares secret, the base64 of
// the client's Basic pair (raw, and form-encoded first as RFC 6749 does),
// and the forms vendors add for their own fields.
func (c Creds) Secrets() []string {
	out := []string{c.ClientSecret}
	b64 := base64.StdEncoding.EncodeToString
	if c.ClientSecret != "" {
		out = append(out, b64([]byte(c.ClientID+":"+c.ClientSecret)),
			b64([]byte(url.QueryEscape(c.ClientID)+":"+url.QueryEscape(c.ClientSecret))))
	}
	if len(c.Fields) == 0 {
		return out
	}
	for _, name := range secretFields() {
		if s := c.Fields.String(name); s != "" {
			out = append(out, s)
		}
	}
	for _, n := range Names() {
		if sf, ok := registry[n].(SecretForms); ok {
			out = append(out, sf.SecretForms(c)...)
		}
	}
	return out
}

// secretFields are the names of the fields any vendor declares secret.
func secretFields() []string {
	var out []string
	for _, n := range Names() {
		for _, f := range registry[n].Fields() {
			if f.Secret && !contains(out, f.Name) {
				out = append(out, f.Name)
			}
		}
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

// Vendor mints tokens for one kind of vendor. Each lives in its own file,
// declares its role fields and registers itself, so adding a vendor
// touches nothing else.
type Vendor interface {
	// Name is the role's `vendor` value.
	Name() string
	// Fields declares the vendor's own role fields, its address field
	// when that is not base_url, and checks on the common fields.
	Fields() []Field
	// Token mints one token.
	Token(ctx context.Context, h *HTTP, c Creds) (Token, error)
}

var registry = map[string]Vendor{}

// Register adds v to the vendors roles may name. Vendors call it from
// init; it panics on a name registered twice.
func Register(v Vendor) {
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

// CheckURL accepts an absolute http(s) URL with a host and nothing that
// could smuggle credentials or be silently dropped; a query only when
// queryOK. Its error text is the message; the caller names the field.
func CheckURL(raw string, queryOK bool) error { return checkURL(raw, queryOK) }

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
		return fmt.Errorf("is not a valid URL (%v); give it as https://host[:port][/path]", err)
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
		if _, err := url.ParseQuery(u.RawQuery); err != nil {
			return fmt.Errorf("has a ?query that does not parse")
		}
	}
	return nil
}

// pathSegment refuses an id that a vendor puts in a URL path but that
// would not stay one segment of it: made only of dots (which walk up the
// path) or holding a slash.
func pathSegment(id string) error {
	if strings.Trim(id, ".") == "" || strings.ContainsAny(id, `/\`) {
		return errors.New("must not be made only of dots or hold / or \\: this vendor puts it in a URL path, where it would address another resource")
	}
	return nil
}

// segment is pathSegment at call time, as an ErrInvalid naming field.
func segment(field, id string) error {
	if err := pathSegment(id); err != nil {
		return invalid(field, err.Error())
	}
	return nil
}

// checkPathSegment is pathSegment for a Field Check.
func checkPathSegment(v any) error { s, _ := v.(string); return pathSegment(s) }

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

// OAuthToken posts form (nil: an empty body) to tokenURL with the given
// Authorization header value (none when empty) and reads an RFC 6749
// token reply, keeping c's secrets out of any error: the token call of a
// vendor declared outside this package.
func (h *HTTP) OAuthToken(ctx context.Context, vendor, tokenURL string, form url.Values, authorization string, c Creds) (Token, error) {
	return oauthToken(ctx, h, vendor, tokenURL, form, authorization, c)
}
