package vendor

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"
)

// The rotation schedule is an in-memory queue of roles by due time. It is
// loaded from storage once (at initialise, or by the first periodic run
// that finds it missing) and then kept current by role writes and deletes,
// rotations and invalidations, so that a periodic run with no role due
// reads nothing from storage.
//
// Beside the queue, the schedule indexes who names whom as rotation_role,
// loaded and kept current the same way, so that deleting an admin role
// finds the roles that depend on it without reading every role.

// schedule is the due queue. Until it is loaded it holds nothing, and
// changes are not tracked: the load reads them from storage.
type schedule struct {
	loadMu sync.Mutex // one load at a time
	// linkMu orders the saving of a role that names a rotation_role
	// against the deletion of roles: else a delete could check the index
	// just before a write that found the admin role stores its link.
	linkMu sync.Mutex

	mu      sync.Mutex
	state   int                 // scheduleUnloaded, scheduleLoading or scheduleLoaded
	touched map[string]bool     // names changed while a load reads storage
	stale   map[string]bool     // names invalidated: read again at the next run
	queue   dueQueue            // by due time, soonest first
	items   map[string]*dueItem // by role name
	// admins: role name -> its rotation_role; dependents: the reverse.
	admins     map[string]string
	dependents map[string]map[string]struct{}
}

const (
	scheduleUnloaded = iota
	scheduleLoading
	scheduleLoaded
)

type dueItem struct {
	name  string
	due   time.Time
	index int
}

// dueQueue is a min-heap of due times (container/heap).
type dueQueue []*dueItem

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *dueQueue) Push(x any) {
	it := x.(*dueItem)
	it.index = len(*q)
	*q = append(*q, it)
}
func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return it
}

// set puts the role at its due time, or takes it out: no schedule, or
// stuck (nothing rotates it until an operator writes it, which sets it
// again). s.mu is held.
func (s *schedule) set(name string, role *roleEntry) {
	admin := ""
	if role != nil {
		admin = role.RotationRole
	}
	s.link(name, admin)
	if s.items == nil {
		s.items = map[string]*dueItem{}
	}
	it, ok := s.items[name]
	if role == nil || role.RotationPeriod <= 0 || role.stuck() {
		if ok {
			heap.Remove(&s.queue, it.index)
			delete(s.items, name)
		}
		return
	}
	if ok {
		it.due = role.dueAt()
		heap.Fix(&s.queue, it.index)
		return
	}
	it = &dueItem{name: name, due: role.dueAt()}
	heap.Push(&s.queue, it)
	s.items[name] = it
}

// link records that role name names admin as its rotation_role ("":
// none). s.mu is held.
func (s *schedule) link(name, admin string) {
	old, had := s.admins[name]
	if had && old == admin {
		return
	}
	if had {
		deps := s.dependents[old]
		delete(deps, name)
		if len(deps) == 0 {
			delete(s.dependents, old)
		}
		delete(s.admins, name)
	}
	if admin == "" {
		return
	}
	if s.admins == nil {
		s.admins = map[string]string{}
		s.dependents = map[string]map[string]struct{}{}
	}
	s.admins[name] = admin
	deps := s.dependents[admin]
	if deps == nil {
		deps = map[string]struct{}{}
		s.dependents[admin] = deps
	}
	deps[name] = struct{}{}
}

