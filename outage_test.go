package vendor

import (
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// A long outage of a token endpoint that is no directory logon does not
// spend the account's failed logons: the vendor is tried on the backoff,
// at most every 5 min, and the first try after it recovers mints. A
// directory-backed vendor (cyberark-pam) still counts its 5xx answers as
// failed logons, since a bad password may be answered so.
func TestLongOutageIsRetriedOnTheBackoffNotLockedForAnHour(t *testing.T) {
	for _, tc := range []struct {
		vendor    string
		recovered bool
	}{
		{"cyral", true},
		{"oauth2", true},
		{"cyberark-pam", false},
	} {
		t.Run(tc.vendor, func(t *testing.T) {
			h := newHarness(t)
			h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
			srv, role := h.vendorServer(tc.vendor)
			h.ok(logical.CreateOperation, "roles/r", role)
			srv.Inject("token", vendortest.Fault{Status: 503, Times: -1})
			// Twenty minutes of reads every 30 s, the vendor down throughout.
			for i := range 40 {
				if resp, err := h.do(logical.ReadOperation, "token/r", nil); err == nil && !resp.IsError() {
					t.Fatalf("read %d: a token while the vendor answers 503: %v", i, resp)
				}
				h.clock.Add(30 * time.Second)
			}
			calls := srv.Calls("token")
			if calls > 14 {
				t.Fatalf("%d vendor calls in 20 minutes of outage: the backoff does not hold", calls)
			}
			srv.ClearFaults()
			h.clock.Add(5*time.Minute + time.Second)
			resp, err := h.do(logical.ReadOperation, "token/r", nil)
			minted := err == nil && !resp.IsError()
			if minted != tc.recovered {
				t.Fatalf("5 min after the vendor recovered: minted %v, want %v (%v %v; %d calls in the outage)", minted, tc.recovered, resp, err, calls)
			}
		})
	}
}
