package client

import (
	"context"
	"net/http"
	"net/url"
)

// Cyral's control plane is Keycloak underneath: client credentials go in the
// form body (never Basic), and expires_in arrives as a JSON string.
type cyral struct{}

func init() { Register(cyral{}) }

func (cyral) Name() string { return "cyral" }

// RotationHow: for rotate-role's help.
func (cyral) RotationHow() string { return "rotateSecret; Cyral makes the new secret" }

// OldSecretEndsAtIssue: rotateSecret voids the old secret as it answers.
func (cyral) OldSecretEndsAtIssue() {}

// Fields: the client id is a path segment of the service account APIs.
func (cyral) Fields() []Field {
	return []Field{
		{Name: FieldBaseURL, Description: "the control plane, like https://tenant.app.cyral.com"},
		{Name: FieldClientID, Description: "the service account's client id", Check: checkPathSegment},
	}
}

func (v cyral) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	return oauthToken(ctx, h, v.Name(), join(c.BaseURL, "/v1/users/oidc/token"), clientCredentials(c), "", c)
}

// RegenerateSecret asks the control plane for a new secret of the service
// account; the old one stops working at once.
func (v cyral) RegenerateSecret(ctx context.Context, h *HTTP, c Creds, by Actor) (string, error) {
	if err := segment(FieldClientID, c.ClientID); err != nil {
		return "", err
	}
	data, err := h.call(ctx, by, request{
		vendor: v.Name(), op: "rotateSecret", method: http.MethodPost,
		url:     join(c.BaseURL, "/v1/users/serviceAccounts/"+url.PathEscape(c.ClientID)+"/rotateSecret"),
		secrets: c.Secrets(),
	})
	if err != nil {
		return "", err
	}
	return parseRotateSecret(data, c.ClientID)
}

// parseRotateSecret reads rotateSecret's reply: the service account's new
// secret, which must be for the account asked about.
func parseRotateSecret(data []byte, clientID string) (string, error) {
	const vendor, op = "cyral", "rotateSecret"
	var r struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	if err := decodeReply(vendor, op, data, &r); err != nil {
		return "", err
	}
	if r.ClientSecret == "" {
		return "", &UnavailableError{Vendor: vendor, Op: op, Class: ClassBadResponse, Detail: "the reply has no clientSecret"}
	}
	if r.ClientID != "" && r.ClientID != clientID {
		return "", &UnavailableError{Vendor: vendor, Op: op, Class: ClassBadResponse,
			Detail: "the reply is for service account " + clip(r.ClientID, 80) + ", not " + clip(clientID, 80)}
	}
	return r.ClientSecret, nil
}
