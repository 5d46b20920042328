//go:build acceptance

package acceptance

import (
	"encoding/json"
	"strings"
	"testing"
)

// cliRefused runs the vault CLI, which must fail with the HTTP status code
// and an error that says every part.
func (w *world) cliRefused(t *testing.T, code string, parts []string, args ...string) {
	t.Helper()
	out, stderr, err := w.vault.CLI(args...)
	if err == nil {
		t.Fatalf("vault %s succeeded, want a %s: %s", strings.Join(args, " "), code, out)
	}
	if !strings.Contains(stderr, "Code: "+code) {
		t.Fatalf("vault %s: want a %s, got %v: %s", strings.Join(args, " "), code, err, stderr)
	}
	for _, p := range parts {
		if !strings.Contains(stderr, p) {
			t.Fatalf("vault %s: the %s does not say %q: %s", strings.Join(args, " "), code, p, stderr)
		}
	}
}

// TestCLIOperatorMistakesGetClearAnswers drives the mistakes of issue 14
// through the real vault CLI: each is refused with its status and a
// message that names what is wrong and how to fix it, and the role it
// would have broken still works.
func TestCLIOperatorMistakesGetClearAnswers(t *testing.T) {
	w := setup(t)
	incydr := w.sim.Role(t, "incydr")
	w.writeRole(t, "rails-incydr", incydr)
	t.Cleanup(func() { w.vault.CLI("delete", mount+"/roles/rails-incydr") })

	// 1. A vendor typo on update is refused, and the role still mints.
	w.cliRefused(t, "400", []string{"vendor", "cannot change", "delete the role"},
		"write", mount+"/roles/rails-incydr", "vendor=cyral")
	// ... as is a new address without the secret that goes with it.
	w.cliRefused(t, "400", []string{"base_url", "client_secret", "verify=true"},
		"write", mount+"/roles/rails-incydr", "base_url=https://api.us2.code42.com")
	tok := w.readToken(t, "rails-incydr")
	w.mustBeAccepted(t, "incydr", tok["authorization"].(string))

	// 2. A misspelt token-read parameter is a 400 naming it and the right one.
	w.cliRefused(t, "400", []string{"min_remanining", "min_remaining"},
		"read", mount+"/token/rails-incydr", "min_remanining=10")

	// 3. A duration in a unit Vault does not take says which units it takes.
	w.cliRefused(t, "400", []string{"rotation_period", "1day", "24h"},
		"write", mount+"/roles/rails-incydr", "rotation_period=1day")

	// 4. A missing role is the same 404 on every path. The CLI prints a
	// write's or delete's 404 as an error; for a read, Vault's API client
	// turns a 404 into "no value" (and so does Vault Agent), so the
	// message is checked on the wire and the CLI must fail.
	missing := `role "rails-nope" does not exist at ` + mount + `/roles/rails-nope`
	for _, args := range [][]string{
		{"write", "-f", mount + "/rotate-role/rails-nope"},
		{"delete", mount + "/roles/rails-nope"},
		{"patch", mount + "/roles/rails-nope", "refresh_before=30"},
		{"write", mount + "/roles/rails-nope", "vendor=cyral", "force=true"},
	} {
		if args[0] == "write" && args[1] != "-f" {
			// A write creates; force on it is refused before anything.
			w.cliRefused(t, "400", []string{"force", "delete"}, args...)
			continue
		}
		w.cliRefused(t, "404", []string{missing}, args...)
	}
	for _, path := range []string{mount + "/roles/rails-nope", mount + "/token/rails-nope"} {
		resp, err := w.vault.Client().Logical().ReadRaw(path)
		if resp == nil {
			t.Fatalf("read %s: no answer: %v", path, err)
		}
		var body struct{ Errors []string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 404 || err != nil || len(body.Errors) != 1 || !strings.HasPrefix(body.Errors[0], missing) {
			t.Fatalf("read %s: want a 404 saying %q, got %d %v %v", path, missing, resp.StatusCode, body, err)
		}
		if out, stderr, err := w.vault.CLI("read", path); err == nil || !strings.Contains(stderr, "No value found") {
			t.Fatalf("vault read %s: want a failure, got %v %s%s", path, err, out, stderr)
		}
	}

	// 5. An admin that other roles name as rotation_role is deleted only
	// with force=true, and the refusal lists them.
	admin := w.sim.AddAccount(t, "cyberark", "rails-admin@cyberark.cloud.4242", "Rails-Admin-Secret-1 %#", true)
	app := w.sim.AddAccount(t, "cyberark", "rails-app@cyberark.cloud.4242", "Rails-App-Secret-1 %#", false)
	admin["rotation_allowed_roles"] = "rails-app"
	w.writeRole(t, "rails-admin", admin)
	// rotation_role is checked when written: a role that does not exist is refused.
	app["rotation_role"] = "rails-no-admin"
	_, err := w.vault.Client().Logical().Write(mount+"/roles/rails-app", app)
	refused(t, "rotation_role naming no role", err, "rotation_role", "rails-no-admin", "does not exist")
	app["rotation_role"] = "rails-admin"
	w.writeRole(t, "rails-app", app)
	w.cliRefused(t, "400", []string{"rails-admin", "rails-app", "force=true"},
		"delete", mount+"/roles/rails-admin")
	w.readRole(t, "rails-admin")

	// 6. vault list -detailed shows each role's vendor and rotation state.
	out := w.cli(t, "list", "-detailed", mount+"/roles")
	for _, col := range []string{"vendor", "next_rotation", "last_rotation_error", "token_cached"} {
		if !strings.Contains(out, col) {
			t.Fatalf("vault list -detailed has no %s column:\n%s", col, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "rails-incydr ") && !strings.Contains(line, "incydr") {
			t.Fatalf("rails-incydr's row does not name its vendor: %q", line)
		}
	}

	w.cli(t, "delete", mount+"/roles/rails-app")
	w.cli(t, "delete", mount+"/roles/rails-admin")

	// 7. A config write that would strand the mount's roles lists them,
	// and takes effect only with force=true.
	m := w.hostsMount(t, "rails-config")
	w.cli(t, "write", m+"/roles/rails-cyral", "@"+w.sim.Vendors["cyral"].RoleFile)
	w.cliRefused(t, "400", []string{"allowed_hosts", "rails-cyral", "force=true"},
		"write", m+"/config", "allowed_hosts=*.cyral.com")
	// Refused, the policy did not change: the role still mints.
	w.cli(t, "read", m+"/token/rails-cyral")
	w.cli(t, "write", m+"/config", "allowed_hosts=*.cyral.com", "force=true")
	w.cliRefused(t, "400", []string{"allowed_hosts"}, "read", m+"/token/rails-cyral")
}
