package client

import (
	"context"
	"net/url"
	"strings"
)

// PrivX: the API client's id and secret travel as a password grant, behind
// Basic credentials of the OAuth client that fronts it, sent raw.
type privx struct{}

func init() { register(privx{}) }

func (privx) Name() string { return "privx" }
func (privx) Fields() []string {
	return []string{FieldOAuthClientID, FieldOAuthClientSecret}
}

func (privx) Check(c Creds) error {
	if c.OAuthClientID == "" {
		return &FieldError{Field: FieldOAuthClientID, Msg: "is required for privx (the API client's oauth_client_id)"}
	}
	if strings.Contains(c.OAuthClientID, ":") {
		return &FieldError{Field: FieldOAuthClientID, Msg: "must not contain ':' (it is sent as Basic credentials)"}
	}
	if c.OAuthClientSecret == "" {
		return &FieldError{Field: FieldOAuthClientSecret, Msg: "is required for privx (the API client's oauth_client_secret)"}
	}
	return nil
}

func (v privx) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	form := url.Values{
		"grant_type": {"password"},
		"username":   {c.ClientID},
		"password":   {c.ClientSecret},
	}
	return oauthToken(ctx, h, v.Name(), join(c.BaseURL, "/auth/api/v1/oauth/token"), form,
		basicRaw(c.OAuthClientID, c.OAuthClientSecret), c)
}
