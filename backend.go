// Package vendor is a Vault secrets engine that keeps vendors' API client
// credentials and hands out short-lived bearer tokens minted with them.
package vendor

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/errutil"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/singleflight"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Version is the plugin's version, set at build time through -ldflags.
var Version = "v0.0.0-dev"

// backendHelp is the mount's path-help, written from the vendors' declarations (help.go).
var backendHelp = backendHelpText()

// Factory returns a configured backend.
func Factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := newBackend(time.Now)
	b.refreshTimers = true
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

// backend holds per-role state in memory so that a cached token read touches
// neither storage nor a shared lock.
type backend struct {
	*framework.Backend
	now func() time.Time

	roles sync.Map // role name -> *roleState

	// fillMu orders cache fills against invalidations: a fill that read
	// storage before an invalidation must not publish what it read.
	fillMu sync.Mutex
	epoch  atomic.Uint64

	cfg atomic.Pointer[configEntry]
	// hostsMu orders role saves (shared) against config writes and deletes
	// (exclusive): a config write's scan must see every role saved under
	// the config it replaces, or a role saved during the scan is stranded.
	hostsMu sync.RWMutex

	// https holds one HTTP client per trusted CA and config (httpKey), shared
	// by every role that has them: ten thousand roles of one vendor then
	// hold a few connections and one parsed CA, and a new role needs no TLS
	// handshake.
	https sync.Map

	// locks serialise rotation, its recovery and role writes per role.
	locks []*locksutil.LockEntry
	// unsaved holds a vendor-made secret whose storing failed (role name ->
	// *pendingSecret), so this node still mints until recovery stores it.
	unsaved sync.Map
	// schedule is the due queue of scheduled rotations; periodicErrors
	// counts the failures of the periodic work (each is also logged).
	schedule       schedule
	periodicErrors atomic.Uint64
	// rotationHook, in tests, is called after each rotation stage; an
	// error stops the rotation there as a crash would.
	rotationHook func(role, stage string) error
	// guards hold each vendor account's failed logons (guardKey ->
	// *logonGuard), and fpKey keys the fingerprints they remember.
	guards sync.Map
	fpKey  [32]byte
	// retiredKeyMu serialises the making of the retired secrets' HMAC key.
	retiredKeyMu sync.Mutex
	// initDone closes when start-up recovery has finished; stopInit ends it.
	initDone chan struct{}
	stopInit context.CancelFunc
	// inputRoutes finds a request's path before the framework does.
	inputRoutes []inputRoute
	// metrics counts mints, token reads and rotations (metrics.go).
	metrics *metrics
	// Background mints (refresh.go): bgSem bounds how many run at once,
	// bgCtx ends them on Clean, bgWG counts them; rand draws jitter;
	// refreshTimers queues each read token's background moment on refreshQ, one
	// timer for the mount (Factory sets it; tests on an injected clock call refreshDue).
	bgSem         chan struct{}
	bgCtx         context.Context
	bgStop        context.CancelFunc
	bgWG          sync.WaitGroup
	rand          func() float64
	refreshTimers bool
	refreshQ      refreshQueue
}

// roleState is a role as the read path needs it: the entry, its transport,
// its cached token and its own single-flight group, so a slow vendor behind
// one role never holds up another.
type roleState struct {
	name   string
	role   *roleEntry
	vendor client.Vendor
	http   *client.HTTP
	tok    atomic.Pointer[cachedToken]
	flight singleflight.Group
	// life is what the last mint showed of the role's token lifetime.
	life atomic.Pointer[lifeNote]
	// warnedAt (unix ns) and unwarned throttle the log of failed mints.
	warnedAt atomic.Int64
	unwarned atomic.Int64
	// bg is set while a background mint of the role runs (refresh.go).
	bg atomic.Bool
	// mu guards the mint memory, lastOK and dropped. The memory exists
	// only after a failed mint: most roles never need one. lastOK (unix
	// ns) is when the last successful attempt began.
	mu     sync.Mutex
	memory *mintMemory
	lastOK int64
	// dropped: the state was forgotten (role written, deleted or
	// invalidated, backend cleaned); nothing it does is scheduled again.
	dropped bool
}

