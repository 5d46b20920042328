package vendor

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-uuid"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// The three ways vendors rotate. A flow that stops after the vendor may
// have heard of it returns unsettled: the verdict loop decides the rest.

// unsettled is a flow stopped by cause at a point where the vendor may
// have acted: what to do is for the verdict loop to decide.
type unsettled struct{ cause error }

func (u *unsettled) Error() string { return u.cause.Error() }
func (u *unsettled) Unwrap() error { return u.cause }

func (rt *rotation) unsettled(cause error) error { return &unsettled{cause} }

// start begins a new rotation the vendor's way.
func (rt *rotation) start(ctx context.Context) error {
	id, err := uuid.GenerateUUID()
	if err != nil {
		return err
	}
	if err := rt.b.budgetSpent(rt.role.Vendor, rt.role.creds()); err != nil {
		return fmt.Errorf("not rotating now: %w", err)
	}
	rt.w = walRecord{Role: rt.name, ID: id, Generation: rt.role.Generation, Account: rt.role.ClientID, Started: rt.b.now().UTC()}
	rt.evidence = true
	switch v := rt.v.(type) {
	case client.SecretSetter:
		rt.w.kind = walKindSet
		return rt.setSecret(ctx, v)
	case client.SecretRegenerator:
		rt.w.kind = walKindRegenerate
		return rt.regenerate(ctx, v)
	case client.ClientReplacer:
		rt.w.kind = walKindReplace
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
		return rt.unsettled(err)
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
		return rt.unsettled(err)
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
	rt.w.Vendor, rt.w.OldClientID = rt.role.Vendor, rt.role.ClientID
	if err := rt.begin(ctx); err != nil {
		return err
	}
	intentID := rt.walIDs[len(rt.walIDs)-1]
	newID, err := v.CreateReplacement(ctx, rt.h, rt.role.creds(), rt.by)
	if err := rt.step(stageVendor); err != nil {
		return err
	}
	if err != nil {
		if !rejected(err) {
			// The reply, and with it the new client's id, may be lost.
			err = fmt.Errorf("%w (if %s created an API client before the failure, it has the same name as client %s and is not used: delete it)", err, rt.role.Vendor, rt.role.ClientID)
		}
		return rt.unsettled(err)
	}
	// Record the new client's id before anything else can fail. A WAL
	// entry cannot be rewritten: a new one replaces the intent.
	rt.w.NewClientID = newID
	if err := rt.intent(ctx); err != nil {
		if derr := v.DeleteClient(ctx, rt.h, rt.role.creds(), rt.by, newID); derr != nil {
			rt.warn = append(rt.warn, fmt.Sprintf("deleting the new API client %s failed: %v", newID, derr))
		}
		return rt.giveUp(ctx, err)
	}
	rt.dropWAL(ctx, intentID)
	if err := rt.step(stageCreated); err != nil {
		return err
	}
	creds, err := v.ReadClient(ctx, rt.h, rt.role.creds(), rt.by, newID)
	if err != nil {
		return rt.unsettled(err)
	}
	p := rt.role.replacementPending(creds)
	rt.b.accepted(rt.role.Vendor, rt.role.pendingCreds(p))
	if err := rt.storePending(ctx, p); err != nil {
		return rt.unsettled(err)
	}
	if err := rt.step(stagePending); err != nil {
		return err
	}
	return rt.proveAndPromote(ctx)
}

// proveAndPromote mints with the pending secret, then switches the role to it.
func (rt *rotation) proveAndPromote(ctx context.Context) error {
	if err := rt.prove(ctx, rt.role.pendingCreds(rt.role.Pending)); err != nil {
		return rt.unsettled(err)
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
	// The cached state holds a token of the old secret and the old secret
	// itself: the next mint must use the new one.
	rt.b.dropRole(rt.name)
	rt.b.forgetRefusals(old.Vendor, old.creds())
	rt.b.forgetRefusals(next.Vendor, next.creds())
	rt.outcome = outcomeRotated
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
// role does not use (replacement flow only).
func (rt *rotation) cleanup(ctx context.Context) error {
	r, ok := rt.v.(client.ClientReplacer)
	if !ok {
		return nil
	}
	var errs []error
	done := map[string]bool{}
	for _, id := range append([]string{rt.w.OldClientID, rt.w.NewClientID}, rt.dropped...) {
		if id == "" || done[id] || id == rt.role.ClientID || (rt.role.Pending != nil && id == rt.role.Pending.ClientID) {
			continue
		}
		done[id] = true
		if err := r.DeleteClient(ctx, rt.h, rt.role.creds(), rt.by, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// giveUp ends a flow that failed before the vendor heard of it, deleting
// only the flow's own WAL entries: a failed admin re-run must leave those
// of the rotation it replaces, the only record that the role cannot mint.
func (rt *rotation) giveUp(ctx context.Context, cause error) error {
	rt.dropIntentFrom(ctx, rt.walBase)
	return cause
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
