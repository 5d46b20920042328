package vendor

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/singleflight"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// cachedToken is a minted token with the times that govern reuse.
type cachedToken struct {
	client.Token
	mintedAt  time.Time
	expiresAt time.Time
	refreshAt time.Time // after this, it is handed out only while a mint runs or fails
	lifetime  time.Duration
	// bgAt is when a read token is replaced in the background; read is
	// set by its first read (refresh.go).
	bgAt time.Time
	read atomic.Bool
}

// minCachedLife is the least life a minted token needs to be cached.
const minCachedLife = time.Second

// usable: before the refresh point, with at least minRemaining life left.
func (t *cachedToken) usable(now time.Time, minRemaining time.Duration) bool {
	return t != nil && now.Before(t.refreshAt) && t.expiresAt.Sub(now) >= minRemaining
}

// alive: not expired, with at least minRemaining life left.
func (t *cachedToken) alive(now time.Time, minRemaining time.Duration) bool {
	return t != nil && now.Before(t.expiresAt) && t.expiresAt.Sub(now) >= minRemaining
}

func pathToken(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "token/" + framework.GenericNameRegex("name"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "vendor",
			OperationSuffix: "token",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Required: true, Description: "Name of the role; a missing role is a 404."},
			"min_remaining": {
				Type:        framework.TypeDurationSecond,
				Description: "The caller needs at least this much life left in the token (seconds or a duration such as 5m). A cached token with less is replaced by a fresh one. At most the token lifetime less refresh_before may be asked for; more is refused without a vendor call once the lifetime is known.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathTokenRead,
				DisplayAttrs: &framework.DisplayAttributes{OperationVerb: "generate"},
			},
		},
		HelpSynopsis:    "Read a short-lived bearer token for a role.",
		HelpDescription: tokenHelp,
	}}
}

const tokenHelp = `
Returns a bearer token minted with the role's credentials (every vendor):

  access_token     the token
  token_type       Bearer, or session for tokens sent as-is
  authorization    the exact Authorization header value for the vendor
  expires_at       RFC 3339 expiry
  expires_in       whole seconds of life left
  ttl              seconds until Vault will hand out a fresh token
  lifetime         the token's lifetime in seconds
  rotation_period  the same value as lifetime
  vendor           the role's vendor

rotation_period is there for Vault Agent: the data has no lease, and Agent
treats unleased data that carries ttl and rotation_period as a rotating
secret, rendering it again at ttl+1 seconds, when this path has a fresh
token ready. It is the token's lifetime, not the role's rotation_period
(the schedule of the role's secret); lifetime says the same under a name
that means it.

Tokens are cached per role and handed out until refresh_before of their
life is left (ttl counts down to that point). A token that was read is
replaced in the background before then, at a moment drawn from between a
half and a quarter of refresh_before before ttl runs out, so a read never waits on the
vendor while a cached token is usable: Vault Agent, which re-renders such
data at ttl+1 seconds, finds the new token ready. A token nobody read is not
replaced until it is read again. Past its ttl, a token that still meets
min_remaining is returned at once while a mint runs behind it. Only a read
that finds no usable token waits, sharing one mint with every other such
reader.

A read is refused with a 400 when it carries a parameter other than
min_remaining, when min_remaining is not a duration or asks for more than
the role's tokens can have (their lifetime less refresh_before; no vendor
call is made once that is known), and when the vendor refuses the
credentials. A role that does not exist is a 404. A vendor that cannot be
reached is a 502, or a 504 when it timed out.

After a failed mint the vendor is not called again for the role before a
backoff (1 s doubling to 5 min, and at least any Retry-After the vendor
sent); reads meanwhile get the cached token with a warning, or at once the
last error with the time of the next attempt. No lease is created: bearer
tokens cannot be revoked by Vault.
`

func (b *backend) pathTokenRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	minRemaining, err := seconds("min_remaining", d.Get("min_remaining").(int), maxPeriod, maxPeriodText)
	if err != nil {
		return errorResponse(err)
	}
	st, err := b.roleState(ctx, req.Storage, name)
	if err != nil {
		return errorResponse(err)
	}
	if st == nil {
		return roleNotFound(req, name)
	}
	tok, source, warning, err := b.token(ctx, st, minRemaining)
	b.metrics.tokenRead(st.role.Vendor, source)
	if err != nil {
		return errorResponse(err)
	}
	resp := &logical.Response{Data: tokenData(tok, st.role.Vendor, b.now())}
	if warning != "" {
		resp.AddWarning(warning)
	}
	return resp, nil
}