func newBackend(now func() time.Time) *backend {
	b := &backend{now: now, locks: locksutil.CreateLocks(), fpKey: newFingerprintKey(), metrics: newMetrics(),
		bgSem: make(chan struct{}, maxBackgroundMints), rand: defaultRand}
	b.bgCtx, b.bgStop = context.WithCancel(context.Background())
	b.metrics.cached = b.countCached
	b.Backend = &framework.Backend{
		Help:        strings.TrimSpace(backendHelp),
		BackendType: logical.TypeLogical,
		PathsSpecial: &logical.Paths{
			SealWrapStorage: []string{configStorageKey, roleStoragePrefix, retiredKeyStorageKey},
			// A rotation's WAL entry belongs to the cluster that began the
			// rotation: replicated, it would be rolled back a second time
			// on another cluster, against the same vendor account.
			LocalStorage: []string{framework.WALPrefix},
		},
		Paths: framework.PathAppend(
			pathConfig(b),
			pathRoles(b),
			pathToken(b),
			pathRotate(b),
			pathMetrics(b),
		),
		Invalidate:        b.invalidate,
		Clean:             b.clean,
		InitializeFunc:    b.initialize,
		PeriodicFunc:      b.periodic,
		WALRollback:       b.walRollback,
		WALRollbackMinAge: walRollbackMinAge,
		RunningVersion:    Version,
	}
	b.inputRoutes = inputRoutes(b.Backend.Paths)
	return b
}

// invalidate drops in-memory state when another node (or a replication
// stream) changes storage underneath us.
func (b *backend) invalidate(_ context.Context, key string) {
	switch {
	case key == configStorageKey:
		b.dropAll()
	case strings.HasPrefix(key, roleStoragePrefix):
		name := strings.TrimPrefix(key, roleStoragePrefix)
		b.dropRole(name)
		b.schedule.invalidate(name)
	}
}

func (b *backend) clean(context.Context) {
	if b.stopInit != nil {
		b.stopInit()
	}
	b.bgStop()
	b.refreshQ.stop()
	b.dropAll()
}

// dropRole forgets a role's state and cached token.
func (b *backend) dropRole(name string) {
	b.fillMu.Lock()
	defer b.fillMu.Unlock()
	b.epoch.Add(1)
	if v, ok := b.roles.LoadAndDelete(name); ok {
		b.retireState(v.(*roleState))
	}
}

// dropAll forgets the config and every role (config shapes every transport).
func (b *backend) dropAll() {
	b.fillMu.Lock()
	defer b.fillMu.Unlock()
	b.epoch.Add(1)
	b.cfg.Store(nil)
	b.roles.Range(func(k, v any) bool {
		if b.roles.CompareAndDelete(k, v) {
			b.retireState(v.(*roleState))
		}
		return true
	})
	// Timeouts, retries or host policy may have changed: later roles get
	// new clients.
	b.https.Range(func(k, v any) bool {
		b.https.Delete(k)
		v.(*client.HTTP).CloseIdle()
		return true
	})
}

// roleState returns the role's in-memory state, loading it from storage on
// a miss. It returns nil when the role does not exist.
func (b *backend) roleState(ctx context.Context, s logical.Storage, name string) (*roleState, error) {
	if v, ok := b.roles.Load(name); ok {
		return v.(*roleState), nil
	}
	epoch := b.epoch.Load()
	role, err := getRole(ctx, s, name)
	if err != nil || role == nil {
		return nil, err
	}
	cfg, err := b.config(ctx, s)
	if err != nil {
		return nil, err
	}
	st, err := b.newRoleState(name, role, cfg)
	if err != nil {
		return nil, err
	}
	b.fillMu.Lock()
	defer b.fillMu.Unlock()
	if b.epoch.Load() != epoch {
		// Storage changed while we read it; serve this read, cache nothing.
		b.retireState(st)
		return st, nil
	}
	actual, _ := b.roles.LoadOrStore(name, st)
	return actual.(*roleState), nil
}

// remember caches a role just written, so that its first read needs no
// storage round trip. It does nothing if the config changed meanwhile: the
// role's client must follow the config in force.
func (b *backend) remember(name string, role *roleEntry, cfg *configEntry) {
	st, err := b.newRoleState(name, role, cfg)
	if err != nil {
		return
	}
	b.fillMu.Lock()
	defer b.fillMu.Unlock()
	if b.cfg.Load() == cfg {
		// A read that got here first may already be minting: keep its state.
		b.roles.LoadOrStore(name, st)
	}
}

