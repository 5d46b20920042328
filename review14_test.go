package vendor

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// PrivX: oauth_client_id names the OAuth client that oauth_client_secret
// belongs to. Changing it alone carries the stored secret to another
// client, the same mistake as a client_id change, and breaks every token
// read; it needs a new oauth_client_secret or verify=true.
func TestReview14PrivxOAuthClientChangeNeedsSecretOrVerify(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("privx")
	h.ok(logical.CreateOperation, "roles/p", role)
	h.ok(logical.ReadOperation, "token/p", nil)
	for _, op := range []logical.Operation{logical.UpdateOperation, logical.PatchOperation} {
		h.roleRailStatus(op, "roles/p", map[string]any{"oauth_client_id": "privx-externl"}, http.StatusBadRequest,
			"oauth_client_id", "oauth_client_secret", "verify=true")
	}
	h.ok(logical.ReadOperation, "token/p", nil)
}

// A role another node pointed at the admin (an invalidation) whose lock
// bucket someone holds at the time of the delete (a write of it, or of any
// role sharing its lock, waiting on verify's vendor call, or one refused in
// the end) is not re-read: the delete answers from the stale index and
// deletes an admin that the role names.
func TestReview14AdminDeleteWhileAStaleDependentIsLocked(t *testing.T) {
	h := newHarness(t)
	role := h.dependentsWorld(0)
	h.ok(logical.CreateOperation, "roles/app-x", withFields(role, "rotation_role", nil))
	h.editStoredRole("app-x", func(r *roleEntry) { r.RotationRole = "admin" })
	lock := h.b.roleLock("app-x")
	if lock == h.b.roleLock("admin") {
		t.Fatal("pick names of other lock buckets")
	}
	lock.Lock()
	resp, err := h.do(logical.DeleteOperation, "roles/admin", nil)
	lock.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "app-x") {
		t.Fatalf("admin deleted while app-x names it: %v", resp)
	}
}

// A config write and a role write racing: the role write checks the
// cached config, the config write scans the roles, and nothing orders the
// two, so a role saved during the scan is stranded outside allowed_hosts
// with no refusal and no warning.
func TestReview14ConfigNarrowingRacingARoleWrite(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/good", role)
	late := withFields(role, "base_url", "https://other.example.com")
	var fired atomic.Bool
	wrote := make(chan struct{})
	h.storage.setOnGet(func(key string) {
		if key == roleStoragePrefix+"good" && fired.CompareAndSwap(false, true) {
			// Another operator's write lands while the config write scans
			// (given a moment: a fix may make it wait for the config write).
			go func() {
				defer close(wrote)
				_, _ = h.b.HandleRequest(context.Background(), &logical.Request{
					Operation: logical.CreateOperation, Path: "roles/late", Data: late, Storage: h.storage})
			}()
			select {
			case <-wrote:
			case <-time.After(300 * time.Millisecond):
			}
		}
	})
	resp, err := h.do(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "127.0.0.1"})
	if !fired.Load() {
		t.Fatal("the scan read no role")
	}
	<-wrote
	h.storage.setOnGet(nil)
	if r, _ := getRole(t.Context(), h.storage, "late"); r == nil {
		return // the role write came after the config write, and was refused
	}
	if err == nil && (resp == nil || (!resp.IsError() && len(resp.Warnings) == 0)) {
		t.Fatal("config saved with role late outside allowed_hosts, neither refused nor warned")
	}
}
