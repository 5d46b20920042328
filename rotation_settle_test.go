package vendor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// One secret refused and the other unreachable is no proof that both are
// dead. On an admin role, taking it for "lost" would drop the pending
// secret, the only one the vendor takes, and rotate afresh; it must be
// kept, and settled once the vendor answers.
func TestRefusedAndUnreachableIsNotLost(t *testing.T) {
	for _, sc := range rotScenarios {
		if !sc.admin || sc.vendor == "privx" { // privx rollbacks are decided by storage
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(sc)
			// The vendor took the new secret, and it is stored as pending;
			// the process died before proving it. The admin's token stays
			// cached.
			stage := stageVendor
			if sc.vendor == "cyral" { // the vendor makes it: stored after its answer
				stage = stagePending
			}
			w.interruptAt(stage)
			before := w.storedRole()
			if before.Pending == nil {
				t.Fatal("nothing pending")
			}
			if a, _ := w.srv.Account(before.ClientID); a.Secret != before.Pending.ClientSecret {
				t.Fatal("the vendor did not take the pending secret")
			}
			changes := w.srv.Calls(sc.rotateEndpoint)
			// The pending secret's proof meets a 503; the current secret
			// is refused, the vendor having replaced it.
			w.srv.Inject("token", vendortest.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`})
			err := h.rollback()
			if err == nil || !strings.Contains(err.Error(), "Vault will retry") {
				t.Fatalf("rollback: %v", err)
			}
			after := w.storedRole()
			if after.Pending == nil || after.Pending.ClientSecret != before.Pending.ClientSecret {
				t.Fatal("the pending secret, the only one the vendor takes, was dropped")
			}
			if after.Lost != nil {
				t.Fatalf("recorded as lost: %+v", after.Lost)
			}
			if n := w.srv.Calls(sc.rotateEndpoint) - changes; n != 0 {
				t.Fatalf("%d more changes at the vendor", n)
			}
			// Once the vendor answers, the pending secret is promoted.
			h.clock.Add(refusalMemory)
			h.settleByRollback()
			w.mustBeSettled()
			if got := w.storedRole(); got.ClientSecret != before.Pending.ClientSecret {
				t.Fatal("the pending secret was not promoted")
			}
		})
	}
}

// Promoting a pending secret drops the role's cached state: it holds the
// old secret, and every later mint would first be refused with it.
func TestPromotionDropsTheCachedRole(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	w.interruptAt(stageVendor)
	// Token reads meanwhile cache the role with its old secret and the
	// pending one, which they fall back to.
	w.mustMintFresh()
	if _, ok := h.b.roles.Load("r"); !ok {
		t.Fatal("the read cached nothing")
	}
	h.clock.Add(refusalMemory)
	h.settleByRollback()
	stored := w.storedRole()
	if stored.LastRotated.IsZero() {
		t.Fatal("the pending secret was not promoted")
	}
	// Read through the cache as a client would, once the token cached
	// before the promotion has expired.
	h.clock.Add(6 * time.Hour) // the fake cyberark token lives 5 h
	h.rollback()               // periodic ticks meanwhile prune what worked last
	calls := w.srv.Calls("token")
	h.ok(logical.ReadOperation, "token/r", nil)
	if n := w.srv.Calls("token") - calls; n != 1 {
		t.Fatalf("%d token requests for one mint: the first used a secret the vendor no longer takes", n)
	}
	st, err := h.b.roleState(context.Background(), h.storage, "r")
	if err != nil || st.role.ClientSecret != stored.ClientSecret || st.role.Pending != nil {
		t.Fatal("the cached role is not the stored one")
	}
	w.mustBeSettled()
}
