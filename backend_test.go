package vendor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// hardSecret holds every character that escaping or encoding would change.
const hardSecret = "s3 cr%et#:@&+=/?x"

// testClock is the injected clock: tests move time, they never sleep for it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t       testing.TB
	b       *backend
	storage *faultyStorage
	clock   *testClock
	sys     *logical.StaticSystemView
	logs    *syncBuffer
	events  *eventLog
	// every response seen, to search for secrets at the end
	seen []string
	// secrets searched for at the end, beyond the fixed test secrets
	secrets []string
	servers []*vendortest.Server
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	clk := &testClock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	h := &harness{t: t, storage: &faultyStorage{Storage: &logical.InmemStorage{}}, clock: clk,
		sys: logical.TestSystemView(), logs: &syncBuffer{}, events: &eventLog{}}
	h.b = h.newBackend()
	t.Cleanup(func() {
		// Every form of every secret: responses are searched as JSON, where
		// Go writes & as \u0026, and a vendor's echo may carry a secret
		// escaped, encoded or inside a Basic pair.
		forms := vendortest.LeakForms(append([]string{hardSecret, "oauth %sec#ret:x"}, h.secrets...), nil)
		for _, srv := range h.servers {
			forms = append(forms, srv.LeakForms()...)
		}
		places := map[string][]string{"response": h.seen, "log": {h.logs.String()}, "event": h.events.texts()}
		for where, texts := range places {
			for _, text := range texts {
				for _, form := range forms {
					if strings.Contains(text, form) {
						t.Errorf("a secret (as %q) appeared in a %s: %s", form, where, text)
					}
				}
			}
		}
	})
	return h
}

// newBackend sets up a backend over the harness's storage, as a Vault
// process starting on the same data would.
func (h *harness) newBackend() *backend {
	h.t.Helper()
	b := newBackend(h.clock.Now)
	conf := logical.TestBackendConfig()
	conf.StorageView = h.storage
	conf.System = h.sys
	conf.EventsSender = h.events
	conf.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: h.logs})
	if err := b.Setup(context.Background(), conf); err != nil {
		h.t.Fatal(err)
	}
	return b
}

// restart abandons the backend and starts a new one on the same storage,
// initialised as Vault does when a node becomes active, and waits for its
// start-up recovery.
func (h *harness) restart() {
	h.b = h.newBackend()
	if err := h.b.Initialize(context.Background(), &logical.InitializationRequest{Storage: h.storage}); err != nil {
		h.t.Fatal(err)
	}
	select {
	case <-h.b.initDone:
	case <-time.After(time.Minute):
		h.t.Fatal("start-up recovery did not finish")
	}
}

// faultyStorage fails writes (puts and deletes) of keys that fail() picks,
// and tells onGet of every read.
type faultyStorage struct {
	logical.Storage
	mu    sync.Mutex
	fail  func(key string) bool
	onGet func(key string)
}

func (s *faultyStorage) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	s.mu.Lock()
	f := s.onGet
	s.mu.Unlock()
	if f != nil {
		f(key)
	}
	return s.Storage.Get(ctx, key)
}

func (s *faultyStorage) setOnGet(f func(key string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onGet = f
}

var errInjected = errors.New("storage unavailable (injected)")

func (s *faultyStorage) failing(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail != nil && s.fail(key)
}

func (s *faultyStorage) setFail(f func(key string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

func (s *faultyStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if s.failing(e.Key) {
		return errInjected
	}
	return s.Storage.Put(ctx, e)
}

func (s *faultyStorage) Delete(ctx context.Context, key string) error {
	if s.failing(key) {
		return errInjected
	}
	return s.Storage.Delete(ctx, key)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventLog records the events the backend sends.
type eventLog struct {
	mu     sync.Mutex
	events []sentEvent
}

type sentEvent struct {
	Type     string
	Metadata map[string]any
}

func (l *eventLog) SendEvent(_ context.Context, typ logical.EventType, ev *logical.EventData) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, sentEvent{Type: string(typ), Metadata: ev.Metadata.AsMap()})
	return nil
}

func (l *eventLog) all() []sentEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sentEvent(nil), l.events...)
}

