package vendor

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// helpOf is the path-help of path as `vault path-help` shows it, with runs
// of white space made one space so that a rule may wrap anywhere.
func (h *harness) helpOf(path string) string {
	h.t.Helper()
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: path, Storage: h.storage})
	if err != nil || resp == nil {
		h.t.Fatalf("path-help %q: %v %v", path, resp, err)
	}
	help, _ := resp.Data["help"].(string)
	return strings.Join(strings.Fields(help), " ")
}

// helpFields are the fields of the path that serves path.
func (h *harness) helpFields(path string) []string {
	h.t.Helper()
	for _, p := range h.b.Paths {
		if regexp.MustCompile("^" + p.Pattern).MatchString(path) {
			return schemaNames(p.Fields)
		}
	}
	h.t.Fatalf("no path serves %s", path)
	return nil
}

func TestMountHelpListsEveryPath(t *testing.T) {
	h := newHarness(t)
	// The root help builds the OpenAPI document, which needs the version.
	h.sys.PluginEnvironment = &logical.PluginEnvironment{VaultVersion: "v1.21.0"}
	help := h.helpOf("")
	for _, want := range []string{"config", "roles/ ", "roles/<name>", "token/<name>", "rotate-role/<name>", "metrics", "-detailed"} {
		if !strings.Contains(help, want) {
			t.Errorf("mount help lacks %q", want)
		}
	}
	// The help is written when the package starts, so it names the vendors
	// of client/, not those the tests declare.
	for _, n := range client.Names() {
		if v, _ := client.Lookup(n); reflect.TypeOf(v).PkgPath() == reflect.TypeOf(client.Token{}).PkgPath() && !strings.Contains(help, n) {
			t.Errorf("mount help lacks vendor %s", n)
		}
	}
}

// Each path's help names each of its fields and every rule a request can
// fail on.
func TestPathHelpNamesEveryFieldAndRule(t *testing.T) {
	adminOnlyVendors := orNone(vendorsWhere(adminOnly))
	if !strings.Contains(adminOnlyVendors, "privx") {
		t.Fatalf("privx rotates only through a rotation_role, yet the help says %q", adminOnlyVendors)
	}
	for path, rules := range map[string][]string{
		"roles/x": {
			"a role's vendor is fixed; delete the role and create it again",
			"changes without a new client_secret in the same request: the stored secret belongs to the old account; give client_secret, or verify=true",
			"base_url or token_url",
			"rotation_role names this role, a role that does not exist, a role of another vendor or address, or one whose rotation_allowed_roles does not grant this role",
			"for a vendor that rotates only through one (" + adminOnlyVendors + ")",
			"with no rotation API (",
			"rotation_period is neither 0 nor at least 1m",
			"token_ttl_cap is neither 0 nor at least 10s",
			"refresh_before is not shorter than token_ttl_cap",
			"not in config allowed_hosts", "allow_http=true",
			"password_policy is set for a vendor that makes its own secrets",
			"names a policy Vault cannot make a password with",
			"a secret a rotation of this role retired",
			"sizes: a role name over 128 characters", "over 64 entries",
			"verify=true and the mint with the new settings fails",
			"force is given on a write: it applies only to delete",
			"unless it says force=true", "404",
			"Applies to all vendors", "Applies to vendors where Vault chooses the new secret",
			"be of the same vendor and address, and grant this role in its rotation_allowed_roles",
			"ca_cert_subject", "ca_cert_expires_at", "ca_cert_sha256",
		},
		"token/x": {
			"lifetime the token's lifetime in seconds", "rotation_period the same value as lifetime",
			"rotation_period is there for Vault Agent", "ttl+1 seconds", "not the role's rotation_period",
			"parameter other than min_remaining", "asks for more than the role's tokens can have",
			"a missing role is a 404", "A role that does not exist is a 404",
		},
		"config": {
			"between 1s and 5m", "between 0 and 10", "unknown parameter",
			"existing roles would fall outside the new allowed_hosts or allow_http", "unless it says force=true",
			"zone id", "a * that is not a whole label",
		},
		"rotate-role/x": {
			"rotates only through one (" + adminOnlyVendors + ")", "has no rotation API (" + orNone(vendorsWhere(noRotation)) + ")",
			"does not grant this role in its rotation_allowed_roles", "password_policy cannot make a password", "A missing role is a 404",
		},
		"metrics": {"format is neither json nor prometheus", "any other parameter"},
		"roles/":  {"vault list -detailed vendor/roles", "next_rotation", "last_rotation_error", "token_cached", "rotation_role"},
	} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t)
			help := h.helpOf(path)
			for _, f := range h.helpFields(path) {
				if !strings.Contains(help, f+" (") {
					t.Errorf("help lacks field %s", f)
				}
			}
			for _, r := range rules {
				if !strings.Contains(help, r) {
					t.Errorf("help lacks rule %q", r)
				}
			}
		})
	}
}

// Every field of roles/<name> says which vendors it applies to.
func TestRoleFieldsSayWhichVendorsTheyApplyTo(t *testing.T) {
	for name, f := range roleSchema() {
		if name == "name" {
			continue
		}
		if !strings.Contains(f.Description, "Applies to") {
			t.Errorf("%s: %q does not say which vendors it applies to", name, f.Description)
		}
	}
}

// The vendor parts of the help come from the declarations: a vendor
// declared outside client/ (kite-test) appears with its fields.
func TestRoleHelpIsWrittenFromTheDeclarations(t *testing.T) {
	help := strings.Join(strings.Fields(roleHelpText()), " ")
	for _, want := range []string{"kite-test", "region (default eu, eu|us)", "api_key (required, secret)", "no rotation API"} {
		if !strings.Contains(help, want) {
			t.Errorf("role help lacks %q:\n%s", want, help)
		}
	}
	for _, n := range client.Names() {
		if !strings.Contains(help, " "+n+" ") {
			t.Errorf("role help has no line for vendor %s", n)
		}
	}
}
