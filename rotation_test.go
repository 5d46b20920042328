package vendor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

const adminSecret = "adm1n secret %#:@"

// rotScenario is one way a vendor rotates: as the role itself or through an
// admin rotation_role.
type rotScenario struct {
	name   string
	vendor string
	admin  bool
	// rotateEndpoint is the fake's endpoint that makes the change.
	rotateEndpoint string
}

var rotScenarios = []rotScenario{
	{"cyral-self", "cyral", false, "rotate"},
	{"cyral-admin", "cyral", true, "rotate"},
	{"cyberark-self", "cyberark", false, "rotate"},
	{"cyberark-admin", "cyberark", true, "rotate"},
	{"cyberark-pam-self", "cyberark-pam", false, "token"},
	{"cyberark-pam-admin", "cyberark-pam", true, "rotate"},
	{"privx-admin", "privx", true, "create"},
}

// rotWorld is a fake vendor with the role's account and an admin account,
// and the roles "r" (and "admin") written for them.
type rotWorld struct {
	h     *harness
	sc    rotScenario
	srv   *vendortest.Server
	name0 string // the role's account name at the vendor
}

func (h *harness) rotationWorld(sc rotScenario) *rotWorld {
	h.t.Helper()
	return h.rotationWorldAt(sc, "")
}

// rotationWorldAt is rotationWorld with a cyberark-pam fake that serves
// PVWA under the application name pvwaApp, which both roles name in
// pvwa_app_name (empty: the default, which the roles leave unset).
func (h *harness) rotationWorldAt(sc rotScenario, pvwaApp string) *rotWorld {
	h.t.Helper()
	admin := vendortest.Account{ID: "vault-admin", Secret: adminSecret, Admin: true, Name: "vault-admin"}
	switch sc.vendor {
	case "cyberark":
		admin.ID = "vault-admin@cyberark.cloud.1234"
	case "privx":
		admin.OAuthClientID, admin.OAuthClientSecret = "privx-external", "oauth %sec#ret:x"
	}
	opts := []vendortest.Option{vendortest.WithAccount(admin)}
	if pvwaApp != "" {
		opts = append(opts, vendortest.WithPVWAAppName(pvwaApp))
	}
	srv, role := h.vendorServer(sc.vendor, opts...)
	if pvwaApp != "" {
		role["pvwa_app_name"] = pvwaApp
	}
	w := &rotWorld{h: h, sc: sc, srv: srv, name0: "svc-vault"}
	if sc.admin {
		adminRole := map[string]any{}
		for k, v := range role {
			adminRole[k] = v
		}
		adminRole["client_id"], adminRole["client_secret"] = admin.ID, adminSecret
		delete(adminRole, "auth_method")
		adminRole["rotation_allowed_roles"] = "r"
		h.ok(logical.CreateOperation, "roles/admin", adminRole)
		role["rotation_role"] = "admin"
	}
	h.ok(logical.CreateOperation, "roles/r", role)
	h.secrets = append(h.secrets, adminSecret)
	// Whatever secrets rotation made are searched for too.
	h.t.Cleanup(func() {
		for _, a := range srv.Accounts() {
			h.secrets = append(h.secrets, a.Secret)
		}
	})
	return w
}

// storedRole reads role r straight from storage.
func (w *rotWorld) storedRole() *roleEntry {
	w.h.t.Helper()
	r, err := getRole(context.Background(), w.h.storage, "r")
	if err != nil || r == nil {
		w.h.t.Fatalf("role r: %v %v", r, err)
	}
	return r
}

// mustMintFresh drops the cached token and reads a new one, which the
// vendor's API must accept.
func (w *rotWorld) mustMintFresh() map[string]any {
	w.h.t.Helper()
	w.h.b.dropRole("r")
	data := w.h.ok(logical.ReadOperation, "token/r", nil)
	if status, err := w.srv.CallAPI(data["authorization"].(string)); err != nil || status != 200 {
		w.h.t.Fatalf("the vendor refused the token: %d %v", status, err)
	}
	return data
}

