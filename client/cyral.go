package client

import "context"

// Cyral's control plane is Keycloak underneath: client credentials go in the
// form body (never Basic), and expires_in arrives as a JSON string.
type cyral struct{}

func init() { register(cyral{}) }

func (cyral) Name() string      { return "cyral" }
func (cyral) Fields() []string  { return nil }
func (cyral) Check(Creds) error { return nil }

func (v cyral) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	return oauthToken(ctx, h, v.Name(), join(c.BaseURL, "/v1/users/oidc/token"), clientCredentials(c), "", c)
}
