package vendor

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

func TestWALEntriesAreLocalStorage(t *testing.T) {
	h := newHarness(t)
	if !slices.Contains(h.b.PathsSpecial.LocalStorage, framework.WALPrefix) {
		t.Fatalf("LocalStorage %v does not hold %q: a replicated WAL entry would be rolled back on another cluster", h.b.PathsSpecial.LocalStorage, framework.WALPrefix)
	}
}

// interruptAt starts a rotation of role r and stops it dead after stage,
// as a crash would, leaving its WAL entry.
func (w *rotWorld) interruptAt(stage string) {
	h := w.h
	h.t.Helper()
	fired := false
	h.b.rotationHook = func(role, st string) error {
		if role == "r" && st == stage && !fired {
			fired = true
			return errors.New("process killed")
		}
		return nil
	}
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	h.b.rotationHook = nil
	if !fired {
		h.t.Fatalf("stage %s never came", stage)
	}
	if n := h.walCount("r"); n == 0 {
		h.t.Fatal("the interrupted rotation left no WAL entry")
	}
}

// victim adds a second account at the fake, one that role r never held,
// and returns role fields that name it with a wrong secret and the admin,
// as a role writer who wants the admin to rotate it would write them.
func (w *rotWorld) victim(old *roleEntry) (vendortest.Account, map[string]any) {
	a := vendortest.Account{ID: "victim", Secret: "Victim-Secret-42", Name: "victim", Roles: []string{"api-read"}}
	switch old.Vendor {
	case "cyberark":
		a.ID = "victim@cyberark.cloud.1234"
	case "cyberark-pam":
		a.AuthMethod = "LDAP"
	case "privx":
		a.OAuthClientID, a.OAuthClientSecret = old.Fields.String("oauth_client_id"), old.Fields.String("oauth_client_secret")
	}
	w.srv.AddAccount(a)
	w.h.secrets = append(w.h.secrets, a.Secret)
	role := map[string]any{
		"vendor": old.Vendor, urlField(old.Vendor): old.URL, "ca_cert": old.CACert,
		"client_id": a.ID, "client_secret": "Wrong-Guess-7", "rotation_role": "admin",
	}
	if old.Fields.String("oauth_client_id") != "" {
		role["oauth_client_id"], role["oauth_client_secret"] = old.Fields.String("oauth_client_id"), old.Fields.String("oauth_client_secret")
	}
	if old.Fields.String("auth_method") != "" {
		role["auth_method"] = old.Fields.String("auth_method")
	}
	return a, role
}

// A WAL entry outlives its role: a rotation is interrupted, the role is
// deleted and a role of the same name is written for another account. No
// later rollback or start-up recovery may act on the new role: not a
// proving mint, not an admin rotation, not a PrivX cleanup. Deleting the
// role is made to fail to delete the WAL entries, so that only the binding
// of the entry to its role's generation stands between them.
func TestOldWALEntryNeverActsOnARecreatedRole(t *testing.T) {
	for _, sc := range rotScenarios {
		if !sc.admin {
			continue
		}
		for _, stage := range []string{stageIntent, stageVendor} {
			for _, via := range []string{"rollback", "restart"} {
				t.Run(sc.name+"/"+stage+"/"+via, func(t *testing.T) {
					h := newHarness(t)
					w := h.rotationWorld(sc)
					w.interruptAt(stage)
					old := w.storedRole()
					h.storage.setFail(func(key string) bool { return strings.HasPrefix(key, framework.WALPrefix) })
					h.ok(logical.DeleteOperation, "roles/r", nil)
					h.storage.setFail(nil)
					victim, role := w.victim(old)
					h.ok(logical.CreateOperation, "roles/r", role)
					written := w.storedRole()
					calls := w.srv.AllCalls()

					switch via {
					case "rollback":
						if err := h.rollback(); err != nil {
							t.Fatalf("rollback: %v", err)
						}
					case "restart":
						h.restart()
					}
					if got := w.srv.AllCalls(); !maps.Equal(got, calls) {
						t.Fatalf("the old rotation's WAL entry called the vendor for the new role: %v, then %v", calls, got)
					}
					if a, ok := w.srv.Account(victim.ID); !ok || a.Secret != victim.Secret {
						t.Fatal("the new role's account lost its secret")
					}
					if got := w.storedRole(); got.ClientID != written.ClientID || got.ClientSecret != written.ClientSecret || got.Pending != nil {
						t.Fatalf("the new role was changed: %+v", got)
					}
					if n := h.walCount("r"); n != 0 {
						t.Fatalf("%d WAL entries of the deleted role left", n)
					}
				})
			}
		}
	}
}

