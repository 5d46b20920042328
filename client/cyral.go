package client

import (
	"context"
	"net/url"
)

// Cyral's control plane is Keycloak underneath: client credentials go in the
// form body (never Basic), and expires_in arrives as a JSON string.
type cyral struct{}

func init() { register(cyral{}) }

func (cyral) Name() string      { return "cyral" }
func (cyral) Fields() []string  { return nil }
func (cyral) Check(Creds) error { return nil }
func (cyral) TokenPath() string { return "/v1/users/oidc/token" }

func (v cyral) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	hdr, body := postForm(url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {c.ClientID},
		"client_secret": {c.ClientSecret},
	})
	data, err := h.do(ctx, request{
		vendor: v.Name(), op: "token", method: "POST",
		url: join(c.BaseURL, v.TokenPath()), header: hdr, body: body, secrets: c.secrets(),
	})
	if err != nil {
		return Token{}, err
	}
	return ParseOAuthToken(v.Name(), data)
}
