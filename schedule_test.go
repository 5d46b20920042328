package vendor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// countingStorage counts reads and lists, and fails the reads failGet picks.
type countingStorage struct {
	logical.Storage
	gets, lists atomic.Int64
	mu          sync.Mutex
	failGet     func(key string) bool
}

func (s *countingStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s.gets.Add(1)
	s.mu.Lock()
	f := s.failGet
	s.mu.Unlock()
	if f != nil && f(key) {
		return nil, errors.New("storage read failed (injected)")
	}
	return s.Storage.Get(ctx, key)
}

func (s *countingStorage) List(ctx context.Context, prefix string) ([]string, error) {
	s.lists.Add(1)
	return s.Storage.List(ctx, prefix)
}

func (s *countingStorage) setFailGet(f func(string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failGet = f
}

// countReads puts a counting layer under the harness's storage.
func (h *harness) countReads() *countingStorage {
	c := &countingStorage{Storage: h.storage.Storage}
	h.storage.Storage = c
	return c
}

// storeScheduledRoles stores n roles with a daily schedule, none due for a
// day, straight into storage.
func (h *harness) storeScheduledRoles(n int) {
	ctx := context.Background()
	for i := range n {
		r := &roleEntry{Vendor: "cyral", URL: "https://tenant.example.com", ClientID: fmt.Sprintf("svc-%d", i), ClientSecret: "s",
			RotationPeriod: 24 * time.Hour, CreatedAt: h.clock.Now().UTC(), Generation: fmt.Sprint(i)}
		if err := putRole(ctx, h.storage, fmt.Sprintf("role-%d", i), r); err != nil {
			h.t.Fatal(err)
		}
	}
}

// tick runs the periodic function as Vault does each minute.
func (h *harness) tick() error {
	return h.b.periodic(context.Background(), &logical.Request{Operation: logical.RollbackOperation, Storage: h.storage})
}

func TestPeriodicWithNoRoleDueReadsNoRole(t *testing.T) {
	h := newHarness(t)
	const n = 10000
	h.storeScheduledRoles(n)
	if err := h.tick(); err != nil { // loads the schedule: reads every role once
		t.Fatal(err)
	}
	if len(h.b.schedule.items) != n {
		t.Fatalf("the schedule holds %d roles, want %d", len(h.b.schedule.items), n)
	}
	c := h.countReads()
	h.clock.Add(time.Hour)
	for range 3 {
		if err := h.tick(); err != nil {
			t.Fatal(err)
		}
	}
	if g, l := c.gets.Load(), c.lists.Load(); g != 0 || l != 0 {
		t.Fatalf("three ticks with no role due read storage: %d gets, %d lists", g, l)
	}
	if e := h.b.periodicErrors.Load(); e != 0 {
		t.Fatalf("%d periodic errors", e)
	}
}

func BenchmarkPeriodicTenThousandRolesNoneDue(b *testing.B) {
	h := newHarness(b)
	h.storeScheduledRoles(10000)
	if err := h.tick(); err != nil {
		b.Fatal(err)
	}
	c := h.countReads()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := h.tick(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.gets.Load())/float64(b.N), "gets/op")
}

// A failed scheduled rotation is retried a tenth of its period later (at
// least a minute, at most an hour), not before, and not later.
func TestFailedScheduledRotationWaitsForItsRetryTime(t *testing.T) {
	for _, tc := range []struct {
		period, retry time.Duration
	}{{time.Minute, time.Minute}, {time.Hour, 6 * time.Minute}, {24 * time.Hour, time.Hour}} {
		t.Run(tc.period.String(), func(t *testing.T) {
			h := newHarness(t)
			srv, role := h.vendorServer("cyberark")
			role["rotation_period"] = int64(tc.period.Seconds())
			h.ok(logical.CreateOperation, "roles/r", role)
			h.clock.Add(tc.period + min(tc.period/20, 5*time.Minute) + time.Second)
			srv.Inject("token", vendortest.Fault{Status: 500, Times: -1})
			if err := h.tick(); err != nil {
				t.Fatal(err)
			}
			srv.ClearFaults()
			r, _ := getRole(context.Background(), h.storage, "r")
			if r.LastRotationError == "" || r.LastRotationAttempt.IsZero() || !r.LastRotated.IsZero() {
				t.Fatalf("the failure was not recorded: error %q, attempt %v, rotated %v", r.LastRotationError, r.LastRotationAttempt, r.LastRotated)
			}
			if due, _ := h.b.schedule.dueOf("r"); !due.Equal(r.LastRotationAttempt.Add(tc.retry)) {
				t.Fatalf("queued for %v, want %v after the failure at %v", due, tc.retry, r.LastRotationAttempt)
			}
			calls := srv.Calls("token")
			h.clock.Add(r.LastRotationAttempt.Add(tc.retry - time.Second).Sub(h.clock.Now()))
			h.tick()
			if n := srv.Calls("token") - calls; n != 0 {
				t.Fatalf("retried %v before its retry time (%d token requests)", time.Second, n)
			}
			h.clock.Add(r.LastRotationAttempt.Add(tc.retry).Sub(h.clock.Now()))
			h.tick()
			if r, _ := getRole(context.Background(), h.storage, "r"); r.LastRotated.IsZero() || r.LastRotationError != "" {
				t.Fatalf("not retried at its retry time: error %q, rotated %v", r.LastRotationError, r.LastRotated)
			}
		})
	}
}

