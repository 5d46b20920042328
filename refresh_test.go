package vendor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// readAtOnce reads path and fails the test if the read does not answer
// while the vendor is held: a hang detector, not a timing assertion (the
// bound is far beyond any answer that does not wait on the vendor).
func (h *harness) readAtOnce(path string, data map[string]any) *logical.Response {
	h.t.Helper()
	type result struct {
		resp *logical.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: path, Data: data, Storage: h.storage})
		done <- result{resp, err}
	}()
	select {
	case r := <-done:
		raw, _ := json.Marshal(r.resp)
		h.seen = append(h.seen, string(raw), fmt.Sprint(r.err)) // searched for secrets at cleanup
		if r.err != nil || r.resp == nil || r.resp.IsError() {
			h.t.Fatalf("read %s: %v %v", path, r.resp, r.err)
		}
		return r.resp
	case <-time.After(30 * time.Second):
		h.t.Fatalf("read %s waited on the vendor", path)
	}
	return nil
}

// holdVendor holds the next token call at srv until the returned release
// is called; the release also runs at cleanup, before the server closes.
func holdVendor(t *testing.T, srv *vendortest.Server, times int) func() {
	ch := make(chan struct{})
	release := sync.OnceFunc(func() { close(ch) })
	srv.Inject("token", vendortest.Fault{Hold: ch, Times: times})
	t.Cleanup(release)
	return release
}

