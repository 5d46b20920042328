package client

import (
	"context"
	"strings"
)

// CyberArk Identity (ISPSS): a service user's login (user@suffix) and
// password as OAuth client credentials, form-encoded, at the tenant's
// platformtoken endpoint.
type cyberark struct{}

func init() { register(cyberark{}) }

func (cyberark) Name() string     { return "cyberark" }
func (cyberark) Fields() []string { return nil }

func (cyberark) Check(c Creds) error {
	at := strings.LastIndex(c.ClientID, "@")
	if at <= 0 || at == len(c.ClientID)-1 {
		return &FieldError{Field: "client_id", Msg: "must be the service user's login as user@suffix (for example svc-vault@cyberark.cloud.12345)"}
	}
	return nil
}

func (v cyberark) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	return oauthToken(ctx, h, v.Name(), join(c.BaseURL, "/oauth2/platformtoken"), clientCredentials(c), "", c)
}