func (l *eventLog) texts() []string {
	var out []string
	for _, e := range l.all() {
		raw, _ := json.Marshal(e)
		out = append(out, string(raw))
	}
	return out
}

// do sends a request the way Vault's router would.
func (h *harness) do(op logical.Operation, path string, data map[string]any) (*logical.Response, error) {
	h.t.Helper()
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{
		Operation: op, Path: path, Data: data, Storage: h.storage,
	})
	if resp != nil && err != nil {
		h.t.Fatalf("%s %s returned a response and an error: %v / %v", op, path, resp, err)
	}
	if resp != nil {
		raw, _ := json.Marshal(resp)
		h.seen = append(h.seen, string(raw))
		if code, msg, ok := rawError(resp); ok && code >= 500 {
			// A 5xx answer is an error to its caller, as a Go error
			// (Vault's 500) is: tests of failures see both alike.
			return nil, &gatewayError{code: code, msg: msg}
		}
	}
	if err != nil {
		h.seen = append(h.seen, err.Error())
	}
	return resp, err
}

// ok requires success and returns the response data.
func (h *harness) ok(op logical.Operation, path string, data map[string]any) map[string]any {
	h.t.Helper()
	resp, err := h.do(op, path, data)
	if err != nil || (resp != nil && resp.IsError()) {
		h.t.Fatalf("%s %s: %v %v", op, path, err, resp)
	}
	if resp == nil {
		return nil
	}
	return resp.Data
}

// badRequest requires a 400 whose message contains every part.
func (h *harness) badRequest(op logical.Operation, path string, data map[string]any, parts ...string) string {
	h.t.Helper()
	resp, err := h.do(op, path, data)
	if err != nil {
		h.t.Fatalf("%s %s: want a 400, got error %v", op, path, err)
	}
	if resp == nil || !resp.IsError() {
		h.t.Fatalf("%s %s: want a 400, got %v", op, path, resp)
	}
	msg := resp.Error().Error()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			h.t.Fatalf("%s %s: message %q lacks %q", op, path, msg, p)
		}
	}
	return msg
}

// vendorServer starts a fake on the harness clock with one account and
// returns role fields for it.
func (h *harness) vendorServer(vendor string, opts ...vendortest.Option) (*vendortest.Server, map[string]any) {
	h.t.Helper()
	acct := vendortest.Account{ID: "svc-vault", Secret: hardSecret, Name: "svc-vault", Roles: []string{"api-read"}}
	role := map[string]any{"vendor": vendor, "client_id": "svc-vault", "client_secret": hardSecret}
	switch vendor {
	case "cyberark":
		acct.ID = "svc-vault@cyberark.cloud.1234"
		role["client_id"] = acct.ID
	case "privx":
		acct.OAuthClientID, acct.OAuthClientSecret = "privx-external", "oauth %sec#ret:x"
		role["oauth_client_id"], role["oauth_client_secret"] = acct.OAuthClientID, acct.OAuthClientSecret
	case "oauth2":
		acct.Scopes, acct.Audience = []string{"read", "write"}, "https://api.example.com"
		role["scopes"], role["audience"] = "read,write", "https://api.example.com"
	case "cyberark-pam":
		acct.AuthMethod = "LDAP"
		role["auth_method"] = "ldap"
	}
	opts = append([]vendortest.Option{vendortest.WithClock(h.clock.Now), vendortest.WithAccount(acct)}, opts...)
	srv := vendortest.NewServer(vendor, opts...)
	h.t.Cleanup(srv.Close)
	h.servers = append(h.servers, srv)
	role[urlField(vendor)] = srv.RoleURL()
	role["ca_cert"] = srv.CACert()
	return srv, role
}

func intOf(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(int64)
	if !ok {
		t.Fatalf("%v is %T, not int64", v, v)
	}
	return n
}