// mustBeSettled: no rotation pending, no WAL entry, the stored secret is
// the one the vendor holds, no stray API client, and the role mints.
func (w *rotWorld) mustBeSettled() {
	w.h.t.Helper()
	r := w.storedRole()
	if r.Pending != nil {
		w.h.t.Fatalf("a rotation is still pending: %s", r.Pending.RotationID)
	}
	if n := w.h.walCount("r"); n != 0 {
		w.h.t.Fatalf("%d WAL entries left", n)
	}
	a, ok := w.srv.Account(r.ClientID)
	if !ok || a.Secret != r.ClientSecret {
		w.h.t.Fatalf("the stored secret of %s is not the vendor's (account found: %v)", r.ClientID, ok)
	}
	if w.sc.vendor == "privx" {
		if n := w.clientsNamed(w.name0); n != 1 {
			w.h.t.Fatalf("%d PrivX API clients named %s, want 1", n, w.name0)
		}
	}
	w.mustMintFresh()
}

func (w *rotWorld) clientsNamed(name string) int {
	n := 0
	for _, a := range w.srv.Accounts() {
		if a.Name == name {
			n++
		}
	}
	return n
}

// failNextCallOfEveryEndpoint makes the vendor's next answer on each
// endpoint a 503.
func (w *rotWorld) failNextCallOfEveryEndpoint() {
	for _, ep := range []string{"token", "rotate", "query", "create", "read", "delete"} {
		w.srv.Inject(ep, vendortest.Fault{Status: 503, Body: `{"error":"temporarily_unavailable","error_description":"injected"}`})
	}
}

// walCount counts the WAL entries of a role's rotations ("" for any role).
func (h *harness) walCount(role string) int {
	h.t.Helper()
	ids, err := framework.ListWAL(context.Background(), h.storage)
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for _, id := range ids {
		e, err := framework.GetWAL(context.Background(), h.storage, id)
		if err != nil || e == nil {
			h.t.Fatalf("WAL %s: %v", id, err)
		}
		if data, _ := e.Data.(map[string]any); role == "" || data["role"] == role {
			n++
		}
	}
	return n
}

// settleByRollback runs Vault's rollback until the role's rotation is
// settled. A first pass may keep a pending secret the vendor might still
// apply late; past the grace period the next pass must settle it.
func (h *harness) settleByRollback() {
	h.t.Helper()
	err := h.rollback()
	if err == nil {
		return
	}
	if !strings.Contains(err.Error(), "in case the vendor applies the change late") {
		h.t.Fatalf("rollback: %v", err)
	}
	h.clock.Add(pendingGrace)
	if err := h.rollback(); err != nil {
		h.t.Fatalf("rollback after the grace period: %v", err)
	}
}

// rollback runs Vault's periodic rollback, taking WAL entries of any age.
func (h *harness) rollback() error {
	h.t.Helper()
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.RollbackOperation, Storage: h.storage, Data: map[string]any{"immediate": true},
	})
	if err == nil && resp != nil && resp.IsError() {
		err = resp.Error()
	}
	if err != nil {
		h.seen = append(h.seen, err.Error())
	}
	return err
}

func TestRotateRoleForEveryVendorThatCan(t *testing.T) {
	for _, sc := range rotScenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(sc)
			before := w.mustMintFresh()
			old := w.storedRole()

			data := h.ok(logical.UpdateOperation, "rotate-role/r", nil)
			after := w.storedRole()
			if after.ClientSecret == old.ClientSecret {
				t.Fatal("the secret did not change")
			}
			if after.LastRotated.IsZero() || data["last_rotated"] != formatTime(after.LastRotated) || data["client_id"] != after.ClientID {
				t.Fatalf("rotate-role answered %v; role %+v", data, after)
			}
			// The old secret no longer works at the vendor; the new one does.
			if a, _ := w.srv.Account(old.ClientID); a.Secret == old.ClientSecret {
				t.Fatal("the vendor still accepts the old secret")
			}
			// The cached token was dropped: the next read minted anew.
			if tok := h.ok(logical.ReadOperation, "token/r", nil); tok["access_token"] == before["access_token"] {
				t.Fatal("a token cached before the rotation was handed out after it")
			}
			w.mustBeSettled()
			if sc.vendor == "privx" {
				if after.ClientID == old.ClientID {
					t.Fatal("privx rotation kept the old API client")
				}
				if _, ok := w.srv.Account(old.ClientID); ok {
					t.Fatal("the old API client was not deleted")
				}
				if a, _ := w.srv.Account(after.ClientID); a.Name != w.name0 || len(a.Roles) != 1 || a.Roles[0] != "api-read" {
					t.Fatalf("the replacement client lost its name or roles: %+v", a)
				}
			}
			if sc.vendor == "cyberark-pam" && len(after.ClientSecret) > 39 {
				t.Fatalf("PAM password of %d characters", len(after.ClientSecret))
			}
			read := h.ok(logical.ReadOperation, "roles/r", nil)
			if read["last_rotated"] != formatTime(after.LastRotated) || read["rotation_pending"] != false || read["last_rotation_error"] != "" {
				t.Fatalf("role read after rotation: %v", read)
			}
			// A second rotation works from the first one's result.
			h.ok(logical.UpdateOperation, "rotate-role/r", nil)
			w.mustBeSettled()

			evs := h.events.all()
			if len(evs) != 2 || evs[0].Type != "vendor/rotate" || evs[0].Metadata["role"] != "r" || evs[0].Metadata["vendor"] != sc.vendor || evs[0].Metadata["trigger"] != "manual" {
				t.Fatalf("events %+v", evs)
			}
			if !strings.Contains(h.logs.String(), "rotation succeeded") {
				t.Fatal("no log line for the rotation")
			}
		})
	}
}

