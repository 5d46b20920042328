//go:build acceptance

package acceptance

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCLIPatchUpdatesOneField drives `vault patch` on a role: it changes
// the one field named and nothing else, it never creates a role, and the
// OpenAPI document lists the operation.
func TestCLIPatchUpdatesOneField(t *testing.T) {
	w := setup(t)
	v := w.sim.Vendors["cyral"]
	w.cli(t, "write", mount+"/roles/patched", "@"+v.RoleFile, "verify=true")
	before := w.readRole(t, "patched")

	w.cli(t, "patch", mount+"/roles/patched", "refresh_before=45s")
	after := w.readRole(t, "patched")
	if n, _ := after["refresh_before"].(json.Number).Int64(); n != 45 {
		t.Fatalf("refresh_before after patch = %v, want 45", after["refresh_before"])
	}
	for k, was := range before {
		if k == "refresh_before" {
			continue
		}
		if now, _ := json.Marshal(after[k]); string(now) != mustJSON(t, was) {
			t.Errorf("patch of refresh_before changed %s: %v -> %v", k, was, after[k])
		}
	}
	// The secret is still there: the role still mints and the vendor takes it.
	data := w.readToken(t, "patched")
	w.mustBeAccepted(t, "cyral", data["authorization"].(string))

	// A cyral role shows no other vendor's fields.
	for _, f := range []string{"oauth_client_id", "oauth_client_secret_set", "auth_method", "pvwa_app_name", "scopes", "audience", "auth_style", "token_params", "token_url"} {
		if _, ok := after[f]; ok {
			t.Errorf("a cyral role read shows %s", f)
		}
	}

	// Patch never creates.
	out, stderr, err := w.vault.CLI("patch", mount+"/roles/never-written", "refresh_before=45s")
	if err == nil {
		t.Fatalf("patch of a missing role succeeded: %s", out)
	}
	if !strings.Contains(out+stderr, "404") {
		t.Errorf("patch of a missing role: want a 404, got %s%s", out, stderr)
	}
	// A missing role reads as the one 404 (issue 14), not an empty answer.
	resp, err := w.vault.Client().Logical().ReadRaw(mount + "/roles/never-written")
	if resp != nil {
		defer resp.Body.Close()
	}
	if resp == nil || resp.StatusCode != 404 {
		t.Fatalf("patch created the role: read answered %v %v", resp, err)
	}

	// A field another vendor owns is refused by name.
	out, stderr, err = w.vault.CLI("patch", mount+"/roles/patched", "audience=api")
	if err == nil || !strings.Contains(out+stderr, "audience") {
		t.Fatalf("patching another vendor's field: want a refusal naming audience, got %v %s%s", err, out, stderr)
	}

	// The plugin's own OpenAPI document (the mount's help) lists patch.
	help, err := w.vault.Client().Logical().ReadWithData(mount+"/roles/patched", map[string][]string{"help": {"1"}})
	if err != nil || help == nil {
		t.Fatalf("help of roles/patched: %v", err)
	}
	if ops := openAPIOps(t, help.Data["openapi"], "/roles/{name}"); !ops["patch"] || !ops["post"] {
		t.Errorf("the plugin's OpenAPI lists no patch operation on roles/{name}: %v", ops)
	}
	// So does the server's whole document, which merges every mount's, on
	// Vault 1.21. Vault 1.19.0 and OpenBao 2.5.5 drop patch operations when
	// they merge (openbao/openbao#3289 adds them), so there the path is
	// checked without it.
	secret, err := w.vault.Client().Logical().Read("sys/internal/specs/openapi")
	if err != nil {
		t.Fatal(err)
	}
	ops := openAPIOps(t, secret.Data, "/"+mount+"/roles/{name}")
	if !ops["post"] || !ops["get"] || !ops["delete"] {
		t.Errorf("the server's OpenAPI lacks roles/{name}'s operations: %v", ops)
	}
	if !ops["patch"] && w.env.VaultAtLeast("1.21.0") {
		t.Errorf("the server's OpenAPI lists no patch operation on roles/{name}: %v", ops)
	}
	w.cli(t, "delete", mount+"/roles/patched")
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// openAPIOps returns the keys (operations and the rest) of path in an
// OpenAPI document.
func openAPIOps(t *testing.T, doc any, path string) map[string]bool {
	t.Helper()
	raw, _ := json.Marshal(doc)
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for k := range d.Paths[path] {
		out[k] = true
	}
	return out
}
