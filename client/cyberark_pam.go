package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
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

// FieldPVWAAppName is the PVWA web application's name, the first segment
// of every PVWA API path. Sites may install PVWA under another name.
const FieldPVWAAppName = "pvwa_app_name"

// PAMDefaultAppName is the name PVWA installs under unless a site renames it.
const PAMDefaultAppName = "PasswordVault"

// maxPAMAppName bounds pvwa_app_name; IIS application names are short.
const maxPAMAppName = 100

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
		{Name: FieldBaseURL, Description: "the PVWA address without the application path, like https://pvwa.example.com", Check: func(v any) error {
			if s, _ := v.(string); strings.Contains(strings.ToLower(s), "/passwordvault") {
				return errors.New("must be the PVWA address without /PasswordVault (for example https://pvwa.example.com); a renamed application is set with " + FieldPVWAAppName)
			}
			return nil
		}},
		{Name: FieldAuthMethod, Kind: KindLowerString, Default: PAMDefaultAuthMethod, Allowed: methods,
			Description: "PVWA logon method: cyberark (default), ldap, radius or windows."},
		// The application is part of the address the password goes to.
		{Name: FieldPVWAAppName, Kind: KindString, Default: PAMDefaultAppName, Check: checkPAMAppName, PairedSecret: FieldClientSecret,
			Description: "The name of the PVWA web application, the path segment after the address in https://pvwa.example.com/PasswordVault/API/...: set it where the site installed PVWA under another name."},
	}
}

// checkPAMAppName admits one URL path segment that needs no escaping, so
// that the name is sent as written and cannot step to another path.
func checkPAMAppName(v any) error {
	s, _ := v.(string)
	if len(s) > maxPAMAppName {
		return fmt.Errorf("is longer than %d characters", maxPAMAppName)
	}
	if strings.Trim(s, ".") == "" {
		return errors.New("must be the PVWA application's name (such as PasswordVault), not dots only")
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.') {
			return errors.New("must be one URL path segment of letters, digits, '-', '_' and '.' (such as PasswordVault), with no '/'")
		}
	}
	return nil
}

// pamPath is an API path under the role's PVWA application.
func pamPath(c Creds, path string) string {
	app := c.Fields.String(FieldPVWAAppName)
	if app == "" {
		app = PAMDefaultAppName
	}
	return join(c.BaseURL, "/"+app+path)
}

// pamCode matches PVWA's own error codes (PASWS013E, ITATS004E, CAWS00001E).
var pamCode = regexp.MustCompile(`^[A-Z]{4,5}[0-9]{3,5}[EWI]$`)

// pamNotFound explains a 404 that PVWA itself did not answer: with no PVWA
// error code, the web server found no PVWA application at the path, which
// is most often a renamed application.
func pamNotFound(err error, c Creds) error {
	var re *RejectedError
	if !errors.As(err, &re) || re.Status != http.StatusNotFound || pamCode.MatchString(re.Code) {
		return err
	}
	app := c.Fields.String(FieldPVWAAppName)
	if app == "" {
		app = PAMDefaultAppName
	}
	out := *re
	out.Code = ""
	out.Message = fmt.Sprintf("no PVWA application answers at /%s on this host; check base_url, and set %s if the site installed PVWA under another name than %s",
		app, FieldPVWAAppName, PAMDefaultAppName)
	return &out
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
		url:    pamPath(c, "/API/Users/"+url.PathEscape(id)+"/ResetPassword"),
		header: hdr, body: body, secrets: append(c.Secrets(), newSecret),
	})
	return pamNotFound(err, c)
}

// userID finds the vault user's numeric id by name.
func (v cyberarkPAM) userID(ctx context.Context, h *HTTP, c Creds, by Actor) (string, error) {
	data, err := h.call(ctx, by, request{
		vendor: v.Name(), op: "Users search", method: http.MethodGet,
		url:     pamPath(c, "/API/Users?search="+url.QueryEscape(c.ClientID)),
		secrets: c.Secrets(),
	})
	if err != nil {
		return "", pamNotFound(err, c)
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
		url:    pamPath(c, "/API/Auth/"+PAMAuthMethods[method]+"/Logon"),
		header: hdr, body: body, secrets: append(c.Secrets(), newPassword),
		// A logon that changes the password must not be sent twice.
		once:  newPassword != "",
		logon: true,
	})
	if err != nil {
		return Token{}, pamNotFound(err, c)
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
