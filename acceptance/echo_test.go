//go:build acceptance

package acceptance

import (
	"strings"
	"testing"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// TestVendorEchoLeaksNoSecretThroughVault makes cyral, incydr and privx
// echo the token request the ways careless vendors do (an HTML page with
// the Basic header, a JSON error quoting the credentials raw, HTML-escaped
// or cut short, a redirect whose Location carries them to another server)
// and reads a token through the vault CLI and the Go API client: the error
// names the vendor and holds no form of any secret, and the redirect is not
// followed.
func TestVendorEchoLeaksNoSecretThroughVault(t *testing.T) {
	w := setup(t)
	const secret = `Echo-Probe-Secret <%#&+=:@'">`
	elsewhere := w.sim.Vendors["oauth2"].BaseURL
	for _, vendor := range []string{"cyral", "incydr", "privx"} {
		for _, echo := range []string{vendortest.EchoHTML, vendortest.EchoJSON, vendortest.EchoJSONHTML, vendortest.EchoTruncated, vendortest.EchoRedirect} {
			t.Run(vendor+"/"+echo, func(t *testing.T) {
				defer w.sim.Control(t, "/clear", nil)
				// A role of its own for each case: a refusal may be remembered per role.
				name := "echo-" + vendor + "-" + echo
				role := w.sim.AddAccount(t, vendor, name, secret, false)
				w.writeRole(t, name, role)
				leaks := echoLeaks(name, secret, role)
				followed := w.sim.Calls(t)["oauth2"]["token"]
				w.sim.Control(t, "/fault", map[string]any{"vendor": vendor, "endpoint": "token", "times": 2,
					"echo": echo, "location": elsewhere + "/oauth/token"})

				_, stderr, err := w.vault.CLI("read", mount+"/token/"+name)
				if err == nil || !strings.Contains(stderr, vendor+" refused the token request") {
					t.Fatalf("want a 400 naming %s, got %v: %s", vendor, err, stderr)
				}
				_, apiErr := w.vault.Client().Logical().Read(mount + "/token/" + name)
				if apiErr == nil || !strings.Contains(apiErr.Error(), vendor+" refused the token request") {
					t.Fatalf("want an API error naming %s, got %v", vendor, apiErr)
				}
				for _, text := range []string{stderr, apiErr.Error()} {
					for _, form := range leaks {
						if i := strings.Index(text, form); i >= 0 {
							t.Errorf("a form of a secret in the error: %q", context(text, i, len(form)))
						}
					}
					if strings.Contains(text, strings.TrimPrefix(elsewhere, "https://")) {
						t.Errorf("the redirect's Location is quoted: %s", text)
					}
				}
				if echo == vendortest.EchoRedirect && w.sim.Calls(t)["oauth2"]["token"] != followed {
					t.Error("the redirect was followed")
				}
			})
		}
	}
}

// echoLeaks lists every form of the role's secrets (vendortest.LeakForms),
// and each cut short by two characters as a truncating vendor echoes it.
func echoLeaks(id, secret string, role map[string]any) []string {
	pairs := []vendortest.Pair{{ID: id, Secret: secret}}
	if oid, ok := role["oauth_client_id"].(string); ok {
		pairs = append(pairs, vendortest.Pair{ID: oid, Secret: role["oauth_client_secret"].(string)})
	}
	forms := vendortest.LeakForms(nil, pairs)
	for _, f := range forms[:len(forms):len(forms)] {
		forms = append(forms, f[:len(f)-2])
	}
	return forms
}