var tokenFields = []string{"access_token", "token_type", "authorization", "expires_at", "expires_in", "ttl", "lifetime", "rotation_period", "vendor"}

func TestEveryVendorMintsThroughTheBackend(t *testing.T) {
	for _, vendor := range vendortest.Vendors() {
		t.Run(vendor, func(t *testing.T) {
			h := newHarness(t)
			srv, role := h.vendorServer(vendor)
			role["verify"] = true
			h.ok(logical.CreateOperation, "roles/r", role)

			data := h.ok(logical.ReadOperation, "token/r", nil)
			if len(data) != len(tokenFields) {
				t.Fatalf("token fields %v", data)
			}
			for _, f := range tokenFields {
				if _, ok := data[f]; !ok {
					t.Fatalf("missing %s in %v", f, data)
				}
			}
			if status, err := srv.CallAPI(data["authorization"].(string)); err != nil || status != 200 {
				t.Fatalf("vendor API refused the authorization: %d %v", status, err)
			}
			if data["vendor"] != vendor {
				t.Fatalf("vendor = %v", data["vendor"])
			}
			exp, err := time.Parse(time.RFC3339, data["expires_at"].(string))
			if err != nil || !exp.Equal(h.clock.Now().Add(time.Duration(intOf(t, data["expires_in"]))*time.Second)) {
				t.Fatalf("expires_at %v vs expires_in %v", data["expires_at"], data["expires_in"])
			}
			// verify minted once; the read minted once more.
			if srv.Calls("token") != 2 {
				t.Fatalf("token calls %d", srv.Calls("token"))
			}
			if vendor == "cyberark-pam" {
				if data["authorization"] != data["access_token"] || data["token_type"] != "session" {
					t.Fatalf("pam token must be sent raw: %v", data)
				}
				if intOf(t, data["rotation_period"]) != int64(defaultLifetime.Seconds()) {
					t.Fatalf("pam lifetime %v", data["rotation_period"])
				}
			} else if data["authorization"] != "Bearer "+data["access_token"].(string) {
				t.Fatalf("authorization %v", data["authorization"])
			}
		})
	}
}