// dependentsOf returns, sorted, the roles that name admin as their
// rotation_role, as far as the index knows.
func (s *schedule) dependentsOf(admin string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	deps := s.dependents[admin]
	if len(deps) == 0 {
		return nil
	}
	out := make([]string, 0, len(deps))
	for name := range deps {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// update records role as now stored under name (nil: deleted).
func (s *schedule) update(name string, role *roleEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == scheduleUnloaded {
		return
	}
	if s.state == scheduleLoading {
		s.touched[name] = true
	}
	s.set(name, role)
}

// remove takes a deleted role out.
func (s *schedule) remove(name string) { s.update(name, nil) }

// invalidate: another node changed the role; the next run reads it.
func (s *schedule) invalidate(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == scheduleUnloaded {
		return
	}
	if s.state == scheduleLoading {
		s.touched[name] = true
	}
	if s.stale == nil {
		s.stale = map[string]bool{}
	}
	s.stale[name] = true
}

// refresh reads the role from storage and puts it in its place. If the
// read fails, the next run reads it again.
func (s *schedule) refresh(ctx context.Context, st logical.Storage, name string) error {
	role, err := getRole(ctx, st, name)
	if err != nil {
		s.invalidate(name)
		return err
	}
	s.update(name, role)
	return nil
}

// load reads every role's schedule from storage, unless that is done.
// Roles it cannot read are read again at the next run.
func (s *schedule) load(ctx context.Context, st logical.Storage) error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.Lock()
	if s.state == scheduleLoaded {
		s.mu.Unlock()
		return nil
	}
	s.state, s.touched = scheduleLoading, map[string]bool{}
	s.mu.Unlock()

	names, err := st.List(ctx, roleStoragePrefix)
	if err != nil {
		s.mu.Lock()
		s.state, s.touched = scheduleUnloaded, nil
		s.mu.Unlock()
		return fmt.Errorf("listing roles: %w", err)
	}
	roles := make(map[string]*roleEntry, len(names))
	var failed []string
	var errs []error
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue
		}
		role, err := getRole(ctx, st, name)
		if err != nil {
			failed = append(failed, name)
			errs = append(errs, fmt.Errorf("role %q: %w", name, err))
			continue
		}
		roles[name] = role
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, role := range roles {
		if !s.touched[name] {
			s.set(name, role)
		}
	}
	s.state, s.touched = scheduleLoaded, nil
	for _, name := range failed {
		if s.stale == nil {
			s.stale = map[string]bool{}
		}
		s.stale[name] = true
	}
	return errors.Join(errs...)
}

// takeStale returns the names to read again, and forgets them.
func (s *schedule) takeStale() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.stale))
	for name := range s.stale {
		names = append(names, name)
	}
	s.stale = nil
	return names
}

// popDue takes out the roles due at now. Each goes back in when its
// rotation ends (rotateRole refreshes it), or by requeue if it never began.
func (s *schedule) popDue(now time.Time) []*dueItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []*dueItem
	for len(s.queue) > 0 && !now.Before(s.queue[0].due) {
		it := heap.Pop(&s.queue).(*dueItem)
		delete(s.items, it.name)
		due = append(due, it)
	}
	return due
}

// requeue puts back roles popDue took whose rotation never began, unless a
// change has put them back since. One deleted meanwhile is dropped by the
// rotation that finds it gone.
func (s *schedule) requeue(due []*dueItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range due {
		if _, ok := s.items[it.name]; ok {
			continue
		}
		heap.Push(&s.queue, it)
		s.items[it.name] = it
	}
}

func (s *schedule) loaded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == scheduleLoaded
}

// dueOf is when the schedule will next rotate the role (tests).
func (s *schedule) dueOf(name string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.items[name]; ok {
		return it.due, true
	}
	return time.Time{}, false
}

// refreshSchedule re-reads an invalidated role under its lock: a role
// write landing between the read and the queue's update would otherwise
// be undone by what was read before it. A role whose lock is held is left
// to the holder, and read again at the next run.
func (b *backend) refreshSchedule(ctx context.Context, s logical.Storage, name string) error {
	lock := b.roleLock(name)
	if !lock.TryLock() {
		b.schedule.invalidate(name)
		return nil
	}
	defer lock.Unlock()
	return b.schedule.refresh(ctx, s, name)
}

