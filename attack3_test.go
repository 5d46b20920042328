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

// The last failed logon of the hour is kept for the credential that last
// worked "or an operator's verify". But verify=true is open to anyone who
// may write one role, and a role may name any account: a writer of role
// "evil" spends the five ordinary failed logons of the admin account with
// wrong guesses, then the kept sixth with verify=true, and the admin role,
// whose secret works, cannot mint for an hour. Repeated each hour, the
// writer of one role keeps another account's role down for good.
func TestRoleWriterCannotSpendTheWorkingRolesKeptLogon(t *testing.T) {
	h := newHarness(t)
	_, role, adminID := h.adminWorld("cyberark-pam", "")
	h.ok(logical.ReadOperation, "token/admin", nil) // the admin's secret works
	for i := range 8 {
		h.guess(withFields(role, "client_id", adminID, "client_secret", fmt.Sprintf("Guess-%d", i), "verify", true), false)
	}
	h.b.dropRole("admin")
	resp, err := h.do(logical.ReadOperation, "token/admin", nil)
	if err != nil || resp == nil || resp.IsError() {
		t.Fatalf("the admin role, whose secret works, cannot mint after another role's writer guessed its account: %v %v", err, resp)
	}
}

// An account has one guard "however its roles spell it", but a port with
// leading zeros (which Go dials as the same port) or a host with a
// trailing dot is another guard key. The writer of one role who names
// another account rewrites the role's base_url between guesses and gets a
// fresh budget of failed logons each time: far more than six in an hour.
func TestPortSpellingIsNoFreshFailedLogonBudget(t *testing.T) {
	h := newHarness(t)
	srv, role, adminID := h.adminWorld("cyberark-pam", "")
	base := role["base_url"].(string)
	i := strings.LastIndex(base, ":")
	host, port := base[:i+1], base[i+1:]
	before := srv.Calls("token")
	for z := range 4 {
		url := host + strings.Repeat("0", z) + port
		for g := range 6 {
			h.guess(withFields(role, "base_url", url, "client_id", adminID,
				"client_secret", fmt.Sprintf("Guess-%d-%d", z, g)), true)
		}
	}
	if n := srv.Calls("token") - before; n > maxFailedLogons {
		t.Fatalf("one role's writer made %d failed logons of account %s in a minute by respelling the port", n, adminID)
	}
}

// Readers in between "get the live cached token or, at once, the
// remembered refusal". But the remembered refusal is looked up only after
// the account's turn is taken, and the turn is held for the whole of a
// vendor call by any role of the account: while the vendor is slow to
// answer one role's logon, a reader of another role sharing the account
// waits for it (up to the HTTP deadline, and behind every queued role),
// and so does a rotation's proof.
func TestRememberedRefusalIsAnsweredWithoutWaitingForTheAccountsTurn(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark-pam")
	h.ok(logical.CreateOperation, "roles/good", role)
	h.ok(logical.CreateOperation, "roles/stale", withFields(role, "client_secret", "Rotated-Away-1"))
	h.badRequest(logical.ReadOperation, "token/stale", nil, "refused")

	hold := make(chan struct{})
	defer close(hold)
	srv.Inject("token", vendortest.Fault{Hold: hold})
	calls := srv.Calls("token")
	go h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "token/good", Storage: h.storage})
	for range 5000 {
		if srv.Calls("token") > calls {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if srv.Calls("token") == calls {
		t.Fatal("the good role's logon never reached the vendor")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := h.b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "token/stale", Storage: h.storage})
	if err != nil || resp == nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "refused") {
		t.Fatalf("the stale role's remembered refusal waited for another role's slow logon: %v %v", resp, err)
	}
}

// After the vendor accepted a rotation's new secret, one 503 on the proof
// and a few failed logons earlier in the hour (an operator's mistyped
// verify, a stale role sharing the account) strand it: settle spends the
// next failed logon proving the old secret (which keeps the kept sixth),
// and the new secret, which the vendor holds and was never refused, is
// held back as if it were a guess. The role's token is dropped with the
// pending write, so the role cannot mint, nor Vault's rollback settle it,
// for the rest of the hour.
func TestVendorAcceptedSecretIsNotHeldBackAsAGuess(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	// Four mistyped verifies earlier in the hour, then the right secret.
	for i := range maxFailedLogons - 2 {
		h.do(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": fmt.Sprintf("Typo-%d", i), "verify": true})
	}
	w.mustMintFresh()
	h.b.rotationHook = func(role, stage string) error {
		if stage == stageVendor {
			// The vendor took the new secret; the proof meets a blip.
			w.srv.Inject("token", vendortest.Fault{Status: 503, Body: `{"error":"temporarily_unavailable"}`})
		}
		return nil
	}
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	h.b.rotationHook = nil
	if w.storedRole().Pending == nil {
		t.Fatal("no pending secret left: the scenario did not arise")
	}
	if a, _ := w.srv.Account(w.storedRole().ClientID); a.Secret != w.storedRole().Pending.ClientSecret {
		t.Fatal("the vendor does not hold the pending secret: the scenario did not arise")
	}
	for minute := range 10 {
		h.clock.Add(time.Minute)
		rerr := h.rollback()
		h.b.dropRole("r")
		resp, err := h.do(logical.ReadOperation, "token/r", nil)
		if err == nil && resp != nil && !resp.IsError() {
			return
		}
		if minute == 9 {
			t.Fatalf("ten minutes after the vendor accepted the new secret the role still cannot mint: %v %v (rollback: %v)", resp, err, rerr)
		}
	}
}

// A logon answered with a 5xx "may have counted" at the vendor (PVWA
// answers some failed logons with a 500), which is why it is not retried.
// But the guard never counts it: its backoff tops out at five minutes, so
// a reader a minute keeps offering the same credential about twenty times
// an hour, each one a failed logon the vendor may count.
func TestLogonsAnswered5xxCountAgainstTheHourlyBudget(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark-pam")
	role["client_secret"] = "Wrong-Password-1"
	h.ok(logical.CreateOperation, "roles/pam", role)
	srv.Inject("token", vendortest.Fault{Apply: true, Status: 500, Body: `{"ErrorCode":"PASWS013E","ErrorMessage":"Authentication failure"}`, Times: -1})
	before := srv.Calls("token")
	for range 60 {
		h.do(logical.ReadOperation, "token/pam", nil)
		h.clock.Add(time.Minute)
	}
	if n := srv.Calls("token") - before; n > maxFailedLogons {
		t.Fatalf("an hour of a read a minute made %d logons, each answered 500 (the vendor may count every one)", n)
	}
}
