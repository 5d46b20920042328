package vendor

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Rotation replaces a role's secret through the vendor without ever leaving
// the role unable to mint:
//
//  1. a WAL entry records the intent (ids and stage, never a secret);
//  2. the new secret is stored as the role's pending secret, in the
//     seal-wrapped role entry, before the vendor hears of it (where the
//     vendor makes the secret, as soon as it answers);
//  3. a mint with the pending secret proves it;
//  4. the role is switched to it, and only then is the old one discarded
//     (PrivX: the old API client deleted);
//  5. the WAL entry is deleted.
//
// Whatever stops a rotation part-way, settle decides it later by what the
// vendor accepts: the pending secret (promote it) or the current one (drop
// the pending one), and an admin rotation_role re-runs a rotation whose new
// secret was lost. Until then, token reads fall back to the pending secret.

const (
	walKindRotation = "rotation"
	// rotationTimeout bounds one rotation, recovery included.
	rotationTimeout = 2 * time.Minute
	// walRollbackMinAge keeps Vault's rollback away from a rotation still
	// under way elsewhere (another backend instance during a reload).
	walRollbackMinAge = rotationTimeout + time.Minute
	// pendingGrace is how long a pending secret is kept while the vendor
	// still takes the current one, unless the vendor refused the change
	// outright: a vendor whose answer was lost may still be applying it.
	pendingGrace = walRollbackMinAge
	// persistTimeout bounds the storage writes that follow a change at the
	// vendor; they do not end with the request's own deadline.
	persistTimeout = 30 * time.Second
	// maxParallelRotations bounds scheduled rotations run at once.
	maxParallelRotations = 4
)

// Rotation stages, in order; the test hook is called after each.
const (
	stageIntent   = "intent"   // WAL written
	stageVendor   = "vendor"   // vendor told, or its new secret received
	stageCreated  = "created"  // privx: WAL rewritten with the new client id
	stagePending  = "pending"  // new secret stored as pending
	stageProved   = "proved"   // a mint with the new secret succeeded
	stagePromoted = "promoted" // role switched to the new secret
	stageCleaned  = "cleaned"  // old API client deleted (privx)
)

// Rotation triggers, for logs and events.
const (
	triggerManual    = "manual"
	triggerScheduled = "scheduled"
	triggerRecovery  = "recovery"
)

// errAbandoned is what the test hook returns to stop a rotation dead, as a
// crash would: nothing after it runs.
var errAbandoned = errors.New("rotation abandoned")

// errNotDue: a scheduled rotation found the role no longer due.
var errNotDue = errors.New("rotation not due")

// rotationWAL is the intent record. It holds ids and a stage, never a secret.
type rotationWAL struct {
	Role   string `json:"role"`
	ID     string `json:"id"`
	Vendor string `json:"vendor"`
	Stage  string `json:"stage"`
	// Generation is the role's when the rotation began; the entry acts
	// only on a role of that generation (none, for both, before upgrade).
	Generation string `json:"generation,omitempty"`
	// privx: the role's API client before the rotation, and its replacement.
	OldClientID string `json:"old_client_id,omitempty"`
	NewClientID string `json:"new_client_id,omitempty"`
	// Account is the client id the role held when the rotation began, at
	// Started: the entry is evidence about that account only.
	Account string    `json:"account,omitempty"`
	Started time.Time `json:"started,omitempty"`
}

// roleLock serialises rotations, their recovery and role writes per role.
func (b *backend) roleLock(name string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.locks, name)
}

// rotation is one rotation of one role, run under the role's lock.
type rotation struct {
	b       *backend
	s       logical.Storage
	name    string
	role    *roleEntry
	v       client.Vendor
	h       *client.HTTP
	by      client.Actor
	w       rotationWAL
	walIDs  []string // this rotation's WAL entries, deleted when it is settled
	reruns  int      // admin re-runs left for a secret the vendor lost
	refused bool     // the vendor refused the change call outright
	dropped []string // privx: clients of pending secrets that were dropped
	outcome string   // what settle decided, for the closing log line
	warn    []string
	// evidence: this plugin's own records (this rotation, its WAL entry
	// or a pending secret) show a rotation of the role's account, so an
	// admin may replace a secret that rotation lost.
	evidence bool
	// proof is the token that proved the role's secret; a self-rotation
	// uses it once instead of logging on again.
	proof *client.Token
}

// persistCtx is for storage writes after the vendor changed something: the
// caller's deadline (Vault gives a rollback 90 s) must not be what loses
// the only copy of a new secret.
func persistCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), persistTimeout)
}