func TestRotationRefusalsAreClear400s(t *testing.T) {
	for _, vendor := range []string{"incydr", "oauth2"} {
		h := newHarness(t)
		_, role := h.vendorServer(vendor)
		h.ok(logical.CreateOperation, "roles/r", role)
		h.badRequest(logical.UpdateOperation, "rotate-role/r", nil, "vendor "+vendor+" has no", "to the role with client_secret=")
		role["rotation_period"] = "24h"
		h.badRequest(logical.CreateOperation, "roles/s", role, "vendor "+vendor+" has no")
	}

	h := newHarness(t)
	_, role := h.vendorServer("privx")
	h.ok(logical.CreateOperation, "roles/p", role)
	h.badRequest(logical.UpdateOperation, "rotate-role/p", nil, "rotation_role is required to rotate a privx role")
	h.badRequest(logical.UpdateOperation, "roles/p", map[string]any{"rotation_period": "24h"}, "rotation_role is required")
	h.badRequest(logical.UpdateOperation, "roles/p", map[string]any{"password_policy": "x"}, "password_policy does not apply to vendor privx")
	// Issue 14: a rotation_role is checked when written; a role stored
	// before (or whose admin went since) meets the same check at rotation.
	h.badRequest(logical.UpdateOperation, "roles/p", map[string]any{"rotation_role": "nobody"}, `rotation_role names role "nobody", which does not exist`)
	h.editStoredRole("p", func(r *roleEntry) { r.RotationRole = "nobody" })
	h.badRequest(logical.UpdateOperation, "rotate-role/p", nil, `rotation_role names role "nobody", which does not exist`)
	h.statusIs(logical.UpdateOperation, "rotate-role/missing", nil, 404, `role "missing" does not exist at vendor/roles/missing`)

	// An admin role of another vendor, or at another address, is refused:
	// its token would go where it does not belong.
	_, cy := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/cy", cy)
	h.badRequest(logical.UpdateOperation, "roles/p", map[string]any{"rotation_role": "cy"}, "names a cyral role; it must be a privx role")
	h.editStoredRole("p", func(r *roleEntry) { r.RotationRole = "cy" })
	h.badRequest(logical.UpdateOperation, "rotate-role/p", nil, "names a cyral role; it must be a privx role")
	_, other := h.vendorServer("privx")
	h.ok(logical.CreateOperation, "roles/other", other)
	h.badRequest(logical.UpdateOperation, "roles/p", map[string]any{"rotation_role": "other"}, `names role "other" at another address`)
	h.editStoredRole("p", func(r *roleEntry) { r.RotationRole = "other" })
	h.badRequest(logical.UpdateOperation, "rotate-role/p", nil, `names role "other" at another address`)
	if n := h.walCount(""); n != 0 {
		t.Fatalf("refused rotations left %d WAL entries", n)
	}
}

func TestPasswordPolicyChoosesTheNewSecret(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[4]) // cyberark-pam, self
	const made = "Policy-Made-Password-42"
	h.sys.SetPasswordPolicy("pam", func() (string, error) { return made, nil })
	h.sys.SetPasswordPolicy("too-long", func() (string, error) { return strings.Repeat("Ab1", 14), nil })

	h.badRequest(logical.UpdateOperation, "roles/r", map[string]any{"password_policy": "nope"}, "password_policy", `"nope" cannot generate a password`)
	h.badRequest(logical.UpdateOperation, "roles/r", map[string]any{"password_policy": "too-long"}, "password_policy", "makes 42-character passwords; cyberark-pam takes 8 to 39")
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"password_policy": "pam"})
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	if a, _ := w.srv.Account("svc-vault"); a.Secret != made {
		t.Fatal("the vendor did not get the policy's password")
	}
	h.secrets = append(h.secrets, made)
	w.mustBeSettled()

	// Without a policy: random, within the vendor's limits, never repeated.
	seen := map[string]bool{}
	for range 20 {
		p, err := randomPassword(32)
		if err != nil || len(p) != 32 || seen[p] {
			t.Fatalf("randomPassword: %q %v", p, err)
		}
		seen[p] = true
		for _, class := range passwordClasses {
			if !strings.ContainsAny(p, class) {
				t.Fatalf("%q lacks one of %q", p, class)
			}
		}
	}
}

