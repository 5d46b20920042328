package vendor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// mintCount is the mints counter of vendor for outcome.
func (h *harness) mintCount(vendor, outcome string) uint64 {
	return h.b.metrics.mints[h.b.metrics.vendor(vendor)][mintOutcomeIndex[outcome]].Load()
}

// The logon guard holds a credential whose last logon got a 5xx for its own
// backoff, and answers with that 5xx without a vendor call. Such an
// attempt is a held one: the metrics must not count it as a vendor 5xx
// (nor time it), and the role's backoff must not double for it, or the
// vendor's calls stop following the documented schedule.
func TestReview13GuardOutageHoldIsNotAVendorCall(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	h.b.rand = func() float64 { return 0.999999 } // most jitter: the role's wait ends before the guard's
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	srv.Inject("token", vendortest.Fault{Status: 503, Times: -1})
	start := h.clock.Now()
	if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil {
		t.Fatal("503 minted")
	}
	st := h.state("c")
	st.mu.Lock()
	next := st.memory.next
	st.mu.Unlock()
	if !next.Before(start.Add(time.Second)) {
		t.Fatalf("with jitter the role's next attempt is %s after the first", next.Sub(start))
	}
	// The role's backoff is over, the guard's (1 s) is not: no vendor call.
	h.clock.Add(next.Sub(start))
	if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil {
		t.Fatal("minted in an outage")
	}
	if srv.Calls("token") != 1 {
		t.Fatalf("%d token calls", srv.Calls("token"))
	}
	ms := h.b.metrics
	if n, timed := h.mintCount("cyral", "5xx"), ms.mintTimes[ms.vendor("cyral")].counts; n != 1 || sumCounts(timed) != 1 {
		t.Fatalf("one vendor 5xx counted as %d 5xx mints, %d timed", n, sumCounts(timed))
	}
	// At the guard's moment the vendor is tried again (1 s after the first
	// attempt, as the schedule says), not after a doubled wait.
	h.clock.Add(start.Add(time.Second).Sub(h.clock.Now()))
	srv.ClearFaults()
	h.ok(logical.ReadOperation, "token/c", nil)
	if srv.Calls("token") != 2 {
		t.Fatalf("%d token calls", srv.Calls("token"))
	}
}

func sumCounts(c []atomic.Uint64) uint64 {
	var n uint64
	for i := range c {
		n += c[i].Load()
	}
	return n
}

// Fifty readers with no token at the moment the backoff ends: exactly one
// vendor call, and every reader gets its answer.
func TestReview13BackoffExpiryStampedeMakesOneCall(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	srv.Inject("token", vendortest.Fault{Body: "not json", Times: -1})
	if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil {
		t.Fatal("garbage minted")
	}
	st := h.state("c")
	st.mu.Lock()
	h.clock.Add(st.memory.next.Sub(h.clock.Now()))
	st.mu.Unlock()
	release := holdVendor(t, srv, 0) // the next call is held while the readers pile up; it then fails
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _, err := h.b.token(context.Background(), st, 0)
			errs <- err
		}()
	}
	waitCalls(t, srv, 2)
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Fatal("garbage minted")
		}
	}
	if n := srv.Calls("token"); n != 2 {
		t.Fatalf("%d token calls at the end of one backoff", n)
	}
}

