package vendor

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Refresh ahead and failure memory.
//
// A role whose token was read gets its next token minted in the background
// before the token's refresh point: at a moment drawn uniformly from
// between a half and a quarter of refresh_before before the refresh point,
// so roles minted together do not mint again together, the mint has at
// least a quarter of refresh_before to finish before a reader would want
// it, and a token is used for most of its time before its refresh point. A
// token nobody read is not replaced: an idle role costs the vendor
// nothing. A background mint runs in the role's single flight (a reader
// that finds no usable token shares it), at most one per role, and at most
// maxBackgroundMints at once across the mount.
//
// After a failed mint the role's vendor is not called again before a
// backoff (1 s doubling to 5 min, each drawn from its last fifth down, and
// at least what the vendor's Retry-After asked); reads meanwhile get the
// live cached token, or at once the last error with when the next attempt
// will be. The vendor's refusal of the credentials is the logon guard's to
// remember (logon.go), more strictly. A role write, an invalidation or a
// rotation replaces the role's state, and with it this memory. All of it
// lives in the memory of one Vault node.
const (
	maxBackgroundMints = 8
	mintBackoffMin     = time.Second
	mintBackoffMax     = 5 * time.Minute
)

// mintMemory is what this node remembers of a role's last mints.
type mintMemory struct {
	lastAt  time.Time // the last attempt that reached the vendor's guard
	lastErr error     // nil when it succeeded
	fails   int       // failed attempts in a row
	// next is the earliest next attempt; held says this memory holds
	// attempts back until then (for other failures it is the logon
	// guard's time, shown to operators).
	next time.Time
	held bool
}

// mintHeldError is the answer, without a vendor call, to a read that
// needs a mint while the role's backoff holds attempts back. It wraps the
// last attempt's error, which decides how Vault answers.
type mintHeldError struct {
	err      error
	at, next time.Time
}

func (e *mintHeldError) Error() string {
	return fmt.Sprintf("%v (last attempt at %s failed; next attempt at %s)", e.err,
		e.at.UTC().Format(time.RFC3339), e.next.UTC().Format(time.RFC3339))
}

func (e *mintHeldError) Unwrap() error { return e.err }

// mintBackoff is how long to wait after the n-th failure in a row (n >= 1):
// 1 s doubling to 5 min, less up to a fifth (jitter, from b.rand), and at
// least retryAfter.
func (b *backend) mintBackoff(n int, retryAfter time.Duration) time.Duration {
	base := mintBackoffMin << min(n-1, 20)
	base = min(base, mintBackoffMax)
	d := base - time.Duration(b.rand()*float64(base/5))
	return max(d, retryAfter)
}

// heldBack returns the error a read gets while the role's backoff holds
// vendor calls back, or nil.
func (st *roleState) heldBack(now time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.memory
	if m != nil && m.held && now.Before(m.next) {
		return &mintHeldError{err: m.lastErr, at: m.lastAt, next: m.next}
	}
	return nil
}

// lastFailure is the last attempt's error, stated as such, or nil if it
// succeeded.
func (st *roleState) lastFailure() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.memory
	if m == nil || m.lastErr == nil {
		return nil
	}
	return &mintHeldError{err: m.lastErr, at: m.lastAt, next: m.next}
}

