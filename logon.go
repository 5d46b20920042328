package vendor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Vendors such as PVWA, CyberArk Identity and AD-backed logons suspend an
// account after a handful of failed logons. Every logon the plugin makes
// with a role's credentials (token reads, the pending-secret fallback,
// rotation proofs, recovery and rollback) goes through the account's guard,
// so that no read rate can lock the account:
//
//   - a credential the vendor refused is not offered again for
//     refusalMemory; callers get the remembered refusal at once;
//   - the account sees at most maxFailedLogons refused logons in any
//     failedLogonWindow, whatever their cause;
//   - a role write, a finished rotation or a successful verify forgets
//     both, since they bring credentials the vendor has not refused.
const (
	refusalMemory     = 10 * time.Minute
	failedLogonWindow = time.Hour
	maxFailedLogons   = 6
	// mintWarnEvery bounds the log lines one role's failing reads write.
	mintWarnEvery = time.Minute
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
}

type refusal struct {
	at  time.Time
	err error
}

// errLogonHeld is the answer, without a vendor call, to a logon the guard
// holds back. It is the caller's to fix (a 400), but it is not the vendor's
// refusal: rotation must not decide anything from it.
type errLogonHeld struct {
	until  time.Time
	reason string
}

func (e *errLogonHeld) Error() string {
	return fmt.Sprintf("%s; to keep the vendor from locking the account, no logon is tried before %s (a role write with the right secret, or verify=true, lifts this at once)",
		e.reason, e.until.UTC().Format(time.RFC3339))
}

// guardKey names the account whose logons a guard counts.
func guardKey(vendor string, c client.Creds) string {
	return vendor + "\x00" + strings.ToLower(origin(c.BaseURL)) + "\x00" + c.ClientID
}

func (b *backend) guard(vendor string, c client.Creds) *logonGuard {
	key := guardKey(vendor, c)
	if v, ok := b.guards.Load(key); ok {
		return v.(*logonGuard)
	}
	v, _ := b.guards.LoadOrStore(key, &logonGuard{turn: make(chan struct{}, 1), refused: map[[sha256.Size]byte]refusal{}})
	return v.(*logonGuard)
}

// fingerprint names one credential in memory without holding it: a keyed
// hash under a key that lives only in this process.
func (b *backend) fingerprint(c client.Creds) [sha256.Size]byte {
	m := hmac.New(sha256.New, b.fpKey[:])
	for _, part := range []string{c.BaseURL, c.ClientID, c.ClientSecret, c.OAuthClientID, c.OAuthClientSecret, c.AuthMethod} {
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
	select {
	case g.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g.turn }()

	fp := b.fingerprint(c)
	now := b.now()
	g.mu.Lock()
	g.lastUsed = now
	if r, ok := g.refused[fp]; ok && now.Sub(r.at) < refusalMemory {
		g.mu.Unlock()
		return &errLogonHeld{until: r.at.Add(refusalMemory), reason: fmt.Sprintf("these credentials were refused at %s: %v", r.at.UTC().Format(time.RFC3339), r.err)}
	}
	g.mu.Unlock()
	if err := b.budgetSpent(vendor, c); err != nil {
		return err
	}

	err := call(ctx)

	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case err == nil:
		delete(g.refused, fp)
		g.worked = fp
	case client.IsRefusal(err):
		at := b.now()
		g.refused[fp] = refusal{at: at, err: err}
		g.failures = append(g.failures, at)
	}
	return err
}

// budgetSpent returns an *errLogonHeld when the account has no failed
// logon left in the window: a rotation must not change a secret at the
// vendor that it could not then prove.
func (b *backend) budgetSpent(vendor string, c client.Creds) error {
	g := b.guard(vendor, c)
	now := b.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.prune(now)
	if len(g.failures) >= maxFailedLogons {
		return &errLogonHeld{until: g.failures[0].Add(failedLogonWindow), reason: fmt.Sprintf("%s refused %d logons of account %s in the last hour", vendor, len(g.failures), c.ClientID)}
	}
	return nil
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
	fp := b.fingerprint(c)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.worked == fp
}

// forgetLogons clears the account's memory: its credentials changed, or
// were proved by an operator's verify.
func (b *backend) forgetLogons(vendor string, c client.Creds) {
	b.guards.Delete(guardKey(vendor, c))
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
}

// pruneGuards forgets the guards of accounts with nothing left to remember.
func (b *backend) pruneGuards() {
	now := b.now()
	b.guards.Range(func(k, v any) bool {
		g := v.(*logonGuard)
		g.mu.Lock()
		g.prune(now)
		idle := len(g.failures) == 0 && len(g.refused) == 0 && now.Sub(g.lastUsed) >= failedLogonWindow
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