// TestRotationSurvivesInterruptionAtEveryStage stops a rotation after each
// of its stages in three ways: the process dies there (a new backend on the
// same storage starts, and its start-up recovery runs), storage fails from
// there on, or the vendor fails its next call. Each time token reads keep
// working before Vault's WAL rollback runs, and the rollback leaves the
// role settled and minting.
func TestRotationSurvivesInterruptionAtEveryStage(t *testing.T) {
	for _, sc := range rotScenarios {
		for _, stage := range cleanRunStages(t, sc) {
			for _, mode := range []string{"crash", "storage", "vendor"} {
				t.Run(fmt.Sprintf("%s/%s-after-%s", sc.name, mode, stage), func(t *testing.T) {
					h := newHarness(t)
					w := h.rotationWorld(sc)
					fired := false
					h.b.rotationHook = func(role, st string) error {
						if role != "r" || st != stage || fired {
							return nil
						}
						fired = true
						switch mode {
						case "crash":
							return errors.New("process killed")
						case "storage":
							h.storage.setFail(func(string) bool { return true })
						case "vendor":
							w.failNextCallOfEveryEndpoint()
						}
						return nil
					}
					h.do(logical.UpdateOperation, "rotate-role/r", nil)
					if !fired {
						t.Fatalf("stage %s never came", stage)
					}
					h.b.rotationHook = nil
					if mode == "crash" {
						h.restart()
					}
					lost := sc.name == "cyral-self" && mode == "crash" && stage == stageVendor
					if lost {
						w.mustReportLostSecret()
						return
					}
					orphan := sc.vendor == "privx" && mode == "crash" && stage == stageVendor
					if mode == "vendor" {
						// A logon answered with a 5xx is not retried (it may
						// have counted as a failed logon) and holds that
						// credential back for a few seconds: a read that meets
						// the injected 503 fails once, and after the backoff
						// the next works.
						w.h.b.dropRole("r")
						w.h.do(logical.ReadOperation, "token/r", nil)
						h.clock.Add(10 * time.Second)
					}
					// Reads work before the rollback, storage still failing.
					w.mustMintFresh()
					h.storage.setFail(nil)
					w.srv.ClearFaults()
					h.settleByRollback()
					if orphan {
						// Killed between PrivX creating the client and the WAL
						// learning its id: the client is left, and named.
						if n := w.clientsNamed(w.name0); n != 2 {
							t.Fatalf("%d clients named %s", n, w.name0)
						}
						w.deleteOrphans()
					}
					w.mustBeSettled()
					// And the next rotation works.
					h.ok(logical.UpdateOperation, "rotate-role/r", nil)
					w.mustBeSettled()
				})
			}
		}
	}
}

// TestLostReplyIsRecovered: the vendor acts on the rotation call, but its
// answer is lost (a 502 after the change took effect).
func TestLostReplyIsRecovered(t *testing.T) {
	for _, sc := range rotScenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(sc)
			// Once the rotation has proved the role's secret and recorded
			// its intent, the vendor's next answer on the changing call is lost.
			injected := false
			h.b.rotationHook = func(role, stage string) error {
				if stage == stageIntent && !injected {
					injected = true
					w.srv.Inject(sc.rotateEndpoint, vendortest.Fault{Apply: true, Status: 502, Body: `{"error":"bad_gateway"}`})
				}
				return nil
			}
			resp, err := h.do(logical.UpdateOperation, "rotate-role/r", nil)
			h.b.rotationHook = nil
			switch sc.name {
			case "cyral-self":
				// Cyral made a secret nobody saw; the role cannot get it back
				// by itself, and says so in a 400: the operator must act.
				if err != nil || !resp.IsError() || !strings.Contains(resp.Error().Error(), "cannot mint until its secret is replaced") {
					t.Fatalf("want a 400 that says what to do, got %v %v", resp, err)
				}
				w.mustReportLostSecret()
				return
			case "cyral-admin":
				// The admin rotated it again at once.
				if err != nil || resp.IsError() || len(resp.Warnings) == 0 {
					t.Fatalf("want success with a warning: %v %v", resp, err)
				}
			case "privx-admin":
				// The created client's id was lost with the reply: the
				// rotation failed cleanly, and the stray client is named.
				if err == nil || !strings.Contains(err.Error(), "502") {
					t.Fatalf("want the 502: %v %v", resp, err)
				}
				w.deleteOrphans()
			default:
				// The pending secret was stored before the vendor heard of it
				// and works: the rotation succeeded after all.
				if err != nil || resp.IsError() || len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "the new secret works") {
					t.Fatalf("want success with a warning: %v %v", resp, err)
				}
			}
			h.settleByRollback()
			w.mustBeSettled()
		})
	}
}

