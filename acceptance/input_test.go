//go:build acceptance

package acceptance

import (
	"strings"
	"testing"
)

// TestWronglyTypedSecretIsNotEchoedByVault sends client_secret as a JSON
// list through the Vault Go API client. Vault runs the existence check
// (where the framework would quote the value) before the handler: the 400
// must name the field and hold no part of the value.
func TestWronglyTypedSecretIsNotEchoedByVault(t *testing.T) {
	w := setup(t)
	const value = "Typed-Wrong-Secret-9"
	role := w.sim.Role(t, "cyral")
	role["client_secret"] = []any{value, value + "-2"}
	_, err := w.vault.Client().Logical().Write(mount+"/roles/typed-secret", role)
	if err == nil || !strings.Contains(err.Error(), "client_secret") || !strings.Contains(err.Error(), "Code: 400") {
		t.Fatalf("want a 400 naming client_secret, got %v", err)
	}
	if strings.Contains(err.Error(), value) {
		t.Fatalf("the 400 quotes the secret: %v", err)
	}
}
