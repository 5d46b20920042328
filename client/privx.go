package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// PrivX: the API client's id and secret travel as a password grant, behind
// Basic credentials of the OAuth client that fronts it, sent raw.
type privx struct{}

func init() { register(privx{}) }

func (privx) Name() string { return "privx" }
func (privx) Fields() []string {
	return []string{FieldOAuthClientID, FieldOAuthClientSecret}
}

func (privx) Check(c Creds) error {
	if c.OAuthClientID == "" {
		return &FieldError{Field: FieldOAuthClientID, Msg: "is required for privx (the API client's oauth_client_id)"}
	}
	if strings.Contains(c.OAuthClientID, ":") {
		return &FieldError{Field: FieldOAuthClientID, Msg: "must not contain ':' (it is sent as Basic credentials)"}
	}
	if c.OAuthClientSecret == "" {
		return &FieldError{Field: FieldOAuthClientSecret, Msg: "is required for privx (the API client's oauth_client_secret)"}
	}
	// The API client's id is a path segment of the admin APIs.
	return pathSegment("client_id", c.ClientID)
}

func (v privx) Token(ctx context.Context, h *HTTP, c Creds) (Token, error) {
	form := url.Values{
		"grant_type": {"password"},
		"username":   {c.ClientID},
		"password":   {c.ClientSecret},
	}
	return oauthToken(ctx, h, v.Name(), join(c.BaseURL, "/auth/api/v1/oauth/token"), form,
		basicRaw(c.OAuthClientID, c.OAuthClientSecret), c)
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
	if err := pathSegment("client_id", id); err != nil {
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
// the role's own. PrivX has no call that renews a client's secret.
func (v privx) CreateReplacement(ctx context.Context, h *HTTP, c Creds, by Actor) (string, error) {
	old, err := v.getClient(ctx, h, c, by, c.ClientID)
	if err != nil {
		return "", err
	}
	if old.Name == "" {
		return "", &UnavailableError{Vendor: v.Name(), Op: "api-clients read", Class: ClassBadResponse, Detail: "the API client has no name"}
	}
	roles := old.Roles
	if len(roles) == 0 || string(roles) == "null" {
		roles = json.RawMessage("[]")
	}
	raw, err := json.Marshal(map[string]any{"name": old.Name, "roles": roles})
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
	if r.ID == "" || pathSegment("id", r.ID) != nil {
		return "", &UnavailableError{Vendor: v.Name(), Op: "api-clients create", Class: ClassBadResponse, Detail: "the reply has no id that can be used in a URL path"}
	}
	return r.ID, nil
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
	c.OAuthClientID, c.OAuthClientSecret = pc.OAuthClientID, pc.OAuthClientSecret
	return c, nil
}

// DeleteClient deletes API client id; one already gone counts as deleted.
func (v privx) DeleteClient(ctx context.Context, h *HTTP, c Creds, by Actor, id string) error {
	if err := pathSegment("client_id", id); err != nil {
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
