package vendor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// Each rotation flow writes its own kind of WAL entry, holding ids and
// times, never a secret, and exactly what its rollback reads.
const (
	walKindSet        = "rotation-set"        // Vault chose the secret and told the vendor
	walKindRegenerate = "rotation-regenerate" // the vendor made the secret
	walKindReplace    = "rotation-replace"    // a replacement API client
	// walKindLegacy is the one kind the released version wrote, for every
	// flow; its entries are still rolled back after an upgrade.
	walKindLegacy = "rotation"
)

// secretWAL is the entry of a rotation that changes the secret of the
// role's account (kinds set and regenerate). Its rollback asks the vendor
// which secret it takes.
type secretWAL struct {
	Role string `json:"role"`
	ID   string `json:"id"`
	// Generation is the role's when the rotation began; the entry acts
	// only on a role of that generation (none, for both, before upgrade).
	Generation string `json:"generation,omitempty"`
	// Account is the client id the role held when the rotation began, at
	// Started: the entry is evidence about that account only.
	Account string    `json:"account"`
	Started time.Time `json:"started"`
}

// replaceWAL is the entry of an API client replacement. Its rollback is
// decided by storage: the role holds the new client or it does not.
type replaceWAL struct {
	Role       string `json:"role"`
	ID         string `json:"id"`
	Generation string `json:"generation,omitempty"`
	// Vendor names the client an operator may have to delete, once the
	// role is gone.
	Vendor      string    `json:"vendor"`
	OldClientID string    `json:"old_client_id"`
	NewClientID string    `json:"new_client_id,omitempty"`
	Started     time.Time `json:"started"`
}

// walRecord is what a rotation records of itself, whatever its kind; an
// entry holds the part its kind's rollback reads.
type walRecord struct {
	kind        string
	Role        string    `json:"role"`
	ID          string    `json:"id"`
	Generation  string    `json:"generation"`
	Account     string    `json:"account"`
	Started     time.Time `json:"started"`
	Vendor      string    `json:"vendor"`
	OldClientID string    `json:"old_client_id"`
	NewClientID string    `json:"new_client_id"`
}

func (r walRecord) entry() any {
	if r.kind == walKindReplace {
		return replaceWAL{Role: r.Role, ID: r.ID, Generation: r.Generation, Vendor: r.Vendor, OldClientID: r.OldClientID, NewClientID: r.NewClientID, Started: r.Started}
	}
	return secretWAL{Role: r.Role, ID: r.ID, Generation: r.Generation, Account: r.Account, Started: r.Started}
}

// decodeWAL reads a rotation WAL entry's data as GetWAL returns it. An
// entry of the released version (kind "rotation") becomes the kind of its
// flow: a replacement if it names an API client, else a secret change,
// whose rollback is the same for both secret kinds.
func decodeWAL(kind string, data any) (walRecord, bool) {
	if !isRotationWAL(kind) {
		return walRecord{}, false
	}
	var r walRecord
	raw, err := json.Marshal(data)
	if err == nil {
		err = json.Unmarshal(raw, &r)
	}
	r.kind = kind
	if kind == walKindLegacy {
		r.kind = walKindSet
		if r.OldClientID != "" || r.NewClientID != "" {
			r.kind = walKindReplace
		}
	}
	return r, err == nil && r.Role != ""
}

func isRotationWAL(kind string) bool {
	switch kind {
	case walKindSet, walKindRegenerate, walKindReplace, walKindLegacy:
		return true
	}
	return false
}

// begin records the rotation's intent before anything else happens.
func (rt *rotation) begin(ctx context.Context) error {
	if err := rt.intent(ctx); err != nil {
		return err
	}
	return rt.step(stageIntent)
}

// intent writes a WAL entry of what the rotation knows now.
func (rt *rotation) intent(ctx context.Context) error {
	id, err := framework.PutWAL(ctx, rt.s, rt.w.kind, rt.w.entry())
	if err != nil {
		return fmt.Errorf("recording the rotation's intent: %w", err)
	}
	rt.walIDs = append(rt.walIDs, id)
	return nil
}

// dropWAL deletes one of the rotation's WAL entries, one that a newer
// entry replaces. Left behind, it is deleted with the others.
func (rt *rotation) dropWAL(ctx context.Context, id string) {
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	if err := framework.DeleteWAL(pctx, rt.s, id); err != nil {
		return
	}
	for i, w := range rt.walIDs {
		if w == id {
			rt.walIDs = append(rt.walIDs[:i:i], rt.walIDs[i+1:]...)
			return
		}
	}
}

