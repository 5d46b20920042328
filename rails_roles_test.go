package vendor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// Issue 14, points 1 and 2: the rails on role writes and deletes, and the
// one 404 for a missing role on read, patch and delete.

// roleRailStatus requires the answer's HTTP status to be code and its
// error message to hold every part; it returns the message.
func (h *harness) roleRailStatus(op logical.Operation, path string, data map[string]any, code int, parts ...string) string {
	h.t.Helper()
	resp, err := h.do(op, path, data)
	if err != nil {
		h.t.Fatalf("%s %s: want a %d, got error %v", op, path, code, err)
	}
	status, msg := http.StatusOK, ""
	switch {
	case resp == nil:
		status = http.StatusNoContent
	case resp.Data[logical.HTTPStatusCode] != nil:
		status = resp.Data[logical.HTTPStatusCode].(int)
		var body struct {
			Errors []string `json:"errors"`
			Data   struct {
				Error string `json:"error"`
			} `json:"data"`
		}
		raw, _ := resp.Data[logical.HTTPRawBody].(string)
		if err := json.Unmarshal([]byte(raw), &body); err != nil {
			h.t.Fatalf("%s %s: raw body %q: %v", op, path, raw, err)
		}
		msg = body.Data.Error + strings.Join(body.Errors, "; ")
	case resp.IsError():
		status, msg = http.StatusBadRequest, resp.Error().Error()
	}
	if status != code {
		h.t.Fatalf("%s %s: status %d (%q), want %d", op, path, status, msg, code)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			h.t.Fatalf("%s %s: message %q lacks %q", op, path, msg, p)
		}
	}
	return msg
}

// missingRole404 requires the one not-found answer for role name.
func (h *harness) missingRole404(op logical.Operation, name string, data map[string]any) {
	h.t.Helper()
	h.roleRailStatus(op, "roles/"+name, data, http.StatusNotFound,
		fmt.Sprintf(`role %q does not exist at vendor/roles/%s; list the roles with: vault list vendor/roles`, name, name))
}

// editStoredRole changes a stored role behind the write path's checks, as
// an older version or another node would have written it, and tells the
// backend as Vault tells it of another node's write.
func (h *harness) editStoredRole(name string, edit func(*roleEntry)) {
	h.t.Helper()
	ctx := context.Background()
	r, err := getRole(ctx, h.storage, name)
	if err != nil || r == nil {
		h.t.Fatalf("role %s: %v %v", name, r, err)
	}
	edit(r)
	if err := putRole(ctx, h.storage, name, r); err != nil {
		h.t.Fatal(err)
	}
	h.b.invalidate(ctx, roleStoragePrefix+name)
}

// Point 1: a role's vendor is fixed. Changing it, by write or by patch,
// is a 400 that says to delete and recreate; the role is left as it was.
func TestRailsVendorCannotChangeOnUpdate(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("incydr")
	h.ok(logical.CreateOperation, "roles/demo", role)
	const want = "vendor cannot change on update (this role is incydr, not cyral); delete the role and create it again with vendor=cyral"
	for _, op := range []logical.Operation{logical.UpdateOperation, logical.PatchOperation} {
		if msg := h.roleRailStatus(op, "roles/demo", map[string]any{"vendor": "cyral"}, http.StatusBadRequest, want); msg != want {
			t.Fatalf("%s: message %q, want exactly %q", op, msg, want)
		}
	}
	h.roleRailStatus(logical.PatchOperation, "roles/demo", map[string]any{"vendor": nil}, http.StatusBadRequest,
		"vendor cannot be reset", "delete the role and create it again")
	if got := h.ok(logical.ReadOperation, "roles/demo", nil)["vendor"]; got != "incydr" {
		t.Fatalf("vendor read back as %v", got)
	}
	h.ok(logical.ReadOperation, "token/demo", nil)
}