// dependents returns, sorted, the roles that name admin as their
// rotation_role. It loads the schedule if no one has, and first re-reads
// the roles invalidated since (or unreadable at the load), so that the
// answer follows storage. held is the role lock the caller holds: a name
// under it is read here, any other under its own lock. One whose lock
// someone else holds is read for this answer only and left marked: the
// holder may be a request for another role of the same lock, or one that
// fails, and updates nothing.
func (b *backend) dependents(ctx context.Context, s logical.Storage, admin string, held *locksutil.LockEntry) ([]string, error) {
	if err := b.schedule.load(ctx, s); err != nil && !b.schedule.loaded() {
		return nil, err
	}
	var errs []error
	seen := map[string]bool{} // names read here, not in the index: whether each names admin
	for _, name := range b.schedule.takeStale() {
		var err error
		lock := b.roleLock(name)
		switch {
		case lock == held:
			err = b.schedule.refresh(ctx, s, name)
		case lock.TryLock():
			err = b.schedule.refresh(ctx, s, name)
			lock.Unlock()
		default:
			b.schedule.invalidate(name)
			var r *roleEntry
			if r, err = getRole(ctx, s, name); err == nil {
				seen[name] = r != nil && r.RotationRole == admin
			}
		}
		// A role that cannot be decoded names no admin the index does not
		// already hold for it, and must not stop every delete: it stays
		// marked, for the periodic run to report.
		if err != nil && !undecodable(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("reading the roles that may name role %q as rotation_role: %w", admin, err)
	}
	deps := b.schedule.dependentsOf(admin)
	if len(seen) == 0 {
		return deps, nil
	}
	out := deps[:0:0]
	for _, name := range deps {
		if _, read := seen[name]; !read {
			out = append(out, name)
		}
	}
	for name, names := range seen {
		if names {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// loadSchedule loads the schedule; a role that cannot be read is
// counted as a failure of the periodic work.
func (b *backend) loadSchedule(ctx context.Context, s logical.Storage) error {
	err := b.schedule.load(ctx, s)
	if err != nil {
		b.periodicFailed("reading the rotation schedule failed", "", err)
	}
	return err
}

// periodicFailed logs and counts a failure of the periodic work.
func (b *backend) periodicFailed(msg, role string, err error) {
	b.periodicErrors.Add(1)
	if role != "" {
		b.Logger().Warn(msg, "role", role, "error", err.Error())
		return
	}
	b.Logger().Warn(msg, "error", err.Error())
}

// periodic rotates the roles whose rotation_period has run out. It runs
// only where storage is writable: the active node of a primary cluster.
// Each rotation has its own time limit and records its own failure on its
// role, so one failing vendor never holds up another role. Failures are
// logged and counted (periodicErrors); storage read failures are also
// returned, for Vault's log.
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	b.pruneClients()
	b.pruneGuards()
	if !b.WriteSafeReplicationState() {
		return nil
	}
	var readErrs []error
	if err := b.loadSchedule(ctx, req.Storage); err != nil {
		if !b.schedule.loaded() {
			return err
		}
		// Loaded but for the roles named, which this run reads again.
		readErrs = append(readErrs, err)
	}
	for _, name := range b.schedule.takeStale() {
		if err := b.refreshSchedule(ctx, req.Storage, name); err != nil {
			b.periodicFailed("reading a role for the rotation schedule failed; the next run reads it again", name, err)
			readErrs = append(readErrs, err)
		}
	}
	var g errgroup.Group
	g.SetLimit(maxParallelRotations)
	due := b.schedule.popDue(b.now())
	for i, it := range due {
		if err := ctx.Err(); err != nil {
			// Out of time (Vault bounds a periodic run): the rest wait
			// for the next run, at their due times, untried.
			b.schedule.requeue(due[i:])
			b.periodicFailed(fmt.Sprintf("the periodic run ended before %d due rotations began; the next run starts them", len(due)-i), "", err)
			break
		}
		name := it.name
		g.Go(func() error {
			// rotateRole checks again, under the role's lock, that the role
			// is still due: a manual rotation may have just done it.
			_, err := b.rotateRole(ctx, req.Storage, name, triggerScheduled)
			switch {
			case err == nil || errors.Is(err, errNotDue):
			case recorded(err):
				// Logged, sent as an event and recorded on the role by rotationDone.
				b.periodicErrors.Add(1)
			default:
				b.periodicFailed("scheduled rotation did not run", name, err)
			}
			return nil
		})
	}
	g.Wait()
	return errors.Join(readErrs...)
}

// dueAt is when the schedule next rotates the role: a period after the last
// rotation (or the role's creation), plus a jitter fixed per role and
// rotation so that roles made together do not all rotate together. After a
// failure the schedule retries sooner than a whole period.
func (r *roleEntry) dueAt() time.Time {
	from := r.LastRotated
	if from.IsZero() {
		from = r.CreatedAt
	}
	// A period stored before it was limited is taken as the limit, so
	// the sum below cannot overflow.
	period := min(r.RotationPeriod, maxPeriod)
	due := from.Add(period + r.jitter())
	if r.LastRotationError != "" && r.LastRotationAttempt.After(from) {
		retry := r.LastRotationAttempt.Add(retryDelay(period))
		if retry.After(due) {
			return retry
		}
	}
	return due
}

// retryDelay is how long a failed scheduled rotation waits: a tenth of the
// period, at least a minute and at most an hour.
func retryDelay(period time.Duration) time.Duration {
	return min(max(period/10, time.Minute), time.Hour)
}

// jitter is up to a twentieth of the period, at most five minutes.
func (r *roleEntry) jitter() time.Duration {
	spread := min(r.RotationPeriod/20, 5*time.Minute)
	if spread <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(r.ClientID))
	h.Write([]byte(r.LastRotated.String()))
	return time.Duration(h.Sum64() % uint64(spread))
}