// dropIntent deletes the rotation's WAL entries; one left behind is harmless
// (its rollback finds the rotation settled).
func (rt *rotation) dropIntent(ctx context.Context) { rt.dropIntentFrom(ctx, 0) }

// dropIntentFrom deletes the WAL entries from the n-th on.
func (rt *rotation) dropIntentFrom(ctx context.Context, n int) {
	n = min(n, len(rt.walIDs)) // past the end is nothing to drop, not a crash
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

// walRollback is Vault's call to finish or undo a rotation that a crash, a
// failed write or a lost reply left unfinished. It returns an error, so that
// Vault calls again later, only while the rotation cannot be settled yet.
func (b *backend) walRollback(ctx context.Context, req *logical.Request, kind string, data any) error {
	if !b.WriteSafeReplicationState() {
		// Vault deletes an entry whose rollback returns nil; this one is
		// left for a node that may write. Vault's rollback manager takes a
		// read-only error as nothing to do.
		return fmt.Errorf("rotations are settled only where storage is writable: %w", logical.ErrReadOnly)
	}
	w, ok := decodeWAL(kind, data)
	if !ok {
		if isRotationWAL(kind) {
			b.Logger().Warn("dropping an unreadable rotation WAL entry", "kind", kind)
		}
		return nil
	}
	lock := b.roleLock(w.Role)
	lock.Lock()
	defer lock.Unlock()
	defer b.schedule.refresh(ctx, req.Storage, w.Role)
	ctx, cancel := context.WithTimeout(ctx, rotationTimeout)
	defer cancel()

	role, err := getRole(ctx, req.Storage, w.Role)
	if err != nil {
		return err
	}
	log := b.Logger().With("role", w.Role)
	if role == nil || role.Generation != w.Generation {
		// The role was deleted, and perhaps made again for another
		// account: nothing here is its to settle, least of all at the vendor.
		if w.NewClientID != "" {
			log = log.With("vendor", w.Vendor, "unused_api_client", w.NewClientID)
		}
		log.Info("role deleted during its rotation; nothing to recover")
		return nil
	}
	if !w.Started.IsZero() && role.AccountSince.After(w.Started) {
		// An operator moved the role to another account since: the entry
		// says nothing about the account it holds now.
		log.Info("the role holds another account than its unfinished rotation changed; nothing to recover", "vendor", role.Vendor)
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
	if w.kind == walKindReplace {
		err = rt.rollbackReplace(ctx)
	} else {
		rt.evidence = w.Account != "" && w.Account == role.ClientID
		err = rt.settle(ctx)
	}
	if rt.outcome != outcomeNone || err != nil {
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
		log.Warn("cleanup after a rotation failed; Vault will retry it", "vendor", role.Vendor, "error", cleanup)
		return errors.New(cleanup)
	}
	return err
}

// rollbackReplace ends an API client replacement by what the role holds,
// with no mint: the old client was never changed, so if the role did not
// switch to the new one, the new one goes, else the old one does.
func (rt *rotation) rollbackReplace(ctx context.Context) error {
	w := rt.w
	if rt.role.LastRotationID == w.ID || (w.NewClientID != "" && rt.role.ClientID == w.NewClientID) {
		return rt.finish(ctx)
	}
	rt.outcome = outcomeUndone
	if p := rt.role.Pending; p != nil && p.RotationID == w.ID {
		if p.ClientID != "" && p.ClientID != rt.role.ClientID {
			rt.dropped = append(rt.dropped, p.ClientID)
		}
		if err := rt.clearPending(ctx); err != nil {
			return err
		}
	}
	return rt.finish(ctx)
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
		if err != nil || e == nil {
			continue
		}
		w, ok := decodeWAL(e.Kind, e.Data)
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

// initialize settles, in the background, the rotations that a crash or a
// lost leadership left unfinished, as soon as this node can write: no
// rotation of this process can be under way yet, so there is no reason to
// wait for Vault's rollback, which leaves young WAL entries alone. Then it
// loads the rotation schedule.
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
		if err := b.loadSchedule(ctx, req.Storage); err != nil {
			b.Logger().Warn("loading the rotation schedule failed; the periodic function will try again", "error", err.Error())
		}
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
		if err != nil || entry == nil || !isRotationWAL(entry.Kind) {
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