// HandleRequest answers a request for a role path whose name the paths do
// not take (empty, with '/', '..', spaces) with a 400 that names the field,
// where the framework would say "unsupported path". Doing it here, not as
// a catch-all path, leaves the OpenAPI document as the real paths make it.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if msg := b.refuseInput(req); msg != "" {
		return logical.ErrorResponse(msg), nil
	}
	resp, err := b.Backend.HandleRequest(ctx, req)
	if req.WrapInfo != nil && req.WrapInfo.TTL > 0 {
		resp, err = unwrappable(resp, err)
	}
	if errors.Is(err, logical.ErrUnsupportedPath) {
		for _, prefix := range namedPaths {
			if name, ok := strings.CutPrefix(req.Path, prefix); ok {
				return nameRefusal(name), nil
			}
		}
	}
	return resp, err
}

// HandleExistenceCheck, which Vault runs before a write, refuses what
// HandleRequest would: the framework's own answer would quote a wrongly
// typed secret.
func (b *backend) HandleExistenceCheck(ctx context.Context, req *logical.Request) (bool, bool, error) {
	if msg := b.refuseInput(req); msg != "" {
		return false, false, errutil.UserError{Err: msg}
	}
	return b.Backend.HandleExistenceCheck(ctx, req)
}

// namedPaths are the path prefixes followed by a role's name.
var namedPaths = []string{"roles/", "token/", "rotate-role/"}

// nameRefusal is the 400 for an empty or invalid role name.
func nameRefusal(name string) *logical.Response {
	return logical.ErrorResponse(nameRefusalText(name))
}

func nameRefusalText(name string) string {
	if name == "" {
		return "name is required: give the role's name after the slash, as in roles/<name>"
	}
	return fmt.Sprintf("name %q is not a valid role name: use letters, digits, '-', '_' and '.' (never two dots together), starting and ending with a letter or digit", clipText(name, 100))
}

// pruneClients forgets the shared HTTP clients that no cached role uses:
// those of CAs that were replaced, of deleted roles and of verify runs.
func (b *backend) pruneClients() {
	inUse := map[*client.HTTP]bool{}
	b.roles.Range(func(_, v any) bool {
		inUse[v.(*roleState).http] = true
		return true
	})
	b.https.Range(func(k, v any) bool {
		if h := v.(*client.HTTP); !inUse[h] {
			b.https.Delete(k)
			h.CloseIdle()
		}
		return true
	})
}

func (b *backend) keepUnsaved(name string, p *pendingSecret) { b.unsaved.Store(name, p) }
func (b *backend) forgetUnsaved(name string)                 { b.unsaved.Delete(name) }

func (b *backend) unsavedFor(name string) *pendingSecret {
	if v, ok := b.unsaved.Load(name); ok {
		return v.(*pendingSecret)
	}
	return nil
}

func (b *backend) newRoleState(name string, role *roleEntry, cfg *configEntry) (*roleState, error) {
	v, ok := client.Lookup(role.Vendor)
	if !ok {
		return nil, &inputError{Field: "vendor", Msg: "names an unknown vendor " + role.Vendor}
	}
	h, err := b.newHTTP(role, cfg)
	if err != nil {
		return nil, err
	}
	// Keep one copy of the CA per client, not one per role.
	if role.CACert == h.CACert() {
		role.CACert = h.CACert()
	}
	return &roleState{name: name, role: role, vendor: v, http: h}, nil
}

// httpKey names a shareable HTTP client: the CA it trusts, the config
// (itself, not its contents: a config change makes a new one) and the role
// field its URLs come from, which host policy errors name.
type httpKey struct {
	ca    [sha256.Size]byte
	cfg   *configEntry
	field string
}

// newHTTP returns the HTTP client for the role's CA under cfg, shared.
func (b *backend) newHTTP(role *roleEntry, cfg *configEntry) (*client.HTTP, error) {
	field := urlField(role.Vendor)
	key := httpKey{ca: sha256.Sum256([]byte(role.CACert)), cfg: cfg, field: field}
	if v, ok := b.https.Load(key); ok {
		return v.(*client.HTTP), nil
	}
	h, err := client.NewHTTP(client.Options{
		Timeout:    cfg.RequestTimeout,
		MaxRetries: cfg.MaxRetries,
		CACertPEM:  role.CACert,
		UserAgent:  "vault-plugin-secrets-vendor/" + Version,
		CheckURL:   cfg.urlChecker(field),
		Now:        b.now,
	})
	if err != nil {
		return nil, err
	}
	v, _ := b.https.LoadOrStore(key, h)
	return v.(*client.HTTP), nil
}
