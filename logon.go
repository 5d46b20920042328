package vendor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Many vendors (directory-backed ones above all) suspend an
// account after a handful of failed logons. Every logon the plugin makes
// with a role's credentials (token reads, the pending-secret fallback,
// rotation proofs, recovery and rollback) goes through the account's guard,
// so that no read rate can lock the account:
//
//   - a credential the vendor refused is not offered again for
//     refusalMemory; callers get the remembered refusal at once;
//   - the account sees at most maxFailedLogons failed logons in any
//     failedLogonWindow, whatever their cause; the last of them is kept
//     for the credential that last worked (or that the vendor accepted in
//     a rotation), so a stale role sharing the account, or a writer of
//     another role guessing, cannot keep a working one down;
//   - a logon answered with a 5xx holds that credential back for a
//     doubling backoff, 1 s to 5 min; for a directory-backed vendor
//     (client.DirectoryLogon) it also counts as a failed logon, since
//     such vendors may answer a bad password so (a long outage of one
//     therefore spends the hour's failed logons too; cached tokens carry
//     readers). Elsewhere a 5xx is an outage, and the vendor is tried again
//     every 5 min at most until it answers;
//   - a role write, a finished rotation or verify=true forgets the
//     refusals, since they bring credentials to try, but never the count.
//
// The guard lives in the memory of one Vault node: a restart, a plugin
// reload or another node serving reads starts with none.
const (
	refusalMemory     = 10 * time.Minute
	failedLogonWindow = time.Hour
	maxFailedLogons   = 6
	// mintWarnEvery bounds the log lines one role's failing reads write.
	mintWarnEvery = time.Minute
	// Backoff after a logon answered with a 5xx.
	unavailableMin = time.Second
	unavailableMax = 5 * time.Minute
)

// logonGuard is the memory of one vendor account (vendor, address and
// client id): roles that share an account share its guard.
type logonGuard struct {
	// turn lets one logon of the account run at a time, so that two
	// callers cannot both spend the last failed logon the window allows.
	turn chan struct{}

	mu       sync.Mutex
	refused  map[[sha256.Size]byte]refusal
	failures []time.Time // refused logons inside the window, oldest first
	worked   [sha256.Size]byte
	lastUsed time.Time
	// down holds credentials whose last logon got a 5xx, until a backoff.
	down map[[sha256.Size]byte]outage
}

type refusal struct {
	at  time.Time
	err error
}

type outage struct {
	until time.Time
	n     int
	err   error
}

// errLogonHeld is the answer, without a vendor call, to a logon the guard
// holds back. It is the caller's to fix (a 400), but it is not the vendor's
// refusal: rotation must not decide anything from it.
type errLogonHeld struct {
	until  time.Time
	reason string
}

func (e *errLogonHeld) Error() string {
	return fmt.Sprintf("%s; to keep the vendor from locking the account, no logon with credentials not known to work is tried before %s",
		e.reason, e.until.UTC().Format(time.RFC3339))
}

// errLogonDown is the answer, without a vendor call, to a logon of a
// credential whose last logon got a 5xx, until the guard's backoff ends.
// It wraps that 5xx (Vault answers as it did), but the vendor was not
// called: the metrics count it as held, and a role's backoff waits for
// the guard's without counting it as another failure.
type errLogonDown struct {
	err   error
	until time.Time
}

func (e *errLogonDown) Error() string {
	return fmt.Sprintf("%v (the last logon got no answer it could use; the next is not tried before %s)", e.err, e.until.UTC().Format(time.RFC3339))
}

func (e *errLogonDown) Unwrap() error { return e.err }

// guardKey names the account whose logons a guard counts, however its
// roles spell it: user names compare without case (directory-backed
// vendors' do), and an address is its scheme and host with any default port.
func guardKey(vendor string, c client.Creds) string {
	return vendor + "\x00" + accountOrigin(c.BaseURL) + "\x00" + strings.ToLower(c.ClientID)
}

func accountOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return strings.ToLower(raw)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if name, addr, err := normalHost(host); err == nil && name != "" {
		host = name
	} else if err == nil && addr.IsValid() {
		host = addr.String()
	}
	port := u.Port()
	if p, err := strconv.Atoi(port); err == nil {
		port = strconv.Itoa(p) // as dialled: 0443 is 443
	}
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return strings.ToLower(u.Scheme) + "://" + host
}

func (b *backend) guard(vendor string, c client.Creds) *logonGuard {
	key := guardKey(vendor, c)
	if v, ok := b.guards.Load(key); ok {
		return v.(*logonGuard)
	}
	v, _ := b.guards.LoadOrStore(key, &logonGuard{turn: make(chan struct{}, 1), refused: map[[sha256.Size]byte]refusal{}, down: map[[sha256.Size]byte]outage{}})
	return v.(*logonGuard)
}

// fingerprint names one credential in memory without holding it: a keyed
// hash under a key that lives only in this process.
func (b *backend) fingerprint(vendor string, c client.Creds) [sha256.Size]byte {
	m := hmac.New(sha256.New, b.fpKey[:])
	parts := []string{guardKey(vendor, c), c.ClientSecret}
	for _, name := range c.Fields.Names() {
		parts = append(parts, name, fmt.Sprintf("%q", c.Fields[name]))
	}
	for _, part := range parts {
		fmt.Fprintf(m, "%d:%s;", len(part), part)
	}
	var fp [sha256.Size]byte
	copy(fp[:], m.Sum(nil))
	return fp
}

func newFingerprintKey() [32]byte {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return k
}

// logon runs call, a logon with c, unless the guard holds it back, and
// records how the vendor answered. Only an outright refusal counts as a
// failed logon; a vendor that could not be reached said nothing.
func (b *backend) logon(ctx context.Context, vendor string, c client.Creds, call func(context.Context) error) error {
	g := b.guard(vendor, c)
	fp := b.fingerprint(vendor, c)
	// What the guard remembers is answered at once, without waiting for
	// another logon of the account to end.
	if err := b.held(g, vendor, c.ClientID, fp); err != nil {
		return err
	}
	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.turn }()
	// The logon that held the turn may have changed what is remembered.
	if err := b.held(g, vendor, c.ClientID, fp); err != nil {
		return err
	}

	err := call(ctx)

	g.mu.Lock()
	defer g.mu.Unlock()
	at := b.now()
	switch {
	case err == nil:
		delete(g.refused, fp)
		delete(g.down, fp)
		g.worked = fp
	case vendorRefused(err):
		delete(g.down, fp)
		g.refused[fp] = refusal{at: at, err: err}
		g.failures = append(g.failures, at)
	case isServerError(err):
		o := g.down[fp]
		wait := min(unavailableMin<<min(o.n, 20), unavailableMax)
		g.down[fp] = outage{until: at.Add(wait), n: o.n + 1, err: err}
		// Even for the working credential, where a directory may
		// answer a changed secret with a 5xx: nothing tells that apart
		// from an outage.
		if v, ok := client.Lookup(vendor); ok && client.ServerErrorMayBeFailedLogon(v) {
			g.failures = append(g.failures, at)
		}
	}
	return err
}

// held returns why the guard holds a logon with fingerprint fp back, or nil.
func (b *backend) held(g *logonGuard, vendor, clientID string, fp [sha256.Size]byte) error {
	now := b.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastUsed = now
	if r, ok := g.refused[fp]; ok && now.Sub(r.at) < refusalMemory {
		return &errLogonHeld{until: r.at.Add(refusalMemory), reason: fmt.Sprintf("these credentials were refused at %s: %v", r.at.UTC().Format(time.RFC3339), r.err)}
	}
	if o, ok := g.down[fp]; ok && now.Before(o.until) {
		return &errLogonDown{err: o.err, until: o.until}
	}
	g.prune(now)
	return g.spent(vendor, clientID, g.worked == fp)
}

