package client

import (
	"context"
	"encoding/json"
	"strings"
)

// CyberArk PAM self-hosted (PVWA): a JSON logon whose reply is a bare JSON
// string, sent back on API calls as the whole Authorization header.
type cyberarkPAM struct{}

func init() { register(cyberarkPAM{}) }

// PAMAuthMethods maps the role's auth_method to the PVWA URL segment.
var PAMAuthMethods = map[string]string{
	"cyberark": "CyberArk",
	"ldap":     "LDAP",
	"radius":   "RADIUS",
	"windows":  "Windows",
}

// PAMDefaultAuthMethod is used when a cyberark-pam role names none.
const PAMDefaultAuthMethod = "cyberark"

func (cyberarkPAM) Name() string     { return "cyberark-pam" }
func (cyberarkPAM) Fields() []string { return []string{FieldAuthMethod} }

func (cyberarkPAM) Check(c Creds) error {
	if c.AuthMethod != "" {
		if _, ok := PAMAuthMethods[c.AuthMethod]; !ok {
			return &FieldError{Field: FieldAuthMethod, Msg: "must be one of cyberark, ldap, radius, windows"}
		}
	}
	if strings.Contains(strings.ToLower(c.BaseURL), "/passwordvault") {
		return &FieldError{Field: "base_url", Msg: "must be the PVWA address without /PasswordVault (for example https://pvwa.example.com)"}
	}
	return nil
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

func (v cyberarkPAM) logon(ctx context.Context, h *HTTP, c Creds, newPassword string) (Token, error) {
	method := c.AuthMethod
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
		header: hdr, body: body, secrets: append(c.secrets(), newPassword),
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
