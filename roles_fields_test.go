package vendor

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// A role and a pending secret stored before vendor fields moved into
// Fields, with those fields at the top level, still decode.
func TestRolesStoredWithTopLevelVendorFieldsStillDecode(t *testing.T) {
	old := `{"vendor":"privx","url":"https://privx.example.com","client_id":"svc","client_secret":"s1",
		"oauth_client_id":"oid","oauth_client_secret":"osecret","auth_method":"ldap","scopes":["read","write"],
		"audience":"aud","auth_style":"body","token_params":{"resource":"r"},
		"token_ttl_cap":0,"refresh_before":0,"rotation_period":0,
		"pending":{"rotation_id":"rot-1","client_id":"svc2","client_secret":"s2","oauth_client_id":"oid2","oauth_client_secret":"osecret2","since":"2026-01-02T03:04:05Z"}}`
	var r roleEntry
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	want := client.Values{"oauth_client_id": "oid", "oauth_client_secret": "osecret", "auth_method": "ldap",
		"scopes": []string{"read", "write"}, "audience": "aud", "auth_style": "body", "token_params": map[string]string{"resource": "r"}}
	if !reflect.DeepEqual(r.Fields, want) || r.ClientID != "svc" || r.ClientSecret != "s1" || r.URL != "https://privx.example.com" {
		t.Fatalf("role decoded as %+v", r)
	}
	if p := r.Pending; p == nil || p.RotationID != "rot-1" || p.ClientID != "svc2" || p.ClientSecret != "s2" ||
		!reflect.DeepEqual(p.Fields, client.Values{"oauth_client_id": "oid2", "oauth_client_secret": "osecret2"}) {
		t.Fatalf("pending decoded as %+v", r.Pending)
	}
	c := r.pendingCreds(r.Pending)
	if c.ClientID != "svc2" || c.Fields.String("oauth_client_id") != "oid2" || c.Fields.String("auth_method") != "ldap" || r.Fields.String("oauth_client_id") != "oid" {
		t.Fatalf("pending creds %+v over role fields %+v", c, r.Fields)
	}
	// Stored again, the new shape reads back the same.
	raw, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var again roleEntry
	if err := json.Unmarshal(raw, &again); err != nil || !reflect.DeepEqual(again.Fields, r.Fields) || !reflect.DeepEqual(again.Pending, r.Pending) {
		t.Fatalf("round trip: %v %+v", err, again)
	}
	if strings.Contains(string(raw), `"oauth_client_id":"oid"`) && !strings.Contains(string(raw), `"fields":{`) {
		t.Fatalf("stored in the old shape: %s", raw)
	}
}

// A role read shows its own vendor's fields only.
func TestRoleReadShowsItsOwnVendorsFieldsOnly(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	got := h.ok(logical.ReadOperation, "roles/c", nil)
	for _, k := range []string{"token_url", "oauth_client_id", "oauth_client_secret_set", "auth_method", "pvwa_app_name", "scopes", "audience", "auth_style", "token_params"} {
		if _, ok := got[k]; ok {
			t.Errorf("a cyral role read shows %s", k)
		}
	}
	_, pam := h.vendorServer("cyberark-pam")
	delete(pam, "auth_method")
	h.ok(logical.CreateOperation, "roles/p", pam)
	if got := h.ok(logical.ReadOperation, "roles/p", nil); got["auth_method"] != "cyberark" {
		t.Fatalf("the default is not shown: %v", got["auth_method"])
	}
}

// vault patch changes the fields given and nothing else; null resets a
// field; a patch never creates a role.
func TestPatchChangesOneFieldOnly(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("privx")
	h.ok(logical.CreateOperation, "roles/p", withFields(role, "token_ttl_cap", "10m", "refresh_before", "2m"))
	before, _ := getRole(context.Background(), h.storage, "p")

	h.ok(logical.PatchOperation, "roles/p", map[string]any{"refresh_before": "30s"})
	after, _ := getRole(context.Background(), h.storage, "p")
	if after.RefreshBefore.Seconds() != 30 {
		t.Fatalf("refresh_before %s", after.RefreshBefore)
	}
	b, a := *before, *after
	b.RefreshBefore, a.RefreshBefore = 0, 0
	b.UpdatedAt = a.UpdatedAt
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("a patch of refresh_before changed more:\nbefore %+v\nafter  %+v", b, a)
	}
	if after.ClientSecret != hardSecret || after.Fields.String("oauth_client_secret") == "" {
		t.Fatal("the secrets did not survive the patch")
	}
	h.ok(logical.ReadOperation, "token/p", nil)

	// null returns a field to its default.
	h.ok(logical.PatchOperation, "roles/p", map[string]any{"refresh_before": nil})
	if got := h.ok(logical.ReadOperation, "roles/p", nil); got["refresh_before"] != int64(60) || got["token_ttl_cap"] != int64(600) {
		t.Fatalf("after a null patch: %v", got)
	}
	// A patch is checked like a write.
	h.badRequest(logical.PatchOperation, "roles/p", map[string]any{"client_secret": nil}, "client_secret is required")
	h.badRequest(logical.PatchOperation, "roles/p", map[string]any{"scopes": "read"}, "scopes does not apply to vendor privx")

	resp, err := h.do(logical.PatchOperation, "roles/nope", map[string]any{"refresh_before": "30s"})
	if err != nil || resp == nil || resp.Data[logical.HTTPStatusCode] != http.StatusNotFound {
		t.Fatalf("patch of a missing role: %v %v", resp, err)
	}
	if r, _ := getRole(context.Background(), h.storage, "nope"); r != nil {
		t.Fatal("a patch created a role")
	}
}

// countingVendor counts its token calls; its address is refused by the
// mount's host policy in the test below.
type countingVendor struct{ calls *atomic.Int32 }

var countingCalls atomic.Int32

func init() { client.Register(countingVendor{&countingCalls}) }

func (countingVendor) Name() string           { return "counting-test" }
func (countingVendor) Fields() []client.Field { return nil }
func (v countingVendor) Token(ctx context.Context, h *client.HTTP, c client.Creds) (client.Token, error) {
	v.calls.Add(1)
	return h.OAuthToken(ctx, v.Name(), c.BaseURL+"/token", nil, "", c)
}

// A refusal by the mount's own host policy says nothing of the secret:
// the pending secret of an unfinished rotation is not tried after it.
func TestHostPolicyRefusalDoesNotTryThePendingSecret(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "vendor.example.com"})
	h.ok(logical.CreateOperation, "roles/c", map[string]any{"vendor": "counting-test", "base_url": "https://vendor.example.com",
		"client_id": "svc", "client_secret": hardSecret})
	r, _ := getRole(context.Background(), h.storage, "c")
	r.Pending = &pendingSecret{RotationID: "rot-1", ClientSecret: "Pending-Secret-77"}
	h.secrets = append(h.secrets, "Pending-Secret-77")
	if err := putRole(context.Background(), h.storage, "c", r); err != nil {
		t.Fatal(err)
	}
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "other.example.com", "force": true})
	countingCalls.Store(0)
	h.badRequest(logical.ReadOperation, "token/c", nil, "base_url", "allowed_hosts")
	if n := countingCalls.Load(); n != 1 {
		t.Fatalf("the mint tried %d credentials after a host policy refusal, want 1", n)
	}
}
