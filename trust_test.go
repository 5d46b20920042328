package vendor

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// adminWorld is a fake vendor with an admin account and the role "admin"
// written for it, granting the roles in allowed.
func (h *harness) adminWorld(vendor, allowed string) (*vendortest.Server, map[string]any, string) {
	h.t.Helper()
	adminID := "vault-admin"
	if vendor == "cyberark" {
		adminID = "vault-admin@cyberark.cloud.1234"
	}
	admin := vendortest.Account{ID: adminID, Secret: adminSecret, Admin: true, Name: "vault-admin", Roles: []string{"admin"}}
	if vendor == "privx" {
		admin.OAuthClientID, admin.OAuthClientSecret = "privx-external", "oauth %sec#ret:x"
	}
	srv, role := h.vendorServer(vendor, vendortest.WithAccount(admin))
	adminRole := map[string]any{}
	for k, v := range role {
		adminRole[k] = v
	}
	adminRole["client_id"], adminRole["client_secret"] = adminID, adminSecret
	delete(adminRole, "auth_method")
	if allowed != "" {
		adminRole["rotation_allowed_roles"] = allowed
	}
	h.ok(logical.CreateOperation, "roles/admin", adminRole)
	h.secrets = append(h.secrets, adminSecret)
	return srv, role, adminID
}

// The attack of issue "Trust boundaries": a role writer names the admin
// account as its own client_id, with any secret, and asks the shared admin
// role to rotate it. Even where the admin role grants the writer's role,
// the admin must not touch an account the role cannot prove it holds.
func TestAdminRotatesOnlyAnAccountTheRoleProvesItHolds(t *testing.T) {
	for _, vendor := range []string{"cyral", "cyberark", "cyberark-pam", "privx"} {
		t.Run(vendor, func(t *testing.T) {
			h := newHarness(t)
			srv, role, adminID := h.adminWorld(vendor, "*")
			evil := map[string]any{}
			for k, v := range role {
				evil[k] = v
			}
			evil["client_id"], evil["client_secret"], evil["rotation_role"] = adminID, "Any-Wrong-Secret-1", "admin"
			h.ok(logical.CreateOperation, "roles/evil", evil)
			h.badRequest(logical.UpdateOperation, "rotate-role/evil", nil, "rotation_role", "does not prove it holds that account")
			for _, ep := range []string{"rotate", "create", "query"} {
				if n := srv.Calls(ep); n != 0 {
					t.Fatalf("the admin called %s %d times for a role that does not hold the account", ep, n)
				}
			}
			a, ok := srv.Account(adminID)
			if !ok || a.Secret != adminSecret {
				t.Fatal("the admin account's secret changed")
			}
			h.b.dropRole("admin")
			h.ok(logical.ReadOperation, "token/admin", nil)
			// A scheduled run is refused the same way.
			h.ok(logical.UpdateOperation, "roles/evil", map[string]any{"rotation_period": "1h"})
			h.clock.Add(2 * time.Hour)
			h.rollback()
			if n := srv.Calls("rotate") + srv.Calls("create"); n != 0 {
				t.Fatalf("a scheduled run reached the admin API %d times", n)
			}
			if read := h.ok(logical.ReadOperation, "roles/evil", nil); !strings.Contains(read["last_rotation_error"].(string), "does not prove it holds") {
				t.Fatalf("last_rotation_error: %v", read["last_rotation_error"])
			}
		})
	}
}

// rotation_allowed_roles is a grant: empty grants nothing; a role outside
// it is refused at write (with a schedule) and at every run.
func TestRotationRoleMustBeGranted(t *testing.T) {
	h := newHarness(t)
	srv, role, _ := h.adminWorld("cyberark", "")
	role["rotation_role"] = "admin"
	withPeriod := withFields(role, "rotation_period", "24h")
	h.badRequest(logical.CreateOperation, "roles/app-1", withPeriod, "rotation_role", "rotation_allowed_roles", `"admin"`, `"app-1"`)
	if r, _ := getRole(t.Context(), h.storage, "app-1"); r != nil {
		t.Fatal("a refused role was stored")
	}
	// Issue 14: without a schedule too, the grant is checked at write.
	// A role stored before that meets the check when it runs.
	h.badRequest(logical.CreateOperation, "roles/app-1", role, "rotation_role", "rotation_allowed_roles", `"admin"`, `"app-1"`)
	noAdmin := withFields(role, "rotation_role", "")
	h.ok(logical.CreateOperation, "roles/app-1", noAdmin)
	h.editStoredRole("app-1", func(r *roleEntry) { r.RotationRole = "admin" })
	h.badRequest(logical.UpdateOperation, "rotate-role/app-1", nil, "rotation_allowed_roles")
	h.badRequest(logical.UpdateOperation, "roles/admin", map[string]any{"rotation_allowed_roles": "app/*"}, "rotation_allowed_roles")
	h.ok(logical.UpdateOperation, "roles/admin", map[string]any{"rotation_allowed_roles": "app-*,other"})
	if got := h.ok(logical.ReadOperation, "roles/admin", nil)["rotation_allowed_roles"]; strings.Join(got.([]string), ",") != "app-*,other" {
		t.Fatalf("rotation_allowed_roles read back as %v", got)
	}
	h.ok(logical.UpdateOperation, "roles/app-1", map[string]any{"rotation_period": "24h"})
	h.ok(logical.UpdateOperation, "rotate-role/app-1", nil)
	if srv.Calls("rotate") != 1 {
		t.Fatalf("rotate calls %d", srv.Calls("rotate"))
	}
	// Revoked: every later run is refused, the scheduled one too.
	h.ok(logical.UpdateOperation, "roles/admin", map[string]any{"rotation_allowed_roles": "other"})
	h.badRequest(logical.UpdateOperation, "rotate-role/app-1", nil, "rotation_allowed_roles")
	h.clock.Add(48 * time.Hour)
	h.rollback()
	if srv.Calls("rotate") != 1 {
		t.Fatalf("a revoked grant still rotated: %d calls", srv.Calls("rotate"))
	}
	if read := h.ok(logical.ReadOperation, "roles/app-1", nil); !strings.Contains(read["last_rotation_error"].(string), "rotation_allowed_roles") {
		t.Fatalf("last_rotation_error: %v", read["last_rotation_error"])
	}
}