// Clean while background mints hang at the vendor: the goroutines end.
func TestReview13CleanEndsHangingBackgroundMints(t *testing.T) {
	func() {
		h := newHarness(t)
		h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
		var servers []*vendortest.Server
		for i := range maxBackgroundMints + 3 {
			srv, role := h.vendorServer("cyral")
			servers = append(servers, srv)
			name := fmt.Sprintf("r%d", i)
			h.ok(logical.CreateOperation, "roles/"+name, role)
			h.ok(logical.ReadOperation, "token/"+name, nil)
			holdVendor(t, srv, -1)
		}
		h.clock.Add(250 * time.Second)
		if n := h.b.refreshDue(h.clock.Now()); n != maxBackgroundMints+3 {
			t.Fatalf("%d started", n)
		}
		for i := 0; ; i++ {
			n := 0
			for _, s := range servers {
				n += s.Calls("token")
			}
			if n == len(servers)+maxBackgroundMints {
				break
			}
			if i > 3000 {
				t.Fatalf("%d calls", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		h.b.Clean(context.Background())
		done := make(chan struct{})
		go func() { h.b.waitBackground(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("background mints outlived Clean")
		}
	}()
}

// A role written while its background mint runs: the token that mint makes
// (with the old settings) is never handed out for the role, nor counted.
func TestReview13RoleWriteDuringBackgroundMint(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	old := h.ok(logical.ReadOperation, "token/c", nil)["access_token"]
	release := holdVendor(t, srv, 0)
	h.clock.Add(250 * time.Second)
	h.readAtOnce("token/c", nil) // stale: the background mint starts, held
	waitCalls(t, srv, 2)
	h.ok(logical.UpdateOperation, "roles/c", map[string]any{"refresh_before": 30})
	release()
	h.b.waitBackground()
	got := h.ok(logical.ReadOperation, "token/c", nil)["access_token"]
	if got == old || srv.Calls("token") != 3 {
		t.Fatalf("after the write: %v, %d calls", got, srv.Calls("token"))
	}
	if st := h.state("c"); st.role.RefreshBefore != 30*time.Second {
		t.Fatalf("state of the old role: %v", st.role.RefreshBefore)
	}
	if n := h.b.countCached(); n != 1 {
		t.Fatalf("%d cached tokens", n)
	}
	h.ok(logical.DeleteOperation, "roles/c", nil)
	if n := h.b.countCached(); n != 0 {
		t.Fatalf("%d cached tokens after the delete", n)
	}
}

// A caller asking more life than the stale token has waits for a mint.
func TestReview13MinRemainingBeyondStaleTokenWaits(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral") // 300 s, refresh with 60 s left
	h.ok(logical.CreateOperation, "roles/c", role)
	old := h.ok(logical.ReadOperation, "token/c", nil)["access_token"]
	h.clock.Add(250 * time.Second) // 50 s left
	got := h.ok(logical.ReadOperation, "token/c", map[string]any{"min_remaining": 55})
	if got["access_token"] == old || intOf(t, got["expires_in"]) < 55 || srv.Calls("token") != 2 {
		t.Fatalf("min_remaining 55 on a token with 50 s left: %v (%d calls)", got, srv.Calls("token"))
	}
}

// Echoing vendors failing a background mint: neither the role read nor
// the stale read's warning carries a secret (the harness searches every
// response at cleanup).
func TestReview13EchoInRoleHealthAndWarnings(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	for _, vendor := range []string{"cyral", "incydr", "privx", "oauth2"} {
		srv, role := h.vendorServer(vendor)
		for _, echo := range []string{vendortest.EchoHTML, vendortest.EchoJSON, vendortest.EchoJSONHTML, vendortest.EchoTruncated, vendortest.EchoRedirect} {
			for _, status := range []int{0, 503} {
				h.clock.Add(time.Hour) // the account's failed logons leave the window
				h.ok(logical.UpdateOperation, "roles/"+vendor, role)
				h.ok(logical.ReadOperation, "token/"+vendor, nil)
				tok := h.state(vendor).tok.Load()
				h.clock.Add(tok.refreshAt.Sub(h.clock.Now()) + time.Second)
				srv.Inject("token", vendortest.Fault{Echo: echo, Status: status, Location: "https://login.example.invalid/sso"})
				h.readAtOnce("token/"+vendor, nil)
				h.b.waitBackground()
				resp := h.readAtOnce("token/"+vendor, nil)
				if len(resp.Warnings) == 0 {
					t.Fatalf("%s/%s/%d: no warning", vendor, echo, status)
				}
				read := h.ok(logical.ReadOperation, "roles/"+vendor, nil)
				if read["last_mint_error"] == "" {
					t.Fatalf("%s/%s/%d: no last_mint_error", vendor, echo, status)
				}
				for _, s := range append(resp.Warnings, read["last_mint_error"].(string)) {
					if strings.Contains(s, "login.example.invalid") {
						t.Errorf("the redirect's Location is quoted: %q", s)
					}
				}
				srv.ClearFaults()
			}
		}
	}
}

// Token reads and metric reads at once (run with -race).
func TestReview13MetricsReadConcurrently(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if i%2 == 0 {
					h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "token/c", Storage: h.storage})
				} else {
					h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "metrics", Data: map[string]any{"format": "prometheus"}, Storage: h.storage})
					h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "roles/c", Storage: h.storage})
				}
			}
		}()
	}
	wg.Wait()
}

// A reader that loaded an unread stale token, and notes its read only
// after another reader's mint replaced it (and armed the new token's
// timer), must not disarm the new token's refresh ahead.
func TestReview13LateReadOfAReplacedTokenKeepsTheNewTimer(t *testing.T) {
	h := newHarness(t)
	h.b.refreshTimers = true // 300 s tokens: no timer fires during the test
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	st := h.state("c")
	t2, err := h.b.mint(context.Background(), st) // cached, never read
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Add(250 * time.Second) // t2: 50 s left
	// Reader R0 loads t2 (alive: the stale path) and is preempted. R1 asks
	// for more life than t2 has: it waits for a mint of t3, and reads it.
	h.ok(logical.ReadOperation, "token/c", map[string]any{"min_remaining": 100})
	t3 := st.tok.Load()
	if t3 == t2 || !t3.read.Load() {
		t.Fatal("no new token read")
	}
	if !h.b.refreshQ.queued(t3) {
		t.Fatal("the read of the new token queued no refresh ahead")
	}
	// R0 resumes.
	h.b.noteRead(st, t2)
	h.b.startBackground(st, t2)
	h.b.waitBackground()
	// t3's moment is still queued, and t2's was not (it is not the role's
	// token any more).
	if !h.b.refreshQ.queued(t3) || h.b.refreshQ.queued(t2) {
		t.Fatal("the late read of the replaced token disarmed the new token's refresh ahead")
	}
}
