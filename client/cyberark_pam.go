package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// CyberArk PAM self-hosted (PVWA): a JSON logon whose reply is a bare JSON
// string, sent back on API calls as the whole Authorization header.
type cyberarkPAM struct{}

func init() { Register(cyberarkPAM{}) }

// FieldAuthMethod is the PVWA logon method of a cyberark-pam role.
const FieldAuthMethod = "auth_method"

// PAMAuthMethods maps the role's auth_method to the PVWA URL segment.
var PAMAuthMethods = map[string]string{
	"cyberark": "CyberArk",
	"ldap":     "LDAP",
	"radius":   "RADIUS",
	"windows":  "Windows",
}

// PAMDefaultAuthMethod is used when a cyberark-pam role names none.
const PAMDefaultAuthMethod = "cyberark"

func (cyberarkPAM) Name() string { return "cyberark-pam" }

// DirectoryLogon: the token call is a PVWA logon, often against LDAP/AD.
func (cyberarkPAM) DirectoryLogon() {}

// TokensCarryNoLifetime: the logon reply is the bare session token.
func (cyberarkPAM) TokensCarryNoLifetime() {}

func (cyberarkPAM) Fields() []Field {
	methods := make([]string, 0, len(PAMAuthMethods))
	for m := range PAMAuthMethods {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	return []Field{
		{Name: FieldBaseURL, Description: "the PVWA address without /PasswordVault, like https://pvwa.example.com", Check: func(v any) error {
			if s, _ := v.(string); strings.Contains(strings.ToLower(s), "/passwordvault") {
				return errors.New("must be the PVWA address without /PasswordVault (for example https://pvwa.example.com)")
			}
			return nil
		}},
		{Name: FieldAuthMethod, Kind: KindLowerString, Default: PAMDefaultAuthMethod, Allowed: methods,
			Description: "PVWA logon method: cyberark (default), ldap, radius or windows."},
	}
}

// pamLogon is the PVWA logon body. concurrentSession keeps a new logon from
// ending sessions that applications still hold.
type pamLogon struct {
	Username          string `json:"username"`
	Password          string `json:"password"`
	ConcurrentSession bool   `json:"concurrentSession"`
	NewPassword       string `json:"newPassword,omitempty"`
}

func (v cyberarkPAM) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	return v.logon(ctx, h, c, "")
}

// ChangesSecretByLogon: the user changes its own password by logging on.
func (cyberarkPAM) ChangesSecretByLogon() {}

// SecretRules: PVWA's ResetPassword takes at most 39 characters.
func (cyberarkPAM) SecretRules() SecretRules { return SecretRules{MinLen: 8, MaxLen: 39} }

// RotationHow: for rotate-role's help.
func (cyberarkPAM) RotationHow() string {
	return "a logon with newPassword as the role itself, or ResetPassword through rotation_role; Vault makes the new password (at most 39 characters)"
}

// SetSecret changes the user's password: as the user, by a logon that
// carries newPassword; as an admin, through the Users API.
func (v cyberarkPAM) SetSecret(ctx context.Context, h *HTTP, c Creds, by Actor, newSecret string) error {
	if by.Self {
		_, err := v.logon(ctx, h, c, newSecret)
		return err
	}
	id, err := v.userID(ctx, h, c, by)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(map[string]string{"NewPassword": newSecret})
	if err != nil {
		return err
	}
	hdr, body := jsonBody(raw)
	_, err = h.call(ctx, by, request{
		vendor: v.Name(), op: "ResetPassword", method: http.MethodPost,
		url:    join(c.BaseURL, "/PasswordVault/API/Users/"+url.PathEscape(id)+"/ResetPassword"),
		header: hdr, body: body, secrets: append(c.Secrets(), newSecret),
	})
	return err
}

// userID finds the vault user's numeric id by name.
func (v cyberarkPAM) userID(ctx context.Context, h *HTTP, c Creds, by Actor) (string, error) {
	data, err := h.call(ctx, by, request{
		vendor: v.Name(), op: "Users search", method: http.MethodGet,
		url:     join(c.BaseURL, "/PasswordVault/API/Users?search="+url.QueryEscape(c.ClientID)),
		secrets: c.Secrets(),
	})
	if err != nil {
		return "", err
	}
	return parsePAMUsers(data, c.ClientID)
}

// parsePAMUsers finds the user's id in a Users search reply.
func parsePAMUsers(data []byte, user string) (string, error) {
	const vendor, op = "cyberark-pam", "Users search"
	var r struct {
		Users []struct {
			ID       json.Number `json:"id"`
			Username string      `json:"username"`
		} `json:"Users"`
	}
	if err := decodeReply(vendor, op, data, &r); err != nil {
		return "", err
	}
	for _, u := range r.Users {
		if sameUser(u.Username, user) && u.ID != "" {
			return u.ID.String(), nil
		}
	}
	return "", &RejectedError{Vendor: vendor, Op: op, Status: http.StatusOK,
		Message: "no user " + clip(user, 100) + " is visible to the rotation_role; check the user name and the admin's rights"}
}

func (v cyberarkPAM) logon(ctx context.Context, h *HTTP, c Creds, newPassword string) (Token, error) {
	method := c.Fields.String(FieldAuthMethod)
	if method == "" {
		method = PAMDefaultAuthMethod
	}
	raw, err := json.Marshal(pamLogon{Username: c.ClientID, Password: c.ClientSecret, ConcurrentSession: true, NewPassword: newPassword})
	if err != nil {
		return Token{}, err
	}
	hdr, body := jsonBody(raw)
	data, err := h.do(ctx, request{
		vendor: v.Name(), op: "logon", method: "POST",
		url:    join(c.BaseURL, "/PasswordVault/API/Auth/"+PAMAuthMethods[method]+"/Logon"),
		header: hdr, body: body, secrets: append(c.Secrets(), newPassword),
		// A logon that changes the password must not be sent twice.
		once:  newPassword != "",
		logon: true,
	})
	if err != nil {
		return Token{}, err
	}
	return ParsePAMLogon(data)
}

// ParsePAMLogon reads the logon reply: a JSON string holding the token.
func ParsePAMLogon(body []byte) (Token, error) {
	var tok string
	if err := json.Unmarshal(body, &tok); err != nil {
		return Token{}, &UnavailableError{Vendor: "cyberark-pam", Op: "logon", Class: ClassBadResponse,
			Detail: "the logon reply is not a JSON string: " + jsonProblem(err)}
	}
	if strings.TrimSpace(tok) == "" {
		return Token{}, &UnavailableError{Vendor: "cyberark-pam", Op: "logon", Class: ClassBadResponse, Detail: "the logon reply is an empty token"}
	}
	// PVWA says nothing of the session's life; the role's token_ttl_cap sets it.
	return Token{AccessToken: tok, TokenType: "session", Authorization: tok}, nil
}