// Roles stored before WAL entries were bound to a generation have none,
// and neither have their WAL entries: they still recover after an upgrade.
func TestWALEntryFromBeforeGenerationsStillRecovers(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	// The vendor took the pending secret.
	w.interruptAt(stageVendor)
	ctx := context.Background()
	r := w.storedRole()
	if r.Generation == "" {
		t.Fatal("a new role has no generation")
	}
	r.Generation = ""
	if err := putRole(ctx, h.storage, "r", r); err != nil {
		t.Fatal(err)
	}
	ids, err := framework.ListWAL(ctx, h.storage)
	if err != nil || len(ids) != 1 {
		t.Fatalf("WAL entries %v %v", ids, err)
	}
	e, err := framework.GetWAL(ctx, h.storage, ids[0])
	if err != nil || e == nil {
		t.Fatal(err)
	}
	data := e.Data.(map[string]any)
	if data["generation"] == "" || data["generation"] == nil {
		t.Fatalf("the WAL entry names no generation: %v", data)
	}
	delete(data, "generation")
	if err := framework.DeleteWAL(ctx, h.storage, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := framework.PutWAL(ctx, h.storage, e.Kind, data); err != nil {
		t.Fatal(err)
	}
	h.b.dropRole("r")
	h.settleByRollback()
	w.mustBeSettled()
	if w.storedRole().LastRotated.IsZero() {
		t.Fatal("the pending secret was not promoted")
	}
}

// A role's generation is set when it is created and kept by updates and
// rotations; a role made again under the same name has another.
func TestRoleGenerationIsKeptByUpdatesOnly(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	g := w.storedRole().Generation
	if len(g) < 16 {
		t.Fatalf("generation %q", g)
	}
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"refresh_before": "45s"})
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	if got := w.storedRole().Generation; got != g {
		t.Fatalf("generation changed from %q to %q by an update", g, got)
	}
	_, role := h.vendorServer("cyberark")
	h.ok(logical.DeleteOperation, "roles/r", nil)
	h.ok(logical.CreateOperation, "roles/r", role)
	if got := w.storedRole().Generation; got == g || got == "" {
		t.Fatalf("a recreated role has generation %q (was %q)", got, g)
	}
	if _, ok := h.ok(logical.ReadOperation, "roles/r", nil)["generation"]; ok {
		t.Fatal("a role read shows its generation; it is internal")
	}
}

// Deleting a role ends its unfinished rotations at once, without a vendor
// call, and leaves other roles' WAL entries alone.
func TestRoleDeleteEndsItsUnfinishedRotations(t *testing.T) {
	for _, sc := range rotScenarios {
		for _, stage := range []string{stageIntent, stagePending} {
			t.Run(sc.name+"/"+stage, func(t *testing.T) {
				h := newHarness(t)
				w := h.rotationWorld(sc)
				other, err := framework.PutWAL(context.Background(), h.storage, walKindLegacy, map[string]any{"role": "other", "id": "x", "vendor": sc.vendor, "stage": stageIntent})
				if err != nil {
					t.Fatal(err)
				}
				w.interruptAt(stage)
				pending := w.storedRole().Pending
				calls := w.srv.AllCalls()
				resp, err := h.do(logical.DeleteOperation, "roles/r", nil)
				if err != nil || resp.IsError() {
					t.Fatalf("delete: %v %v", resp, err)
				}
				if sc.vendor == "privx" && stage == stagePending {
					// The replacement API client, now unused, is named for the operator.
					if resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "API client "+pending.ClientID+", which nothing uses now") {
						t.Fatalf("delete answered %v", resp)
					}
				}
				if n := h.walCount("r"); n != 0 {
					t.Fatalf("%d WAL entries of the deleted role left", n)
				}
				if e, err := framework.GetWAL(context.Background(), h.storage, other); err != nil || e == nil {
					t.Fatalf("another role's WAL entry went too: %v", err)
				}
				if h.b.unsavedFor("r") != nil {
					t.Fatal("an unsaved secret of the deleted role is still held")
				}
				h.rollback()
				if got := w.srv.AllCalls(); !maps.Equal(got, calls) {
					t.Fatalf("deleting the role called the vendor: %v, then %v", calls, got)
				}
			})
		}
	}
}