// mustReportLostSecret checks the one unrecoverable case: a role that
// rotates itself lost a vendor-made secret. It fails clearly, keeps failing
// clearly without proving dead secrets again (each would be a failed
// logon), and heals once an operator writes the vendor's secret.
func (w *rotWorld) mustReportLostSecret() {
	h := w.h
	h.t.Helper()
	h.b.dropRole("r")
	h.badRequest(logical.ReadOperation, "token/r", nil, "cyral refused the token request")
	// Settle decides only on the vendor's fresh word, and the logon guard
	// offers a refused secret again only after refusalMemory.
	for i := 0; i < 3 && w.storedRole().Lost == nil; i++ {
		if err := h.rollback(); err != nil && !strings.Contains(err.Error(), "Vault will retry") {
			h.t.Fatalf("rollback: %v", err)
		}
		h.clock.Add(refusalMemory)
	}
	read := h.ok(logical.ReadOperation, "roles/r", nil)
	if w.storedRole().Lost == nil || !strings.Contains(read["last_rotation_error"].(string), "write a new client_secret") {
		h.t.Fatalf("role read: %v", read)
	}
	// Stuck: neither Vault's rollback nor a rotation proves a secret again.
	calls := w.srv.Calls("token")
	for range 3 {
		h.clock.Add(refusalMemory)
		if err := h.rollback(); err != nil {
			h.t.Fatalf("rollback of a stuck role: %v", err)
		}
		h.badRequest(logical.UpdateOperation, "rotate-role/r", nil, "no secret is tried again until the role is written")
	}
	if n := w.srv.Calls("token") - calls; n != 0 {
		h.t.Fatalf("%d logons for a role whose rotation lost its secret", n)
	}
	if n := h.walCount("r"); n != 0 {
		h.t.Fatalf("%d WAL entries left for a rotation recorded as lost", n)
	}
	a, _ := w.srv.Account(w.storedRole().ClientID)
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": a.Secret})
	if err := h.rollback(); err != nil {
		h.t.Fatal(err)
	}
	w.mustBeSettled()
}

// deleteOrphans removes API clients named like the role's that it does not
// use, as an operator told by the warning would.
func (w *rotWorld) deleteOrphans() {
	r := w.storedRole()
	for _, a := range w.srv.Accounts() {
		if a.Name == w.name0 && a.ID != r.ClientID {
			w.srv.DeleteAccount(a.ID)
		}
	}
}

// cleanRunStages lists the stages a rotation passes through when nothing
// goes wrong.
func cleanRunStages(t *testing.T, sc rotScenario) []string {
	h := newHarness(t)
	h.rotationWorld(sc)
	var stages []string
	h.b.rotationHook = func(role, stage string) error {
		stages = append(stages, stage)
		return nil
	}
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	if len(stages) < 4 {
		t.Fatalf("%s: stages %v", sc.name, stages)
	}
	return stages
}

