package vendor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// listInfoOf lists the roles and returns the keys and each key's info.
func (h *harness) listInfoOf() ([]string, map[string]map[string]any) {
	h.t.Helper()
	data := h.ok(logical.ListOperation, "roles/", nil)
	keys, _ := data["keys"].([]string)
	raw, _ := data["key_info"].(map[string]any)
	info := map[string]map[string]any{}
	for k, v := range raw {
		info[k] = v.(map[string]any)
	}
	if len(info) != len(keys) {
		h.t.Fatalf("%d keys but %d key_info entries: %v", len(keys), len(info), data)
	}
	return keys, info
}

// Issue 14 point 7: one list shows, per role, what an operator looks for
// across many roles, so failing roles are visible without reading each.
func TestListShowsKeyInfo(t *testing.T) {
	h := newHarness(t)
	_, role, _ := h.adminWorld("cyral", "app-*")
	h.ok(logical.CreateOperation, "roles/app-a", withFields(role, "rotation_period", "24h", "rotation_role", "admin"))
	h.ok(logical.CreateOperation, "roles/plain", role)
	h.ok(logical.ReadOperation, "token/plain", nil)

	keys, info := h.listInfoOf()
	if strings.Join(keys, ",") != "admin,app-a,plain" {
		t.Fatalf("keys %v", keys)
	}
	a := info["app-a"]
	stored, _ := getRole(context.Background(), h.storage, "app-a")
	if a["vendor"] != "cyral" || a["rotation_role"] != "admin" || a["last_rotation_error"] != "" || a["token_cached"] != false {
		t.Fatalf("app-a %v", a)
	}
	if a["next_rotation"] != stored.dueAt().UTC().Format(time.RFC3339) {
		t.Fatalf("app-a next_rotation %v, want %v", a["next_rotation"], stored.dueAt())
	}
	// The list says what the role read says.
	if read := h.ok(logical.ReadOperation, "roles/app-a", nil); read["next_rotation"] != a["next_rotation"] {
		t.Fatalf("list next_rotation %v, read %v", a["next_rotation"], read["next_rotation"])
	}
	p := info["plain"]
	if p["vendor"] != "cyral" || p["next_rotation"] != "" || p["rotation_role"] != "" || p["token_cached"] != true {
		t.Fatalf("plain %v", p)
	}
	for name, row := range info {
		for _, k := range []string{"vendor", "next_rotation", "last_rotation_error", "token_cached", "rotation_role"} {
			if _, ok := row[k]; !ok {
				t.Fatalf("%s lacks %s: %v", name, k, row)
			}
		}
		if _, ok := row["error"]; ok {
			t.Fatalf("%s has an error: %v", name, row)
		}
	}

	// A token past its expiry is not a cached token.
	h.clock.Add(2 * time.Hour)
	if _, info := h.listInfoOf(); info["plain"]["token_cached"] != false {
		t.Fatalf("an expired token listed as cached: %v", info["plain"])
	}
	// Nor is one this node has forgotten.
	h.ok(logical.ReadOperation, "token/plain", nil)
	if _, info := h.listInfoOf(); info["plain"]["token_cached"] != true {
		t.Fatalf("fresh token not listed: %v", info["plain"])
	}
	h.b.dropRole("plain")
	if _, info := h.listInfoOf(); info["plain"]["token_cached"] != false {
		t.Fatalf("a dropped state listed as cached: %v", info["plain"])
	}
}

// A failing rotation shows in the list, on one line and clipped.
func TestListShowsLastRotationErrorOnOneLine(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("incydr")
	h.ok(logical.CreateOperation, "roles/r", role)
	r, _ := getRole(context.Background(), h.storage, "r")
	r.LastRotationError = "rotation failed:\n\tvendor said no " + strings.Repeat("é", 300)
	if err := putRole(context.Background(), h.storage, "r", r); err != nil {
		t.Fatal(err)
	}
	_, info := h.listInfoOf()
	got := info["r"]["last_rotation_error"].(string)
	if !strings.HasPrefix(got, "rotation failed: vendor said no éé") || !strings.HasSuffix(got, "…") || strings.ContainsAny(got, "\n\t") {
		t.Fatalf("last_rotation_error %q", got)
	}
	if len(got) > listErrorLen+len("…") || !strings.Contains(got, "é…") {
		t.Fatalf("clipped to %d bytes, or inside a character: %q", len(got), got)
	}
}

