package vendor

import (
	"context"
	"net/http"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// Review of issue 14's rails: cases that break them.

// putUndecodable stores a role entry no version can decode, as a cut
// write or a hand edit leaves it.
func (h *harness) putUndecodable(name string) {
	h.t.Helper()
	if err := h.storage.Put(context.Background(), &logical.StorageEntry{Key: roleStoragePrefix + name, Value: []byte(`{"vendor":"cyral","url":"cut`)}); err != nil {
		h.t.Fatal(err)
	}
}

// The list tells the operator to delete a role it cannot decode; the
// delete must then work, as it did before issue 14 (delete read no role).
func TestReview14DeleteOfAnUndecodableRole(t *testing.T) {
	h := newHarness(t)
	h.putUndecodable("bad")
	h.roleRailStatus(logical.DeleteOperation, "roles/bad", nil, http.StatusNoContent)
	if e, _ := h.storage.Get(context.Background(), roleStoragePrefix+"bad"); e != nil {
		t.Fatal("the undecodable role is still stored")
	}
}

// One undecodable role must not stop the delete of every other role: the
// dependents index re-reads it at every delete and fails on it.
func TestReview14OneUndecodableRoleBlocksNoOtherDelete(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/good", role)
	h.putUndecodable("bad")
	h.restart() // loads the schedule, which marks "bad" to read again
	h.roleRailStatus(logical.DeleteOperation, "roles/good", nil, http.StatusNoContent)
}
