package vendor

import (
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// An admin re-run (both the pending and the current secret refused) that
// fails before it reaches the vendor, on writing its WAL intent or its
// pending secret, must not take the original rotation's WAL entry with it:
// that entry, and the role's last_rotation_error, are all that still say
// the role cannot mint, and Vault's rollback settles the role from it once
// storage is back. Without it the role is neither working nor lost, and
// its admin may no longer rotate it (nothing left proves the account was
// this role's).
func TestFailedAdminReRunKeepsTheOriginalRotationsWAL(t *testing.T) {
	for _, fail := range []string{"intent", "pending"} {
		t.Run(fail, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(rotScenarios[3]) // cyberark via admin: Vault sets the secret
			id := w.storedRole().ClientID

			var mu sync.Mutex
			intents, failed, original := 0, false, ""
			// failOnce fails the next write of a key that pick picks.
			failOnce := func(pick func(key string) bool) {
				h.storage.setFail(func(key string) bool {
					if pick(key) && !failed {
						failed = true
						return true
					}
					return false
				})
			}
			h.b.rotationHook = func(role, stage string) error {
				if role != "r" {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				switch stage {
				case stageVendor:
					if intents != 1 {
						return nil
					}
					// The vendor refused the change, and someone else
					// changes the account's secret meanwhile: the pending
					// and the current secret are both refused, and the
					// admin re-runs the rotation.
					a, _ := w.srv.Account(id)
					a.Secret = "Changed-Elsewhere-42"
					w.srv.AddAccount(a)
					if fail == "intent" {
						// The re-run's WAL intent is the next WAL write.
						failOnce(func(key string) bool { return strings.HasPrefix(key, framework.WALPrefix) })
					}
				case stageIntent:
					if intents++; intents == 1 {
						for walID := range h.walEntries("r") {
							original = walID
						}
					} else if fail == "pending" {
						// The re-run's intent is written; its next role
						// write (the pending secret) fails.
						failOnce(func(key string) bool { return key == roleStoragePrefix+"r" })
					}
				}
				return nil
			}
			h.secrets = append(h.secrets, "Changed-Elsewhere-42")
			w.srv.Inject("rotate", vendortest.Fault{Status: 400, Body: `{"success":false,"Message":"refused","MessageID":"Refused"}`})
			_, err := h.do(logical.UpdateOperation, "rotate-role/r", nil)
			h.b.rotationHook = nil
			h.storage.setFail(nil)
			if original == "" || !failed {
				t.Fatalf("the admin re-run did not run as planned: %d intents, write failed: %v: %v", intents, failed, err)
			}
			if err == nil || !strings.Contains(err.Error(), "an admin rotation to replace it failed") {
				t.Fatalf("rotate-role: %v", err)
			}

			// Something durable still says the role needs attention: the
			// original rotation's WAL entry, alone (the re-run's own went),
			// and the error on the role. A storage failure is no refusal:
			// the role is not lost, so the rollback tries again.
			r := w.storedRole()
			if !strings.Contains(r.LastRotationError, "an admin rotation to replace it failed") {
				t.Fatalf("the failure is not recorded on the role: %q", r.LastRotationError)
			}
			if _, ok := h.walEntries("r")[original]; !ok {
				t.Fatal("the failed re-run deleted the original rotation's WAL entry: the role cannot mint, is not marked lost, and nothing is left to settle it")
			}
			if n := h.walCount("r"); n != 1 {
				t.Fatalf("%d WAL entries, want the original rotation's only", n)
			}
			if r.Lost != nil || r.Pending != nil {
				t.Fatalf("lost %+v, pending %v: want neither after a storage failure", r.Lost, r.Pending != nil)
			}

			// Once storage is back, Vault's rollback settles the role: the
			// admin rotates it afresh, and it mints again.
			h.clock.Add(refusalMemory)
			h.settleByRollback()
			w.mustBeSettled()
			if r := w.storedRole(); r.LastRotated.IsZero() || r.LastRotationError != "" {
				t.Fatalf("the rollback did not rotate the role afresh: last rotated %v, error %q", r.LastRotated, r.LastRotationError)
			}
		})
	}
}