// Only a node whose storage is writable acts on a WAL entry: a performance
// standby or secondary leaves it, and the vendor, alone, and says so in the
// words Vault's rollback manager takes as "nothing to do here".
func TestWALIsActedOnOnlyWhereStorageIsWritable(t *testing.T) {
	for name, state := range map[string]consts.ReplicationState{
		"performance-standby":   consts.ReplicationPerformanceStandby,
		"performance-secondary": consts.ReplicationPerformanceSecondary,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(rotScenarios[2]) // cyberark, self
			w.interruptAt(stagePending)
			before := h.snapshot()
			calls := w.srv.AllCalls()
			h.sys.ReplicationStateVal = state

			err := h.rollback()
			h.b.recoverAll(context.Background(), h.storage)
			h.restart()
			if got := w.srv.AllCalls(); !maps.Equal(got, calls) {
				t.Fatalf("a node that must not write called the vendor: %v, then %v", calls, got)
			}
			if after := h.snapshot(); !maps.Equal(after, before) {
				t.Fatal("a node that must not write changed storage")
			}
			// Vault deletes an entry whose rollback returned nil, and its
			// rollback manager logs any error but a read-only one.
			if err == nil || !strings.Contains(err.Error(), logical.ErrReadOnly.Error()) {
				t.Fatalf("rollback on a node that must not write: %v", err)
			}

			h.sys.ReplicationStateVal = 0
			h.settleByRollback()
			w.mustBeSettled()
		})
	}
}

// walEntries returns role r's WAL entries by id.
func (h *harness) walEntries(role string) map[string]*framework.WALEntry {
	h.t.Helper()
	ctx := context.Background()
	ids, err := framework.ListWAL(ctx, h.storage)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]*framework.WALEntry{}
	for _, id := range ids {
		e, err := framework.GetWAL(ctx, h.storage, id)
		if err != nil || e == nil {
			h.t.Fatalf("WAL %s: %v", id, err)
		}
		if data, _ := e.Data.(map[string]any); data["role"] == role {
			out[id] = e
		}
	}
	return out
}

// Each flow writes its own kind, holding what its rollback reads and no
// stage; a PrivX rotation leaves one entry, not two, at every stage.
func TestEachFlowWritesItsOwnWALKind(t *testing.T) {
	kinds := map[string]string{"cyral": walKindRegenerate, "cyberark": walKindSet, "cyberark-pam": walKindSet, "privx": walKindReplace}
	for _, sc := range rotScenarios {
		for _, stage := range cleanRunStages(t, sc) {
			if stage == stageCleaned && sc.vendor != "privx" {
				continue // nothing left: the rotation is over
			}
			t.Run(sc.name+"/"+stage, func(t *testing.T) {
				h := newHarness(t)
				w := h.rotationWorld(sc)
				w.interruptAt(stage)
				entries := h.walEntries("r")
				if len(entries) != 1 {
					t.Fatalf("%d WAL entries, want 1", len(entries))
				}
				for _, e := range entries {
					if e.Kind != kinds[sc.vendor] {
						t.Fatalf("kind %q, want %q", e.Kind, kinds[sc.vendor])
					}
					data := e.Data.(map[string]any)
					if _, ok := data["stage"]; ok {
						t.Fatal("the entry holds a stage, which nothing reads")
					}
					r := w.storedRole()
					for k, v := range data {
						if v == r.ClientSecret || (r.Pending != nil && v == r.Pending.ClientSecret) {
							t.Fatalf("field %s holds a secret", k)
						}
					}
					afterCreate := stage != stageIntent && stage != stageVendor
					if sc.vendor == "privx" && afterCreate && data["new_client_id"] == nil {
						t.Fatalf("the entry does not name the new client: %v", data)
					}
				}
			})
		}
	}
}