// waitCalls waits until srv has had n token calls (a held call counts
// when it arrives).
func waitCalls(t *testing.T, srv *vendortest.Server, n int) {
	t.Helper()
	for i := 0; srv.Calls("token") < n; i++ {
		if i > 3000 {
			t.Fatalf("%d token calls, want %d", srv.Calls("token"), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) state(name string) *roleState {
	v, ok := h.b.roles.Load(name)
	if !ok {
		h.t.Fatalf("role %q has no state", name)
	}
	return v.(*roleState)
}

// A steady reader across three token lifetimes: every read answers from
// the cache at once, even past the refresh point while the background mint
// is held at the vendor, and each lifetime costs exactly one mint.
func TestRefreshAheadSteadyReaderNeverWaits(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral") // 300s tokens, refreshed with 60s left
	h.ok(logical.CreateOperation, "roles/c", role)
	cur := h.readAtOnce("token/c", nil).Data["access_token"]
	for gen := 1; gen <= 3; gen++ {
		tok := h.state("c").tok.Load()
		if lo, hi := tok.refreshAt.Add(-30*time.Second), tok.refreshAt.Add(-15*time.Second); tok.bgAt.Before(lo) || tok.bgAt.After(hi) {
			t.Fatalf("background moment %s outside [%s, %s]", tok.bgAt, lo, hi)
		}
		release := holdVendor(t, srv, 0)
		started := 0
		// Every 10s, up to 20s past the refresh point.
		for h.clock.Now().Before(tok.refreshAt.Add(20 * time.Second)) {
			h.clock.Add(10 * time.Second)
			started += h.b.refreshDue(h.clock.Now())
			resp := h.readAtOnce("token/c", nil)
			if resp.Data["access_token"] != cur {
				t.Fatalf("lifetime %d: the token changed while its replacement was held", gen)
			}
			if !h.clock.Now().Before(tok.refreshAt) && intOf(t, resp.Data["ttl"]) != 0 {
				t.Fatalf("past the refresh point, ttl %v", resp.Data["ttl"])
			}
		}
		if started != 1 {
			t.Fatalf("lifetime %d: %d background mints started, want 1", gen, started)
		}
		waitCalls(t, srv, gen+1)
		release()
		h.b.waitBackground()
		next := h.readAtOnce("token/c", nil).Data["access_token"]
		if next == cur || srv.Calls("token") != gen+1 {
			t.Fatalf("lifetime %d: token %v after %d calls", gen, next, srv.Calls("token"))
		}
		cur = next
	}
}

// A token nobody read is not replaced: an idle role costs nothing.
func TestRefreshAheadLeavesIdleRolesAlone(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	h.ok(logical.CreateOperation, "roles/never", role) // written, never read
	h.ok(logical.ReadOperation, "token/c", nil)
	h.clock.Add(226 * time.Second) // past any background moment: 240s - [30s, 15s]
	if n := h.b.refreshDue(h.clock.Now()); n != 1 {
		t.Fatalf("%d background mints for one read token", n)
	}
	h.b.waitBackground()
	if srv.Calls("token") != 2 {
		t.Fatalf("%d token calls", srv.Calls("token"))
	}
	// The token the background mint made was never read: not replaced.
	h.clock.Add(600 * time.Second)
	if n := h.b.refreshDue(h.clock.Now()); n != 0 {
		t.Fatalf("%d background mints for an unread token", n)
	}
	h.b.waitBackground()
	if srv.Calls("token") != 2 {
		t.Fatalf("an idle role made %d token calls", srv.Calls("token")-2)
	}
}

// A vendor that never answers: reads with a live cached token answer at
// once, and only one mint is ever outstanding.
func TestHangingVendorLiveTokenAnswersAtOnce(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	first := h.readAtOnce("token/c", nil).Data["access_token"]
	holdVendor(t, srv, -1)
	h.clock.Add(250 * time.Second) // past the refresh point, 50s left
	for range 20 {
		resp := h.readAtOnce("token/c", map[string]any{"min_remaining": 40})
		if resp.Data["access_token"] != first {
			t.Fatal("not the cached token")
		}
	}
	h.b.refreshDue(h.clock.Now())
	waitCalls(t, srv, 2)
	if !h.state("c").bg.Load() || srv.Calls("token") != 2 {
		t.Fatalf("%d token calls for 20 reads of a stale token", srv.Calls("token"))
	}
}

// At most maxBackgroundMints run at once across the mount.
func TestRefreshAheadIsBoundedAcrossTheMount(t *testing.T) {
	h := newHarness(t)
	const roles = maxBackgroundMints + 2
	var servers []*vendortest.Server
	var releases []func()
	for i := range roles {
		srv, role := h.vendorServer("cyral")
		servers = append(servers, srv)
		name := "r" + string(rune('a'+i))
		h.ok(logical.CreateOperation, "roles/"+name, role)
		h.ok(logical.ReadOperation, "token/"+name, nil)
		releases = append(releases, holdVendor(t, srv, 0))
	}
	calls := func() int {
		n := 0
		for _, s := range servers {
			n += s.Calls("token")
		}
		return n - roles
	}
	h.clock.Add(226 * time.Second) // past every moment: 240s - [30s, 15s]
	if n := h.b.refreshDue(h.clock.Now()); n != roles {
		t.Fatalf("%d background mints started, want %d", n, roles)
	}
	for i := 0; calls() < maxBackgroundMints; i++ {
		if i > 3000 {
			t.Fatalf("%d background calls reached the vendors", calls())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Give a mount without the bound the chance to show it.
	for range 20 {
		if calls() > maxBackgroundMints {
			t.Fatalf("%d background mints at once", calls())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, r := range releases {
		r()
	}
	h.b.waitBackground()
	if calls() != roles {
		t.Fatalf("%d background calls in all, want %d", calls(), roles)
	}
}

// The failure memory: attempts follow 1s, 2s, 4s ... capped at 5 min, less
// jitter of at most a fifth; reads between attempts cost no vendor call and
// say when the next attempt is; a Retry-After raises the wait.
func TestMintBackoffSchedule(t *testing.T) {
	for _, tc := range []struct {
		name string
		rand float64
	}{{"no jitter", 0}, {"most jitter", 0.999999}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
			h.b.rand = func() float64 { return tc.rand }
			srv, role := h.vendorServer("cyral")
			h.ok(logical.CreateOperation, "roles/c", role)
			srv.Inject("token", vendortest.Fault{Body: "not json", Times: -1})
			base := time.Second
			for n := 1; n <= 12; n++ {
				at := h.clock.Now()
				if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil || srv.Calls("token") != n {
					t.Fatalf("attempt %d: %v after %d calls", n, err, srv.Calls("token"))
				}
				next, err := time.Parse(time.RFC3339, h.ok(logical.ReadOperation, "roles/c", nil)["next_mint_attempt"].(string))
				if err != nil {
					t.Fatal(err)
				}
				wait := next.Sub(at)
				if wait > base || wait < base-base/5-time.Second { // RFC 3339 drops the fraction
					t.Fatalf("attempt %d: next after %s, want within (%s, %s]", n, wait, base-base/5, base)
				}
				// Reads until then: the last error, saying so, at once.
				for range 5 {
					_, err := h.do(logical.ReadOperation, "token/c", nil)
					want := "(last attempt at " + at.UTC().Format(time.RFC3339) + " failed; next attempt at "
					if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "could not be used") || srv.Calls("token") != n {
						t.Fatalf("read between attempts: %v (%d calls)", err, srv.Calls("token"))
					}
				}
				held := h.state("c")
				held.mu.Lock()
				h.clock.Add(held.memory.next.Sub(at))
				held.mu.Unlock()
				base = min(2*base, 5*time.Minute)
			}
		})
	}
	t.Run("Retry-After", func(t *testing.T) {
		h := newHarness(t)
		h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
		srv, role := h.vendorServer("cyral")
		h.ok(logical.CreateOperation, "roles/c", role)
		srv.Inject("token", vendortest.Fault{Status: 429, RetryAfter: "120", Times: -1})
		at := h.clock.Now()
		if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil {
			t.Fatal("429 minted")
		}
		want := at.Add(120 * time.Second).UTC().Format(time.RFC3339)
		if got := h.ok(logical.ReadOperation, "roles/c", nil)["next_mint_attempt"]; got != want {
			t.Fatalf("next attempt %v, want %s", got, want)
		}
		h.clock.Add(119 * time.Second)
		if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil || !strings.Contains(err.Error(), "next attempt at "+want) || srv.Calls("token") != 1 {
			t.Fatalf("before the Retry-After: %v (%d calls)", err, srv.Calls("token"))
		}
		h.clock.Add(time.Second)
		srv.ClearFaults()
		h.ok(logical.ReadOperation, "token/c", nil)
	})
	t.Run("stale token while failing", func(t *testing.T) {
		h := newHarness(t)
		h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
		h.b.rand = func() float64 { return 0 } // no jitter: the schedule is exact
		srv, role := h.vendorServer("cyral")
		h.ok(logical.CreateOperation, "roles/c", role)
		good := h.ok(logical.ReadOperation, "token/c", nil)["access_token"]
		srv.Inject("token", vendortest.Fault{Body: "not json", Times: -1})
		h.clock.Add(241 * time.Second)
		// 58 reads over 58 s past the refresh point: each gets the cached
		// token, and the vendor sees attempts at 0, 1, 3, 7, 15, 31 s
		// past it, not one per read.
		for range 58 {
			resp := h.readAtOnce("token/c", nil)
			h.b.waitBackground()
			if resp.Data["access_token"] != good {
				t.Fatal("not the cached token")
			}
			h.clock.Add(time.Second)
		}
		if n := srv.Calls("token"); n != 1+6 {
			t.Fatalf("%d token calls for 58 reads", n)
		}
		resp := h.readAtOnce("token/c", nil)
		if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "failed; next attempt at") || !strings.Contains(resp.Warnings[0], "returning the cached token") {
			t.Fatalf("warnings %v", resp.Warnings)
		}
	})
}

// A role write, or a rotation, clears the failure memory: the next read
// tries the vendor at once.
func TestMintBackoffResetsOnRoleWriteAndRotation(t *testing.T) {
	for _, how := range []string{"write", "rotation", "invalidate"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t)
			h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
			srv, role := h.vendorServer("cyral")
			h.ok(logical.CreateOperation, "roles/c", role)
			srv.Inject("token", vendortest.Fault{Body: "not json"})
			if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil {
				t.Fatal("garbage minted")
			}
			if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil || !strings.Contains(err.Error(), "next attempt at") {
				t.Fatalf("not held back: %v", err)
			}
			switch how {
			case "write":
				h.ok(logical.UpdateOperation, "roles/c", map[string]any{"refresh_before": 30})
			case "rotation":
				h.ok(logical.UpdateOperation, "rotate-role/c", nil)
			case "invalidate":
				h.b.invalidate(context.Background(), roleStoragePrefix+"c")
			}
			calls := srv.Calls("token")
			h.ok(logical.ReadOperation, "token/c", nil)
			if srv.Calls("token") != calls+1 {
				t.Fatalf("after the %s the read made %d calls", how, srv.Calls("token")-calls)
			}
		})
	}
}

