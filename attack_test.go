package vendor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// A role writer fabricates the plugin's own "lost it mid-rotation"
// evidence for an account the role never held: the role names the admin
// account with a wrong secret and rotates itself (which fails, leaving a
// WAL entry, a pending secret or a Lost record for that account), then
// names the shared admin role as its rotation_role. The admin must still
// not rotate the account: the role never proved it held it.
func TestFailedSelfRotationIsNoEvidenceForAnAdmin(t *testing.T) {
	for _, tc := range []struct{ vendor, via string }{
		{"cyral", "lost"}, // rollbacks record Lost, then the grant
		{"cyral", "wal"},  // the grant before the rollback takes the WAL entry
		{"cyberark-pam", "pending"},
		{"cyberark", "pending"},
	} {
		t.Run(tc.vendor+"/"+tc.via, func(t *testing.T) {
			h := newHarness(t)
			srv, role, adminID := h.adminWorld(tc.vendor, "*")
			evil := withFields(role, "client_id", adminID, "client_secret", "Any-Wrong-Secret-1")
			h.ok(logical.CreateOperation, "roles/evil", evil)
			// A self-rotation with the wrong secret fails.
			h.do(logical.UpdateOperation, "rotate-role/evil", nil)
			switch tc.via {
			case "lost":
				for range 3 {
					h.clock.Add(refusalMemory + time.Minute)
					h.rollback()
				}
				r, _ := getRole(t.Context(), h.storage, "evil")
				if r.Lost == nil {
					t.Logf("no Lost record was made (error %q)", r.LastRotationError)
				}
				h.ok(logical.UpdateOperation, "roles/evil", map[string]any{"rotation_role": "admin"})
				h.do(logical.UpdateOperation, "rotate-role/evil", nil)
			case "wal":
				h.ok(logical.UpdateOperation, "roles/evil", map[string]any{"rotation_role": "admin"})
				h.clock.Add(refusalMemory + time.Minute)
				h.rollback()
			case "pending":
				h.ok(logical.UpdateOperation, "roles/evil", map[string]any{"rotation_role": "admin"})
				h.clock.Add(refusalMemory + time.Minute)
				h.do(logical.UpdateOperation, "rotate-role/evil", nil)
			}
			if n := srv.Calls("rotate"); n != 0 {
				t.Errorf("the admin changed a secret %d times for a role that never proved it held the account", n)
			}
			if a, ok := srv.Account(adminID); !ok || a.Secret != adminSecret {
				t.Errorf("the admin account's secret changed: the attacker's role now holds it")
			}
			if r, _ := getRole(t.Context(), h.storage, "evil"); r != nil && r.ClientSecret != "Any-Wrong-Secret-1" {
				t.Errorf("the attacker's role stores a new secret for %s", adminID)
			}
			if r, _ := getRole(t.Context(), h.storage, "evil"); r != nil && r.Pending != nil {
				t.Errorf("the attacker's role holds a pending secret for %s", adminID)
			}
		})
	}
}

// A writer of one role can lock any account whose name it knows, the
// shared admin's included: verify=true logs on outside the account's guard,
// and every role write forgets the account's failed logons, so write and
// read (or write with verify) repeats without limit. The vendor's own
// count of failed logons is not reset by a role write.
func TestRoleWriterCannotSpendAnotherAccountsFailedLogons(t *testing.T) {
	for _, how := range []string{"verify", "write-then-read"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t)
			srv, role, adminID := h.adminWorld("cyberark-pam", "")
			before := srv.Calls("token")
			for i := range 20 {
				evil := withFields(role, "client_id", adminID, "client_secret", fmt.Sprintf("Guess-%d", i))
				if how == "verify" {
					h.guess(withFields(evil, "verify", true), false)
				} else {
					h.guess(evil, true)
				}
			}
			if n := srv.Calls("token") - before; n > maxFailedLogons {
				t.Fatalf("a writer of one role made %d failed logons of the admin account %s in a minute (PVWA suspends after about five)", n, adminID)
			}
		})
	}
}

// guess writes role "evil" (creating it the first time) with data, as a
// role writer guessing another account's secret would, and reads its token
// when read is set.
func (h *harness) guess(data map[string]any, read bool) {
	h.t.Helper()
	op := logical.Operation(logical.UpdateOperation)
	if r, _ := getRole(context.Background(), h.storage, "evil"); r == nil {
		op = logical.CreateOperation
	}
	h.do(op, "roles/evil", data)
	if read {
		h.do(logical.ReadOperation, "token/evil", nil)
	}
}