func TestScheduledRotation(t *testing.T) {
	h := newHarness(t)
	cy := h.rotationWorld(rotScenarios[1]) // cyral via admin
	_, pamRole := h.vendorServer("cyberark-pam")
	pamRole["rotation_period"] = "24h"
	h.ok(logical.CreateOperation, "roles/pam", pamRole)
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"rotation_period": "24h"})
	pamSrv := h.pamServerOf(t, "pam")

	read := h.ok(logical.ReadOperation, "roles/r", nil)
	next, err := time.Parse(time.RFC3339, read["next_rotation"].(string))
	if err != nil || next.Before(h.clock.Now().Add(24*time.Hour)) || next.After(h.clock.Now().Add(24*time.Hour+5*time.Minute)) {
		t.Fatalf("next_rotation %v", read["next_rotation"])
	}
	// Not due: nothing happens.
	if err := h.rollback(); err != nil {
		t.Fatal(err)
	}
	if cy.srv.Calls("rotate") != 0 {
		t.Fatal("rotated before it was due")
	}

	// Due, with PAM failing: cyral still rotates, PAM records its error.
	h.clock.Add(25 * time.Hour)
	pamSrv.Inject("token", vendortest.Fault{Status: 500, Times: -1})
	// PAM's rotation does not begin: its secret cannot be proved while
	// PVWA answers 500, so nothing is left to settle.
	if err := h.rollback(); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if n := h.walCount("pam"); n != 0 {
		t.Fatalf("%d WAL entries for a rotation that could not begin", n)
	}
	if cy.srv.Calls("rotate") != 1 {
		t.Fatalf("cyral rotate calls %d", cy.srv.Calls("rotate"))
	}
	cy.mustBeSettled()
	failed := h.ok(logical.ReadOperation, "roles/pam", nil)
	if !strings.Contains(failed["last_rotation_error"].(string), "cyberark-pam") || failed["last_rotated"] != "" {
		t.Fatalf("failed role: %v", failed)
	}
	ok := h.ok(logical.ReadOperation, "roles/r", nil)
	if ok["last_rotated"] != formatTime(h.clock.Now()) {
		t.Fatalf("rotated role: %v", ok)
	}
	var types []string
	for _, e := range h.events.all() {
		types = append(types, fmt.Sprint(e.Type, ":", e.Metadata["role"], ":", e.Metadata["trigger"]))
	}
	got := " " + strings.Join(types, " ") + " "
	if !strings.Contains(got, " vendor/rotate:r:scheduled ") || !strings.Contains(got, " vendor/rotate-fail:pam:scheduled ") || strings.Contains(got, "vendor/rotate:pam") {
		t.Fatalf("events %v", types)
	}

	// The failed role is retried after a while, not every tick; the
	// rotated one waits a whole period.
	pamSrv.ClearFaults()
	h.clock.Add(time.Minute)
	h.rollback()
	if r := h.ok(logical.ReadOperation, "roles/pam", nil); r["last_rotated"] != "" {
		t.Fatalf("a failed rotation was retried at once: %v", r)
	}
	h.clock.Add(3 * time.Hour)
	h.rollback()
	if r := h.ok(logical.ReadOperation, "roles/pam", nil); r["last_rotated"] == "" || r["last_rotation_error"] != "" {
		t.Fatalf("retried role: %v", r)
	}
	if cy.srv.Calls("rotate") != 1 {
		t.Fatal("a rotated role rotated again within its period")
	}

	// A performance standby never rotates: its storage is read-only.
	h.sys.ReplicationStateVal = consts.ReplicationPerformanceStandby
	h.clock.Add(48 * time.Hour)
	h.rollback()
	if cy.srv.Calls("rotate") != 1 {
		t.Fatal("a performance standby rotated")
	}
	h.sys.ReplicationStateVal = 0
	h.rollback()
	if cy.srv.Calls("rotate") != 2 {
		t.Fatal("the active node did not rotate")
	}
}

// pamServerOf finds the fake behind a role by its stored URL.
func (h *harness) pamServerOf(t *testing.T, role string) *vendortest.Server {
	t.Helper()
	r, _ := getRole(context.Background(), h.storage, role)
	for _, s := range h.servers {
		if s.URL == r.URL {
			return s
		}
	}
	t.Fatalf("no server for role %s", role)
	return nil
}

func TestOperatorSecretWinsOverAPendingRotation(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	h.b.rotationHook = func(_, stage string) error {
		if stage == stagePending {
			return errors.New("killed")
		}
		return nil
	}
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	h.b.rotationHook = nil
	if read := h.ok(logical.ReadOperation, "roles/r", nil); read["rotation_pending"] != true {
		t.Fatalf("role read: %v", read)
	}
	a, _ := w.srv.Account(w.storedRole().ClientID)
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": a.Secret})
	if w.storedRole().Pending != nil {
		t.Fatal("writing client_secret kept the pending secret")
	}
	if err := h.rollback(); err != nil {
		t.Fatal(err)
	}
	w.mustBeSettled()
}

