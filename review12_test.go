package vendor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Review of issue 12: attacks on the declared fields, patch and the
// legacy role shape.

// A role stored by an older version may hold a field its vendor does not
// take (here a cyral role with a top-level audience). Every write names it
// and says "set it empty on an existing role"; doing so, or patching it to
// null, must clear it, not refuse again and leave the role unwritable.
func TestReview12ForeignFieldOnAStoredRoleCanBeCleared(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	for _, name := range []string{"w", "p"} {
		h.ok(logical.CreateOperation, "roles/"+name, role)
		r, _ := getRole(context.Background(), h.storage, name)
		raw, _ := json.Marshal(r)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		m["audience"] = "https://legacy.example.com" // the old top-level shape
		raw, _ = json.Marshal(m)
		if err := h.storage.Put(context.Background(), &logical.StorageEntry{Key: roleStoragePrefix + name, Value: raw}); err != nil {
			t.Fatal(err)
		}
		h.badRequest(logical.UpdateOperation, "roles/"+name, map[string]any{"refresh_before": "30s"},
			"audience does not apply to vendor cyral", "set it empty on an existing role")
	}

	h.ok(logical.UpdateOperation, "roles/w", map[string]any{"audience": ""})
	h.ok(logical.PatchOperation, "roles/p", map[string]any{"audience": nil})
	for _, name := range []string{"w", "p"} {
		r, _ := getRole(context.Background(), h.storage, name)
		if r.Fields.Has("audience") {
			t.Fatalf("role %s still holds audience: %v", name, r.Fields)
		}
		h.ok(logical.PatchOperation, "roles/"+name, map[string]any{"refresh_before": "30s"})
		h.ok(logical.ReadOperation, "token/"+name, nil)
	}
	// A foreign field with a value is still refused, and a foreign address
	// field even empty: the role has another one.
	h.badRequest(logical.PatchOperation, "roles/w", map[string]any{"audience": "x"}, "audience does not apply to vendor cyral")
	h.badRequest(logical.PatchOperation, "roles/w", map[string]any{"token_url": nil}, "token_url does not apply to vendor cyral")
}

// A role whose vendor this build no longer has answers a patch with a
// 400, not a panic.
func TestReview12PatchOfARoleOfAnUnknownVendorDoesNotPanic(t *testing.T) {
	h := newHarness(t)
	r := &roleEntry{Vendor: "gone-test", URL: "https://gone.example.com", ClientID: "svc", ClientSecret: hardSecret}
	if err := putRole(context.Background(), h.storage, "g", r); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"audience", "oauth_client_secret", "base_url", "refresh_before"} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("patch %s=null panicked: %v", field, p)
				}
			}()
			h.badRequest(logical.PatchOperation, "roles/g", map[string]any{field: nil}, "vendor", "gone-test")
		}()
	}
}

// r12Vendor checks its client_secret and a secret field of its own; the
// latter's check is careless and quotes the value it refuses.
type r12Vendor struct{}

func init() { client.Register(r12Vendor{}) }

const r12Key = "R12-Key-Short"

func (r12Vendor) Name() string { return "r12-test" }

func (r12Vendor) Fields() []client.Field {
	return []client.Field{
		{Name: client.FieldClientSecret, Check: func(v any) error {
			if s, _ := v.(string); len(s) < 12 {
				return errors.New("must be at least 12 characters")
			}
			return nil
		}},
		{Name: "r12_key", Secret: true, Description: "A key.", Check: func(v any) error {
			if s, _ := v.(string); strings.Contains(s, "Short") {
				return fmt.Errorf("%q is too weak", s)
			}
			return nil
		}},
	}
}

func (v r12Vendor) Token(ctx context.Context, h *client.HTTP, c client.Creds) (client.Token, error) {
	return h.OAuthToken(ctx, v.Name(), c.BaseURL+"/token", nil, "", c)
}