func TestRoleCRUDAndPartialUpdate(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("privx")
	h.ok(logical.CreateOperation, "roles/p", role)

	got := h.ok(logical.ReadOperation, "roles/p", nil)
	for k, want := range map[string]any{
		"vendor": "privx", "client_id": "svc-vault", "client_secret_set": true,
		"oauth_client_id": "privx-external", "oauth_client_secret_set": true,
		"refresh_before": int64(60), "token_ttl_cap": int64(0), "last_rotated": "", "next_rotation": "",
	} {
		if got[k] != want {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	for _, k := range []string{"client_secret", "oauth_client_secret"} {
		if _, ok := got[k]; ok {
			t.Errorf("read returned %s", k)
		}
	}

	h.ok(logical.UpdateOperation, "roles/p", map[string]any{"refresh_before": "30s", "token_ttl_cap": "10m"})
	got = h.ok(logical.ReadOperation, "roles/p", nil)
	if got["refresh_before"] != int64(30) || got["token_ttl_cap"] != int64(600) || got["client_id"] != "svc-vault" || got["oauth_client_secret_set"] != true {
		t.Fatalf("partial update lost or missed fields: %v", got)
	}
	// The stored secret survived the partial update: the role still mints.
	h.ok(logical.ReadOperation, "token/p", nil)

	h.ok(logical.CreateOperation, "roles/q", role)
	list := h.ok(logical.ListOperation, "roles/", nil)
	if keys := list["keys"].([]string); len(keys) != 2 || keys[0] != "p" || keys[1] != "q" {
		t.Fatalf("list %v", list)
	}
	h.ok(logical.DeleteOperation, "roles/p", nil)
	// Issue 14: a missing role is the one 404 on read and on token read.
	h.missingRole404(logical.ReadOperation, "p", nil)
	h.statusIs(logical.ReadOperation, "token/p", nil, 404, `role "p" does not exist at vendor/roles/p; list the roles with: vault list vendor/roles`)
}

func TestTokensAreCachedAndRefreshedInsideRefreshBefore(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral") // tokens live 300s
	h.ok(logical.CreateOperation, "roles/c", role)

	first := h.ok(logical.ReadOperation, "token/c", nil)
	if intOf(t, first["rotation_period"]) != 300 || intOf(t, first["expires_in"]) != 300 || intOf(t, first["ttl"]) != 240 {
		t.Fatalf("lifetimes %v", first)
	}
	h.clock.Add(239 * time.Second)
	second := h.ok(logical.ReadOperation, "token/c", nil)
	if second["access_token"] != first["access_token"] || srv.Calls("token") != 1 {
		t.Fatalf("token not reused before refresh_before (calls %d)", srv.Calls("token"))
	}
	if intOf(t, second["ttl"]) != 1 || intOf(t, second["expires_in"]) != 61 {
		t.Fatalf("countdown %v", second)
	}
	h.clock.Add(time.Second) // 60s left: inside refresh_before
	// Handed out at once, with a mint started behind it (refresh ahead).
	stale := h.ok(logical.ReadOperation, "token/c", nil)
	if stale["access_token"] != first["access_token"] || intOf(t, stale["ttl"]) != 0 {
		t.Fatalf("past the refresh point: %v", stale)
	}
	h.b.waitBackground()
	third := h.ok(logical.ReadOperation, "token/c", nil)
	if third["access_token"] == first["access_token"] || srv.Calls("token") != 2 {
		t.Fatalf("token not refreshed inside refresh_before (calls %d)", srv.Calls("token"))
	}
}

func TestShortLifetimeRefreshesAtAThird(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("incydr", vendortest.WithLifetime(30*time.Second))
	h.ok(logical.CreateOperation, "roles/i", role)
	data := h.ok(logical.ReadOperation, "token/i", nil)
	if intOf(t, data["ttl"]) != 20 || intOf(t, data["rotation_period"]) != 30 {
		t.Fatalf("30s token: %v", data)
	}
}

func TestTokenTTLCapAndMinRemaining(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyberark") // 5h tokens
	role["token_ttl_cap"] = "10m"
	h.ok(logical.CreateOperation, "roles/a", role)

	data := h.ok(logical.ReadOperation, "token/a", nil)
	if intOf(t, data["rotation_period"]) != 600 || intOf(t, data["expires_in"]) != 600 {
		t.Fatalf("cap not applied: %v", data)
	}
	h.clock.Add(5 * time.Minute) // 300s left
	again := h.ok(logical.ReadOperation, "token/a", map[string]any{"min_remaining": 200})
	if again["access_token"] != data["access_token"] {
		t.Fatal("min_remaining below the life left forced a mint")
	}
	fresh := h.ok(logical.ReadOperation, "token/a", map[string]any{"min_remaining": "400s"})
	if fresh["access_token"] == data["access_token"] || intOf(t, fresh["expires_in"]) < 400 || srv.Calls("token") != 2 {
		t.Fatalf("min_remaining not honoured: %v (calls %d)", fresh, srv.Calls("token"))
	}
	h.badRequest(logical.ReadOperation, "token/a", map[string]any{"min_remaining": "1h"}, "min_remaining", "cannot be met", "live 10m ")
	h.badRequest(logical.ReadOperation, "token/a", map[string]any{"min_remaining": "soon"}, "min_remaining")
}

func TestPAMSessionLifetimeComesFromTokenTTLCap(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyberark-pam")
	role["token_ttl_cap"] = "15m"
	h.ok(logical.CreateOperation, "roles/pam", role)
	data := h.ok(logical.ReadOperation, "token/pam", nil)
	if intOf(t, data["rotation_period"]) != 900 || intOf(t, data["ttl"]) != 840 {
		t.Fatalf("pam lifetime %v", data)
	}
}

func TestConcurrentColdReadsMakeOneVendorCall(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("privx")
	h.ok(logical.CreateOperation, "roles/p", role)
	// Hold the one mint open so every reader arrives while it is in flight.
	srv.Inject("token", vendortest.Fault{Delay: 200 * time.Millisecond})

	const readers = 200
	var wg sync.WaitGroup
	tokens := make([]string, readers)
	errs := make(chan error, readers)
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.b.HandleRequest(context.Background(), &logical.Request{
				Operation: logical.ReadOperation, Path: "token/p", Storage: h.storage,
			})
			if err != nil || resp.IsError() {
				errs <- err
				return
			}
			tokens[i] = resp.Data["access_token"].(string)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("read failed: %v", err)
	}
	if n := srv.Calls("token"); n != 1 {
		t.Fatalf("%d concurrent cold reads made %d vendor calls, want 1", readers, n)
	}
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Fatal("readers got different tokens")
		}
	}
}