// CyberArk Identity answers HTTP 200 with success:false when it refuses: a
// failed rotation, quoted as a 400, with nothing lost.
func TestIdentitySuccessFalseIsAFailure(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	// A password Identity's complexity rules refuse (no upper-case letter).
	h.sys.SetPasswordPolicy("weak", func() (string, error) { return "weakpassword1", nil })
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"password_policy": "weak"})
	h.badRequest(logical.UpdateOperation, "rotate-role/r", nil,
		"cyberark refused the ChangeUserPassword request: HTTP 200 PasswordComplexity: Password does not meet complexity requirements")
	if read := h.ok(logical.ReadOperation, "roles/r", nil); !strings.Contains(read["last_rotation_error"].(string), "PasswordComplexity") || read["last_rotated"] != "" {
		t.Fatalf("role read: %v", read)
	}
	w.mustBeSettled()

	// An admin without the right to query users is refused the same way.
	h2 := newHarness(t)
	w2 := h2.rotationWorld(rotScenarios[3]) // cyberark via admin
	// The admin account loses its admin right.
	w2.srv.AddAccount(vendortest.Account{ID: "vault-admin@cyberark.cloud.1234", Secret: adminSecret})
	h2.badRequest(logical.UpdateOperation, "rotate-role/r", nil,
		"cyberark refused the Redrock/query request: HTTP 200 Unauthorized: You are not authorized")
	w2.mustBeSettled()
}

// The vendor says the change worked but did not make it: the new secret
// fails its proving mint, so the role keeps the secret that works.
func TestRotationIsNotPromotedUntilTheNewSecretMints(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	old := w.storedRole().ClientSecret
	w.srv.Inject("rotate", vendortest.Fault{Status: 200, Body: `{"success":true,"Result":null}`})
	// The vendor may yet apply it: the new secret is kept for a while, and
	// the rotation is reported unsettled (a 5xx), not failed.
	_, err := h.do(logical.UpdateOperation, "rotate-role/r", nil)
	if err == nil || !strings.Contains(err.Error(), "cyberark refused the token request") || !strings.Contains(err.Error(), "kept for") {
		t.Fatalf("rotate-role: %v", err)
	}
	if w.storedRole().ClientSecret != old {
		t.Fatal("a secret that never minted was promoted")
	}
	h.settleByRollback()
	if w.storedRole().ClientSecret != old {
		t.Fatal("a secret that never minted was promoted")
	}
	w.mustBeSettled()
}

// A role write that arrives while a rotation switches the secret waits for
// it, and then applies on top of the rotated role: it can neither write the
// old secret back nor be lost.
func TestRoleWriteWaitsForARotation(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	writeRead := make(chan struct{}, 1)
	writeDone := make(chan error, 1)
	h.b.rotationHook = func(_, stage string) error {
		if stage != stageProved {
			return nil
		}
		h.storage.setOnGet(func(key string) {
			if key == roleStoragePrefix+"r" {
				select {
				case writeRead <- struct{}{}:
				default:
				}
			}
		})
		go func() {
			_, err := h.b.HandleRequest(context.Background(), &logical.Request{
				Operation: logical.UpdateOperation, Path: "roles/r", Storage: h.storage,
				Data: map[string]any{"refresh_before": "45s"},
			})
			writeDone <- err
		}()
		// Under the role's lock the write cannot read the role now; give an
		// unlocked one the chance to (a bounded wait: it can only let a
		// missing lock pass unnoticed, never fail a correct one).
		select {
		case <-writeRead:
			t.Error("a role write read the role while a rotation held it")
		case <-time.After(200 * time.Millisecond):
		}
		h.storage.setOnGet(nil)
		return nil
	}
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	h.b.rotationHook = nil
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}
	if r := w.storedRole(); r.RefreshBefore != 45*time.Second || r.LastRotated.IsZero() {
		t.Fatalf("the write or the rotation was lost: %+v", r)
	}
	w.mustBeSettled()
}

// Regression: the vendor's answer to a password change is lost (504) and
// it applies the change only later. The pending secret must still be there.
func TestVendorApplyingAChangeLateKeepsThePendingSecret(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	w.srv.Inject("rotate", vendortest.Fault{Status: 504, Body: `{"error":"gateway_timeout"}`})
	if _, err := h.do(logical.UpdateOperation, "rotate-role/r", nil); err == nil {
		t.Fatal("want the rotation unsettled")
	}
	if err := h.rollback(); err == nil || !strings.Contains(err.Error(), "applies the change late") {
		t.Fatalf("rollback inside the grace period: %v", err)
	}
	p := w.storedRole().Pending
	if p == nil {
		t.Fatal("the pending secret was dropped while the vendor might still apply it")
	}
	// Now the vendor applies it. The rollback saw the pending secret
	// refused, so it is offered again only after refusalMemory.
	w.srv.AddAccount(vendortest.Account{ID: "svc-vault@cyberark.cloud.1234", Secret: p.ClientSecret, Name: "svc-vault"})
	h.clock.Add(refusalMemory)
	w.mustMintFresh()
	h.settleByRollback()
	w.mustBeSettled()
}

