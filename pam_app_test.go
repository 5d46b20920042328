package vendor

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// Sites may install PVWA under another application name than PasswordVault.
// A role that names it in pvwa_app_name logs on, mints and rotates there,
// as itself and through an admin rotation_role; nothing reaches the
// default path.
func TestPAMRenamedApplicationMintsAndRotates(t *testing.T) {
	for _, sc := range []rotScenario{rotScenarios[4], rotScenarios[5]} { // cyberark-pam, self and admin
		if sc.vendor != "cyberark-pam" {
			t.Fatalf("scenario %s is not cyberark-pam", sc.name)
		}
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorldAt(sc, "CustomVault")
			if got := h.ok(logical.ReadOperation, "roles/r", nil)["pvwa_app_name"]; got != "CustomVault" {
				t.Fatalf("role read shows pvwa_app_name %v", got)
			}
			before := w.mustMintFresh()
			old := w.storedRole()
			h.ok(logical.UpdateOperation, "rotate-role/r", nil)
			after := w.storedRole()
			if after.ClientSecret == old.ClientSecret {
				t.Fatal("the secret did not change")
			}
			if a, _ := w.srv.Account(old.ClientID); a.Secret == old.ClientSecret {
				t.Fatal("the vendor still accepts the old secret")
			}
			if w.srv.Calls(sc.rotateEndpoint) == 0 {
				t.Fatalf("the rotation did not reach the fake's %s endpoint", sc.rotateEndpoint)
			}
			if tok := h.ok(logical.ReadOperation, "token/r", nil); tok["access_token"] == before["access_token"] {
				t.Fatal("a token cached before the rotation was handed out after it")
			}
			w.mustBeSettled()
			if r := w.srv.Rejections(); len(r) != 0 {
				t.Fatalf("the fake refused requests: %q", r)
			}
		})
	}
}

// A role left at the default application name against a renamed PVWA gets
// an error that names pvwa_app_name, not the web server's page; setting the
// name then makes it mint.
func TestPAMDefaultApplicationNameOnARenamedSiteIsAClearError(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark-pam", vendortest.WithPVWAAppName("CustomVault"))

	msg := h.badRequest(logical.CreateOperation, "roles/p", withFields(role, "verify", true), "pvwa_app_name", "/PasswordVault", "HTTP 404")
	if strings.Contains(msg, "File or directory") || strings.Contains(msg, "<") {
		t.Fatalf("the web server's page reached the error: %s", msg)
	}

	h.ok(logical.CreateOperation, "roles/p", role)
	if got := h.ok(logical.ReadOperation, "roles/p", nil)["pvwa_app_name"]; got != "PasswordVault" {
		t.Fatalf("the default is not shown: %v", got)
	}
	resp, err := h.do(logical.ReadOperation, "token/p", nil)
	text := ""
	switch {
	case err != nil:
		text = err.Error()
	case resp != nil && resp.IsError():
		text = resp.Error().Error()
	default:
		t.Fatalf("a token was minted at the default path: %v", resp)
	}
	for _, want := range []string{"pvwa_app_name", "/PasswordVault", "404"} {
		if !strings.Contains(text, want) {
			t.Fatalf("token read error %q lacks %q", text, want)
		}
	}
	if srv.Calls("token") != 0 {
		t.Fatalf("the logon endpoint under CustomVault was called %d times", srv.Calls("token"))
	}

	h.ok(logical.UpdateOperation, "roles/p", map[string]any{"pvwa_app_name": "CustomVault", "verify": true})
	data := h.ok(logical.ReadOperation, "token/p", nil)
	if status, err := srv.CallAPI(data["authorization"].(string)); err != nil || status != 200 {
		t.Fatalf("the vendor refused the token: %d %v", status, err)
	}
}

func TestPAMApplicationNameIsOnePathSegment(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyberark-pam")
	for _, bad := range []string{"Custom/Vault", "/PasswordVault", "..", ".", "Custom Vault", "Vault%2F", "Vault?x=1", "Vault#x", "Pässwort", strings.Repeat("a", 101)} {
		h.badRequest(logical.CreateOperation, "roles/p", withFields(role, "pvwa_app_name", bad), "pvwa_app_name")
	}
	for _, good := range []string{"PasswordVault", "CustomVault", "pvwa-2.prod_x", strings.Repeat("a", 100)} {
		h.ok(logical.CreateOperation, "roles/p", withFields(role, "pvwa_app_name", good))
		if got := h.ok(logical.ReadOperation, "roles/p", nil)["pvwa_app_name"]; got != good {
			t.Fatalf("pvwa_app_name %q read back as %v", good, got)
		}
	}
	// Another vendor has no PVWA.
	_, cyral := h.vendorServer("cyral")
	h.badRequest(logical.CreateOperation, "roles/c", withFields(cyral, "pvwa_app_name", "CustomVault"), "pvwa_app_name does not apply to vendor cyral")
	// base_url still refuses the application path, and says where it goes.
	h.badRequest(logical.CreateOperation, "roles/p", withFields(role, "base_url", role["base_url"].(string)+"/PasswordVault"), "base_url", "pvwa_app_name")
}
