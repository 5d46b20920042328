package client

import (
	"context"
	"errors"
	"strings"
)

// Code42 Incydr: raw Basic client credentials and an empty body. Secrets may
// hold % and #, which URL-escaping would corrupt.
type incydr struct{}

func init() { Register(incydr{}) }

func (incydr) Name() string { return "incydr" }

func (incydr) Fields() []Field {
	return []Field{
		{Name: FieldBaseURL, Description: "the API gateway, like https://api.us.code42.com"},
		{Name: FieldClientID, Description: "the API client's id", Check: noColon},
	}
}

// noColon refuses an id sent raw as the user of Basic credentials.
func noColon(v any) error {
	if s, _ := v.(string); strings.Contains(s, ":") {
		return errors.New("must not contain ':' (it is sent as Basic credentials)")
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
