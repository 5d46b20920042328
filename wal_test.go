package vendor

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
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