// An account has one guard however its roles spell it: PVWA and CyberArk
// Identity user names are case-insensitive (the plugin itself compares
// them with EqualFold when it looks a user up), and a base_url with a
// trailing slash is the same address. Readers of three such roles must not
// get more than 6 failed logons an hour out of one account, nor the same
// refused credential tried twice in 10 minutes.
func TestOneAccountHasOneGuardHoweverItIsSpelled(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark-pam")
	role["client_secret"] = "Wrong-Password-1"
	h.ok(logical.CreateOperation, "roles/a", role)
	h.ok(logical.CreateOperation, "roles/b", withFields(role, "client_id", "SVC-Vault"))
	h.ok(logical.CreateOperation, "roles/c", withFields(role, "base_url", role["base_url"].(string)+"/"))
	before := srv.Calls("token")
	for _, name := range []string{"a", "c"} {
		h.do(logical.ReadOperation, "token/"+name, nil)
	}
	if n := srv.Calls("token") - before; n != 1 {
		t.Errorf("one refused credential was offered %d times within a minute through two roles", n)
	}
	for range 60 {
		for _, name := range []string{"a", "b", "c"} {
			h.do(logical.ReadOperation, "token/"+name, nil)
		}
		h.clock.Add(time.Minute)
	}
	if n := srv.Calls("token") - before; n > maxFailedLogons {
		t.Errorf("readers made %d failed logons of account svc-vault in an hour", n)
	}
}

// Two roles hold one account; the stale one (its secret rotated away by
// the other, or written wrong) is read now and then. Its refusals spend
// the account's budget, and then the role whose secret works is refused
// without a vendor call for as long as the stale role is read: a token
// reader of any role sharing the account keeps a working role down. A
// logon with the credential that last worked costs no failed logon (and
// vendors reset their count on a successful logon).
func TestStaleRoleCannotKeepAWorkingRoleFromMinting(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyberark-pam")
	h.ok(logical.CreateOperation, "roles/good", role)
	h.ok(logical.CreateOperation, "roles/stale", withFields(role, "client_secret", "Rotated-Away-1"))
	for minute := range 120 {
		h.do(logical.ReadOperation, "token/stale", nil)
		resp, err := h.do(logical.ReadOperation, "token/good", nil)
		if err != nil || resp == nil || resp.IsError() {
			t.Fatalf("minute %d: the role whose secret works was refused: %v %v", minute, err, resp)
		}
		h.clock.Add(time.Minute)
	}
}

// A vendor (or the gateway in front of it) that answers a logon with a 5xx
// may have counted it as a failed logon: that is why such a logon is not
// retried. But nothing holds the next one back: every read is one more
// logon, at any rate.
func TestLogonsAnswered5xxAreNotDrivenByTheReadRate(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark-pam")
	role["client_secret"] = "Wrong-Password-1"
	h.ok(logical.CreateOperation, "roles/pam", role)
	srv.Inject("token", vendortest.Fault{Apply: true, Status: 500, Body: `{"ErrorCode":"PASWS013E","ErrorMessage":"Authentication failure"}`, Times: -1})
	before := srv.Calls("token")
	for range 100 {
		h.do(logical.ReadOperation, "token/pam", nil)
	}
	if n := srv.Calls("token") - before; n > maxFailedLogons {
		t.Fatalf("100 reads made %d logons, each answered 500", n)
	}
}

// A self-rotating role whose rotation lost its secret is stuck; each
// scheduled retry records the stuck error, which quotes the last error,
// which was the stuck error before it: last_rotation_error nests itself.
func TestStuckRoleErrorDoesNotNestItself(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[0]) // cyral, self
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"rotation_period": "1h"})
	w.srv.Inject("rotate", vendortest.Fault{Apply: true, Status: 502, Body: `{"error":"bad_gateway"}`})
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	for range 6 {
		h.clock.Add(2 * time.Hour)
		h.rollback()
	}
	msg := h.ok(logical.ReadOperation, "roles/r", nil)["last_rotation_error"].(string)
	if n := strings.Count(msg, "was lost by the rotation of"); n > 1 {
		t.Fatalf("last_rotation_error quotes itself %d deep: %s", n, msg)
	}
}

// The same fabrication for PrivX, which cannot rotate itself: the role is
// first written as another vendor at the PrivX address, fails its own
// rotation there (a 404 is a refusal) and gets a Lost record for the
// victim API client; then it is switched to vendor privx, which is not
// taken as a change of account, and the admin replaces the victim client,
// deleting it, and hands its replacement to the attacker's role.
func TestVendorSwitchCarriesNoLostEvidence(t *testing.T) {
	h := newHarness(t)
	srv, role, adminID := h.adminWorld("privx", "*")
	evil := map[string]any{"vendor": "cyral", "base_url": role["base_url"], "ca_cert": role["ca_cert"],
		"client_id": adminID, "client_secret": "Any-Wrong-Secret-1"}
	h.ok(logical.CreateOperation, "roles/evil", evil)
	h.do(logical.UpdateOperation, "rotate-role/evil", nil)
	for range 2 {
		h.clock.Add(refusalMemory + time.Minute)
		h.rollback()
	}
	h.badRequest(logical.UpdateOperation, "roles/evil", map[string]any{"vendor": "privx", "rotation_role": "admin",
		"oauth_client_id": role["oauth_client_id"], "oauth_client_secret": role["oauth_client_secret"]}, "vendor cannot change")
	h.do(logical.UpdateOperation, "rotate-role/evil", nil)
	if n := srv.Calls("create") + srv.Calls("delete"); n != 0 {
		t.Errorf("the admin created or deleted %d API clients for a role that never proved it held %s", n, adminID)
	}
	if _, ok := srv.Account(adminID); !ok {
		t.Errorf("the admin's own API client %s was deleted", adminID)
	}
}
