package vendor

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Rotation replaces a role's secret through the vendor without ever leaving
// the role unable to mint:
//
//  1. a WAL entry records the intent (ids, never a secret);
//  2. the new secret is stored as the role's pending secret, in the
//     seal-wrapped role entry, before the vendor hears of it (where the
//     vendor makes the secret, as soon as it answers);
//  3. a mint with the pending secret proves it;
//  4. the role is switched to it, and only then is the old one discarded
//     (a replaced API client: the old one deleted);
//  5. the WAL entry is deleted.
//
// The files: rotation.go (this: who rotates, and the entry point),
// rotation_flow.go (the three ways vendors rotate), rotation_verdict.go
// (what to do with an unfinished rotation, and the loop that does it),
// wal.go (WAL kinds, rollback, start-up recovery), schedule.go (the due
// queue), rotation_secret.go (new secrets), rotation_events.go (logs,
// events and the failure recorded on the role).

const (
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
	stageCreated  = "created"  // replacement: the new client's id recorded in the WAL
	stagePending  = "pending"  // new secret stored as pending
	stageProved   = "proved"   // a mint with the new secret succeeded
	stagePromoted = "promoted" // role switched to the new secret
	stageCleaned  = "cleaned"  // old API client deleted (replacement)
)

// Rotation triggers, for logs and events.
const (
	triggerManual    = "manual"
	triggerScheduled = "scheduled"
	triggerRecovery  = "recovery"
)

// outcome is how a rotation, or the settling of an unfinished one, ended.
type outcome int

const (
	outcomeNone    outcome = iota // nothing decided yet
	outcomeRotated                // the role switched to a new secret
	outcomeUndone                 // the role keeps the secret it had
	outcomeLost                   // the role's secret is lost
)

// errAbandoned is what the test hook returns to stop a rotation dead, as a
// crash would: nothing after it runs.
var errAbandoned = errors.New("rotation abandoned")

// errNotDue: a scheduled rotation found the role no longer due.
var errNotDue = errors.New("rotation not due")

// roleLock serialises rotations, their recovery and role writes per role.
func (b *backend) roleLock(name string) *locksutil.LockEntry {
	return locksutil.LockForKey(b.locks, name)
}

// rotation is one rotation of one role, run under the role's lock.
type rotation struct {
	b    *backend
	s    logical.Storage
	name string
	role *roleEntry
	v    client.Vendor
	h    *client.HTTP
	by   client.Actor
	// w is what the rotation's WAL entries record; walIDs are the
	// entries, deleted when it is settled.
	w      walRecord
	walIDs []string
	// walBase is where the running flow's entries begin in walIDs: an
	// admin re-run's are after those of the rotation it replaces, which
	// stay until that rotation's outcome is recorded.
	walBase int
	reruns  int      // admin re-runs left for a secret the vendor lost
	refused bool     // the vendor refused the change call outright
	dropped []string // replacement: clients of pending secrets that were dropped
	outcome outcome  // what settling decided, for the closing log line
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
			// Minted afresh with the secret in force now, which settling
			// may just have changed; a cached token may predate it.
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
		t, _, _, err := rt.b.token(ctx, admin, 30*time.Second)
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
	// Whatever happened, the role's place in the schedule follows it.
	defer b.schedule.refresh(ctx, s, name)
	ctx, cancel := context.WithTimeout(ctx, rotationTimeout)
	defer cancel()

	role, err := getRole(ctx, s, name)
	if err != nil {
		if trigger == triggerScheduled {
			// No caller hears of a scheduled rotation's failure: log it.
			b.rotationDone(ctx, s, name, "", trigger, nil, err)
		}
		return nil, err
	}
	if role == nil && trigger == triggerScheduled {
		// Deleted since the schedule took it.
		return nil, errNotDue
	}
	if role == nil {
		return nil, &noRoleError{name: name} // the path's handler knows the mount
	}
	if trigger == triggerScheduled && (role.RotationPeriod <= 0 || b.now().Before(role.dueAt())) {
		// Rotated (or changed) while this run waited for the lock.
		return nil, errNotDue
	}
	if err := client.CheckRotation(mustVendor(role.Vendor), role.RotationRole == ""); err != nil {
		if trigger == triggerScheduled {
			// Logged, and recorded on the role so that the schedule
			// waits for its retry time.
			b.rotationDone(ctx, s, name, role.Vendor, trigger, nil, err)
		}
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
		if trigger == triggerScheduled && rt.outcome == outcomeRotated {
			return nil
		}
	}
	if err := rt.provesHolding(ctx); err != nil {
		return err
	}
	return rt.rotate(ctx)
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
