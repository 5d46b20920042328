package vendor

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
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
