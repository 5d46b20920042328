package vendor

import (
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