func TestSlowVendorBehindOneRoleDoesNotDelayAnother(t *testing.T) {
	h := newHarness(t)
	slow, roleA := h.vendorServer("cyral")
	_, roleB := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/a", roleA)
	h.ok(logical.CreateOperation, "roles/b", roleB)

	release := make(chan struct{})
	releaseA := sync.OnceFunc(func() { close(release) })
	slow.Inject("token", vendortest.Fault{Hold: release})
	aDone := make(chan struct{})
	var aResp *logical.Response
	var aErr error
	go func() {
		defer close(aDone)
		aResp, aErr = h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "token/a", Storage: h.storage})
	}()
	// Registered after the servers, so it runs before they close: however
	// the test ends, A's held call is let go (a server's Close waits for it)
	// and A's read is over before the harness looks at what was said.
	t.Cleanup(func() {
		releaseA()
		select {
		case <-aDone:
		case <-time.After(30 * time.Second):
			t.Error("role A's read did not end after its vendor call was released")
		}
	})
	// Wait until A's mint is at the vendor, then read B.
	for i := 0; slow.Calls("token") == 0; i++ {
		select {
		case <-aDone:
			t.Fatalf("role A's read ended before its vendor answered: %v %v", aResp, aErr)
		default:
		}
		if i > 500 {
			t.Fatal("role A never reached its vendor")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.ok(logical.ReadOperation, "token/b", nil)
	select {
	case <-aDone:
		t.Fatal("role A finished before B: the slow vendor was not slow")
	default:
	}
	releaseA()
	<-aDone
	if aErr != nil || aResp == nil || aResp.IsError() || aResp.Data["access_token"] == "" {
		t.Fatalf("role A, once its vendor answered: %v %v", aResp, aErr)
	}
}

func TestUpdateAndDeleteDropTheCachedToken(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("incydr")
	h.ok(logical.CreateOperation, "roles/i", role)
	first := h.ok(logical.ReadOperation, "token/i", nil)
	h.ok(logical.UpdateOperation, "roles/i", map[string]any{"refresh_before": 30})
	second := h.ok(logical.ReadOperation, "token/i", nil)
	if second["access_token"] == first["access_token"] || srv.Calls("token") != 2 {
		t.Fatal("update kept the cached token")
	}
	if intOf(t, second["ttl"]) != 870 {
		t.Fatalf("new refresh_before not applied: %v", second)
	}
	h.ok(logical.DeleteOperation, "roles/i", nil)
	h.ok(logical.CreateOperation, "roles/i", role)
	third := h.ok(logical.ReadOperation, "token/i", nil)
	if third["access_token"] == second["access_token"] {
		t.Fatal("delete kept the cached token")
	}
	// Invalidation from another node does the same.
	h.b.invalidate(context.Background(), "role/i")
	fourth := h.ok(logical.ReadOperation, "token/i", nil)
	if fourth["access_token"] == third["access_token"] {
		t.Fatal("invalidate kept the cached token")
	}
}

func TestVendorFailures(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)

	// A 5xx with nothing cached is an error (a 5xx), naming vendor and class.
	srv.Inject("token", vendortest.Fault{Status: 503, Body: `{"error":"temporarily_unavailable","error_description":"maintenance"}`})
	_, err := h.do(logical.ReadOperation, "token/c", nil)
	if err == nil || !strings.Contains(err.Error(), "HTTP 502: cyral token request to ") || !strings.Contains(err.Error(), "answered HTTP 503 (a server error)") || !strings.Contains(err.Error(), "maintenance") {
		t.Fatalf("5xx: %v", err)
	}
	// A logon answered with a 5xx is held back for a second (the vendor
	// may have counted it as a failed logon).
	h.clock.Add(unavailableMin)
	srv.Inject("token", vendortest.Fault{Body: `{"access_token":`})
	if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil || !strings.Contains(err.Error(), "could not be used") {
		t.Fatalf("truncated JSON: %v", err)
	}
	// Past the role's backoff after that second failure.
	h.clock.Add(2 * mintBackoffMin)
	srv.Inject("token", vendortest.Fault{Status: 429, RetryAfter: "30"})
	if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil || !strings.Contains(err.Error(), "HTTP 429 (too many requests)") || !strings.Contains(err.Error(), "retry after 30s") {
		t.Fatalf("429: %v", err)
	}

	// Stale-while-error: a cached token inside its refresh window is still
	// handed out, with a warning, while the vendor fails.
	h.clock.Add(30 * time.Second) // the Retry-After the vendor asked for
	good := h.ok(logical.ReadOperation, "token/c", nil)
	h.clock.Add(250 * time.Second)
	srv.Inject("token", vendortest.Fault{Status: 500, Body: "boom", Times: -1})
	// The first read past the refresh point gets the token at once and
	// starts the mint that fails; the reads after it are warned.
	if first := h.ok(logical.ReadOperation, "token/c", nil); first["access_token"] != good["access_token"] {
		t.Fatalf("past the refresh point: %v", first)
	}
	h.b.waitBackground()
	resp, err := h.do(logical.ReadOperation, "token/c", nil)
	if err != nil || resp.IsError() || resp.Data["access_token"] != good["access_token"] || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "cached token") {
		t.Fatalf("stale-while-error: %v %v", resp, err)
	}
	if intOf(t, resp.Data["ttl"]) != 0 || intOf(t, resp.Data["expires_in"]) != 50 {
		t.Fatalf("stale token countdown %v", resp.Data)
	}
	h.clock.Add(60 * time.Second) // expired
	if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil || !strings.Contains(err.Error(), "(a server error)") {
		t.Fatalf("after expiry: %v", err)
	}
	srv.ClearFaults()

	// A refusal is a 400 quoting the vendor.
	h.ok(logical.UpdateOperation, "roles/c", map[string]any{"client_secret": "wrong secret"})
	h.badRequest(logical.ReadOperation, "token/c", nil, "cyral refused the token request: HTTP 401 unauthorized_client: Invalid client or Invalid client credentials")
}