// noteMint remembers how an attempt that began at at ended.
func (b *backend) noteMint(st *roleState, at time.Time, err error) {
	if errors.Is(err, context.Canceled) {
		return // the backend is closing: the vendor said nothing
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if err == nil {
		st.memory, st.lastOK = nil, at.UnixNano()
		return
	}
	if st.memory == nil {
		st.memory = &mintMemory{}
	}
	m := st.memory
	m.lastAt, m.lastErr, m.held = at, err, false
	var held *errLogonHeld
	var down *errLogonDown
	switch {
	case errors.As(err, &held):
		m.next = held.until
	case errors.As(err, &down):
		// No vendor call: wait for the guard's backoff, not a longer one.
		m.next, m.held = down.until, true
	case vendorRefused(err):
		m.next = at.Add(refusalMemory)
	case rejected(err):
		m.next = time.Time{} // the role must change first
	default:
		m.fails++
		var ra time.Duration
		var ue *client.UnavailableError
		if errors.As(err, &ue) {
			ra = ue.RetryAfter
		}
		m.next, m.held = at.Add(b.mintBackoff(m.fails, ra)), true
	}
}

// attempt mints for the role unless its backoff holds the call back, and
// remembers the outcome. It runs inside the role's single flight.
func (b *backend) attempt(ctx context.Context, st *roleState) (*cachedToken, error) {
	start := b.now()
	if err := st.heldBack(start); err != nil {
		b.metrics.mint(st.role.Vendor, outcomeHeld, 0)
		return nil, err
	}
	t, err := b.mint(ctx, st)
	b.metrics.mint(st.role.Vendor, mintOutcome(err), b.now().Sub(start))
	b.noteMint(st, start, err)
	if err != nil {
		return nil, err
	}
	st.noteLife(t)
	return t, nil
}

// noteRead marks t as read; the first read of a token arms the role's
// refresh ahead for it.
func (b *backend) noteRead(st *roleState, t *cachedToken) {
	if t.read.Load() || !t.read.CompareAndSwap(false, true) {
		return
	}
	if b.refreshTimers {
		b.armRefresh(st, t)
	}
}

// armRefresh queues t's background moment, if t is still the role's
// token (keep swaps tokens under st.mu, so the check holds while queued).
// One queue and one timer serve the mount: a timer per role cost more
// memory than the rest of a role's state.
func (b *backend) armRefresh(st *roleState, t *cachedToken) {
	st.mu.Lock()
	ok := !st.dropped && st.tok.Load() == t
	st.mu.Unlock()
	if ok {
		b.refreshQ.push(b, refreshItem{at: t.bgAt, st: st, t: t})
	}
}

// refreshItem is one read token's background moment.
type refreshItem struct {
	at time.Time
	st *roleState
	t  *cachedToken
}

// refreshQueue holds the background moments of read tokens, earliest
// first, and one timer for the earliest. An item whose role was dropped,
// or whose token was replaced, is skipped when it comes due.
type refreshQueue struct {
	mu      sync.Mutex
	items   refreshHeap
	live    int // items left by the last compaction
	timer   *time.Timer
	stopped bool
}

type refreshHeap []refreshItem

func (h refreshHeap) Len() int           { return len(h) }
func (h refreshHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h refreshHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *refreshHeap) Push(x any)        { *h = append(*h, x.(refreshItem)) }
func (h *refreshHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = refreshItem{}
	*h = old[:len(old)-1]
	return it
}

func (q *refreshQueue) push(b *backend, it refreshItem) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	if len(q.items) >= max(64, 2*q.live) {
		q.compact()
	}
	heap.Push(&q.items, it)
	if q.items[0].st == it.st && q.items[0].t == it.t {
		q.wake(b)
	}
}

// compact drops the items of retired roles and replaced tokens, which
// would otherwise hold their states (and tokens) until they came due: a
// role written and read in a loop must not grow the queue. Run when the
// queue has doubled since the last compaction, it costs O(1) a push.
// q.mu is held; st.mu is taken inside it, never the other way round.
func (q *refreshQueue) compact() {
	kept := q.items[:0]
	for _, it := range q.items {
		it.st.mu.Lock()
		live := !it.st.dropped && it.st.tok.Load() == it.t
		it.st.mu.Unlock()
		if live {
			kept = append(kept, it)
		}
	}
	clear(q.items[len(kept):])
	q.items = kept
	heap.Init(&q.items)
	q.live = len(kept)
}

// wake sets the timer for the earliest item; q.mu is held.
func (q *refreshQueue) wake(b *backend) {
	if len(q.items) == 0 {
		return
	}
	d := max(q.items[0].at.Sub(b.now()), 0)
	if q.timer == nil {
		q.timer = time.AfterFunc(d, func() { q.fire(b) })
		return
	}
	q.timer.Reset(d)
}

// fire takes the items due now and starts their background mints.
func (q *refreshQueue) fire(b *backend) {
	now := b.now()
	var due []refreshItem
	q.mu.Lock()
	for len(q.items) > 0 && !q.items[0].at.After(now) {
		due = append(due, heap.Pop(&q.items).(refreshItem))
	}
	q.mu.Unlock()
	for _, it := range due {
		if it.st.tok.Load() == it.t {
			b.refreshRole(it.st, now)
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped {
		q.wake(b)
	}
}

// queued reports whether t's moment is queued (tests).
func (q *refreshQueue) queued(t *cachedToken) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		if it.t == t {
			return true
		}
	}
	return false
}

