package vendor

// Tests that kill mutations a careful reviewer planted by hand and the
// rest of the suite let through (issue 12, point 9). Each names the
// mutation it is for. They reach the backend only through requests, as
// Vault does, and talk to a token endpoint of their own, so that they
// depend on neither a role's stored shape nor the fakes' controls.

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// tokenEndpoint answers Cyral's token call (POST /v1/users/oidc/token,
// client credentials in the form) for one client, with tokens that live
// 300 seconds, unless told to fail or to hold its answer.
type tokenEndpoint struct {
	srv    *httptest.Server
	id     string
	secret string
	calls  atomic.Int64

	mu     sync.Mutex
	status int           // when set, the answer is this status
	hold   chan struct{} // when set, the answer waits until it is closed
}

func newTokenEndpoint(t *testing.T, id, secret string) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{id: id, secret: secret}
	e.srv = httptest.NewTLSServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	n := e.calls.Add(1)
	// Read first, so that the request's context ends if the caller goes.
	if r.Method != http.MethodPost || r.URL.Path != "/v1/users/oidc/token" || r.ParseForm() != nil {
		http.NotFound(w, r)
		return
	}
	e.mu.Lock()
	status, hold := e.status, e.hold
	e.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case status != 0:
		w.WriteHeader(status)
		fmt.Fprint(w, `{"error":"temporarily_unavailable","error_description":"down for the test"}`)
	case r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != e.id || r.PostForm.Get("client_secret") != e.secret:
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`)
	default:
		fmt.Fprintf(w, `{"access_token":"%s-token-%d","token_type":"bearer","expires_in":"300"}`, e.id, n)
	}
}

// fail makes every later answer status (0: tokens again).
func (e *tokenEndpoint) fail(status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status = status
}

// holdAnswers holds every later answer until the returned function is
// called; the test's cleanup calls it too, so a failing test never leaves
// a server waiting on a held request.
func (e *tokenEndpoint) holdAnswers(t *testing.T) func() {
	ch := make(chan struct{})
	e.mu.Lock()
	e.hold = ch
	e.mu.Unlock()
	release := sync.OnceFunc(func() { close(ch) })
	t.Cleanup(release)
	return release
}

// role is the fields of a cyral role that mints from e.
func (e *tokenEndpoint) role() map[string]any {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw})
	return map[string]any{"vendor": "cyral", "base_url": e.srv.URL, "client_id": e.id, "client_secret": e.secret, "ca_cert": string(ca)}
}

// mutantHarness is a harness whose leak check also looks for the
// endpoints' secrets.
func mutantHarness(t *testing.T, endpoints ...*tokenEndpoint) *harness {
	h := newHarness(t)
	for _, e := range endpoints {
		h.secrets = append(h.secrets, e.secret)
	}
	return h
}

// afterGet is storage that calls then once, right after the first read of
// key has returned: the moment between a reader's storage read and what
// it does with it.
type afterGet struct {
	logical.Storage
	key   string
	once  sync.Once
	then  func()
	fired bool // then has run (read by the test after the request)
}

func (s *afterGet) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	e, err := s.Storage.Get(ctx, key)
	if key == s.key {
		s.once.Do(func() { s.then(); s.fired = true })
	}
	return e, err
}

// readWith sends a token read whose storage is s.
func readWith(h *harness, s logical.Storage, path string) (*logical.Response, error) {
	h.t.Helper()
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: path, Storage: s})
	raw, _ := json.Marshal(resp)
	h.seen = append(h.seen, string(raw), fmt.Sprint(err))
	return resp, err
}

// refused requires a read that failed and handed out no token.
func wantRefusal(t *testing.T, resp *logical.Response, err error, what string) {
	t.Helper()
	if err == nil && (resp == nil || !resp.IsError()) {
		t.Fatalf("%s: want an error, got a token: %v", what, resp)
	}
	if resp != nil && resp.Data["access_token"] != nil {
		t.Fatalf("%s: an error response carries a token: %v", what, resp.Data)
	}
}

// Mutation: cachedToken.alive ignores min_remaining, so while the vendor
// is down a cached token with less life than the caller asked for is
// handed out. It must be handed out only to callers it satisfies, to the
// second, whether the read came past the token's refresh point or before
// it (where the cache was passed over for the caller's min_remaining).
func TestMutantStaleTokenHonoursMinRemaining(t *testing.T) {
	e := newTokenEndpoint(t, "svc-stale", "stale-Secret-9f3k")
	h := mutantHarness(t, e)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	h.ok(logical.CreateOperation, "roles/r", e.role())

	// Past the refresh point (240s): 50s of life left.
	first := h.ok(logical.ReadOperation, "token/r", nil)
	h.clock.Add(250 * time.Second)
	e.fail(http.StatusServiceUnavailable)
	// The first read past the refresh point gets the token at once and
	// starts the mint that fails; the reads after it are warned.
	if got := h.ok(logical.ReadOperation, "token/r", nil); got["access_token"] != first["access_token"] {
		t.Fatalf("past the refresh point: %v", got)
	}
	h.b.waitBackground()
	for _, min := range []string{"0", "30", "50"} {
		resp, err := h.do(logical.ReadOperation, "token/r", map[string]any{"min_remaining": min})
		if err != nil || resp.IsError() || resp.Data["access_token"] != first["access_token"] || len(resp.Warnings) != 1 {
			t.Fatalf("min_remaining=%s, vendor down, 50s left: want the cached token with a warning, got %v %v", min, resp, err)
		}
	}
	// The logon guard holds the account back after the first 5xx: these
	// reads fail without a call, and must not fall back on the cache
	// either.
	for _, min := range []string{"51", "60", "240"} {
		resp, err := h.do(logical.ReadOperation, "token/r", map[string]any{"min_remaining": min})
		wantRefusal(t, resp, err, "min_remaining="+min+", vendor down, 50s left")
	}

	// Before the refresh point: 200s left, and a caller who needs more.
	h.clock.Add(unavailableMin) // past the guard's hold
	e.fail(0)
	// Still alive: handed out at once, replaced behind the read.
	h.ok(logical.ReadOperation, "token/r", nil)
	h.b.waitBackground()
	second := h.ok(logical.ReadOperation, "token/r", nil)
	if second["access_token"] == first["access_token"] {
		t.Fatal("an expiring token was not replaced once the vendor was back")
	}
	h.clock.Add(100 * time.Second)
	e.fail(http.StatusServiceUnavailable)
	calls := e.calls.Load()
	if got := h.ok(logical.ReadOperation, "token/r", map[string]any{"min_remaining": 200}); got["access_token"] != second["access_token"] || e.calls.Load() != calls {
		t.Fatalf("a cached token that meets min_remaining was not served from the cache: %v", got)
	}
	resp, err := h.do(logical.ReadOperation, "token/r", map[string]any{"min_remaining": 201})
	wantRefusal(t, resp, err, "min_remaining=201, vendor down, 200s left")
	if e.calls.Load() != calls+1 {
		t.Fatalf("the vendor was called %d times for a token it could not give", e.calls.Load()-calls)
	}
}

// Mutation: the cache-fill epoch guard off (roleState caches what it read
// even though the role was invalidated meanwhile). Another node rewrites
// the role, and Vault invalidates its key, between this node's cold read
// of the role and its caching: the read may be served with what it read,
// but nothing of it (state, transport, minted token) may be kept for the
// role's new settings.
func TestMutantRoleInvalidatedDuringAColdReadIsNotCached(t *testing.T) {
	oldEP := newTokenEndpoint(t, "svc-old", "old-Secret-4hd8")
	newEP := newTokenEndpoint(t, "svc-new", "new-Secret-p2x7")
	h := mutantHarness(t, oldEP, newEP)
	h.ok(logical.CreateOperation, "roles/r", oldEP.role())
	h.b.invalidate(context.Background(), roleStoragePrefix+"r") // cold: nothing cached

	other := h.newBackend() // another node on the same storage
	s := &afterGet{Storage: h.storage, key: roleStoragePrefix + "r", then: func() {
		resp, err := other.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "roles/r", Data: newEP.role(), Storage: h.storage})
		if err != nil || resp.IsError() {
			t.Errorf("the other node's role write: %v %v", resp, err)
		}
		h.b.invalidate(context.Background(), roleStoragePrefix+"r")
	}}
	resp, err := readWith(h, s, "token/r")
	if !s.fired {
		t.Fatal("the read did not read the role from storage: it was not cold")
	}
	if err != nil || resp.IsError() || !strings.HasPrefix(resp.Data["access_token"].(string), "svc-old-") {
		t.Fatalf("the read in flight: %v %v", resp, err)
	}

	got := h.ok(logical.ReadOperation, "token/r", nil)
	if tok := got["access_token"].(string); !strings.HasPrefix(tok, "svc-new-") || newEP.calls.Load() != 1 {
		t.Fatalf("after the invalidation the role minted %q (%d calls to the new vendor): the old settings were cached", tok, newEP.calls.Load())
	}
}

// Mutation: the config cache-fill epoch guard off. The config is
// narrowed on another node between this node's cold read of it and its
// caching: the next read must be held to the new policy, not the one read
// before the invalidation.
func TestMutantConfigInvalidatedDuringAColdReadIsNotCached(t *testing.T) {
	e := newTokenEndpoint(t, "svc-cfg", "cfg-Secret-w8q2")
	h := mutantHarness(t, e)
	h.ok(logical.CreateOperation, "roles/r", e.role())
	h.b.invalidate(context.Background(), configStorageKey) // cold: config and roles dropped

	other := h.newBackend()
	s := &afterGet{Storage: h.storage, key: configStorageKey, then: func() {
		resp, err := other.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "config", Data: map[string]any{"allowed_hosts": "*.example.com", "force": true}, Storage: h.storage})
		if err != nil || resp.IsError() {
			t.Errorf("the other node's config write: %v %v", resp, err)
		}
		h.b.invalidate(context.Background(), configStorageKey)
	}}
	// The read in flight may be served under the policy it read.
	if resp, err := readWith(h, s, "token/r"); err != nil || resp.IsError() || !s.fired {
		t.Fatalf("the read in flight (config read from storage: %v): %v %v", s.fired, resp, err)
	}
	calls := e.calls.Load()
	h.badRequest(logical.ReadOperation, "token/r", nil, "base_url", "allowed_hosts")
	if e.calls.Load() != calls {
		t.Fatal("a host the new policy refuses was called")
	}
}

// A role written, or invalidated, while a mint for it is at the vendor:
// the mint's token answers the readers waiting on it, and is not served
// afterwards for the role's new settings.
func TestMutantMintInFlightAcrossARoleChangeIsNotKept(t *testing.T) {
	for _, how := range []string{"write", "invalidate"} {
		t.Run(how, func(t *testing.T) {
			oldEP := newTokenEndpoint(t, "svc-old", "old-Secret-4hd8")
			newEP := newTokenEndpoint(t, "svc-new", "new-Secret-p2x7")
			h := mutantHarness(t, oldEP, newEP)
			h.ok(logical.CreateOperation, "roles/r", oldEP.role())
			release := oldEP.holdAnswers(t)

			type result struct {
				resp *logical.Response
				err  error
			}
			done := make(chan result, 1)
			go func() {
				resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "token/r", Storage: h.storage})
				done <- result{resp, err}
			}()
			for i := 0; oldEP.calls.Load() == 0; i++ {
				if i > 500 {
					t.Fatal("the mint never reached the vendor")
				}
				time.Sleep(10 * time.Millisecond)
			}
			switch how {
			case "write":
				h.ok(logical.UpdateOperation, "roles/r", newEP.role())
			case "invalidate":
				other := h.newBackend()
				if resp, err := other.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "roles/r", Data: newEP.role(), Storage: h.storage}); err != nil || resp.IsError() {
					t.Fatalf("the other node's role write: %v %v", resp, err)
				}
				h.b.invalidate(context.Background(), roleStoragePrefix+"r")
			}
			release()
			var r result
			select {
			case r = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the held read did not end once released")
			}
			raw, _ := json.Marshal(r.resp)
			h.seen = append(h.seen, string(raw), fmt.Sprint(r.err))
			if r.err != nil || r.resp.IsError() || !strings.HasPrefix(r.resp.Data["access_token"].(string), "svc-old-") {
				t.Fatalf("the read in flight: %v %v", r.resp, r.err)
			}
			got := h.ok(logical.ReadOperation, "token/r", nil)
			if tok := got["access_token"].(string); !strings.HasPrefix(tok, "svc-new-") || newEP.calls.Load() != 1 {
				t.Fatalf("after the role changed it minted %q (%d calls to the new vendor)", tok, newEP.calls.Load())
			}
		})
	}
}

// Mutation: "*.cyral.com" matches "acme.cyral.com.evil.io" (the pattern
// taken as a prefix of the host's labels, or the host's trailing labels
// ignored). Direct, and through the config and a role, at write time and
// at call time.
func TestMutantWildcardDoesNotMatchAHostWithMoreLabels(t *testing.T) {
	for _, tc := range []struct{ pattern, host string }{
		{"*.cyral.com", "acme.cyral.com.evil.io"},
		{"*.cyral.com", "acme.cyral.com.evil.io."},
		{"*.cyral.com", "ACME.Cyral.com.Evil.io"},
		{"*.cyral.com", "acme.cyral.com.cyral.com"},
		{"*.cyral.com", "acme.cyral.com.com"},
		{"*.cyral.com.", "acme.cyral.com.evil.io"},
		{"*.CYRAL.com", "acme.cyral.com.evil.io"},
		{"api.*.code42.com", "api.us.code42.com.evil.io"},
		{"privx.example.com", "privx.example.com.evil.io"},
	} {
		if hostAllowed([]string{tc.pattern}, tc.host) {
			t.Errorf("%q allowed %q", tc.pattern, tc.host)
		}
		if hostAllowed([]string{"10.0.0.0/8", tc.pattern, "a.example.com"}, tc.host) {
			t.Errorf("a list holding %q allowed %q", tc.pattern, tc.host)
		}
	}
	// The same patterns still allow their own hosts.
	for _, tc := range []struct{ pattern, host string }{
		{"*.cyral.com", "acme.cyral.com"}, {"*.cyral.com.", "acme.cyral.com"}, {"*.CYRAL.com", "acme.cyral.com."},
		{"api.*.code42.com", "api.us.code42.com"}, {"privx.example.com", "privx.example.com"},
	} {
		if !hostAllowed([]string{tc.pattern}, tc.host) {
			t.Errorf("%q refused %q", tc.pattern, tc.host)
		}
	}

	h := newHarness(t)
	role := map[string]any{"vendor": "cyral", "base_url": "https://acme.cyral.com.evil.io", "client_id": "svc", "client_secret": "evil-Secret-7c2m"}
	h.secrets = append(h.secrets, "evil-Secret-7c2m")
	// Written while any host was allowed, then held to the narrowed policy
	// at the call: a 400 naming the field and the host, before any dial.
	h.ok(logical.CreateOperation, "roles/early", role)
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.cyral.com", "force": true})
	h.badRequest(logical.ReadOperation, "token/early", nil, "base_url", `"acme.cyral.com.evil.io"`, "allowed_hosts")
	h.badRequest(logical.CreateOperation, "roles/late", role, "base_url", `"acme.cyral.com.evil.io"`, "allowed_hosts")
	h.ok(logical.CreateOperation, "roles/good", withFields(role, "base_url", "https://acme.cyral.com"))
}
