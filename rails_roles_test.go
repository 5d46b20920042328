package vendor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
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
		var ok bool
		if status, msg, ok = rawError(resp); !ok {
			status = resp.Data[logical.HTTPStatusCode].(int)
		}
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
	// A vendor that does not exist is named as such, not as a change.
	h.roleRailStatus(logical.UpdateOperation, "roles/demo", map[string]any{"vendor": "nosuch"}, http.StatusBadRequest,
		`vendor "nosuch" is not a known vendor; use one of `)
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
			`rotation_role names a cyberark role; it must be a cyral role at the same address (role "ark" is not): name a cyral admin role that grants this role`)
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

// dependentsWorld: a cyral admin role granting app-*, and n roles
// app-00... naming it as rotation_role.
func (h *harness) dependentsWorld(n int) map[string]any {
	h.t.Helper()
	_, role, _ := h.adminWorld("cyral", "app-*")
	role["rotation_role"] = "admin"
	for i := range n {
		h.ok(logical.CreateOperation, fmt.Sprintf("roles/app-%02d", i), role)
	}
	return role
}

// Point 2: a role others name as rotation_role is not deleted unless the
// delete says force=true; the 400 lists them, the first 20 and a count.
func TestRailsAdminDeleteNeedsForce(t *testing.T) {
	h := newHarness(t)
	h.dependentsWorld(2)
	msg := h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest)
	want := `role "admin" is the rotation_role of 2 roles: app-00, app-01; deleting it stops their rotations: point their rotation_role at another admin role (or set it empty) first, or delete with force=true`
	if msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", map[string]any{"force": false}, http.StatusBadRequest, want)
	if r, _ := getRole(t.Context(), h.storage, "admin"); r == nil {
		t.Fatal("a refused delete deleted the role")
	}
	// A dependent that lets go, by emptying its rotation_role or by being
	// deleted, no longer counts.
	h.ok(logical.PatchOperation, "roles/app-00", map[string]any{"rotation_role": nil})
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest, "rotation_role of 1 role: app-01;")
	h.ok(logical.DeleteOperation, "roles/app-01", nil)
	h.ok(logical.DeleteOperation, "roles/admin", nil)
}

func TestRailsForcedAdminDeleteWarnsAndListsTwentyAndACount(t *testing.T) {
	h := newHarness(t)
	h.dependentsWorld(25)
	var first []string
	for i := range 20 {
		first = append(first, fmt.Sprintf("app-%02d", i))
	}
	list := strings.Join(first, ", ") + " and 5 more"
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest, "is the rotation_role of 25 roles: "+list+"; deleting it")
	resp, err := h.do(logical.DeleteOperation, "roles/admin", map[string]any{"force": true})
	if err != nil || resp == nil || resp.IsError() || len(resp.Warnings) != 1 {
		t.Fatalf("forced delete: %v %v", resp, err)
	}
	if w := resp.Warnings[0]; w != `25 roles still name the deleted role "admin" as rotation_role and cannot rotate until it is set to another admin role or emptied: `+list {
		t.Fatalf("warning %q", w)
	}
	h.missingRole404(logical.ReadOperation, "admin", nil)
}

// The index follows every way a role changes: a write, another node's
// write (an invalidation, re-read before the delete answers), a rotation,
// and a restart (loaded with the schedule by the first delete).
func TestRailsDependentsIndexFollowsStorage(t *testing.T) {
	h := newHarness(t)
	role := h.dependentsWorld(1)
	h.ok(logical.CreateOperation, "roles/app-x", withFields(role, "rotation_role", nil))

	// Another node points app-x at the admin; this node hears of it.
	h.editStoredRole("app-x", func(r *roleEntry) { r.RotationRole = "admin" })
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest, "rotation_role of 2 roles: app-00, app-x;")
	// ... and lets go of it again.
	h.editStoredRole("app-x", func(r *roleEntry) { r.RotationRole = "" })
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest, "rotation_role of 1 role: app-00;")

	// A rotation keeps the link.
	h.ok(logical.UpdateOperation, "rotate-role/app-00", nil)
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest, "rotation_role of 1 role: app-00;")

	// A new process knows nothing until it loads; the delete loads.
	h.b = h.newBackend()
	if h.b.schedule.loaded() {
		t.Fatal("a fresh backend has a loaded schedule")
	}
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest, "rotation_role of 1 role: app-00;")
	// A role unreadable at the load is read again before the answer.
	h.b = h.newBackend()
	c := h.countReads()
	c.setFailGet(func(key string) bool { return key == roleStoragePrefix+"app-00" })
	if _, err := h.do(logical.DeleteOperation, "roles/admin", nil); err == nil {
		t.Fatal("a delete answered while a role it must check was unreadable")
	}
	c.setFailGet(nil)
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest, "rotation_role of 1 role: app-00;")
}

