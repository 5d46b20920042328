package vendortest

// Account state: the accounts a fake knows, their secrets (every one they
// ever had, for leak searches), the tokens issued to them, and the password
// rules a vendor applies to a new password.

import (
	"crypto"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Account is one set of credentials a fake accepts.
type Account struct {
	// ID is the client id, login or username; Secret its secret or password.
	ID     string
	Secret string
	// OAuthClientID and OAuthClientSecret front a PrivX API client.
	OAuthClientID     string
	OAuthClientSecret string
	// AuthMethod is the PVWA logon method (CyberArk, LDAP, ...); empty means CyberArk.
	AuthMethod string
	// Scopes an oauth2 client may request; empty means any.
	Scopes []string
	// Audience an oauth2 client must request, when set.
	Audience string
	// PublicKey registers an oauth2 client for private_key_jwt: it then
	// authenticates only with assertions this key verifies. KeyID, when
	// set, is the kid they must carry.
	PublicKey crypto.PublicKey
	KeyID     string
	// UUID identifies the account in admin APIs; generated when empty.
	UUID string
	// Name and Roles describe a service or API client.
	Name  string
	Roles []string
	// Admin may manage other accounts: reset passwords, rotate secrets,
	// create and delete API clients.
	Admin bool
}

// WithAccount adds an account.
func WithAccount(a Account) Option { return func(f *Fake) { f.addAccount(a) } }

type issued struct {
	account string
	expires time.Time
}

// AddAccount adds or replaces an account.
func (f *Fake) AddAccount(a Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addAccount(a)
}

func (f *Fake) addAccount(a Account) {
	if a.UUID == "" {
		a.UUID = f.newUUID()
	}
	f.everSecret[a.Secret], f.everSecret[a.OAuthClientSecret] = true, true
	f.everPair[Pair{a.ID, a.Secret}], f.everPair[Pair{a.OAuthClientID, a.OAuthClientSecret}] = true, true
	if f.oauthID == "" && a.OAuthClientID != "" {
		f.oauthID, f.oauthSecret = a.OAuthClientID, a.OAuthClientSecret
	}
	f.accounts[a.ID] = &a
}

// newUUID makes an account id the way the vendor would: PVWA numbers its
// users, the others use opaque strings.
func (f *Fake) newUUID() string {
	f.nextID++
	if f.spec.numericIDs {
		return strconv.Itoa(100 + f.nextID)
	}
	return randomHex(8)
}

// Accounts returns a copy of every account, sorted by ID.
func (f *Fake) Accounts() []Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Account, 0, len(f.accounts))
	for _, a := range f.accounts {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// caller is the account behind a live token presented the vendor's way,
// or nil.
func (f *Fake) caller(r *http.Request) *Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id := f.validLocked(r.Header.Get("Authorization")); id != "" {
		if a, ok := f.accounts[id]; ok {
			c := *a
			return &c
		}
	}
	return nil
}

// setSecret changes an account's secret; false when there is no such account.
func (f *Fake) setSecret(id, secret string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[id]
	if ok {
		a.Secret = secret
		f.everSecret[secret] = true
		f.everPair[Pair{id, secret}] = true
	}
	return ok
}

// SecretsEver lists every secret any account of the fake ever had, made by
// the test, the vendor or Vault, for searches that must find none of them.
func (f *Fake) SecretsEver() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.everSecret))
	for s := range f.everSecret {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// LeakForms lists every form (SecretForms, BasicForms) of every secret any
// account of the fake ever had, for searches that must find none of them.
func (f *Fake) LeakForms() []string {
	f.mu.Lock()
	pairs := make([]Pair, 0, len(f.everPair))
	for p := range f.everPair {
		pairs = append(pairs, p)
	}
	f.mu.Unlock()
	return LeakForms(f.SecretsEver(), pairs)
}

// byUUID finds an account by its admin-API id.
func (f *Fake) byUUID(uuid string) *Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.accounts {
		if a.UUID == uuid {
			c := *a
			return &c
		}
	}
	return nil
}

// DeleteAccount removes an account, as an operator would at the vendor.
func (f *Fake) DeleteAccount(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.accounts, id)
}

// Account returns a copy of the account with that ID.
func (f *Fake) Account(id string) (Account, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.accounts[id]
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// SetLifetime changes how long tokens issued from now on live.
func (f *Fake) SetLifetime(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lifetime = d
}

// Valid reports whether authorization is a live token presented the way
// the vendor's APIs expect it.
func (f *Fake) Valid(authorization string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.validLocked(authorization) != ""
}

// ExpireTokens ends every issued token, as a vendor restart or revocation would.
func (f *Fake) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = map[string]issued{}
}

func (f *Fake) validLocked(authorization string) string {
	tok := authorization
	if !f.spec.rawToken {
		// Cyral rejects a lowercase "bearer " even though it issues
		// token_type "bearer"; the others are held to the same spelling.
		var ok bool
		if tok, ok = strings.CutPrefix(authorization, "Bearer "); !ok {
			return ""
		}
	}
	t, ok := f.tokens[tok]
	if !ok || !f.now().Before(t.expires) {
		return ""
	}
	return t.account
}

// issue mints a token for account and returns it with its lifetime.
func (f *Fake) issue(account string) (string, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := f.vendor + "-" + randomHex(24)
	f.tokens[tok] = issued{account: account, expires: f.now().Add(f.lifetime)}
	return tok, f.lifetime
}

func (f *Fake) account(id string) *Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.accounts[id]; ok {
		c := *a
		return &c
	}
	return nil
}

// weakPassword says why p breaks a vendor's password rules (length within
// min..max; an upper-case letter, a lower-case letter and a digit), or "".
func weakPassword(p string, min, max int) string {
	if len(p) < min || len(p) > max {
		return fmt.Sprintf("length %d outside %d..%d", len(p), min, max)
	}
	var upper, lower, digit bool
	for _, r := range p {
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		}
	}
	if !upper || !lower || !digit {
		return "needs an upper-case letter, a lower-case letter and a digit"
	}
	return ""
}
