package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// PrivX: the API client's id and secret travel as a password grant, behind
// Basic credentials of the OAuth client that fronts it, sent raw.
type privx struct{}

func init() { Register(privx{}) }

// The OAuth client that fronts a PrivX API client.
const (
	FieldOAuthClientID     = "oauth_client_id"
	FieldOAuthClientSecret = "oauth_client_secret"
)

func (privx) Name() string { return "privx" }

// RotationHow: for rotate-role's help.
func (privx) RotationHow() string {
	return "through rotation_role: a new API client with the same name and roles replaces the role's, which is then deleted"
}

func (privx) Fields() []Field {
	return []Field{
		{Name: FieldBaseURL, Description: "the PrivX server, like https://privx.example.com"},
		// The API client's id is a path segment of the admin APIs.
		{Name: FieldClientID, Description: "the API client's id", Check: checkPathSegment},
		{Name: FieldOAuthClientID, Required: true, Check: noColon, PairedSecret: FieldOAuthClientSecret,
			Description: "The API client's OAuth client ID, sent as Basic credentials."},
		{Name: FieldOAuthClientSecret, Required: true, Secret: true,
			Description: "The API client's OAuth client secret."},
	}
}

// SecretForms: the OAuth pair travels as raw Basic credentials.
func (privx) SecretForms(c Creds) []string {
	id, secret := c.Fields.String(FieldOAuthClientID), c.Fields.String(FieldOAuthClientSecret)
	if secret == "" {
		return nil
	}
	return []string{base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))}
}

func (v privx) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	form := url.Values{
		"grant_type": {"password"},
		"username":   {c.ClientID},
		"password":   {c.ClientSecret},
	}
	return oauthToken(ctx, h, v.Name(), join(c.BaseURL, "/auth/api/v1/oauth/token"), form,
		basicRaw(c.Fields.String(FieldOAuthClientID), c.Fields.String(FieldOAuthClientSecret)), c)
}

const privxClients = "/local-user-store/api/v1/api-clients"

// privxClient is an API client as the local user store returns it.
type privxClient struct {
	ID                string          `json:"id"`
	Name              string          `json:"name"`
	Roles             json.RawMessage `json:"roles"`
	Secret            string          `json:"secret"`
	OAuthClientID     string          `json:"oauth_client_id"`
	OAuthClientSecret string          `json:"oauth_client_secret"`
}

func (v privx) getClient(ctx context.Context, h *HTTP, c Creds, by Actor, id string) (privxClient, error) {
	var pc privxClient
	if err := segment(FieldClientID, id); err != nil {
		return pc, err
	}
	data, err := h.call(ctx, by, request{
		vendor: v.Name(), op: "api-clients read", method: http.MethodGet,
		url: join(c.BaseURL, privxClients+"/"+url.PathEscape(id)), secrets: c.Secrets(),
	})
	if err != nil {
		return pc, err
	}
	return pc, decodeReply(v.Name(), "api-clients read", data, &pc)
}

// CreateReplacement creates an API client with the same name and roles as
// the role's own. PrivX has no call that renews a client's secret. The old
// client must show its roles, and the new one must show the same roles
// (by id, in any order) before it is used; one that does not is deleted.
func (v privx) CreateReplacement(ctx context.Context, h *HTTP, c Creds, by Actor) (string, error) {
	old, err := v.getClient(ctx, h, c, by, c.ClientID)
	if err != nil {
		return "", err
	}
	if old.Name == "" {
		return "", &UnavailableError{Vendor: v.Name(), Op: "api-clients read", Class: ClassBadResponse, Detail: "the API client has no name"}
	}
	want, err := privxRoleIDs(old.Roles)
	if err != nil {
		return "", &RejectedError{Vendor: v.Name(), Op: "api-clients read", Status: http.StatusOK, Message: fmt.Sprintf(
			"API client %s is read without %s, so a replacement could not be given the same roles; no replacement was made (check that the rotation_role may read API clients' roles)", clip(c.ClientID, 80), err)}
	}
	raw, err := json.Marshal(map[string]any{"name": old.Name, "roles": old.Roles})
	if err != nil {
		return "", err
	}
	hdr, body := jsonBody(raw)
	data, err := h.call(ctx, by, request{
		vendor: v.Name(), op: "api-clients create", method: http.MethodPost,
		url: join(c.BaseURL, privxClients), header: hdr, body: body, secrets: c.Secrets(),
	})
	if err != nil {
		return "", err
	}
	var r struct {
		ID string `json:"id"`
	}
	if err := decodeReply(v.Name(), "api-clients create", data, &r); err != nil {
		return "", err
	}
	if r.ID == "" || pathSegment(r.ID) != nil {
		return "", &UnavailableError{Vendor: v.Name(), Op: "api-clients create", Class: ClassBadResponse, Detail: "the reply has no id that can be used in a URL path"}
	}
	if sameUser(r.ID, c.ClientID) {
		// Not a replacement: deleting "it" later would delete the role's
		// own live client.
		return "", &UnavailableError{Vendor: v.Name(), Op: "api-clients create", Class: ClassBadResponse, Detail: "the reply names the role's own API client, not a new one"}
	}
	if err := v.checkRoles(ctx, h, c, by, r.ID, want); err != nil {
		return "", err
	}
	return r.ID, nil
}