// accepted records that the vendor took c in a rotation (it set, made or
// handed out that secret): it is the account's working credential now,
// though no logon has proved it yet.
func (b *backend) accepted(vendor string, c client.Creds) {
	g := b.guard(vendor, c)
	fp := b.fingerprint(vendor, c)
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.refused, fp)
	delete(g.down, fp)
	g.worked = fp
}

// isServerError: the vendor answered a logon with a 5xx, which it may
// have counted as a failed logon.
func isServerError(err error) bool {
	var ue *client.UnavailableError
	return errors.As(err, &ue) && ue.Status >= 500
}

// spent returns an *errLogonHeld when the account may not risk another
// failed logon: the window is full, or holds all but the one kept for the
// credential that last worked.
func (g *logonGuard) spent(vendor, clientID string, workedLast bool) error {
	limit := maxFailedLogons - 1
	if workedLast {
		limit = maxFailedLogons
	}
	if len(g.failures) < limit {
		return nil
	}
	return &errLogonHeld{until: g.failures[len(g.failures)-limit].Add(failedLogonWindow),
		reason: fmt.Sprintf("%s refused %d logons of account %s in the last hour", vendor, len(g.failures), clipText(clientID, 200))}
}

// budgetSpent returns an *errLogonHeld when the account may not risk a
// failed logon with a credential not yet known to work: a rotation must
// not change a secret at the vendor that it could not then prove.
func (b *backend) budgetSpent(vendor string, c client.Creds) error {
	g := b.guard(vendor, c)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.prune(b.now())
	return g.spent(vendor, c.ClientID, false)
}

// guardedToken mints with c through the account's guard.
func (b *backend) guardedToken(ctx context.Context, v client.Vendor, h *client.HTTP, c client.Creds) (client.Token, error) {
	var tok client.Token
	err := b.logon(ctx, v.Name(), c, func(ctx context.Context) error {
		var err error
		tok, err = v.Token(ctx, h, c)
		return err
	})
	return tok, err
}

// workedLast reports whether c is the credential of its account that last
// minted, so that it is tried first.
func (b *backend) workedLast(vendor string, c client.Creds) bool {
	g := b.guard(vendor, c)
	fp := b.fingerprint(vendor, c)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.worked == fp
}

// forgetRefusals clears the account's remembered refusals and outages: an
// operator wrote or verified its credentials, or a rotation changed them.
// The count of failed logons stays: the vendor's own count does not reset.
func (b *backend) forgetRefusals(vendor string, c client.Creds) {
	g := b.guard(vendor, c)
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.refused)
	clear(g.down)
}

// prune drops failures that left the window and refusals that are no
// longer remembered.
func (g *logonGuard) prune(now time.Time) {
	i := 0
	for i < len(g.failures) && now.Sub(g.failures[i]) >= failedLogonWindow {
		i++
	}
	g.failures = g.failures[i:]
	for fp, r := range g.refused {
		if now.Sub(r.at) >= refusalMemory {
			delete(g.refused, fp)
		}
	}
	for fp, o := range g.down {
		if !now.Before(o.until) && now.Sub(o.until) >= unavailableMax {
			delete(g.down, fp)
		}
	}
}

// pruneGuards forgets the guards of accounts with nothing left to remember.
func (b *backend) pruneGuards() {
	now := b.now()
	b.guards.Range(func(k, v any) bool {
		g := v.(*logonGuard)
		g.mu.Lock()
		g.prune(now)
		idle := len(g.failures) == 0 && len(g.refused) == 0 && len(g.down) == 0 && len(g.turn) == 0 && now.Sub(g.lastUsed) >= failedLogonWindow
		g.mu.Unlock()
		if idle {
			b.guards.CompareAndDelete(k, v)
		}
		return true
	})
}

// isHeld reports whether err is a logon the guard held back.
func isHeld(err error) bool {
	var h *errLogonHeld
	return errors.As(err, &h)
}