// The role read shows this node's view of the role's tokens.
func TestRoleReadShowsTokenHealth(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	read := h.ok(logical.ReadOperation, "roles/c", nil)
	for _, k := range []string{"token_expires_at", "last_mint", "last_mint_error", "next_mint_attempt"} {
		if read[k] != "" {
			t.Fatalf("before any mint %s = %v", k, read[k])
		}
	}
	tok := h.ok(logical.ReadOperation, "token/c", nil)
	minted := h.clock.Now().UTC().Format(time.RFC3339)
	read = h.ok(logical.ReadOperation, "roles/c", nil)
	if read["token_expires_at"] != tok["expires_at"] || read["last_mint"] != minted || read["last_mint_error"] != "" || read["next_mint_attempt"] != "" {
		t.Fatalf("after a mint: %v", read)
	}
	h.clock.Add(250 * time.Second)
	srv.Inject("token", vendortest.Fault{Status: 503, Body: `{"error":"maintenance"}`})
	h.ok(logical.ReadOperation, "token/c", nil) // stale, mint behind it
	h.b.waitBackground()
	read = h.ok(logical.ReadOperation, "roles/c", nil)
	if read["token_expires_at"] != tok["expires_at"] || read["last_mint"] != h.clock.Now().UTC().Format(time.RFC3339) ||
		!strings.Contains(read["last_mint_error"].(string), "answered HTTP 503 (a server error)") || read["next_mint_attempt"] == "" {
		t.Fatalf("after a failed mint: %v", read)
	}
}