// Point 1: the stored secret belongs to the account it was written for. A
// new address (any change of its text) or client_id without a new
// client_secret is a 400, by write and by patch, unless verify=true
// proves the stored secret works there.
func TestRailsAccountChangeNeedsSecretOrVerify(t *testing.T) {
	for _, vendor := range []string{"incydr", "oauth2"} {
		t.Run(vendor, func(t *testing.T) {
			h := newHarness(t)
			srv, role := h.vendorServer(vendor)
			// A second tenant where the same account exists: the stored
			// secret works there too, which only verify may prove.
			srv2, role2 := h.vendorServer(vendor)
			addr := urlField(vendor)
			h.ok(logical.CreateOperation, "roles/r", role)
			for _, op := range []logical.Operation{logical.UpdateOperation, logical.PatchOperation} {
				msg := h.roleRailStatus(op, "roles/r", map[string]any{addr: role2[addr]}, http.StatusBadRequest)
				want := addr + " changes without a new client_secret, and the stored client_secret belongs to the account of the old " + addr +
					"; give client_secret in the same request, or verify=true to prove the stored secret works with the new " + addr
				if msg != want {
					t.Fatalf("%s: message %q, want %q", op, msg, want)
				}
				// Not only another origin: any change of the text.
				h.roleRailStatus(op, "roles/r", map[string]any{addr: srv.RoleURL() + "/"}, http.StatusBadRequest, addr+" changes without a new client_secret")
				h.roleRailStatus(op, "roles/r", map[string]any{"client_id": "svc-other"}, http.StatusBadRequest,
					"client_id changes without a new client_secret", "belongs to the account of the old client_id", "give client_secret", "or verify=true")
				h.roleRailStatus(op, "roles/r", map[string]any{addr: role2[addr], "client_id": "svc-other"}, http.StatusBadRequest,
					addr+" and client_id change without a new client_secret")
				// verify=true that fails saves nothing either.
				h.roleRailStatus(op, "roles/r", map[string]any{"client_id": "svc-other", "verify": true}, http.StatusBadRequest, "verify failed, role not saved")
			}
			if got := h.ok(logical.ReadOperation, "roles/r", nil); got[addr] != role[addr] || got["client_id"] != "svc-vault" {
				t.Fatalf("a refused change was saved: %v", got)
			}
			// verify=true proves the stored secret at the new address: saved.
			h.ok(logical.PatchOperation, "roles/r", map[string]any{addr: role2[addr], "verify": true})
			if got := h.ok(logical.ReadOperation, "roles/r", nil)[addr]; got != role2[addr] {
				t.Fatalf("%s after a verified move: %v", addr, got)
			}
			if srv2.Calls("token") != 1 {
				t.Fatalf("verify called the new tenant %d times", srv2.Calls("token"))
			}
			// With a new secret the operator vouches for the account.
			h.ok(logical.UpdateOperation, "roles/r", map[string]any{addr: role[addr], "client_secret": hardSecret})
			h.ok(logical.ReadOperation, "token/r", nil)
			// Writing the same address and client_id again is no change.
			h.ok(logical.UpdateOperation, "roles/r", map[string]any{addr: role[addr], "client_id": "svc-vault", "refresh_before": "30s"})
		})
	}
}