// newRotation prepares a rotation of role. The actor's token is minted only
// when a step needs it.
func (b *backend) newRotation(ctx context.Context, s logical.Storage, name string, role *roleEntry) (*rotation, error) {
	cfg, err := b.config(ctx, s)
	if err != nil {
		return nil, err
	}
	st, err := b.newRoleState(name, role, cfg)
	if err != nil {
		return nil, err
	}
	rt := &rotation{b: b, s: s, name: name, role: role, v: st.vendor, h: st.http, reruns: 1}
	if err := rt.setActor(ctx); err != nil {
		return nil, err
	}
	return rt, nil
}

// setActor decides who rotates the role: itself, or its rotation_role,
// which must grant it rotation and be of the same vendor at the same
// address (its token is sent there).
func (rt *rotation) setActor(ctx context.Context) error {
	role := rt.role
	if role.RotationRole == "" {
		rt.by = client.Actor{Self: true, Authorization: func(ctx context.Context) (string, error) {
			if t := rt.proof; t != nil {
				rt.proof = nil
				return t.Authorization, nil
			}
			// Minted afresh with the secret in force now, which settle may
			// just have changed; a cached token may predate it.
			tok, err := rt.b.guardedToken(ctx, rt.v, rt.h, rt.role.creds())
			return tok.Authorization, err
		}}
		return nil
	}
	admin, err := rt.b.roleState(ctx, rt.s, role.RotationRole)
	if err != nil {
		return err
	}
	var adminRole *roleEntry
	if admin != nil {
		adminRole = admin.role
	}
	if err := checkAdmin(rt.name, role, adminRole); err != nil {
		return err
	}
	rt.by = client.Actor{Secrets: admin.role.creds().Secrets(), Authorization: func(ctx context.Context) (string, error) {
		t, _, err := rt.b.token(ctx, admin, 30*time.Second)
		if err != nil {
			return "", fmt.Errorf("rotation_role %q: %w", role.RotationRole, err)
		}
		return t.Authorization, nil
	}}
	return nil
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Scheme + "://" + u.Host
}

// sameOrigin: a and b reach the same address, as dialled (the form the
// logon guard keys accounts by).
func sameOrigin(a, b string) bool { return accountOrigin(a) == accountOrigin(b) }

// rotateRole rotates the named role now.
func (b *backend) rotateRole(ctx context.Context, s logical.Storage, name, trigger string) (*rotation, error) {
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	ctx, cancel := context.WithTimeout(ctx, rotationTimeout)
	defer cancel()

	role, err := getRole(ctx, s, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		return nil, &inputError{Field: "name", Msg: fmt.Sprintf("%q names no role; list roles with: vault list <mount>/roles", name)}
	}
	if trigger == triggerScheduled && (role.RotationPeriod <= 0 || b.now().Before(role.dueAt())) {
		// Rotated (or changed) while this run waited for the lock.
		return nil, errNotDue
	}
	if err := client.CheckRotation(mustVendor(role.Vendor), role.RotationRole == ""); err != nil {
		return nil, err
	}
	rt, err := b.newRotation(ctx, s, name, role)
	if err == nil {
		err = rt.run(ctx, trigger)
	}
	b.rotationDone(ctx, s, name, role.Vendor, trigger, rt, err)
	return rt, err
}

func mustVendor(name string) client.Vendor {
	v, _ := client.Lookup(name)
	return v
}

// run settles what an earlier rotation left, then rotates. A scheduled
// run whose settling finished the earlier rotation has rotated for this
// period already.
func (rt *rotation) run(ctx context.Context, trigger string) error {
	if rt.role.stuck() {
		return rt.role.stuckError()
	}
	if rt.role.Pending != nil || rt.b.unsavedFor(rt.name) != nil {
		// A pending secret is this plugin's own record of a rotation of
		// the role's account (a role write that changes the account drops it).
		rt.evidence = true
		if err := rt.settle(ctx); err != nil {
			return fmt.Errorf("an earlier rotation of this role is unfinished and could not be settled: %w", err)
		}
		if trigger == triggerScheduled && rt.outcome == "rotated" {
			return nil
		}
	}
	if err := rt.provesHolding(ctx); err != nil {
		return err
	}
	return rt.start(ctx)
}