// Regression: an admin re-run that keeps failing must not multiply WAL
// entries or vendor calls on each rollback, and recovers once the vendor does.
func TestFailingAdminReRunDoesNotMultiply(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[1]) // cyral via admin
	// Cyral makes a new secret and the reply is lost; every rotation
	// after that fails.
	w.srv.Inject("rotate", vendortest.Fault{Apply: true, Status: 502, Body: `{"error":"bad_gateway"}`})
	w.srv.Inject("rotate", vendortest.Fault{Status: 503, Body: `{"error":"unavailable"}`, Times: -1})
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	for i := range 4 {
		h.clock.Add(refusalMemory)
		h.rollback()
		if n := h.walCount("r"); n != 1 {
			t.Fatalf("after rollback %d: %d WAL entries", i+1, n)
		}
	}
	if n := w.srv.Calls("rotate"); n > 6 {
		t.Fatalf("%d rotate calls for one rotation and four rollbacks", n)
	}
	w.srv.ClearFaults()
	// The proofs spent the account's failed logons for the hour.
	h.clock.Add(failedLogonWindow)
	h.settleByRollback()
	w.mustBeSettled()
}

// Regression: a refused role write must not forget the in-memory copy of a
// vendor-made secret that storage could not take.
func TestRefusedRoleWriteKeepsAnUnsavedSecret(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[0]) // cyral, self
	h.b.rotationHook = func(_, stage string) error {
		if stage == stageVendor {
			h.storage.setFail(func(string) bool { return true })
		}
		return nil
	}
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	h.b.rotationHook = nil
	h.storage.setFail(nil)
	h.badRequest(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": "typo", "verify": true}, "verify failed")
	w.mustMintFresh()
	h.settleByRollback()
	w.mustBeSettled()
}

// Regression: a PrivX cleanup that keeps failing is retried without
// marking the role failed or holding back its schedule.
func TestFailingCleanupDoesNotStopTheSchedule(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[6]) // privx
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"rotation_period": "1h"})
	w.srv.Inject("delete", vendortest.Fault{Status: 403, Body: `{"error_code":"FORBIDDEN"}`, Times: -1})
	if resp := h.ok(logical.UpdateOperation, "rotate-role/r", nil); resp == nil {
		t.Fatal("no answer")
	}
	for range 10 {
		h.clock.Add(15 * time.Minute)
		h.rollback()
	}
	if n := w.srv.Calls("create"); n < 2 {
		t.Fatalf("the schedule stopped: %d API clients created in 2.5 h with a 1 h period", n)
	}
	if read := h.ok(logical.ReadOperation, "roles/r", nil); read["last_rotation_error"] != "" {
		t.Fatalf("a cleanup failure was recorded as a rotation failure: %v", read["last_rotation_error"])
	}
	w.srv.ClearFaults()
	h.settleByRollback()
	if n := w.clientsNamed(w.name0); n != 1 {
		t.Fatalf("%d clients named %s after the cleanup retried", n, w.name0)
	}
}

// A scheduled run that finds an unfinished rotation and finishes it counts
// that as the period's rotation: one rotation, not two.
func TestScheduledRunFinishingARotationDoesNotRotateAgain(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[2]) // cyberark, self
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"rotation_period": "1h"})
	h.clock.Add(2 * time.Hour)
	// Crash after the vendor changed the password: the role is due, and pending.
	h.b.rotationHook = func(_, stage string) error {
		if stage == stageVendor {
			return errors.New("killed")
		}
		return nil
	}
	h.do(logical.UpdateOperation, "rotate-role/r", nil)
	h.b.rotationHook = nil
	calls := w.srv.Calls("rotate")
	if err := h.rollback(); err != nil { // the periodic runs before the WAL rollback
		t.Fatal(err)
	}
	if n := w.srv.Calls("rotate") - calls; n != 0 {
		t.Fatalf("the scheduled run rotated again (%d calls) after finishing the earlier rotation", n)
	}
	w.mustBeSettled()
}
