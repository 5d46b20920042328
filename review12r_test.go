package vendor

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// gateStorage holds back one read of a key after it has read it, so that
// the reader gets what was stored before whatever happens meanwhile.
type gateStorage struct {
	logical.Storage
	mu      sync.Mutex
	key     string
	entered chan struct{}
	release chan struct{}
}

func (s *gateStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	e, err := s.Storage.Get(ctx, key)
	s.mu.Lock()
	hold := key == s.key
	if hold {
		s.key = ""
	}
	s.mu.Unlock()
	if hold {
		close(s.entered)
		<-s.release
	}
	return e, err
}

// A scheduled rotation that cannot begin (its role cannot be read) is
// logged with the role's name, not only counted.
func TestReview12rScheduledRotationThatCannotBeginIsLogged(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyberark")
	role["rotation_period"] = "1h"
	h.ok(logical.CreateOperation, "roles/r", role)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(2 * time.Hour)
	c := h.countReads()
	c.setFailGet(func(key string) bool { return key == roleStoragePrefix+"r" })
	before := len(h.logs.String())
	h.tick()
	if n := h.b.periodicErrors.Load(); n == 0 {
		t.Fatal("the failure was not counted")
	}
	logged := h.logs.String()[before:]
	if !strings.Contains(logged, "role=r") || !strings.Contains(logged, "storage read failed") {
		t.Fatalf("a scheduled rotation that could not begin was counted but not logged; the log says:\n%s", logged)
	}
}

// A role deleted after the schedule took it is not a failure.
func TestReview12rScheduledRotationOfADeletedRoleIsNotAFailure(t *testing.T) {
	h := newHarness(t)
	_, err := h.b.rotateRole(context.Background(), h.storage, "gone", triggerScheduled)
	if recorded(err) {
		t.Fatalf("a scheduled rotation of a role deleted since it was queued: %v", err)
	}
}

// The periodic run's re-read of an invalidated role must not undo a role
// write that lands while it reads: the write's schedule stands.
func TestReview12rStaleReadDoesNotUndoARoleWrite(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyberark")
	h.ok(logical.CreateOperation, "roles/r", role)
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	h.b.invalidate(context.Background(), roleStoragePrefix+"r")
	g := &gateStorage{Storage: h.storage.Storage, key: roleStoragePrefix + "r", entered: make(chan struct{}), release: make(chan struct{})}
	h.storage.Storage = g

	ticked := make(chan error, 1)
	go func() { ticked <- h.tick() }()
	<-g.entered // the run has read the role as it was: no schedule
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		h.do(logical.UpdateOperation, "roles/r", map[string]any{"rotation_period": "1h"})
	}()
	select {
	case <-wrote:
	case <-time.After(300 * time.Millisecond): // waits for the run: fine
	}
	close(g.release)
	if err := <-ticked; err != nil {
		t.Fatal(err)
	}
	<-wrote
	if r, _ := getRole(context.Background(), h.storage, "r"); r.RotationPeriod != time.Hour {
		t.Fatalf("the write was not stored: period %v", r.RotationPeriod)
	}
	if _, ok := h.b.schedule.dueOf("r"); !ok {
		t.Fatal("a role given a rotation_period is not scheduled: a stale read taken before the write replaced it")
	}
}

// A periodic run whose time is up starts no more rotations: the roles it
// did not rotate stay queued at their due times, and none is recorded as
// a failed rotation it never began.
func TestReview12rPeriodicOutOfTimeLeavesDueRolesQueued(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark")
	role["rotation_period"] = "1h"
	names := []string{"a", "b", "c", "d", "e", "f"}
	for _, n := range names {
		h.ok(logical.CreateOperation, "roles/"+n, role)
	}
	if err := h.tick(); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(2 * time.Hour)
	dues := map[string]time.Time{}
	for _, n := range names {
		dues[n], _ = h.b.schedule.dueOf(n)
	}
	calls := srv.Calls("token")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.b.periodic(ctx, &logical.Request{Operation: logical.RollbackOperation, Storage: h.storage})
	for _, n := range names {
		r, _ := getRole(context.Background(), h.storage, n)
		if r.LastRotationError != "" {
			t.Errorf("role %s: a rotation that never began is recorded as failed: %s", n, r.LastRotationError)
		}
		if due, ok := h.b.schedule.dueOf(n); !ok || !due.Equal(dues[n]) {
			t.Errorf("role %s: queued %v at %v, want at %v", n, ok, due, dues[n])
		}
	}
	if n := srv.Calls("token") - calls; n != 0 {
		t.Errorf("the vendor was called %d times by a run out of time", n)
	}
	// The next run, in time, tries them all (they share one account, so
	// not all of them can succeed at once).
	h.tick()
	for _, n := range names {
		if r, _ := getRole(context.Background(), h.storage, n); r.LastRotated.IsZero() && r.LastRotationError == "" {
			t.Errorf("role %s was not tried by the next run", n)
		}
	}
}

// A stored role whose vendor cannot rotate it (stored by an older version,
// say) is not retried silently every minute: the refusal is logged and
// recorded, and the schedule waits for its retry time.
func TestReview12rScheduledRotationTheVendorCannotDoIsLoggedAndRecorded(t *testing.T) {
	h := newHarness(t)
	r := &roleEntry{Vendor: "oauth2", URL: "https://idp.example.com", ClientID: "svc", ClientSecret: "s",
		RotationPeriod: time.Hour, CreatedAt: h.clock.Now().Add(-2 * time.Hour).UTC(), Generation: "g"}
	if err := putRole(context.Background(), h.storage, "o", r); err != nil {
		t.Fatal(err)
	}
	h.tick()
	if !strings.Contains(h.logs.String(), "role=o") {
		t.Fatalf("the refusal was not logged:\n%s", h.logs.String())
	}
	got, _ := getRole(context.Background(), h.storage, "o")
	if got.LastRotationError == "" {
		t.Fatal("the refusal was not recorded on the role")
	}
	if due, ok := h.b.schedule.dueOf("o"); !ok || !due.After(h.clock.Now()) {
		t.Fatalf("queued %v at %v: retried at once", ok, due)
	}
}