func tokenData(t *cachedToken, vendor string, now time.Time) map[string]any {
	ttl := max(t.refreshAt.Sub(now), 0)
	// One boxed value for both rows: the hot cached read allocates per row.
	life := any(int64(t.lifetime / time.Second))
	return map[string]any{
		"access_token":    t.AccessToken,
		"token_type":      t.TokenType,
		"authorization":   t.Authorization,
		"expires_at":      t.expiresAt.UTC().Format(time.RFC3339),
		"expires_in":      int64(t.expiresAt.Sub(now) / time.Second),
		"ttl":             int64(ttl / time.Second),
		"lifetime":        life,
		"rotation_period": life,
		"vendor":          vendor,
	}
}

// token returns a token for the role that meets minRemaining, and where it
// came from: the cached one before its refresh point; the cached one past
// it, at once, with a background mint started; else one minted now.
// Concurrent callers share a single mint per role; one whose context ends
// returns at once, and the mint goes on for the others.
func (b *backend) token(ctx context.Context, st *roleState, minRemaining time.Duration) (*cachedToken, string, string, error) {
	if err := b.checkReach(st, minRemaining); err != nil {
		return nil, srcError, "", err
	}
	now := b.now()
	if t := st.tok.Load(); t.usable(now, minRemaining) {
		b.noteRead(st, t)
		return t, srcCache, "", nil
	} else if t.alive(now, minRemaining) {
		// Past its refresh point: hand it out, and mint behind it.
		b.noteRead(st, t)
		b.startBackground(st, t)
		return t, srcStale, staleWarning(st.lastFailure(), t), nil
	}
	if err := st.heldBack(now); err != nil {
		b.metrics.mint(st.role.Vendor, outcomeHeld, 0)
		return nil, srcError, "", err
	}
	start := now
	// The mint outlives any one caller: others may be waiting on it.
	mintCtx := context.WithoutCancel(ctx)
	for range 3 {
		ch := st.flight.DoChan("", func() (any, error) {
			if t := st.tok.Load(); t.usable(b.now(), minRemaining) {
				return t, nil
			}
			return b.attempt(mintCtx, st)
		})
		var res singleflight.Result
		select {
		case <-ctx.Done():
			return nil, srcError, "", fmt.Errorf("role %q: token read abandoned, the mint goes on for other readers: %w", st.name, ctx.Err())
		case res = <-ch:
		}
		if err := res.Err; err != nil {
			if t := st.tok.Load(); t.alive(b.now(), minRemaining) {
				b.noteRead(st, t)
				return t, srcStale, staleWarning(err, t), nil
			}
			return nil, srcError, "", err
		}
		t := res.Val.(*cachedToken)
		now := b.now()
		if t.usable(now, minRemaining) || (t.lifetime < minCachedLife && minRemaining == 0) {
			b.noteRead(st, t)
			return t, srcWait, "", nil
		}
		if !t.mintedAt.Before(start) {
			// Freshly minted and still not enough: no token from this role can be.
			return nil, srcError, "", unreachable(st, minRemaining, t.lifetime, false)
		}
		// A token minted for a less demanding caller; ask again.
	}
	return nil, srcError, "", fmt.Errorf("role %q: no token with %s left could be had", st.name, durText(minRemaining))
}

// staleWarning tells the reader of a cached token that the last mint failed.
func staleWarning(err error, t *cachedToken) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf("%s; returning the cached token, which expires at %s", err, t.expiresAt.UTC().Format(time.RFC3339))
}

// lifeNote is the token lifetime a mint of the role showed, and until when
// it stands for the role's tokens without another vendor call.
type lifeNote struct {
	life  time.Duration
	until time.Time
}

// minLifeNote is the shortest time a lifetime is taken as known, so that
// demanding readers of a short-lived role cost at most one call in it.
const minLifeNote = time.Minute

// noteLife remembers a fresh token's lifetime until the token's own
// refresh point, when an ordinary read would mint again anyway.
func (st *roleState) noteLife(t *cachedToken) {
	until := t.refreshAt
	if u := t.mintedAt.Add(minLifeNote); u.After(until) {
		until = u
	}
	st.life.Store(&lifeNote{life: t.lifetime, until: until})
}

// reach is the most life a read may ask of a token that lives life: a
// token is handed out until refresh_before of it is left, so the one a
// mint makes then serves such readers for at least that long, and no
// reader can make the role mint more often than its own refresh does.
func (r *roleEntry) reach(life time.Duration) time.Duration {
	return life - r.refreshBefore(life)
}

