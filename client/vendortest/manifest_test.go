package vendortest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The manifest's field names are read by other processes (the acceptance
// tests, scripts): they must not drift.
func TestManifestRoundTripsUnderItsWireNames(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadManifest(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("before it is written: %v", err)
	}
	m := Manifest{CAFile: "/x/ca.pem", ControlURL: "http://127.0.0.1:1", Vendors: map[string]ManifestVendor{
		"cyral": {BaseURL: "https://127.0.0.1:2", APIMethod: "GET", APIPath: "/v1/users/serviceAccounts", RoleFile: "/x/roles/cyral.json"},
	}}
	if err := WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "sim.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{`"ca_file"`, `"control_url"`, `"vendors"`, `"base_url"`, `"api_method"`, `"api_path"`, `"role_file"`} {
		if !strings.Contains(string(raw), name) {
			t.Errorf("sim.json has no %s: %s", name, raw)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sim.json.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left behind: %v", err)
	}
	got, err := ReadManifest(dir)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("read back %+v, %v; want %+v", got, err, m)
	}
	if err := os.WriteFile(filepath.Join(dir, "sim.json"), []byte(`{"ca_file":`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(dir); err == nil {
		t.Fatal("half a manifest read without error")
	}
}
