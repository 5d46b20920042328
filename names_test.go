package vendor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// TestRootSpellsNoVendorName keeps vendors in client/: the root package's
// sources (tests aside) name no vendor, so adding one touches no file here.
func TestRootSpellsNoVendorName(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	words := append(client.Names(), "pvwa", "passwordvault")
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		lower := strings.ToLower(string(src))
		for _, w := range words {
			if strings.Contains(lower, strings.ToLower(w)) {
				t.Errorf("%s spells the vendor name %q", f, w)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d source files", checked)
	}
}
