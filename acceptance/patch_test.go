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

	secret, err := w.vault.Client().Logical().Read("sys/internal/specs/openapi")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(secret.Data)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Paths["/"+mount+"/roles/{name}"]["patch"]; !ok {
		t.Errorf("OpenAPI lists no patch operation on roles/{name}: %v", keys(doc.Paths["/"+mount+"/roles/{name}"]))
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

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
