//go:build acceptance

package acceptance

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// cli runs the vault CLI and fails only the calling test on error (the
// shared server's MustCLI belongs to the whole run).
func (w *world) cli(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := w.vault.CLI(args...)
	if err != nil {
		t.Fatalf("vault %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

// writeRole writes a role through the Vault Go API client.
func (w *world) writeRole(t *testing.T, name string, role map[string]any) {
	t.Helper()
	if _, err := w.vault.Client().Logical().Write(mount+"/roles/"+name, role); err != nil {
		t.Fatalf("write role %s: %v", name, err)
	}
}

func (w *world) readRole(t *testing.T, name string) map[string]any {
	t.Helper()
	s, err := w.vault.Client().Logical().Read(mount + "/roles/" + name)
	if err != nil || s == nil {
		t.Fatalf("read role %s: %v", name, err)
	}
	return s.Data
}

// TestCLIRotatesEveryVendorThatCan rotates, with `vault write
// vendor/rotate-role/<name>`, a role of every vendor that has a rotation
// API, each on its own account at the simulated vendor, then mints with the
// new secret.
func TestCLIRotatesEveryVendorThatCan(t *testing.T) {
	w := setup(t)
	cases := []struct {
		vendor, id string
		admin      bool
	}{
		{"cyral", "rot-cyral", false},
		{"cyberark", "rot-self@cyberark.cloud.4242", false},
		{"cyberark", "rot-admin@cyberark.cloud.4242", true},
		{"cyberark-pam", "rot-pam", false},
		{"cyberark-pam", "rot-pam-admin", true},
		{"privx", "rot-privx", true},
	}
	for i, c := range cases {
		name := fmt.Sprintf("rot-%s-%d", c.vendor, i)
		t.Run(name, func(t *testing.T) {
			role := w.sim.AddAccount(t, c.vendor, c.id, "Initial-Secret-1 %#", false)
			if c.admin {
				admin := w.sim.AddAccount(t, c.vendor, strings.Replace(c.id, "rot-", "adm-", 1), "Admin-Secret-1 %#", true)
				admin["rotation_allowed_roles"] = name
				w.writeRole(t, name+"-admin", admin)
				role["rotation_role"] = name + "-admin"
			}
			role["verify"] = true
			w.writeRole(t, name, role)
			first := w.readToken(t, name)

			out := w.cli(t, "write", "-f", "-format=json", mount+"/rotate-role/"+name)
			if !strings.Contains(out, `"last_rotated"`) {
				t.Fatalf("rotate-role answered %s", out)
			}
			read := w.readRole(t, name)
			if read["last_rotated"] == "" || read["rotation_pending"] != false || read["last_rotation_error"] != "" {
				t.Fatalf("role after rotation: %v", read)
			}
			if c.vendor == "privx" && read["client_id"] == c.id {
				t.Fatal("privx rotation kept the old API client")
			}
			// The cached token was dropped; the new one is minted with the
			// new secret and works.
			data := w.readToken(t, name)
			if data["access_token"] == first["access_token"] {
				t.Fatal("the token cached before the rotation was handed out after it")
			}
			w.mustBeAccepted(t, c.vendor, data["authorization"].(string))
		})
	}
	for _, vendor := range []string{"incydr", "oauth2"} {
		_, stderr, err := w.vault.CLI("write", "-f", mount+"/rotate-role/"+vendor)
		if err == nil || !strings.Contains(stderr, "has no") || !strings.Contains(stderr, "Code: 400") {
			t.Fatalf("%s rotation: want a 400 that explains, got %v: %s", vendor, err, stderr)
		}
	}
}

// TestKillVaultDuringRotation kills the Vault process (and the plugin with
// it) while the vendor holds its answer to a password change it has already
// made. After a restart, the role mints at once and the rotation is
// settled without anyone's help.
func TestKillVaultDuringRotation(t *testing.T) {
	w := setup(t)
	const name, id, oldSecret = "kill-me", "kill-me@cyberark.cloud.4242", "Before-Kill-1 %#"
	role := w.sim.AddAccount(t, "cyberark", id, oldSecret, false)
	w.writeRole(t, name, role)
	w.mustBeAccepted(t, "cyberark", w.readToken(t, name)["authorization"].(string))

	// The vendor changes the password, then holds its reply for 60 s.
	w.sim.Control(t, "/fault", map[string]any{"vendor": "cyberark", "endpoint": "rotate", "apply": true, "delay_ms": 60000})
	done := make(chan error, 1)
	go func() {
		_, _, err := w.vault.CLI("write", "-f", mount+"/rotate-role/"+name)
		done <- err
	}()
	// Kill once the vendor has changed the password, while it holds the reply.
	deadline := time.Now().Add(30 * time.Second)
	for w.sim.SecretIs(t, "cyberark", id, oldSecret) {
		if time.Now().After(deadline) {
			t.Fatal("the rotation never changed the password at the vendor")
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.vault.Kill()
	if err := <-done; err == nil {
		t.Fatal("the rotation finished although Vault was killed")
	}
	w.sim.Control(t, "/clear", map[string]any{})

	w.vault.Restart()
	// The old password is gone at the vendor; the role mints with the
	// pending one at once.
	w.mustBeAccepted(t, "cyberark", w.readToken(t, name)["authorization"].(string))
	// Start-up recovery promotes it.
	deadline = time.Now().Add(60 * time.Second)
	for {
		read := w.readRole(t, name)
		if read["rotation_pending"] == false && read["last_rotated"] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the interrupted rotation was not settled within 60s: %v", read)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if log := grepLines(w.vault.Log(), "rotation succeeded"); !strings.Contains(log, "trigger=recovery") || !strings.Contains(log, "role=kill-me") {
		t.Fatalf("the Vault log shows no recovery of the killed rotation:\n%s", grepLines(log, "vendor"))
	}
	// And the role rotates again cleanly.
	w.cli(t, "write", "-f", mount+"/rotate-role/"+name)
	w.mustBeAccepted(t, "cyberark", w.readToken(t, name)["authorization"].(string))
}

func grepLines(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