func TestVerifyRefusesToSaveBadCredentials(t *testing.T) {
	for _, vendor := range vendortest.Vendors() {
		t.Run(vendor, func(t *testing.T) {
			h := newHarness(t)
			_, role := h.vendorServer(vendor)
			role["client_secret"] = "not the secret"
			role["verify"] = true
			h.badRequest(logical.CreateOperation, "roles/v", role, "verify failed, role not saved", vendor+" refused")
			if r, _ := getRole(context.Background(), h.storage, "v"); r != nil {
				t.Fatal("role saved despite failed verify")
			}
		})
	}
	h := newHarness(t)
	_, role := h.vendorServer("oauth2")
	role["verify"] = true
	role["scopes"] = "admin"
	h.badRequest(logical.CreateOperation, "roles/v", role, "oauth2 refused", "invalid_scope", "scope admin is not allowed")
}

func TestBadRoleInputIsA400NamingTheField(t *testing.T) {
	h := newHarness(t)
	_, good := h.vendorServer("cyral")
	_, privx := h.vendorServer("privx")
	with := withFields
	cases := []struct {
		name  string
		data  map[string]any
		parts []string
	}{
		{"unknown field", with(good, "client_secrett", "x"), []string{"unknown field", "client_secrett"}},
		{"missing vendor", with(good, "vendor", nil), []string{"vendor is required"}},
		{"unknown vendor", with(good, "vendor", "okta"), []string{"vendor", "okta"}},
		{"missing base_url", with(good, "base_url", nil), []string{"base_url is required"}},
		{"not a URL", with(good, "base_url", "://x"), []string{"base_url", "not a valid URL"}},
		{"ftp URL", with(good, "base_url", "ftp://cyral.example.com"), []string{"base_url", "https://"}},
		{"userinfo", with(good, "base_url", "https://u:p@cyral.example.com"), []string{"base_url", "user:password@"}},
		{"fragment", with(good, "base_url", "https://cyral.example.com/#x"), []string{"base_url", "fragment"}},
		{"query", with(good, "base_url", "https://cyral.example.com/?a=b"), []string{"base_url", "query"}},
		{"plain http", with(good, "base_url", "http://cyral.example.com"), []string{"base_url", "allow_http"}},
		{"token_url for cyral", with(good, "token_url", "https://x.example.com/t"), []string{"token_url", "base_url instead"}},
		{"missing client_id", with(good, "client_id", nil), []string{"client_id is required"}},
		{"empty client_secret", with(good, "client_secret", ""), []string{"client_secret is required"}},
		{"bad ca_cert", with(good, "ca_cert", "not a pem"), []string{"ca_cert", "PEM"}},
		{"scopes on cyral", with(good, "scopes", "a"), []string{"scopes", "does not apply to vendor cyral"}},
		{"negative cap", with(good, "token_ttl_cap", -5), []string{"token_ttl_cap", "negative"}},
		{"tiny cap", with(good, "token_ttl_cap", 3), []string{"token_ttl_cap", "10s"}},
		{"refresh over cap", with(good, "token_ttl_cap", 60, "refresh_before", 60), []string{"refresh_before", "token_ttl_cap"}},
		{"rotation self", with(good, "rotation_role", "r"), []string{"rotation_role", "another role"}},
		{"oversized client_id", with(good, "client_id", strings.Repeat("a", 5000)), []string{"client_id", "longer than"}},
		{"bad duration type", with(good, "refresh_before", "soon"), []string{"refresh_before"}},
		{"privx without oauth id", with(privx, "oauth_client_id", nil), []string{"oauth_client_id is required"}},
		{"privx without oauth secret", with(privx, "oauth_client_secret", nil), []string{"oauth_client_secret is required"}},
		{"cyberark id without suffix", with(good, "vendor", "cyberark"), []string{"client_id", "user@suffix"}},
		{"pam with /PasswordVault", with(good, "vendor", "cyberark-pam", "base_url", "https://pvwa.example.com/PasswordVault"), []string{"base_url", "without /PasswordVault"}},
		{"pam bad method", with(good, "vendor", "cyberark-pam", "auth_method", "kerberos"), []string{"auth_method"}},
		{"oauth2 with base_url", with(good, "vendor", "oauth2"), []string{"base_url", "token_url instead"}},
		{"oauth2 bad auth_style", with(good, "vendor", "oauth2", "base_url", nil, "token_url", "https://as.example.com/token", "auth_style", "header"), []string{"auth_style"}},
		{"oauth2 reserved param", with(good, "vendor", "oauth2", "base_url", nil, "token_url", "https://as.example.com/token", "token_params", map[string]any{"grant_type": "password"}), []string{"token_params", "grant_type"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.badRequest(logical.CreateOperation, "roles/r", tc.data, tc.parts...)
			if r, _ := getRole(context.Background(), h.storage, "r"); r != nil {
				t.Fatal("a refused write was stored")
			}
		})
	}
	// A refused update leaves the stored role as it was.
	h.ok(logical.CreateOperation, "roles/r", good)
	before, _ := getRole(context.Background(), h.storage, "r")
	h.badRequest(logical.UpdateOperation, "roles/r", map[string]any{"base_url": "http://evil.example.com"}, "base_url")
	after, _ := getRole(context.Background(), h.storage, "r")
	if after.URL != before.URL {
		t.Fatal("refused update changed the role")
	}
}