// provesHolding lets a rotation begin only from a secret the vendor
// accepts now, before it writes anything. For an admin rotation this is
// what binds the admin's power to the role's own account: a role that
// names someone else's client_id cannot mint as them, so the admin will not
// change their secret. Since every rotation begins this way, the records a
// rotation leaves (its WAL entry, a pending secret, a lost rotation) are
// evidence about an account the role held; the one exception to the proof
// is an account whose secret this plugin itself lost that way (role.Lost).
func (rt *rotation) provesHolding(ctx context.Context) error {
	tok, err := rt.b.guardedToken(ctx, rt.v, rt.h, rt.role.creds())
	if err == nil {
		rt.proof = &tok
		return nil
	}
	if !vendorRefused(err) && !isHeld(err) {
		return fmt.Errorf("proving the role's current secret before rotating it: %w", err)
	}
	if rt.by.Self {
		return fmt.Errorf("the role's current secret does not work, so it cannot rotate itself: %w; write the account's current client_secret to the role", err)
	}
	if rt.role.lostHere() {
		rt.evidence = true
		return nil
	}
	return &inputError{Field: "rotation_role", Msg: fmt.Sprintf(
		"%q is not used to rotate account %q: role %q does not prove it holds that account (%v). An admin rotates only an account whose role mints with its stored secret, or one whose secret this plugin lost mid-rotation; write the account's current client_secret to the role (verify=true), then rotate",
		rt.role.RotationRole, clipText(rt.role.ClientID, 200), rt.name, err)}
}

// start begins a new rotation the vendor's way.
func (rt *rotation) start(ctx context.Context) error {
	id, err := uuid.GenerateUUID()
	if err != nil {
		return err
	}
	if err := rt.b.budgetSpent(rt.role.Vendor, rt.role.creds()); err != nil {
		return fmt.Errorf("not rotating now: %w", err)
	}
	rt.w = rotationWAL{Role: rt.name, ID: id, Vendor: rt.role.Vendor, Stage: stageIntent, Account: rt.role.ClientID, Started: rt.b.now().UTC(), Generation: rt.role.Generation}
	rt.evidence = true
	switch v := rt.v.(type) {
	case client.SecretSetter:
		return rt.setSecret(ctx, v)
	case client.SecretRegenerator:
		return rt.regenerate(ctx, v)
	case client.ClientReplacer:
		return rt.replace(ctx, v)
	}
	return client.CheckRotation(rt.v, rt.by.Self)
}

// setSecret: Vault chooses the secret, stores it as pending, then tells the vendor.
func (rt *rotation) setSecret(ctx context.Context, v client.SecretSetter) error {
	secret, err := rt.b.newSecret(ctx, rt.role, v.SecretRules())
	if err != nil {
		return err
	}
	if err := rt.begin(ctx); err != nil {
		return err
	}
	if err := rt.storePending(ctx, &pendingSecret{ClientSecret: secret}); err != nil {
		return rt.giveUp(ctx, err)
	}
	if err := rt.step(stagePending); err != nil {
		return err
	}
	set := func(ctx context.Context) error { return v.SetSecret(ctx, rt.h, rt.role.creds(), rt.by, secret) }
	if rt.by.Self && client.ChangesSecretByLogon(rt.v) {
		// The change is itself a logon with the current secret: it
		// counts against the account's failed logons like any other.
		err = rt.b.logon(ctx, rt.role.Vendor, rt.role.creds(), set)
	} else {
		err = set(ctx)
	}
	if err := rt.step(stageVendor); err != nil {
		return err
	}
	if err != nil {
		rt.refused = vendorRefused(err)
		return rt.recover(ctx, err)
	}
	rt.b.accepted(rt.role.Vendor, rt.role.pendingCreds(rt.role.Pending))
	return rt.proveAndPromote(ctx)
}

// regenerate: the vendor makes the secret; it is stored as pending the
// moment it arrives.
func (rt *rotation) regenerate(ctx context.Context, v client.SecretRegenerator) error {
	if err := rt.begin(ctx); err != nil {
		return err
	}
	secret, err := v.RegenerateSecret(ctx, rt.h, rt.role.creds(), rt.by)
	if err := rt.step(stageVendor); err != nil {
		return err
	}
	if err != nil {
		return rt.recover(ctx, err)
	}
	p := &pendingSecret{ClientSecret: secret}
	rt.b.accepted(rt.role.Vendor, rt.role.pendingCreds(p))
	if err := rt.storePending(ctx, p); err != nil {
		// The old secret is already dead. Keep the new one in memory so
		// this node still mints, and let recovery store it.
		rt.b.keepUnsaved(rt.name, p)
		return fmt.Errorf("%s generated a new secret but storing it failed; this node keeps it in memory until the rotation is recovered: %w", rt.role.Vendor, err)
	}
	if err := rt.step(stagePending); err != nil {
		return err
	}
	return rt.proveAndPromote(ctx)
}

