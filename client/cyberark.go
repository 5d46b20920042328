package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// CyberArk Identity (ISPSS): a service user's login (user@suffix) and
// password as OAuth client credentials, form-encoded, at the tenant's
// platformtoken endpoint.
type cyberark struct{}

func init() { Register(cyberark{}) }

func (cyberark) Name() string { return "cyberark" }

// DirectoryLogon: the token call is a logon of an Identity user.
func (cyberark) DirectoryLogon() {}

func (cyberark) Fields() []Field {
	return []Field{
		{Name: FieldBaseURL, Description: "the Identity tenant, like https://acme.id.cyberark.cloud"},
		{Name: FieldClientID, Description: "the service user's login, user@suffix", Check: func(v any) error {
			id, _ := v.(string)
			at := strings.LastIndex(id, "@")
			if at <= 0 || at == len(id)-1 {
				return errors.New("must be the service user's login as user@suffix (for example svc-vault@cyberark.cloud.12345)")
			}
			return nil
		}},
	}
}

func (v cyberark) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	return oauthToken(ctx, h, v.Name(), join(c.BaseURL, "/oauth2/platformtoken"), clientCredentials(c), "", c)
}

// Identity password rules as the default tenant policy sets them.
func (cyberark) SecretRules() SecretRules { return SecretRules{MinLen: 8, MaxLen: 64} }

// RotationHow: for rotate-role's help.
func (cyberark) RotationHow() string {
	return "ChangeUserPassword as the role itself, or ResetUserPassword through rotation_role; Vault makes the new password"
}

// SetSecret changes the service user's password: as the user itself with
// its old password, or as an admin by the user's uuid.
func (v cyberark) SetSecret(ctx context.Context, h *HTTP, c Creds, by Actor, newSecret string) error {
	secrets := append(c.Secrets(), newSecret)
	if by.Self {
		_, err := v.identityCall(ctx, h, by, "ChangeUserPassword", c.BaseURL, "/UserMgmt/ChangeUserPassword",
			map[string]string{"oldPassword": c.ClientSecret, "newPassword": newSecret}, secrets)
		return err
	}
	uuid, err := v.userUUID(ctx, h, c, by)
	if err != nil {
		return err
	}
	_, err = v.identityCall(ctx, h, by, "ResetUserPassword", c.BaseURL, "/UserMgmt/ResetUserPassword",
		map[string]string{"ID": uuid, "newPassword": newSecret}, secrets)
	return err
}

// userUUID finds the user's uuid through a Redrock query.
func (v cyberark) userUUID(ctx context.Context, h *HTTP, c Creds, by Actor) (string, error) {
	// A quote doubled is SQL's escape; the login cannot break out of the literal.
	script := "Select ID, Username from User WHERE Username='" + strings.ReplaceAll(c.ClientID, "'", "''") + "'"
	raw, err := v.identityCall(ctx, h, by, "Redrock/query", c.BaseURL, "/Redrock/query", map[string]string{"Script": script}, c.Secrets())
	if err != nil {
		return "", err
	}
	return parseRedrockUser(raw, c.ClientID)
}

// parseRedrockUser finds the login's uuid in a Redrock query result.
func parseRedrockUser(raw []byte, login string) (string, error) {
	var r struct {
		Results []struct {
			Row struct {
				ID       string `json:"ID"`
				Username string `json:"Username"`
			} `json:"Row"`
		} `json:"Results"`
	}
	if err := decodeReply("cyberark", "Redrock/query", raw, &r); err != nil {
		return "", err
	}
	for _, res := range r.Results {
		if sameUser(res.Row.Username, login) && res.Row.ID != "" {
			return res.Row.ID, nil
		}
	}
	return "", &RejectedError{Vendor: "cyberark", Op: "Redrock/query", Status: http.StatusOK,
		Message: "no user " + clip(login, 100) + " is visible to the rotation_role; check the login and the admin's rights"}
}

// identityCall posts a JSON body and unwraps Identity's envelope, in which
// HTTP 200 with success:false is a refusal.
func (v cyberark) identityCall(ctx context.Context, h *HTTP, by Actor, op, base, path string, body any, secrets []string) (json.RawMessage, error) {
	secrets = append(secrets, by.Secrets...)
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	hdr, b := jsonBody(raw)
	data, err := h.call(ctx, by, request{vendor: v.Name(), op: op, method: http.MethodPost, url: join(base, path), header: hdr, body: b, secrets: secrets})
	if err != nil {
		return nil, err
	}
	return parseIdentityEnvelope(op, data, secrets)
}

// parseIdentityEnvelope unwraps Identity's REST envelope.
func parseIdentityEnvelope(op string, data []byte, secrets []string) (json.RawMessage, error) {
	const vendor = "cyberark"
	var env struct {
		Success   *bool           `json:"success"`
		Result    json.RawMessage `json:"Result"`
		Message   string          `json:"Message"`
		ErrorCode string          `json:"ErrorCode"`
	}
	if err := decodeReply(vendor, op, data, &env); err != nil {
		return nil, err
	}
	if env.Success == nil {
		return nil, &UnavailableError{Vendor: vendor, Op: op, Class: ClassBadResponse, Detail: "the reply has no success field"}
	}
	if !*env.Success {
		return nil, &RejectedError{Vendor: vendor, Op: op, Status: http.StatusOK,
			Code: quote(env.ErrorCode, 100, secrets), Message: quote(env.Message, 300, secrets)}
	}
	return env.Result, nil
}
