package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// privxWorld is a PrivX fake with an admin API client and the role's own,
// which holds two roles.
func privxWorld(t *testing.T) (*vendortest.Server, client.Creds, *client.HTTP, client.Actor) {
	t.Helper()
	const oid, osecret = "privx-external", "oauth %sec#ret:x"
	srv := vendortest.NewServer("privx",
		vendortest.WithAccount(vendortest.Account{ID: "admin", Secret: "adm1n %#", Name: "admin", Admin: true, OAuthClientID: oid, OAuthClientSecret: osecret}),
		vendortest.WithAccount(vendortest.Account{ID: "svc-vault", Secret: hardSecret, Name: "svc-vault", Roles: []string{"api-read", "audit"}, OAuthClientID: oid, OAuthClientSecret: osecret}))
	t.Cleanup(srv.Close)
	h, err := client.NewHTTP(client.Options{CACertPEM: srv.CACert(), MaxRetries: -1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := client.Lookup("privx")
	admin := client.Creds{BaseURL: srv.URL, ClientID: "admin", ClientSecret: "adm1n %#", Fields: client.Values{client.FieldOAuthClientID: oid, client.FieldOAuthClientSecret: osecret}}
	by := client.Actor{Secrets: admin.Secrets(), Authorization: func(ctx context.Context) (string, error) {
		tok, err := v.Token(ctx, h, admin)
		return tok.Authorization, err
	}}
	c := client.Creds{BaseURL: srv.URL, ClientID: "svc-vault", ClientSecret: hardSecret, Fields: client.Values{client.FieldOAuthClientID: oid, client.FieldOAuthClientSecret: osecret}}
	return srv, c, h, by
}

func replace(t *testing.T, h *client.HTTP, c client.Creds, by client.Actor) (string, error) {
	t.Helper()
	v, _ := client.Lookup("privx")
	return v.(client.ClientReplacer).CreateReplacement(context.Background(), h, c, by)
}

// An API client read without an explicit roles list (null or missing) is
// an error, and no replacement is created: it would have no roles.
func TestPrivXReplacementNeedsTheOldClientsRoles(t *testing.T) {
	for name, fault := range map[string]vendortest.Fault{
		"null":    {ReplySet: map[string]json.RawMessage{"roles": json.RawMessage("null")}},
		"missing": {ReplyDrop: []string{"roles"}},
	} {
		t.Run(name, func(t *testing.T) {
			srv, c, h, by := privxWorld(t)
			srv.Inject("read", fault)
			_, err := replace(t, h, c, by)
			if !errors.Is(err, client.ErrRefused) || !strings.Contains(err.Error(), "roles") {
				t.Fatalf("want a refusal about roles, got %v", err)
			}
			if srv.Calls("create") != 0 || len(srv.Accounts()) != 2 {
				t.Fatalf("a replacement was created: %d create calls", srv.Calls("create"))
			}
		})
	}
	// An explicit empty list is a client with no roles, copied as such.
	srv, c, h, by := privxWorld(t)
	srv.Inject("read", vendortest.Fault{ReplySet: map[string]json.RawMessage{"roles": json.RawMessage("[]")}, Times: 2})
	id, err := replace(t, h, c, by)
	if a, ok := srv.Account(id); err != nil || !ok || len(a.Roles) != 0 {
		t.Fatalf("explicit empty roles: %q %v %+v", id, err, a)
	}
}

// The replacement's roles are read back and compared with the old client's
// (by id, in any order); a replacement that differs is deleted.
func TestPrivXReplacementWithOtherRolesIsRolledBack(t *testing.T) {
	srv, c, h, by := privxWorld(t)
	// PrivX answers in another order: the same roles.
	srv.Inject("read", vendortest.Fault{})
	srv.Inject("read", vendortest.Fault{ReplySet: map[string]json.RawMessage{"roles": json.RawMessage(`[{"id":"role-audit","name":"audit"},{"id":"role-api-read","name":"api-read"}]`)}})
	if id, err := replace(t, h, c, by); err != nil || !hasRoles(srv, id, "api-read", "audit") {
		t.Fatalf("same roles in another order: %q %v", id, err)
	}

	for name, fault := range map[string]vendortest.Fault{
		"fewer roles":   {RequestSet: map[string]json.RawMessage{"roles": json.RawMessage(`[{"id":"role-api-read"}]`)}},
		"no roles":      {RequestSet: map[string]json.RawMessage{"roles": json.RawMessage(`[]`)}},
		"another role":  {RequestSet: map[string]json.RawMessage{"roles": json.RawMessage(`[{"id":"role-api-read"},{"id":"role-admin"}]`)}},
		"a role twice":  {RequestSet: map[string]json.RawMessage{"roles": json.RawMessage(`[{"id":"role-api-read"},{"id":"role-api-read"}]`)}},
		"read-back nil": {},
	} {
		t.Run(name, func(t *testing.T) {
			srv, c, h, by := privxWorld(t)
			if name == "read-back nil" {
				srv.Inject("read", vendortest.Fault{})
				srv.Inject("read", vendortest.Fault{ReplySet: map[string]json.RawMessage{"roles": json.RawMessage("null")}})
			} else {
				srv.Inject("create", fault)
			}
			_, err := replace(t, h, c, by)
			if !errors.Is(err, client.ErrRefused) || !strings.Contains(err.Error(), "roles") || !strings.Contains(err.Error(), "deleted") {
				t.Fatalf("want a refusal saying the replacement was deleted, got %v", err)
			}
			if srv.Calls("create") != 1 || srv.Calls("delete") != 1 || len(srv.Accounts()) != 2 {
				t.Fatalf("%d creates, %d deletes, %d clients left", srv.Calls("create"), srv.Calls("delete"), len(srv.Accounts()))
			}
			if a, ok := srv.Account("svc-vault"); !ok || a.Secret != hardSecret {
				t.Fatal("the old client was touched")
			}
		})
	}

	// A replacement that cannot be read back is not used either.
	srv, c, h, by = privxWorld(t)
	srv.Inject("read", vendortest.Fault{})
	srv.Inject("read", vendortest.Fault{Status: 503, Body: `{"error_code":"UNAVAILABLE"}`})
	if _, err := replace(t, h, c, by); err == nil || (errors.Is(err, client.ErrRefused) || errors.Is(err, client.ErrInvalid)) || srv.Calls("delete") != 1 || len(srv.Accounts()) != 2 {
		t.Fatalf("unreadable replacement: %v, %d deletes, %d clients", err, srv.Calls("delete"), len(srv.Accounts()))
	}

	// A replacement that cannot be deleted is named, for an operator.
	srv, c, h, by = privxWorld(t)
	srv.Inject("create", vendortest.Fault{RequestSet: map[string]json.RawMessage{"roles": json.RawMessage(`[]`)}})
	srv.Inject("delete", vendortest.Fault{Status: 503, Body: `{"error_code":"UNAVAILABLE"}`})
	_, err := replace(t, h, c, by)
	var stray string
	for _, a := range srv.Accounts() {
		if a.ID != "admin" && a.ID != "svc-vault" {
			stray = a.ID
		}
	}
	if err == nil || stray == "" || !strings.Contains(err.Error(), stray) || !strings.Contains(err.Error(), "by hand") {
		t.Fatalf("undeletable replacement %q: %v", stray, err)
	}
}

func hasRoles(srv *vendortest.Server, id string, roles ...string) bool {
	a, ok := srv.Account(id)
	return ok && slices.Equal(a.Roles, roles)
}
