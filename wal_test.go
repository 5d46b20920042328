package vendor

import (
	"slices"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
)

func TestWALEntriesAreLocalStorage(t *testing.T) {
	h := newHarness(t)
	if !slices.Contains(h.b.PathsSpecial.LocalStorage, framework.WALPrefix) {
		t.Fatalf("LocalStorage %v does not hold %q: a replicated WAL entry would be rolled back on another cluster", h.b.PathsSpecial.LocalStorage, framework.WALPrefix)
	}
}