// A vendor's check on client_secret runs, as client.Field documents; and
// a check on a secret field never gets its value into the answer.
func TestReview12ChecksOnSecretFields(t *testing.T) {
	h := newHarness(t)
	h.secrets = append(h.secrets, r12Key, "Tiny-Secret")
	role := map[string]any{"vendor": "r12-test", "base_url": "https://r12.example.com", "client_id": "svc", "client_secret": hardSecret}
	h.badRequest(logical.CreateOperation, "roles/r", withFields(role, "client_secret", "Tiny-Secret"), "client_secret must be at least 12 characters")
	h.badRequest(logical.CreateOperation, "roles/r", withFields(role, "r12_key", r12Key), "r12_key")
	h.ok(logical.CreateOperation, "roles/r", withFields(role, "r12_key", "R12-Key-Strong"))
	h.badRequest(logical.PatchOperation, "roles/r", map[string]any{"client_secret": "Tiny-Secret"}, "client_secret must be at least 12 characters")
	h.badRequest(logical.PatchOperation, "roles/r", map[string]any{"r12_key": r12Key}, "r12_key")
}

// fieldsVendor declares the fields it is given.
type fieldsVendor struct {
	name   string
	fields []client.Field
}

func (v fieldsVendor) Name() string           { return v.name }
func (v fieldsVendor) Fields() []client.Field { return v.fields }
func (fieldsVendor) Token(context.Context, *client.HTTP, client.Creds) (client.Token, error) {
	return client.Token{}, nil
}

// A vendor cannot declare a field the root owns, which would replace its
// schema (token_ttl_cap as text panics the write that reads it as
// seconds) or its row in a read; nor a secret that is not a string, which
// no redaction list, retired-secret hash or logged-check guard would see.
func TestReview12DeclarationsRefuseRootNamesAndNonStringSecrets(t *testing.T) {
	for _, f := range []client.Field{
		{Name: "token_ttl_cap"}, {Name: "ca_cert"}, {Name: "vendor"}, {Name: "name"}, {Name: "verify"},
		{Name: "rotation_role"}, {Name: "last_rotated"}, {Name: "rotation_pending"}, {Name: "client_secret_set"},
		{Name: "last_rotation", Secret: true}, // read as last_rotation_set: fine
		{Name: "keys", Kind: client.KindList, Secret: true},
		{Name: "headers", Kind: client.KindPairs, Secret: true},
	} {
		_, err := declare([]client.Vendor{fieldsVendor{"bad-test", []client.Field{f}}})
		if f.Name == "last_rotation" {
			if err != nil {
				t.Errorf("declaring %+v: %v", f, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), f.Name) {
			t.Errorf("declaring %+v: err %v", f, err)
		}
	}
	// The vendors registered here declare nothing the root refuses.
	if _, err := declare([]client.Vendor{fieldsVendor{"ok-test", []client.Field{{Name: "region", Kind: client.KindLowerString}, {Name: "api_key", Secret: true}}}}); err != nil {
		t.Fatal(err)
	}
}

// A patch passes every check a write does: a rotated-away secret, the
// admin's grant for a schedule, the immutable vendor and the size limits.
func TestReview12PatchIsCheckedLikeAWrite(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[1]) // cyral-admin
	old := w.storedRole()
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	h.badRequest(logical.PatchOperation, "roles/r", map[string]any{"client_secret": old.ClientSecret}, "client_secret", "rotated away")

	h.ok(logical.PatchOperation, "roles/admin", map[string]any{"rotation_allowed_roles": nil})
	h.badRequest(logical.PatchOperation, "roles/r", map[string]any{"rotation_period": "1h"}, "rotation_role", "does not grant role \"r\"")
	h.badRequest(logical.PatchOperation, "roles/r", map[string]any{"vendor": "privx"}, "vendor cannot change")
	h.badRequest(logical.PatchOperation, "roles/r", map[string]any{"client_id": strings.Repeat("x", maxFieldLen+1)}, "client_id is longer than")

	_, o := h.vendorServer("oauth2")
	h.ok(logical.CreateOperation, "roles/o", o)
	h.badRequest(logical.PatchOperation, "roles/o", map[string]any{"audience": strings.Repeat("a", maxFieldLen+1)}, "audience is longer than")
	h.badRequest(logical.PatchOperation, "roles/o", map[string]any{"scopes": strings.Repeat("s,", maxListEntries+1)}, "scopes has")
	h.badRequest(logical.PatchOperation, "roles/o", map[string]any{"token_params": map[string]any{"client_secret": "x"}}, "token_params must not set")
	w.mustMintFresh()
}