// Point 2: rotation_role is checked whenever the role is saved naming
// one, with or without rotation_period, by write and by patch.
func TestRailsRotationRoleCheckedWhenWritten(t *testing.T) {
	h := newHarness(t)
	_, role, _ := h.adminWorld("cyral", "app-*")
	_, otherVendor := h.vendorServer("cyberark")
	h.ok(logical.CreateOperation, "roles/ark", otherVendor)
	_, elsewhere := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/far", withFields(elsewhere, "rotation_allowed_roles", "*"))
	h.ok(logical.CreateOperation, "roles/app-1", role)
	h.ok(logical.CreateOperation, "roles/web", role)
	for _, op := range []logical.Operation{logical.UpdateOperation, logical.PatchOperation} {
		msg := h.roleRailStatus(op, "roles/app-1", map[string]any{"rotation_role": "nosuch"}, http.StatusBadRequest)
		if want := `rotation_role names role "nosuch", which does not exist; create it first, or leave rotation_role empty for the role to rotate itself`; msg != want {
			t.Fatalf("%s: message %q, want %q", op, msg, want)
		}
		h.roleRailStatus(op, "roles/app-1", map[string]any{"rotation_role": "ark"}, http.StatusBadRequest,
			`rotation_role names a cyberark role; it must be a cyral role of the same tenant (role "ark" is not): name a cyral admin role that grants this role`)
		h.roleRailStatus(op, "roles/app-1", map[string]any{"rotation_role": "far"}, http.StatusBadRequest,
			`rotation_role names role "far" at another address`, "name an admin role at "+role["base_url"].(string))
		h.roleRailStatus(op, "roles/web", map[string]any{"rotation_role": "admin"}, http.StatusBadRequest,
			`whose rotation_allowed_roles does not grant role "web"`, `add "web" (or a glob such as "web*") to rotation_allowed_roles on role "admin"`)
	}
	// A role that cannot rotate itself is not told to leave it empty.
	_, px := h.vendorServer("privx")
	msg := h.roleRailStatus(logical.CreateOperation, "roles/px", withFields(px, "rotation_role", "nosuch"), http.StatusBadRequest, "create it first")
	if strings.Contains(msg, "empty") {
		t.Fatalf("privx told to rotate itself: %q", msg)
	}
	for _, name := range []string{"app-1", "web", "px"} {
		if r, _ := getRole(t.Context(), h.storage, name); r != nil && r.RotationRole != "" {
			t.Fatalf("role %s was saved with rotation_role %q", name, r.RotationRole)
		}
	}
	h.ok(logical.PatchOperation, "roles/app-1", map[string]any{"rotation_role": "admin"})
	// The check runs on every save naming it: with the admin gone (force),
	// an unrelated change says what is wrong.
	h.ok(logical.DeleteOperation, "roles/admin", map[string]any{"force": true})
	h.roleRailStatus(logical.PatchOperation, "roles/app-1", map[string]any{"refresh_before": "30s"}, http.StatusBadRequest, `rotation_role names role "admin", which does not exist`)
	h.ok(logical.PatchOperation, "roles/app-1", map[string]any{"refresh_before": "30s", "rotation_role": nil})
}

// force is a delete's word only.
func TestRailsForceAppliesOnlyToDelete(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	want := "force applies only to delete; leave it out of writes and patches"
	if msg := h.roleRailStatus(logical.CreateOperation, "roles/r", withFields(role, "force", true), http.StatusBadRequest); msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	h.ok(logical.CreateOperation, "roles/r", role)
	h.roleRailStatus(logical.UpdateOperation, "roles/r", map[string]any{"force": false}, http.StatusBadRequest, want)
	h.roleRailStatus(logical.PatchOperation, "roles/r", map[string]any{"force": nil}, http.StatusBadRequest, want)
	h.ok(logical.DeleteOperation, "roles/r", map[string]any{"force": false})
}

// One 404 for a missing role: read, patch and delete (which was a Success).
func TestRailsMissingRoleIsOne404(t *testing.T) {
	h := newHarness(t)
	h.missingRole404(logical.ReadOperation, "nope", nil)
	h.missingRole404(logical.PatchOperation, "nope", map[string]any{"refresh_before": "30s"})
	h.missingRole404(logical.DeleteOperation, "nope", nil)
	h.missingRole404(logical.DeleteOperation, "nope", map[string]any{"force": true})
	if r, _ := getRole(t.Context(), h.storage, "nope"); r != nil {
		t.Fatal("a patch created a role")
	}
	// The mount is the real one.
	resp, err := h.b.HandleRequest(t.Context(), &logical.Request{Operation: logical.ReadOperation, Path: "roles/nope", Storage: h.storage, MountPoint: "tenant-a/"})
	if err != nil || resp == nil || resp.Data[logical.HTTPStatusCode] != http.StatusNotFound ||
		!strings.Contains(resp.Data[logical.HTTPRawBody].(string), "tenant-a/roles/nope; list the roles with: vault list tenant-a/roles") {
		t.Fatalf("read at mount tenant-a/: %v %v", resp, err)
	}
}