// replace: an admin creates a replacement API client, the role switches to
// it, and the old client is deleted last.
func (rt *rotation) replace(ctx context.Context, v client.ClientReplacer) error {
	rt.w.OldClientID = rt.role.ClientID
	if err := rt.begin(ctx); err != nil {
		return err
	}
	newID, err := v.CreateReplacement(ctx, rt.h, rt.role.creds(), rt.by)
	if err := rt.step(stageVendor); err != nil {
		return err
	}
	if err != nil {
		if !rejected(err) {
			// The reply, and with it the new client's id, may be lost.
			err = fmt.Errorf("%w (if %s created an API client before the failure, it has the same name as client %s and is not used: delete it)", err, rt.role.Vendor, rt.role.ClientID)
		}
		return rt.recover(ctx, err)
	}
	// Record the new client's id before anything else can fail.
	rt.w.NewClientID, rt.w.Stage = newID, stageCreated
	if err := rt.intent(ctx); err != nil {
		if derr := v.DeleteClient(ctx, rt.h, rt.role.creds(), rt.by, newID); derr != nil {
			rt.warn = append(rt.warn, fmt.Sprintf("deleting the new API client %s failed: %v", newID, derr))
		}
		return rt.giveUp(ctx, err)
	}
	if err := rt.step(stageCreated); err != nil {
		return err
	}
	creds, err := v.ReadClient(ctx, rt.h, rt.role.creds(), rt.by, newID)
	if err != nil {
		return rt.recover(ctx, err)
	}
	p := rt.role.replacementPending(creds)
	rt.b.accepted(rt.role.Vendor, rt.role.pendingCreds(p))
	if err := rt.storePending(ctx, p); err != nil {
		return rt.recover(ctx, err)
	}
	if err := rt.step(stagePending); err != nil {
		return err
	}
	return rt.proveAndPromote(ctx)
}

// proveAndPromote mints with the pending secret, then switches the role to it.
func (rt *rotation) proveAndPromote(ctx context.Context) error {
	if err := rt.prove(ctx, rt.role.pendingCreds(rt.role.Pending)); err != nil {
		return rt.recover(ctx, err)
	}
	if err := rt.step(stageProved); err != nil {
		return err
	}
	return rt.promote(ctx)
}

func (rt *rotation) prove(ctx context.Context, c client.Creds) error {
	_, err := rt.b.guardedToken(ctx, rt.v, rt.h, c)
	return err
}

// promote makes the proved pending secret the role's secret, then discards
// the old one and the WAL.
func (rt *rotation) promote(ctx context.Context) error {
	p := rt.role.Pending
	next := *rt.role
	next.adopt(p)
	next.Pending = nil
	next.LastRotated = rt.b.now().UTC()
	next.LastRotationID = p.RotationID
	next.LastRotationError = ""
	next.Lost = nil
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	if err := rt.b.retire(pctx, rt.s, rt.name, rt.role, &next, next.LastRotated); err != nil {
		rt.warn = append(rt.warn, fmt.Sprintf("the role will not recognise its old secret if it is written back: %v", err))
	}
	if err := putRole(pctx, rt.s, rt.name, &next); err != nil {
		return fmt.Errorf("the new secret works, but switching the role to it failed; it stays pending and token reads use it: %w", err)
	}
	old := rt.role
	rt.role = &next
	rt.b.forgetUnsaved(rt.name)
	rt.b.dropRole(rt.name)
	rt.b.forgetRefusals(old.Vendor, old.creds())
	rt.b.forgetRefusals(next.Vendor, next.creds())
	rt.outcome = "rotated"
	if err := rt.step(stagePromoted); err != nil {
		return err
	}
	return rt.finish(ctx)
}

// finish cleans up at the vendor what the role no longer uses, then the WAL.
// A cleanup failure is a warning: the role works, and the WAL entry stays
// so that Vault's rollback tries again.
func (rt *rotation) finish(ctx context.Context) error {
	if err := rt.cleanup(ctx); err != nil {
		rt.warn = append(rt.warn, fmt.Sprintf("the role works, but deleting the API client it no longer uses failed and will be retried: %v", err))
		return nil
	}
	if err := rt.step(stageCleaned); err != nil {
		return err
	}
	rt.dropIntent(ctx)
	return nil
}

