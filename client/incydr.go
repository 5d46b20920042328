package client

import (
	"context"
	"strings"
)

// Code42 Incydr: raw Basic client credentials and an empty body. Secrets may
// hold % and #, which URL-escaping would corrupt.
type incydr struct{}

func init() { register(incydr{}) }

func (incydr) Name() string     { return "incydr" }
func (incydr) Fields() []string { return nil }

func (incydr) Check(c Creds) error {
	if strings.Contains(c.ClientID, ":") {
		return &FieldError{Field: "client_id", Msg: "must not contain ':' (it is sent as Basic credentials)"}
	}
	return nil
}

func (v incydr) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	return oauthToken(ctx, h, v.Name(), join(c.BaseURL, "/v1/oauth"), nil, basicRaw(c.ClientID, c.ClientSecret), c)
}

// NoRotation: Code42 renews API client secrets only in its console.
func (incydr) NoRotation() string {
	return "incydr has no public API to rotate an API client secret (Code42 renews them only in the console): create a new API client there, then write its secret to the role with client_secret=..."
}