// A token reader cannot lock an account: a refused secret is offered again
// at most once per 10 minutes, and at most 6 refused logons an hour reach
// the vendor whatever the read rate. Readers in between get the refusal at
// once, and the log gets one line, not one per read.
func TestReadersCannotLockTheAccount(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark-pam")
	role["client_secret"] = "Wrong-Password-1"
	h.ok(logical.CreateOperation, "roles/pam", role)
	for range 100 {
		h.badRequest(logical.ReadOperation, "token/pam", nil, "cyberark-pam refused the logon request")
	}
	if n := srv.Calls("token"); n != 1 {
		t.Fatalf("100 reads made %d failed logons", n)
	}
	if n := strings.Count(h.logs.String(), "token mint failed"); n != 1 {
		t.Fatalf("100 failing reads wrote %d log lines", n)
	}
	// Two hours of a read a minute.
	var at []time.Time
	for range 120 {
		h.clock.Add(time.Minute)
		before := srv.Calls("token")
		h.badRequest(logical.ReadOperation, "token/pam", nil, "cyberark-pam")
		if srv.Calls("token") > before {
			at = append(at, h.clock.Now())
		}
	}
	for i := range at {
		n := 0
		for _, u := range at {
			if !u.Before(at[i]) && u.Sub(at[i]) < time.Hour {
				n++
			}
		}
		if n > 6 {
			t.Fatalf("%d failed logons in the hour from %s", n, at[i].Format(time.Kitchen))
		}
	}
	if len(at) < 4 {
		t.Fatalf("only %d logons in two hours: the refusal is never retried", len(at))
	}
	// The right secret, written by an operator, is tried once the hour
	// has room for a failed logon: the guard cannot know it is right.
	h.ok(logical.UpdateOperation, "roles/pam", map[string]any{"client_secret": hardSecret})
	h.clock.Add(failedLogonWindow)
	h.ok(logical.ReadOperation, "token/pam", nil)
}

// While a rotation is unfinished, the secret that last worked is tried
// first: ten mints after the vendor switched cost one failed logon, not ten.
func TestPendingSecretThatWorkedIsTriedFirst(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	h.b.rotationHook = func(role, stage string) error {
		if stage == stageVendor {
			return errAbandoned
		}
		return nil
	}
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	h.b.rotationHook = nil
	if w.storedRole().Pending == nil {
		t.Fatal("no pending secret")
	}
	before := w.srv.Calls("token")
	for range 10 {
		w.mustMintFresh()
	}
	if n := w.srv.Calls("token") - before; n != 11 {
		t.Fatalf("10 mints made %d logons; want 11 (one refused, then the pending secret first)", n)
	}
}

// A role that rotates itself and lost its secret stops proving secrets:
// Vault's rollback, every minute for an hour, makes no logon.
func TestUnsettleableRotationStopsProvingSecrets(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[0]) // cyral, self
	w.srv.Inject("rotate", vendortest.Fault{Apply: true, Status: 502, Body: `{"error":"bad_gateway"}`})
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	before := w.srv.Calls("token")
	for range 60 {
		h.clock.Add(time.Minute)
		h.rollback()
	}
	if n := w.srv.Calls("token") - before; n > 1 {
		t.Fatalf("an unsettleable rotation made %d logons in an hour of rollbacks", n)
	}
	read := h.ok(logical.ReadOperation, "roles/r", nil)
	if !strings.Contains(read["last_rotation_error"].(string), "no secret is tried again until the role is written") {
		t.Fatalf("last_rotation_error: %v", read["last_rotation_error"])
	}
}