// cleanup deletes the API clients this rotation created or replaced that the
// role does not use (privx only).
func (rt *rotation) cleanup(ctx context.Context) error {
	r, ok := rt.v.(client.ClientReplacer)
	if !ok {
		return nil
	}
	var errs []error
	for _, id := range append([]string{rt.w.OldClientID, rt.w.NewClientID}, rt.dropped...) {
		if id == "" || id == rt.role.ClientID || (rt.role.Pending != nil && id == rt.role.Pending.ClientID) {
			continue
		}
		if err := r.DeleteClient(ctx, rt.h, rt.role.creds(), rt.by, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recover settles the rotation after cause stopped it, and says how it ended.
func (rt *rotation) recover(ctx context.Context, cause error) error {
	if err := rt.settle(ctx); err != nil {
		// Whether the caller must act is the settle error's to say.
		return fmt.Errorf("%v; the rotation is not settled: %w", cause, err)
	}
	if rt.outcome == "rotated" {
		rt.warn = append(rt.warn, fmt.Sprintf("the rotation hit an error (%v) but the new secret works and is in use", cause))
		return nil
	}
	return cause
}

// giveUp ends a rotation that failed before the vendor heard of it.
func (rt *rotation) giveUp(ctx context.Context, cause error) error {
	rt.dropIntent(ctx)
	return cause
}

// settle decides an unfinished rotation by what the vendor accepts now.
func (rt *rotation) settle(ctx context.Context) error {
	if rt.role.stuck() {
		return rt.role.stuckError()
	}
	if rt.role.Pending == nil && rt.w.ID != "" && rt.role.LastRotationID == rt.w.ID {
		// Finished but for the cleanup.
		return rt.finish(ctx)
	}
	if p := rt.b.unsavedFor(rt.name); p != nil && rt.role.Pending == nil {
		if err := rt.storePendingAs(ctx, p); err != nil {
			return err
		}
	}
	if p := rt.role.Pending; p != nil {
		errP := rt.prove(ctx, rt.role.pendingCreds(p))
		if errP == nil {
			return rt.promote(ctx)
		}
		errC := rt.prove(ctx, rt.role.creds())
		switch {
		case errC == nil:
			if wait := pendingGrace - rt.b.now().Sub(p.Since); !rt.refused && wait > 0 {
				return fmt.Errorf("the vendor still takes the current secret; the new one is kept for %s more in case the vendor applies the change late, and Vault will retry", wait.Round(time.Second))
			}
			rt.outcome = "undone"
			if p.ClientID != "" && p.ClientID != rt.role.ClientID {
				rt.dropped = append(rt.dropped, p.ClientID)
			}
			if err := rt.clearPending(ctx); err != nil {
				return err
			}
			return rt.finish(ctx)
		case !vendorRefused(errP) || !vendorRefused(errC):
			return fmt.Errorf("the vendor could not say which secret is valid, and Vault will retry: pending: %v; current: %v", errP, errC)
		}
		return rt.lost(ctx, fmt.Errorf("neither the pending nor the current secret is accepted: pending: %v; current: %w", errP, errC))
	}
	// Nothing pending: a Vault-chosen secret never reached the vendor, and
	// a PrivX replacement was never switched to. A vendor-made secret may
	// have been made and lost.
	if err := rt.prove(ctx, rt.role.creds()); err != nil {
		if !vendorRefused(err) {
			return fmt.Errorf("%w; Vault will retry", err)
		}
		return rt.lost(ctx, fmt.Errorf("the current secret is no longer accepted: %w", err))
	}
	rt.outcome = "undone"
	return rt.finish(ctx)
}

// lost handles a role whose working secret is gone: an admin can rotate it
// afresh; a role that rotates itself cannot recover.
func (rt *rotation) lost(ctx context.Context, why error) error {
	if rt.by.Self || !rt.evidence {
		return rt.markLost(ctx, why)
	}
	if rt.reruns <= 0 {
		return fmt.Errorf("%w; the role cannot mint until its secret is replaced: write a new client_secret to the role, or rotate it again through its rotation_role", why)
	}
	rt.reruns--
	if err := rt.clearPending(ctx); err != nil {
		return err
	}
	// On success the re-run's WAL entries go with this rotation's. On
	// failure they go at once: this rotation's entries stay, and settling
	// them settles whatever the re-run left, so retries do not multiply.
	n := len(rt.walIDs)
	if err := rt.start(ctx); err != nil {
		rt.dropIntentFrom(ctx, n)
		err = fmt.Errorf("%v; an admin rotation to replace it failed: %w", why, err)
		if rejected(err) {
			// Refused, not unreachable: retrying would only prove the
			// same dead secrets again.
			return rt.markLost(ctx, err)
		}
		return err
	}
	return nil
}

// begin records the rotation's intent before anything else happens.
func (rt *rotation) begin(ctx context.Context) error {
	if err := rt.intent(ctx); err != nil {
		return err
	}
	return rt.step(stageIntent)
}

// intent writes (or rewrites) the rotation's WAL entry.
func (rt *rotation) intent(ctx context.Context) error {
	id, err := framework.PutWAL(ctx, rt.s, walKindRotation, rt.w)
	if err != nil {
		return fmt.Errorf("recording the rotation's intent: %w", err)
	}
	rt.walIDs = append(rt.walIDs, id)
	return nil
}

// dropIntent deletes the rotation's WAL entries; one left behind is harmless
// (its rollback finds the rotation settled).
func (rt *rotation) dropIntent(ctx context.Context) { rt.dropIntentFrom(ctx, 0) }

// dropIntentFrom deletes the WAL entries from the n-th on.
func (rt *rotation) dropIntentFrom(ctx context.Context, n int) {
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	left := rt.walIDs[:n:n]
	for _, id := range rt.walIDs[n:] {
		if err := framework.DeleteWAL(pctx, rt.s, id); err != nil {
			left = append(left, id)
		}
	}
	rt.walIDs = left
}

func (rt *rotation) storePending(ctx context.Context, p *pendingSecret) error {
	p.RotationID, p.Since = rt.w.ID, rt.b.now().UTC()
	return rt.storePendingAs(ctx, p)
}

func (rt *rotation) storePendingAs(ctx context.Context, p *pendingSecret) error {
	next := *rt.role
	next.Pending = p
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	if err := putRole(pctx, rt.s, rt.name, &next); err != nil {
		return fmt.Errorf("storing the pending secret: %w", err)
	}
	rt.role = &next
	rt.b.forgetUnsaved(rt.name)
	rt.b.dropRole(rt.name)
	return nil
}

func (rt *rotation) clearPending(ctx context.Context) error {
	if rt.role.Pending == nil {
		return nil
	}
	next := *rt.role
	next.Pending = nil
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	if err := putRole(pctx, rt.s, rt.name, &next); err != nil {
		return fmt.Errorf("dropping the pending secret: %w", err)
	}
	rt.role = &next
	rt.b.dropRole(rt.name)
	return nil
}

func (rt *rotation) step(stage string) error {
	if rt.b.rotationHook == nil {
		return nil
	}
	if err := rt.b.rotationHook(rt.name, stage); err != nil {
		return fmt.Errorf("%w at stage %s: %v", errAbandoned, stage, err)
	}
	return nil
}

// rotationDone records how a rotation ended: on the role, in the log and as
// a Vault event. None of them carries a secret: errors from the client are
// already scrubbed of every secret the call knew.
func (b *backend) rotationDone(ctx context.Context, s logical.Storage, name, vendor, trigger string, rt *rotation, err error) {
	var stuck *errStuck
	if errors.Is(err, errAbandoned) || errors.Is(err, errNotDue) || errors.As(err, &stuck) {
		return
	}
	log := b.Logger().With("role", name, "vendor", vendor, "trigger", trigger)
	if err == nil {
		if rt != nil && rt.outcome == "undone" {
			log.Info("unfinished rotation undone; the role keeps its secret")
			return
		}
		log.Info("rotation succeeded")
		b.sendEvent(ctx, "vendor/rotate", name, vendor, trigger, "")
		return
	}
	log.Warn("rotation failed", "error", err.Error())
	b.sendEvent(ctx, "vendor/rotate-fail", name, vendor, trigger, err.Error())
	// Record the failure on the role for role reads and the schedule. The
	// cached token stays: the secret did not change, and a token that is
	// still good is what carries readers through a vendor outage.
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	role, gerr := getRole(pctx, s, name)
	if gerr != nil || role == nil {
		return
	}
	role.LastRotationError = clipText(err.Error(), 1000)
	role.LastRotationAttempt = b.now().UTC()
	if perr := putRole(pctx, s, name, role); perr != nil {
		log.Warn("recording the rotation failure failed", "error", perr.Error())
	}
}

func (b *backend) sendEvent(ctx context.Context, typ, name, vendor, trigger, errText string) {
	pairs := []string{
		logical.EventMetadataPath, "rotate-role/" + name,
		logical.EventMetadataDataPath, "roles/" + name,
		logical.EventMetadataOperation, "rotate",
		logical.EventMetadataModified, fmt.Sprint(errText == ""),
		"role", name, "vendor", vendor, "trigger", trigger,
	}
	if errText != "" {
		pairs = append(pairs, "error", clipText(errText, 1000))
	}
	if err := logical.SendEvent(ctx, b.Backend, typ, pairs...); err != nil && !errors.Is(err, framework.ErrNoEvents) {
		b.Logger().Debug("sending event failed", "type", typ, "error", err.Error())
	}
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// walRollback is Vault's call to finish or undo a rotation that a crash, a
// failed write or a lost reply left unfinished. It returns an error, so that
// Vault calls again later, only while the vendor cannot tell which secret
// is valid.
func (b *backend) walRollback(ctx context.Context, req *logical.Request, kind string, data any) error {
	if !b.WriteSafeReplicationState() {
		// Vault deletes an entry whose rollback returns nil; this one is
		// left for a node that may write. Vault's rollback manager takes a
		// read-only error as nothing to do.
		return fmt.Errorf("rotations are settled only where storage is writable: %w", logical.ErrReadOnly)
	}
	if kind != walKindRotation {
		return nil
	}
	w, ok := decodeWAL(data)
	if !ok {
		b.Logger().Warn("dropping an unreadable rotation WAL entry")
		return nil
	}
	lock := b.roleLock(w.Role)
	lock.Lock()
	defer lock.Unlock()
	ctx, cancel := context.WithTimeout(ctx, rotationTimeout)
	defer cancel()

	role, err := getRole(ctx, req.Storage, w.Role)
	if err != nil {
		return err
	}
	if role == nil || role.Generation != w.Generation {
		// The role was deleted, and perhaps made again for another
		// account: nothing here is its to settle, least of all at the vendor.
		log := b.Logger().With("role", w.Role, "vendor", w.Vendor)
		if w.NewClientID != "" {
			log = log.With("unused_api_client", w.NewClientID)
		}
		log.Info("role deleted during its rotation; nothing to recover")
		return nil
	}
	if !w.Started.IsZero() && role.AccountSince.After(w.Started) {
		// An operator moved the role to another account since: the entry
		// says nothing about the account it holds now.
		b.Logger().Info("the role holds another account than its unfinished rotation changed; nothing to recover", "role", w.Role, "vendor", w.Vendor)
		return nil
	}
	if role.stuck() {
		// Already recorded on the role; proving the lost secrets again
		// would only be more failed logons.
		return nil
	}
	rt, err := b.newRotation(ctx, req.Storage, w.Role, role)
	if err != nil {
		return err
	}
	rt.w = w
	rt.evidence = w.Account != "" && w.Account == role.ClientID
	err = rt.settle(ctx)
	if rt.outcome != "" || err != nil {
		b.rotationDone(ctx, req.Storage, w.Role, role.Vendor, triggerRecovery, rt, err)
	}
	if err != nil && rt.role.stuck() {
		// Nothing more can be decided by trying; the role says why.
		return nil
	}
	if err == nil && len(rt.warn) > 0 {
		// Only a cleanup at the vendor failed: the role works and its
		// schedule is untouched; the WAL entry stays for the next try.
		cleanup := strings.Join(rt.warn, "; ")
		b.Logger().Warn("cleanup after a rotation failed; Vault will retry it", "role", w.Role, "vendor", role.Vendor, "error", cleanup)
		return errors.New(cleanup)
	}
	return err
}

// endRotations deletes the WAL entries of a deleted role's unfinished
// rotations, without a vendor call: whatever they began at the vendor is no
// longer Vault's to finish. An entry left behind is harmless, being bound
// to the deleted role's generation. It answers with what the operator may
// have to clean up at the vendor.
func (b *backend) endRotations(ctx context.Context, s logical.Storage, name string) *logical.Response {
	ids, err := framework.ListWAL(ctx, s)
	if err != nil {
		b.Logger().Warn("listing the deleted role's unfinished rotations failed; they will be dropped by Vault's rollback", "role", name, "error", err.Error())
		return nil
	}
	var resp *logical.Response
	for _, id := range ids {
		e, err := framework.GetWAL(ctx, s, id)
		if err != nil || e == nil || e.Kind != walKindRotation {
			continue
		}
		w, ok := decodeWAL(e.Data)
		if !ok || w.Role != name {
			continue
		}
		if err := framework.DeleteWAL(ctx, s, id); err != nil {
			b.Logger().Warn("deleting a deleted role's rotation WAL entry failed; Vault's rollback will drop it", "role", name, "error", err.Error())
			continue
		}
		if w.NewClientID != "" {
			if resp == nil {
				resp = &logical.Response{}
			}
			resp.AddWarning(fmt.Sprintf("an unfinished rotation of this role had created %s API client %s, which nothing uses now: delete it at the vendor", w.Vendor, w.NewClientID))
		}
	}
	return resp
}

// decodeWAL reads a rotation WAL entry's data as GetWAL returns it.
func decodeWAL(data any) (rotationWAL, bool) {
	var w rotationWAL
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &w)
	}
	return w, err == nil && w.Role != ""
}

// initialize settles, in the background, the rotations that a crash or a
// lost leadership left unfinished, as soon as this node can write: no
// rotation of this process can be under way yet, so there is no reason to
// wait for Vault's rollback, which leaves young WAL entries alone.
func (b *backend) initialize(ctx context.Context, req *logical.InitializationRequest) error {
	done := make(chan struct{})
	b.initDone = done
	if !b.WriteSafeReplicationState() {
		close(done)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*rotationTimeout)
	b.stopInit = cancel
	go func() {
		defer close(done)
		defer cancel()
		b.recoverAll(ctx, req.Storage)
	}()
	return nil
}

// recoverAll settles every rotation WAL entry, whatever its age.
func (b *backend) recoverAll(ctx context.Context, s logical.Storage) {
	if !b.WriteSafeReplicationState() {
		return
	}
	ids, err := framework.ListWAL(ctx, s)
	if err != nil {
		b.Logger().Warn("listing unfinished rotations failed; Vault's rollback will find them", "error", err.Error())
		return
	}
	for _, id := range ids {
		entry, err := framework.GetWAL(ctx, s, id)
		if err != nil || entry == nil || entry.Kind != walKindRotation {
			continue
		}
		if err := b.walRollback(ctx, &logical.Request{Storage: s}, entry.Kind, entry.Data); err != nil {
			continue // logged and recorded; Vault's rollback retries
		}
		if err := framework.DeleteWAL(ctx, s, id); err != nil {
			b.Logger().Warn("deleting a settled rotation's WAL entry failed", "error", err.Error())
		}
	}
}

// newSecret chooses a secret where Vault does: from the role's password
// policy, else a random one that meets the vendor's rules.
func (b *backend) newSecret(ctx context.Context, role *roleEntry, rules client.SecretRules) (string, error) {
	if role.PasswordPolicy == "" {
		return randomPassword(min(32, rules.MaxLen))
	}
	s, err := b.System().GeneratePasswordFromPolicy(ctx, role.PasswordPolicy)
	if err != nil {
		return "", &inputError{Field: "password_policy", Msg: fmt.Sprintf("%q could not make a password: %v", role.PasswordPolicy, err)}
	}
	if n := len(s); n < rules.MinLen || (rules.MaxLen > 0 && n > rules.MaxLen) {
		return "", &inputError{Field: "password_policy", Msg: fmt.Sprintf(
			"%q makes %d-character passwords; %s takes %d to %d", role.PasswordPolicy, n, role.Vendor, rules.MinLen, rules.MaxLen)}
	}
	return s, nil
}

// Character classes of generated passwords. The symbols are ones no vendor
// we know of refuses, and that need no quoting in JSON, forms or shells.
var passwordClasses = []string{
	"ABCDEFGHJKLMNPQRSTUVWXYZ",
	"abcdefghijkmnopqrstuvwxyz",
	"23456789",
	"-_.+=",
}

// randomPassword returns n characters from crypto/rand with at least one of
// each class.
func randomPassword(n int) (string, error) {
	all := strings.Join(passwordClasses, "")
	out := make([]byte, n)
	pick := func(set string) (byte, error) {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, err
		}
		return set[i.Int64()], nil
	}
	var err error
	for i := range out {
		set := all
		if i < len(passwordClasses) {
			set = passwordClasses[i]
		}
		if out[i], err = pick(set); err != nil {
			return "", err
		}
	}
	// Shuffle so that the guaranteed characters are not always first.
	for i := n - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}