// Deleting reads no other role once the index is loaded, however many
// roles the mount holds.
func TestRailsDeleteReadsNoOtherRole(t *testing.T) {
	h := newHarness(t)
	h.storeScheduledRoles(2000)
	h.dependentsWorld(1)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	spy := &roleListSpy{Storage: h.storage.Storage}
	h.storage.Storage = spy
	var read []string
	h.storage.setOnGet(func(key string) { read = append(read, key) })
	h.roleRailStatus(logical.DeleteOperation, "roles/admin", nil, http.StatusBadRequest, "rotation_role of 1 role: app-00;")
	h.ok(logical.DeleteOperation, "roles/role-7", nil)
	h.storage.setOnGet(nil)
	if len(read) != 2 || read[0] != roleStoragePrefix+"admin" || read[1] != roleStoragePrefix+"role-7" || spy.roleLists.Load() != 0 {
		t.Fatalf("two deletes read %v and listed the roles %d times", read, spy.roleLists.Load())
	}
}

// roleListSpy counts the lists of the roles' prefix.
type roleListSpy struct {
	logical.Storage
	roleLists atomic.Int64
}

func (s *roleListSpy) List(ctx context.Context, prefix string) ([]string, error) {
	if prefix == roleStoragePrefix {
		s.roleLists.Add(1)
	}
	return s.Storage.List(ctx, prefix)
}

// A delete of the admin racing a write that names it ends either with the
// admin deleted and the write refused, or the delete refused.
func TestRailsAdminDeleteRacingADependentWrite(t *testing.T) {
	for i := range 30 {
		h := newHarness(t)
		role := h.dependentsWorld(0)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = h.b.HandleRequest(context.Background(), &logical.Request{
				Operation: logical.CreateOperation, Path: "roles/app-r", Data: role, Storage: h.storage})
		}()
		_, _ = h.b.HandleRequest(context.Background(), &logical.Request{
			Operation: logical.DeleteOperation, Path: "roles/admin", Storage: h.storage})
		<-done
		admin, _ := getRole(t.Context(), h.storage, "admin")
		dep, _ := getRole(t.Context(), h.storage, "app-r")
		if admin == nil && dep != nil {
			t.Fatalf("run %d: role app-r was saved naming the deleted admin role", i)
		}
	}
}

// Point 2: a self-rotating role of a vendor that voids the old secret on
// issuing the new one is warned of the gap and pointed at a rotation_role;
// an admin-rotated one, or one of another vendor, is not.
func TestRailsSelfRotationGapWarning(t *testing.T) {
	h := newHarness(t)
	role := h.dependentsWorld(0)
	resp, err := h.do(logical.CreateOperation, "roles/self", withFields(role, "rotation_role", nil, "rotation_period", "24h"))
	if err != nil || resp == nil || resp.IsError() || len(resp.Warnings) != 1 {
		t.Fatalf("self-rotating write: %v %v", resp, err)
	}
	for _, part := range []string{
		"rotation_period makes this role rotate its own secret",
		"cyral invalidates the old secret the moment it issues the new one",
		"a network cut, or Vault stopping during the call",
		"only a cyral admin can issue a new one",
		"set rotation_role to a cyral admin role that grants this role (in its rotation_allowed_roles)",
	} {
		if !strings.Contains(resp.Warnings[0], part) {
			t.Fatalf("warning %q lacks %q", resp.Warnings[0], part)
		}
	}
	if resp, _ := h.do(logical.CreateOperation, "roles/app-1", withFields(role, "rotation_period", "24h")); resp != nil && len(resp.Warnings) != 0 {
		t.Fatalf("an admin-rotated role was warned: %v", resp.Warnings)
	}
	if resp, _ := h.do(logical.CreateOperation, "roles/off", withFields(role, "rotation_role", nil)); resp != nil && len(resp.Warnings) != 0 {
		t.Fatalf("a role without a schedule was warned: %v", resp.Warnings)
	}
	_, pam := h.vendorServer("cyberark-pam")
	if resp, _ := h.do(logical.CreateOperation, "roles/pam", withFields(pam, "rotation_period", "24h")); resp != nil && len(resp.Warnings) != 0 {
		t.Fatalf("a vendor where Vault chooses the secret was warned: %v", resp.Warnings)
	}
}

// An admin role rewritten so that roles naming it can no longer be rotated
// by it is saved, with a warning that lists them.
func TestRailsAdminWriteWarnsOfDependentsItDrops(t *testing.T) {
	h := newHarness(t)
	h.dependentsWorld(2)
	resp, err := h.do(logical.PatchOperation, "roles/admin", map[string]any{"rotation_allowed_roles": "app-01"})
	if err != nil || resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("narrowed grant: %v %v", resp, err)
	}
	if w := resp.Warnings[0]; w != "1 role that names this role as rotation_role can no longer be rotated by it: app-00 (not in rotation_allowed_roles); grant them in rotation_allowed_roles at their address, or set their rotation_role to another admin role" {
		t.Fatalf("warning %q", w)
	}
	if resp, _ := h.do(logical.PatchOperation, "roles/admin", map[string]any{"refresh_before": "30s"}); resp != nil && len(resp.Warnings) != 0 {
		t.Fatalf("an unrelated change warned: %v", resp.Warnings)
	}
	// Moving the admin elsewhere leaves app-01 behind.
	_, far := h.vendorServer("cyral")
	resp, err = h.do(logical.PatchOperation, "roles/admin", map[string]any{"base_url": far["base_url"], "client_secret": adminSecret})
	if err != nil || resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "app-01 (at ") {
		t.Fatalf("moved admin: %v %v", resp, err)
	}
}