// Failures of the periodic work are logged and counted: a rotation that
// fails, and a role the schedule cannot read (read again at the next run).
func TestPeriodicErrorsAreLoggedAndCounted(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark")
	role["rotation_period"] = "1h"
	h.ok(logical.CreateOperation, "roles/r", role)
	role["client_id"] = "other@cyberark.cloud.1234"
	h.ok(logical.CreateOperation, "roles/unreadable", role)
	c := h.countReads()
	c.setFailGet(func(key string) bool { return key == roleStoragePrefix+"unreadable" })
	err := h.tick()
	if err == nil || !strings.Contains(err.Error(), `"unreadable"`) {
		t.Fatalf("periodic: %v", err)
	}
	if n := h.b.periodicErrors.Load(); n == 0 {
		t.Fatal("a read failure was not counted")
	}
	if !strings.Contains(h.logs.String(), "rotation schedule failed") {
		t.Fatal("a read failure was not logged")
	}
	if _, ok := h.b.schedule.dueOf("unreadable"); ok {
		t.Fatal("an unread role is scheduled")
	}
	c.setFailGet(nil)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.b.schedule.dueOf("unreadable"); !ok {
		t.Fatal("a role that could not be read was not read again")
	}

	before := h.b.periodicErrors.Load()
	h.clock.Add(2 * time.Hour)
	srv.Inject("token", vendortest.Fault{Status: 500, Times: -1})
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := h.b.periodicErrors.Load() - before; n != 2 {
		t.Fatalf("%d failures counted for two failed rotations", n)
	}
	if strings.Count(h.logs.String(), "rotation failed") != 2 {
		t.Fatal("the failed rotations were not logged")
	}
}

// The queue follows role writes, deletes and invalidations, and is loaded
// at initialise.
func TestScheduleFollowsTheRoles(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyberark")
	role["rotation_period"] = "24h"
	h.ok(logical.CreateOperation, "roles/r", role)
	h.restart()
	if !h.b.schedule.loaded() {
		t.Fatal("initialise did not load the schedule")
	}
	dueIs := func(want bool) {
		t.Helper()
		r, _ := getRole(context.Background(), h.storage, "r")
		got, ok := h.b.schedule.dueOf("r")
		if ok != want || (want && !got.Equal(r.dueAt())) {
			t.Fatalf("queued %v at %v; want queued %v at the role's due time", ok, got, want)
		}
	}
	dueIs(true)
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"rotation_period": 0})
	dueIs(false)
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"rotation_period": "1h"})
	dueIs(true)
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	dueIs(true)

	// Another node changes the role: the next run reads it, and only it.
	r, _ := getRole(context.Background(), h.storage, "r")
	r.RotationPeriod = 48 * time.Hour
	if err := putRole(context.Background(), h.storage, "r", r); err != nil {
		t.Fatal(err)
	}
	h.b.invalidate(context.Background(), roleStoragePrefix+"r")
	c := h.countReads()
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	if n := c.gets.Load(); n != 1 {
		t.Fatalf("%d reads after one invalidation", n)
	}
	dueIs(true)

	h.ok(logical.DeleteOperation, "roles/r", nil)
	dueIs(false)
}