func TestConfigPolicy(t *testing.T) {
	h := newHarness(t)
	got := h.ok(logical.ReadOperation, "config", nil)
	if got["allow_http"] != false || got["request_timeout"] != int64(10) || got["max_retries"] != 2 || len(got["allowed_hosts"].([]string)) != 0 {
		t.Fatalf("defaults %v", got)
	}
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "https://x.com"}, "allowed_hosts")
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.*"}, "allowed_hosts")
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "a*.com"}, "allowed_hosts")
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"max_retries": 99}, "max_retries")
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"request_timeout": "0s"}, "request_timeout")
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"retries": 1}, "unknown field", "retries")

	_, role := h.vendorServer("incydr")
	h.ok(logical.CreateOperation, "roles/i", role)
	h.ok(logical.ReadOperation, "token/i", nil)

	// Tightening allowed_hosts (forced past the check of existing roles)
	// stops a role that no longer matches, at use.
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "api.*.code42.com", "force": true})
	h.badRequest(logical.ReadOperation, "token/i", nil, "base_url", "allowed_hosts")
	h.badRequest(logical.CreateOperation, "roles/j", role, "base_url", "not in config allowed_hosts")
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "127.0.0.1"})
	h.ok(logical.ReadOperation, "token/i", nil)

	// Plain http needs allow_http.
	plain := vendortest.NewPlainServer("incydr", vendortest.WithAccount(vendortest.Account{ID: "svc-vault", Secret: hardSecret}))
	defer plain.Close()
	role["base_url"], role["ca_cert"] = plain.URL, ""
	h.badRequest(logical.CreateOperation, "roles/plain", role, "base_url", "allow_http")
	h.ok(logical.UpdateOperation, "config", map[string]any{"allow_http": true})
	h.ok(logical.CreateOperation, "roles/plain", role)
	h.ok(logical.ReadOperation, "token/plain", nil)

	h.ok(logical.DeleteOperation, "config", map[string]any{"force": true})
	h.badRequest(logical.ReadOperation, "token/plain", nil, "allow_http")
}

func TestHostPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"*.cyral.com", "acme.cyral.com", true},
		{"*.cyral.com", "cyral.com", false},
		{"*.cyral.com", "a.b.cyral.com", false},
		{"api.*.code42.com", "api.us2.code42.com", true},
		{"api.*.code42.com", "api.code42.com", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"privx.example.com", "PrivX.Example.com.", true},
	} {
		if got := hostAllowed([]string{tc.pattern}, tc.host); got != tc.want {
			t.Errorf("%s ~ %s = %v", tc.pattern, tc.host, got)
		}
	}
}

// Roles that trust the same CA share one transport: reading twenty cold
// roles one after another opens one connection to the vendor, not twenty.
func TestRolesShareConnections(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral")
	for i := range 20 {
		h.ok(logical.CreateOperation, fmt.Sprintf("roles/r%d", i), role)
	}
	for i := range 20 {
		h.ok(logical.ReadOperation, fmt.Sprintf("token/r%d", i), nil)
	}
	if srv.Calls("token") != 20 || srv.Conns() != 1 {
		t.Fatalf("%d mints over %d connections", srv.Calls("token"), srv.Conns())
	}
	// A config change (new timeouts) starts afresh, and still shares.
	h.ok(logical.UpdateOperation, "config", map[string]any{"request_timeout": "5s"})
	for i := range 20 {
		h.ok(logical.ReadOperation, fmt.Sprintf("token/r%d", i), nil)
	}
	if srv.Conns() != 2 {
		t.Fatalf("%d connections after the config change", srv.Conns())
	}
}

// withFields copies base with the key/value pairs kv set; a nil value
// removes its key.
func withFields(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}