// A role that cannot be decoded is listed with an error, not a failed
// list, and the error says how to get rid of it; the decoder's text, which
// may quote stored bytes, is not repeated.
func TestListShowsAnUndecodableRole(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/good", role)
	// A field the list shows of the wrong type, and a cut entry.
	for key, value := range map[string]string{"role/bad": `{"vendor":"cyral","rotation_period":"s3cr3t-ish"}`, "role/cut": `{"vendor":"cyral","url":"s3cr3t-ish`} {
		if err := h.storage.Put(context.Background(), &logical.StorageEntry{Key: key, Value: []byte(value)}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ListOperation, Path: "roles/", Storage: h.storage, MountPoint: "tokens/"})
	if err != nil || resp.IsError() {
		t.Fatalf("list failed: %v %v", err, resp)
	}
	info := resp.Data["key_info"].(map[string]any)
	bad := info["bad"].(map[string]any)
	want := "the stored role cannot be decoded, so it neither mints nor rotates; delete it with: vault delete tokens/roles/bad, then create it again"
	if bad["error"] != want || bad["vendor"] != "" || bad["token_cached"] != false {
		t.Fatalf("bad %v", bad)
	}
	if cut := info["cut"].(map[string]any); !strings.Contains(cut["error"].(string), "vault delete tokens/roles/cut") {
		t.Fatalf("cut %v", cut)
	}
	if info["good"].(map[string]any)["vendor"] != "cyral" {
		t.Fatalf("good %v", info["good"])
	}
	if strings.Contains(fmt.Sprint(resp.Data), "s3cr3t-ish") {
		t.Fatalf("stored bytes quoted: %v", resp.Data)
	}
}

func TestListOfNoRoles(t *testing.T) {
	h := newHarness(t)
	data := h.ok(logical.ListOperation, "roles/", nil)
	if keys, _ := data["keys"].([]string); len(keys) != 0 {
		t.Fatalf("keys %v", data)
	}
}

// getFailing fails every role read.
type getFailing struct{ logical.Storage }

var errGet = errors.New("storage read failed (injected)")

func (s *getFailing) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	if strings.HasPrefix(key, roleStoragePrefix) {
		return nil, errGet
	}
	return s.Storage.Get(ctx, key)
}

// A storage error fails the scan (a 500: the operator cannot fix it), and
// a caller that gave up stops it.
func TestScanRolesStopsOnStorageErrorsAndCancel(t *testing.T) {
	s := &logical.InmemStorage{}
	ctx := context.Background()
	for i := range 50 {
		if err := putRole(ctx, s, fmt.Sprintf("r%02d", i), &roleEntry{Vendor: "cyral"}); err != nil {
			t.Fatal(err)
		}
	}
	seen := make([]bool, 50)
	names, err := scanRoles(ctx, s, func(i int, name string, r *roleEntry, err error) {
		if err != nil || r == nil || r.Vendor != "cyral" {
			t.Errorf("%s: %v %v", name, r, err)
		}
		seen[i] = true
	})
	if err != nil || len(names) != 50 {
		t.Fatal(names, err)
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("%s not visited", names[i])
		}
	}

	if _, err := scanRoles(ctx, &getFailing{Storage: s}, func(int, string, *roleEntry, error) {}); !errors.Is(err, errGet) {
		t.Fatalf("storage error: %v", err)
	}
	h := newHarness(t)
	resp, err := h.b.HandleRequest(ctx, &logical.Request{Operation: logical.ListOperation, Path: "roles/", Storage: &getFailing{Storage: s}})
	if !errors.Is(err, errGet) || resp != nil {
		t.Fatalf("list on failing storage: %v %v", resp, err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := scanRoles(cancelled, s, func(int, string, *roleEntry, error) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan: %v", err)
	}
}
