package vendor

import (
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// Review 15: the account-change rail refuses to carry a stored secret to
// another address without a new secret or verify=true, and a base_url
// whose path changes counts (role.URL != before.URL). pvwa_app_name is
// the first segment of every PVWA path, that is part of the address the
// password goes to, but a write that changes only it is taken, and the
// stored PVWA password is then sent to /<new name>/API/Auth/.../Logon
// unproven (another PVWA application on the same IIS, a test instance, or
// whatever serves that path).
func TestReview15PVWAAppNameChangeIsAnAccountChange(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyberark-pam")
	h.ok(logical.CreateOperation, "roles/p", role)
	h.badRequest(logical.UpdateOperation, "roles/p", map[string]any{"pvwa_app_name": "OtherVault"}, "pvwa_app_name", "client_secret")
	// Naming the default explicitly changes no address.
	h.ok(logical.UpdateOperation, "roles/p", map[string]any{"pvwa_app_name": "PasswordVault"})
}
