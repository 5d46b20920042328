//go:build acceptance

package acceptance

import (
	"strings"
	"testing"
)

// TestAdminRotationIsAGrantThroughVault drives, with the vault CLI, the
// attack an admin role invited: a role writer names the admin account as
// its own client_id, with any secret, and asks the admin to rotate it.
// Vault refuses it twice over (the admin does not grant the role; and with
// a grant, the role cannot prove it holds the account), the admin account
// keeps its secret, and the two-role set-up from the README works.
func TestAdminRotationIsAGrantThroughVault(t *testing.T) {
	w := setup(t)
	admin := w.sim.AddAccount(t, "cyberark", "grant-admin@cyberark.cloud.4242", "Grant-Admin-Secret-1 %#", true)
	app := w.sim.AddAccount(t, "cyberark", "grant-app@cyberark.cloud.4242", "Grant-App-Secret-1 %#", false)
	admin["rotation_allowed_roles"] = "grant-app-*"
	w.writeRole(t, "grant-admin", admin)
	rotations := func() int { return w.sim.Calls(t)["cyberark"]["rotate"] }
	before := rotations()

	// 1. Outside the grant: refused at write, scheduled or not (issue 14).
	evil := map[string]any{}
	for k, v := range app {
		evil[k] = v
	}
	evil["client_id"], evil["client_secret"], evil["rotation_role"] = admin["client_id"], "Any-Wrong-Secret-1", "grant-admin"
	evil["rotation_period"] = "24h"
	_, err := w.vault.Client().Logical().Write(mount+"/roles/grant-evil", evil)
	if err == nil || !strings.Contains(err.Error(), "rotation_allowed_roles") || !strings.Contains(err.Error(), "Code: 400") {
		t.Fatalf("a scheduled role outside the grant: want a 400 naming rotation_allowed_roles, got %v", err)
	}
	delete(evil, "rotation_period")
	_, err = w.vault.Client().Logical().Write(mount+"/roles/grant-evil", evil)
	if err == nil || !strings.Contains(err.Error(), "rotation_allowed_roles") || !strings.Contains(err.Error(), "Code: 400") {
		t.Fatalf("an unscheduled role outside the grant: want a 400 naming rotation_allowed_roles, got %v", err)
	}

	// 2. Inside the grant, but not holding the account: still refused.
	w.writeRole(t, "grant-app-evil", evil)
	_, stderr, err := w.vault.CLI("write", "-f", mount+"/rotate-role/grant-app-evil")
	if err == nil || !strings.Contains(stderr, "does not prove it holds that account") || !strings.Contains(stderr, "Code: 400") {
		t.Fatalf("rotation of an account the role does not hold: want a 400, got %v: %s", err, stderr)
	}
	if n := rotations() - before; n != 0 {
		t.Fatalf("the admin API was called %d times", n)
	}
	tok := w.readToken(t, "grant-admin")
	w.mustBeAccepted(t, "cyberark", tok["authorization"].(string))

	// 3. The intended set-up: the admin grants the role, which holds its account.
	app["rotation_role"], app["rotation_period"] = "grant-admin", "24h"
	w.writeRole(t, "grant-app-1", app)
	w.cli(t, "write", "-f", mount+"/rotate-role/grant-app-1")
	if read := w.readRole(t, "grant-app-1"); read["last_rotated"] == "" || read["last_rotation_error"] != "" {
		t.Fatalf("granted rotation: %v", read)
	}
	data := w.readToken(t, "grant-app-1")
	w.mustBeAccepted(t, "cyberark", data["authorization"].(string))
}