// checkReach refuses, without a vendor call, a min_remaining beyond the
// reach of the role's tokens as far as it is known: from token_ttl_cap,
// from the last mint, or from the cached token.
func (b *backend) checkReach(st *roleState, minRemaining time.Duration) error {
	if minRemaining <= 0 {
		return nil
	}
	r := st.role
	if r.TokenTTLCap > 0 && minRemaining > r.reach(r.TokenTTLCap) {
		return unreachable(st, minRemaining, r.TokenTTLCap, true)
	}
	now := b.now()
	if n := st.life.Load(); n != nil && now.Before(n.until) && minRemaining > r.reach(n.life) {
		return unreachable(st, minRemaining, n.life, false)
	}
	if t := st.tok.Load(); t != nil && now.Before(t.refreshAt) && minRemaining > r.reach(t.lifetime) {
		return unreachable(st, minRemaining, t.lifetime, false)
	}
	return nil
}

// unreachable is the 400 for a min_remaining that tokens of life cannot meet.
// The advised most is cut down to whole seconds: durText rounds to the
// nearest, and a reach of 66.7s written as 1m7s would be refused again.
func unreachable(st *roleState, minRemaining, life time.Duration, fromCap bool) error {
	source := ""
	if fromCap {
		source = " (token_ttl_cap)"
	}
	return &inputError{Field: "min_remaining", Msg: fmt.Sprintf(
		"of %s cannot be met: %s tokens for this role live %s%s and are replaced when %s is left, so ask for at most %s",
		durText(minRemaining), st.role.Vendor, durText(life), source, durText(st.role.refreshBefore(life)), durText(st.role.reach(life).Truncate(time.Second)))}
}

// mint calls the vendor and caches the token.
func (b *backend) mint(ctx context.Context, st *roleState) (*cachedToken, error) {
	start := b.now()
	tok, err := b.mintWith(ctx, st)
	if err != nil {
		b.warnMint(st, err)
		return nil, err
	}
	life := st.role.tokenLifetime(tok)
	before := st.role.refreshBefore(life)
	t := &cachedToken{
		Token:     tok,
		mintedAt:  start,
		expiresAt: start.Add(life),
		refreshAt: start.Add(life - before),
		lifetime:  life,
	}
	t.bgAt = b.bgAtFor(t.refreshAt, before)
	if life < minCachedLife {
		// Dead on arrival: the callers of this mint get it, no one after.
		return t, nil
	}
	b.keep(st, t)
	b.Logger().Debug("token minted", "role", st.name, "vendor", st.role.Vendor, "lifetime", durText(life))
	return t, nil
}

// mintWith mints with the role's secret or, while a rotation is
// unfinished, its pending one (the vendor may have switched already), the
// one that last worked first. Every try goes through the account's logon
// guard. A vendor that could not be reached said nothing of the secret, so
// the other is not tried then.
func (b *backend) mintWith(ctx context.Context, st *roleState) (client.Token, error) {
	creds := []client.Creds{st.role.creds()}
	if p := b.pendingOf(st); p != nil {
		pc := st.role.pendingCreds(p)
		if b.workedLast(st.role.Vendor, pc) {
			creds = []client.Creds{pc, creds[0]}
		} else {
			creds = append(creds, pc)
		}
	}
	var first error
	for i, c := range creds {
		tok, err := b.guardedToken(ctx, st.vendor, st.http, c)
		if err == nil {
			if len(creds) > 1 && c.ClientSecret != st.role.ClientSecret {
				b.Logger().Info("minted with the pending secret of an unfinished rotation", "role", st.name, "vendor", st.role.Vendor, "tried", i+1)
			}
			return tok, nil
		}
		if first == nil {
			first = err
		}
		if !vendorRefused(err) && !isHeld(err) {
			break
		}
	}
	return client.Token{}, first
}

// warnMint logs a failed mint, at most once per mintWarnEvery for a role,
// so that a failing vendor read in a loop cannot flood the log.
func (b *backend) warnMint(st *roleState, err error) {
	now := b.now().UnixNano()
	last := st.warnedAt.Load()
	if now-last < int64(mintWarnEvery) || !st.warnedAt.CompareAndSwap(last, now) {
		st.unwarned.Add(1)
		return
	}
	b.Logger().Warn("token mint failed", "role", st.name, "vendor", st.role.Vendor, "error", err.Error(), "similar_failures_not_logged", st.unwarned.Swap(0))
}

// pendingOf is the new secret of an unfinished rotation of the role, if any.
func (b *backend) pendingOf(st *roleState) *pendingSecret {
	if p := b.unsavedFor(st.name); p != nil {
		return p
	}
	return st.role.Pending
}

var nameRE = regexp.MustCompile("^" + framework.GenericNameRegex("name") + "$")

// validName: a role name the paths and Vault's storage take (it refuses
// a key with ".." in it).
func validName(s string) bool {
	return len(s) <= maxNameLen && nameRE.MatchString(s) && !strings.Contains(s, "..")
}
