//go:build acceptance

package acceptance

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// TestZZNoSecretInAnyResponseLogOrAuditLog runs last, after every other
// acceptance test has driven the plugin (tokens for every vendor, agent
// renders, rotations made by Vault and by vendors, a killed rotation,
// reloads and restarts). It adds the failures most likely to leak, then
// searches every Vault response, the server log (the plugin logs at trace
// level into it) and the file audit log for every secret any simulated
// account ever had.
func TestZZNoSecretInAnyResponseLogOrAuditLog(t *testing.T) {
	w := setup(t)

	// A vendor that echoes the secret in its error, raw and form-encoded.
	const probe = "Leak-Probe-Secret %#&+=:@"
	role := w.sim.AddAccount(t, "cyral", "leak-probe", probe, false)
	w.writeRole(t, "leak-probe", role)
	w.sim.Control(t, "/fault", map[string]any{"vendor": "cyral", "endpoint": "token", "status": 401,
		"body": `{"error":"invalid_client","error_description":"secret ` + probe + ` refused; as sent: ` + url.QueryEscape(probe) + `"}`})
	_, stderr, err := w.vault.CLI("read", mount+"/token/leak-probe")
	if err == nil || !strings.Contains(stderr, "cyral refused the token request") || !strings.Contains(stderr, "[redacted]") {
		t.Fatalf("want a 400 quoting the vendor with the secret redacted, got %v: %s", err, stderr)
	}
	// A wrong secret refused by verify is not stored, and not repeated.
	const wrong = "Wrong-Secret-Typed-By-Hand"
	role["client_secret"], role["verify"] = wrong, true
	if _, err := w.vault.Client().Logical().Write(mount+"/roles/leak-probe-2", role); err == nil {
		t.Fatal("verify accepted a wrong secret")
	}

	if n := len(w.sim.SecretsEver(t)); n < 20 {
		t.Fatalf("only %d secrets to look for: the other tests did not run", n)
	}
	// Every form of every secret: Vault writes its responses and logs as
	// JSON, where & is \u0026, and a secret may travel encoded, escaped or
	// inside a Basic pair.
	forms := append(w.sim.LeakForms(t), vendortest.SecretForms(wrong)...)
	audit := readFile(t, w.vault.AuditPath)
	// The audit log did record the plugin's traffic, with values HMAC'd.
	for _, want := range []string{mount + "/token/", mount + "/rotate-role/", mount + "/roles/", "hmac-sha256:"} {
		if !strings.Contains(audit, want) {
			t.Fatalf("the audit log has no %q: it did not record the run", want)
		}
	}
	places := map[string][]string{
		"Vault response":              w.vault.Seen.All(),
		"Vault server and plugin log": {w.vault.Log()},
		"audit log":                   {audit},
	}
	searched := 0
	for where, texts := range places {
		for _, text := range texts {
			searched += len(text)
			for _, form := range forms {
				if i := strings.Index(text, form); i >= 0 {
					t.Errorf("a %d-character form of a secret appears in a %s at byte %d: %q", len(form), where, i, context(text, i, len(form)))
				}
			}
		}
	}
	t.Logf("searched %d bytes (%d responses, the server log, the audit log) for %d forms of secrets", searched, len(places["Vault response"]), len(forms))
}

// context shows what surrounds a hit, with the secret itself masked.
func context(text string, i, n int) string {
	lo, hi := max(i-60, 0), min(i+n+60, len(text))
	return text[lo:i] + "<SECRET>" + text[i+n:hi]
}