// Timers: a read token is replaced when its moment comes, without a read;
// a role write, delete or invalidation and the backend's Clean stop them.
func TestRefreshTimers(t *testing.T) {
	h := newHarness(t)
	h.b.refreshTimers = true
	srv, role := h.vendorServer("incydr", vendortest.WithLifetime(3*time.Second))
	h.ok(logical.CreateOperation, "roles/i", role)
	h.ok(logical.ReadOperation, "token/i", nil)
	st := h.state("i")
	h.clock.Add(2 * time.Second) // past the background moment: the timer, when it fires, mints
	waitCalls(t, srv, 2)
	h.b.waitBackground()

	h.ok(logical.ReadOperation, "token/i", nil) // the new token, read: armed
	if !h.b.refreshQ.queued(st.tok.Load()) {
		t.Fatal("a read token queued no refresh ahead")
	}
	h.ok(logical.UpdateOperation, "roles/i", map[string]any{"token_ttl_cap": "1h"})
	st.mu.Lock()
	stopped := st.dropped
	st.mu.Unlock()
	if !stopped || h.b.refreshRole(st, h.clock.Now().Add(time.Hour)) {
		t.Fatal("a role write left the old state able to mint in the background")
	}
	h.ok(logical.ReadOperation, "token/i", nil)
	st = h.state("i")
	h.b.Clean(context.Background())
	st.mu.Lock()
	stopped = st.dropped
	st.mu.Unlock()
	h.b.refreshQ.mu.Lock()
	queueStopped := h.b.refreshQ.stopped && len(h.b.refreshQ.items) == 0
	h.b.refreshQ.mu.Unlock()
	if !stopped || !queueStopped || h.b.startBackground(st, st.tok.Load()) {
		t.Fatal("Clean left the refresh queue running, or background mints possible")
	}
}

// A role written and read in a loop does not grow the refresh queue: the
// items of retired states are dropped, so they hold no state or token.
func TestRefreshQueueDropsRetiredRoles(t *testing.T) {
	h := newHarness(t)
	h.b.refreshTimers = true // 300 s tokens: nothing comes due meanwhile
	_, role := h.vendorServer("cyral")
	for range 500 {
		h.ok(logical.CreateOperation, "roles/churn", role)
		h.ok(logical.ReadOperation, "token/churn", nil)
	}
	h.b.refreshQ.mu.Lock()
	n := len(h.b.refreshQ.items)
	h.b.refreshQ.mu.Unlock()
	if n > 128 {
		t.Fatalf("%d queued refreshes for one role written and read 500 times", n)
	}
	if !h.b.refreshQ.queued(h.state("churn").tok.Load()) {
		t.Fatal("the live token's refresh was dropped")
	}
}