// stop ends the queue: its timer stops and nothing is queued again.
func (q *refreshQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	q.items = nil
	if q.timer != nil {
		q.timer.Stop()
	}
}

// refreshDue starts the background mints that are due at now, for every
// role this node holds; it returns how many it started. The timers call
// refreshRole for their own role; tests call this.
func (b *backend) refreshDue(now time.Time) int {
	n := 0
	b.roles.Range(func(_, v any) bool {
		if b.refreshRole(v.(*roleState), now) {
			n++
		}
		return true
	})
	return n
}

// refreshRole starts a background mint of the role if its token was read
// and its background moment has come.
func (b *backend) refreshRole(st *roleState, now time.Time) bool {
	t := st.tok.Load()
	if t == nil || !t.read.Load() || now.Before(t.bgAt) {
		return false
	}
	return b.startBackground(st, t)
}

// startBackground starts a mint to replace t, unless one is running, the
// role was dropped, or its backoff holds attempts back.
func (b *backend) startBackground(st *roleState, t *cachedToken) bool {
	if st.heldBack(b.now()) != nil {
		return false
	}
	st.mu.Lock()
	dropped := st.dropped
	st.mu.Unlock()
	if dropped || b.bgCtx.Err() != nil || !st.bg.CompareAndSwap(false, true) {
		return false
	}
	b.bgWG.Add(1)
	go func() {
		defer b.bgWG.Done()
		defer st.bg.Store(false)
		select {
		case b.bgSem <- struct{}{}:
		case <-b.bgCtx.Done():
			return
		}
		defer func() { <-b.bgSem }()
		ch := st.flight.DoChan("", func() (any, error) {
			// A reader's mint may have replaced t meanwhile.
			if cur := st.tok.Load(); cur != t && cur.usable(b.now(), 0) {
				return cur, nil
			}
			return b.attempt(b.bgCtx, st)
		})
		select {
		case <-ch:
		case <-b.bgCtx.Done():
		}
	}()
	return true
}

// waitBackground waits for the background mints started so far (tests).
func (b *backend) waitBackground() { b.bgWG.Wait() }

// retireState marks a role's state dropped: its timer stops, and nothing it
// does later is counted or scheduled.
func (b *backend) retireState(st *roleState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.dropped {
		return
	}
	st.dropped = true
	if st.tok.Load() != nil {
		b.metrics.cachedTokens(-1)
	}
}

// keep caches a minted token in the role's state, counting it.
func (b *backend) keep(st *roleState, t *cachedToken) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if old := st.tok.Swap(t); old == nil && !st.dropped {
		b.metrics.cachedTokens(1)
	}
}

// bgAtFor draws the moment a read token is replaced in the background:
// from refresh_before/2 to refresh_before/4 before its refresh point.
func (b *backend) bgAtFor(refreshAt time.Time, refreshBefore time.Duration) time.Time {
	quarter := refreshBefore / 4
	return refreshAt.Add(-2*quarter + time.Duration(b.rand()*float64(quarter)))
}

// roleHealth is what this node knows of the role's token and mints, for
// the role read: empty strings where it knows nothing.
func (b *backend) roleHealth(name string) map[string]any {
	h := map[string]any{"token_expires_at": "", "last_mint": "", "last_mint_error": "", "next_mint_attempt": ""}
	v, ok := b.roles.Load(name)
	if !ok {
		return h
	}
	st := v.(*roleState)
	if t := st.tok.Load(); t != nil {
		h["token_expires_at"] = formatTime(t.expiresAt)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.memory
	if m == nil {
		if st.lastOK != 0 {
			h["last_mint"] = formatTime(time.Unix(0, st.lastOK))
		}
		return h
	}
	h["last_mint"] = formatTime(m.lastAt)
	if m.lastErr != nil {
		h["last_mint_error"] = m.lastErr.Error()
		if !m.next.IsZero() && b.now().Before(m.next) {
			h["next_mint_attempt"] = formatTime(m.next)
		}
	}
	return h
}

// defaultRand draws jitter.
func defaultRand() float64 { return rand.Float64() }