// A PrivX rollback is decided by storage: the role holds the new client
// (the old one goes) or it does not (the new one goes). No secret is
// proved: the only vendor call is the delete.
func TestReplaceRollbackMintsNothing(t *testing.T) {
	for _, stage := range []string{stageCreated, stagePending, stageProved, stagePromoted, stageCleaned} {
		t.Run(stage, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(rotScenarios[6]) // privx
			old := w.storedRole().ClientID
			w.interruptAt(stage)
			pending := w.storedRole().Pending
			calls := w.srv.AllCalls()
			if err := h.rollback(); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			got := w.srv.AllCalls()
			for ep, n := range got {
				if d := n - calls[ep]; d != 0 && !(ep == "delete" && d == 1) {
					t.Fatalf("the rollback called %s %d times; want only one delete", ep, d)
				}
			}
			r := w.storedRole()
			switch stage {
			case stagePromoted, stageCleaned:
				if r.ClientID == old {
					t.Fatal("the role went back to the old client")
				}
				if _, ok := w.srv.Account(old); ok {
					t.Fatal("the old client was not deleted")
				}
			default:
				if r.ClientID != old || r.Pending != nil {
					t.Fatal("the role did not keep its old client")
				}
				if pending != nil {
					if _, ok := w.srv.Account(pending.ClientID); ok {
						t.Fatal("the new client was not deleted")
					}
				}
			}
			w.mustBeSettled()
		})
	}
}

// Entries of the released version (kind "rotation", one shape for every
// flow, a PrivX rotation leaving two) are still rolled back after upgrade.
func TestReleasedWALEntriesAreRolledBack(t *testing.T) {
	for _, tc := range []struct {
		sc    rotScenario
		stage string
	}{
		{rotScenarios[2], stageVendor},   // cyberark: the vendor took the pending secret
		{rotScenarios[0], stagePending},  // cyral: the vendor made it
		{rotScenarios[6], stagePending},  // privx: the role still holds the old client
		{rotScenarios[6], stagePromoted}, // privx: the role switched
	} {
		t.Run(tc.sc.name+"/"+tc.stage, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(tc.sc)
			old := w.storedRole()
			w.interruptAt(tc.stage)
			ctx := context.Background()
			for id, e := range h.walEntries("r") {
				data := e.Data.(map[string]any)
				released := map[string]any{
					"role": data["role"], "id": data["id"], "vendor": tc.sc.vendor, "stage": tc.stage,
					"generation": data["generation"], "account": old.ClientID, "started": data["started"],
				}
				if tc.sc.vendor == "privx" {
					released["old_client_id"] = data["old_client_id"]
					// The released version wrote the intent, then an entry
					// naming the new client, and kept both.
					intent := maps.Clone(released)
					intent["stage"] = stageIntent
					if _, err := framework.PutWAL(ctx, h.storage, walKindLegacy, intent); err != nil {
						t.Fatal(err)
					}
					released["new_client_id"] = data["new_client_id"]
					released["stage"] = stageCreated
				}
				if err := framework.DeleteWAL(ctx, h.storage, id); err != nil {
					t.Fatal(err)
				}
				if _, err := framework.PutWAL(ctx, h.storage, walKindLegacy, released); err != nil {
					t.Fatal(err)
				}
			}
			h.b.dropRole("r")
			h.clock.Add(refusalMemory)
			h.settleByRollback()
			w.mustBeSettled()
			r := w.storedRole()
			switch {
			case tc.sc.vendor != "privx" || tc.stage == stagePromoted:
				if r.LastRotated.IsZero() || r.ClientSecret == old.ClientSecret {
					t.Fatal("the rotation was not finished")
				}
			default:
				if r.ClientID != old.ClientID {
					t.Fatal("the role did not keep its old client")
				}
			}
		})
	}
}

func TestDecodeReleasedWALEntry(t *testing.T) {
	started := "2026-11-22T12:00:00Z"
	w, ok := decodeWAL(walKindLegacy, map[string]any{"role": "r", "id": "i", "vendor": "cyberark", "stage": "pending", "generation": "g", "account": "a", "started": started})
	if !ok || w.kind != walKindSet || w.Role != "r" || w.ID != "i" || w.Generation != "g" || w.Account != "a" || w.Started.Format(time.RFC3339) != started {
		t.Fatalf("decoded %+v %v", w, ok)
	}
	w, ok = decodeWAL(walKindLegacy, map[string]any{"role": "r", "id": "i", "vendor": "privx", "stage": "created", "old_client_id": "o", "new_client_id": "n"})
	if !ok || w.kind != walKindReplace || w.OldClientID != "o" || w.NewClientID != "n" || w.Vendor != "privx" {
		t.Fatalf("decoded %+v %v", w, ok)
	}
	if _, ok := decodeWAL("other-kind", map[string]any{"role": "r"}); ok {
		t.Fatal("decoded another kind")
	}
	if _, ok := decodeWAL(walKindSet, map[string]any{"id": "i"}); ok {
		t.Fatal("decoded an entry naming no role")
	}
}