// checkRoles reads the new client id back and deletes it unless it holds
// exactly the roles want.
func (v privx) checkRoles(ctx context.Context, h *HTTP, c Creds, by Actor, id string, want []string) error {
	nc, readErr := v.getClient(ctx, h, c, by, id)
	var problem string
	if readErr != nil {
		problem = "could not be read back to check its roles"
	} else {
		got, err := privxRoleIDs(nc.Roles)
		switch {
		case err == nil && slices.Equal(got, want):
			return nil
		case err != nil:
			problem = "was read back without " + err.Error()
		case len(got) == 0:
			problem = "was created with no roles"
		default:
			problem = "was created with roles " + strings.Join(got, ", ")
		}
		problem += ", not the old client's roles " + strings.Join(want, ", ")
	}
	msg := fmt.Sprintf("the replacement API client %s %s; ", id, problem)
	if derr := v.DeleteClient(ctx, h, c, by, id); derr != nil {
		msg += fmt.Sprintf("deleting it failed (%v): delete API client %s by hand. ", derr, id)
	} else {
		msg += "it was deleted. "
	}
	msg += "The role keeps its API client"
	if readErr != nil {
		return fmt.Errorf("%s: %w", msg, readErr)
	}
	return &RejectedError{Vendor: v.Name(), Op: "api-clients create", Status: http.StatusOK,
		Message: msg + "; check that the rotation_role may grant every role of the old client"}
}

// privxRoleIDs reads an API client's roles list: an explicit list (null or
// missing is not one) of roles that each have an id. The ids come back
// sorted, repeats kept, for comparison.
func privxRoleIDs(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("a roles list")
	}
	var roles []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &roles); err != nil {
		return nil, errors.New("a roles list of the expected shape (" + jsonProblem(err) + ")")
	}
	ids := make([]string, 0, len(roles))
	for _, r := range roles {
		if r.ID == "" {
			return nil, errors.New("an id for every role")
		}
		ids = append(ids, clip(r.ID, 80))
	}
	sort.Strings(ids)
	return ids, nil
}

// ReadClient returns c switched to API client id and its credentials.
func (v privx) ReadClient(ctx context.Context, h *HTTP, c Creds, by Actor, id string) (Creds, error) {
	pc, err := v.getClient(ctx, h, c, by, id)
	if err != nil {
		return Creds{}, err
	}
	if pc.Secret == "" || pc.OAuthClientID == "" || pc.OAuthClientSecret == "" {
		return Creds{}, &UnavailableError{Vendor: v.Name(), Op: "api-clients read", Class: ClassBadResponse,
			Detail: "the API client has no secret, oauth_client_id or oauth_client_secret"}
	}
	c.ClientID, c.ClientSecret = id, pc.Secret
	c.Fields = c.Fields.With(Values{FieldOAuthClientID: pc.OAuthClientID, FieldOAuthClientSecret: pc.OAuthClientSecret})
	return c, nil
}

// DeleteClient deletes API client id; one already gone counts as deleted.
func (v privx) DeleteClient(ctx context.Context, h *HTTP, c Creds, by Actor, id string) error {
	if sameUser(id, c.ClientID) {
		return invalid(FieldClientID, "is the API client the role uses; it is never deleted")
	}
	if err := segment(FieldClientID, id); err != nil {
		return err
	}
	_, err := h.call(ctx, by, request{
		vendor: v.Name(), op: "api-clients delete", method: http.MethodDelete,
		url: join(c.BaseURL, privxClients+"/"+url.PathEscape(id)), secrets: c.Secrets(),
	})
	var re *RejectedError
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		return nil
	}
	return err
}
