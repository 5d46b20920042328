// Package vendortest provides wire-faithful fakes of the vendors' token and
// admin APIs, in the spirit of net/http/httptest. A fake rejects what the real
// vendor would reject (wrong content type, JSON where a form is required,
// URL-escaped Basic credentials, a missing grant type), counts calls per
// endpoint and injects faults.
package vendortest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	// UUID identifies the account in admin APIs; generated when empty.
	UUID string
	// Name and Roles describe a service or API client.
	Name  string
	Roles []string
	// Admin may manage other accounts: reset passwords, rotate secrets,
	// create and delete API clients.
	Admin bool
}

// Fault is injected into the next Times calls of one endpoint.
type Fault struct {
	// Delay holds the answer back (the request's own context still ends it).
	Delay time.Duration
	// Hold, when set, holds the answer back until it is closed.
	Hold <-chan struct{}
	// Status, when set, answers with this status instead of the real reply.
	Status int
	// RetryAfter is sent as the Retry-After header.
	RetryAfter string
	// Body replaces the answer's body: garbage, truncated JSON, an error text.
	// With Status 0 it is sent as a 200.
	Body string
	// Times is how many calls the fault affects; 0 means one, -1 every call.
	Times int
	// Apply runs the real handler first, so its changes take effect, and
	// only then delays, holds or replaces the answer: a reply lost after the
	// vendor acted.
	Apply bool
	// Echo answers the way a careless vendor's error page does, echoing the
	// request's credentials: EchoHTML, EchoJSON, EchoJSONHTML, EchoTruncated
	// or EchoRedirect. Status, when set, is its status.
	Echo string
	// Location is where an EchoRedirect points (the credentials go in its
	// query); empty means https://login.example.invalid/.
	Location string
	// RequestSet replaces top-level fields of a JSON request body before the
	// real handler sees it: a vendor that applies something other than what
	// it was sent.
	RequestSet map[string]json.RawMessage
	// ReplySet replaces, and ReplyDrop removes, top-level fields of the real
	// handler's JSON reply (a JSON null sets the field to null).
	ReplySet  map[string]json.RawMessage
	ReplyDrop []string
}

// Option configures a Fake.
type Option func(*Fake)

// WithClock makes the fake read time from now, for expiry checks.
func WithClock(now func() time.Time) Option { return func(f *Fake) { f.now = now } }

// WithLifetime sets how long issued tokens live.
func WithLifetime(d time.Duration) Option { return func(f *Fake) { f.lifetime = d } }

// WithAccount adds an account.
func WithAccount(a Account) Option { return func(f *Fake) { f.addAccount(a) } }

// Fake is one vendor's API held in memory. It is an http.Handler.
type Fake struct {
	vendor   string
	now      func() time.Time
	lifetime time.Duration
	mux      *http.ServeMux

	mu         sync.Mutex
	accounts   map[string]*Account // by ID
	tokens     map[string]issued
	faults     map[string][]Fault
	calls      map[string]int
	rejections []string
	lastForm   map[string]url.Values
	lastHeader map[string]http.Header
	everSecret map[string]bool // every secret an account ever had
	everPair   map[Pair]bool   // every id and secret sent together in Basic credentials
	nextID     int
	// privx: the OAuth client that fronts every API client.
	oauthID, oauthSecret string
}

type issued struct {
	account string
	expires time.Time
}

// vendors maps a vendor name to the routes of its fake, registered by each
// vendor's file.
var vendors = map[string]struct {
	lifetime time.Duration
	routes   func(f *Fake, mux *http.ServeMux)
	apiPath  string
	apiMeth  string
}{}

func registerFake(name string, lifetime time.Duration, apiMethod, apiPath string, routes func(*Fake, *http.ServeMux)) {
	vendors[name] = struct {
		lifetime time.Duration
		routes   func(f *Fake, mux *http.ServeMux)
		apiPath  string
		apiMeth  string
	}{lifetime, routes, apiPath, apiMethod}
}

// Vendors lists the vendors that have fakes.
func Vendors() []string {
	out := make([]string, 0, len(vendors))
	for v := range vendors {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// New returns the fake for vendor. It panics on an unknown vendor.
func New(vendor string, opts ...Option) *Fake {
	spec, ok := vendors[vendor]
	if !ok {
		panic("vendortest: no fake for vendor " + vendor)
	}
	f := &Fake{
		vendor:     vendor,
		now:        time.Now,
		lifetime:   spec.lifetime,
		mux:        http.NewServeMux(),
		accounts:   map[string]*Account{},
		tokens:     map[string]issued{},
		faults:     map[string][]Fault{},
		calls:      map[string]int{},
		lastForm:   map[string]url.Values{},
		lastHeader: map[string]http.Header{},
		everSecret: map[string]bool{},
		everPair:   map[Pair]bool{},
	}
	for _, o := range opts {
		o(f)
	}
	spec.routes(f, f.mux)
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.reject(w, http.StatusNotFound, "no such endpoint "+r.Method+" "+r.URL.Path, `{"error":"not_found"}`)
	})
	return f
}

// Vendor names the vendor the fake plays.
func (f *Fake) Vendor() string { return f.vendor }

// ServeHTTP serves the vendor's API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

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
	if f.vendor == "cyberark-pam" {
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

// Inject queues a fault for an endpoint ("token", "api", ...).
func (f *Fake) Inject(endpoint string, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fault.Times == 0 {
		fault.Times = 1
	}
	f.faults[endpoint] = append(f.faults[endpoint], fault)
}

// ClearFaults drops every queued fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = map[string][]Fault{}
}

// Calls counts requests that reached an endpoint, rejected ones included.
func (f *Fake) Calls(endpoint string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[endpoint]
}

// AllCalls returns every endpoint's count.
func (f *Fake) AllCalls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		out[k] = v
	}
	return out
}

// Rejections lists why the fake refused requests, oldest first, so a test
// that fails can say what the wire got wrong.
func (f *Fake) Rejections() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.rejections...)
}

// LastHeader returns the headers of the last request to reach an endpoint.
func (f *Fake) LastHeader(endpoint string) http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastHeader[endpoint]
}

// LastForm returns the last form body an endpoint accepted.
func (f *Fake) LastForm(endpoint string) url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastForm[endpoint]
}

// APIRequest builds a request to an authenticated API of the vendor, which
// answers 200 only for a live token presented the vendor's way.
func (f *Fake) APIRequest(baseURL, authorization string) (*http.Request, error) {
	spec := vendors[f.vendor]
	req, err := http.NewRequest(spec.apiMeth, strings.TrimRight(baseURL, "/")+spec.apiPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", authorization)
	return req, nil
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
	if f.vendor != "cyberark-pam" {
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

// endpoint wraps a handler with call counting and fault injection.
func (f *Fake) endpoint(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls[name]++
		f.lastHeader[name] = r.Header.Clone()
		var fault *Fault
		if q := f.faults[name]; len(q) > 0 {
			fc := q[0]
			fault = &fc
			if q[0].Times > 0 {
				q[0].Times--
				if q[0].Times == 0 {
					f.faults[name] = q[1:]
				}
			}
		}
		f.mu.Unlock()
		if fault == nil {
			h(w, r)
			return
		}
		if fault.RequestSet != nil {
			setRequestFields(r, fault.RequestSet)
		}
		var applied *httptest.ResponseRecorder
		if fault.Apply || fault.ReplySet != nil || fault.ReplyDrop != nil {
			applied = httptest.NewRecorder()
			h(applied, r)
			editReply(applied, fault.ReplySet, fault.ReplyDrop)
		}
		if fault.Delay > 0 {
			t := time.NewTimer(fault.Delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if fault.Hold != nil {
			select {
			case <-r.Context().Done():
				return
			case <-fault.Hold:
			}
		}
		if fault.Echo != "" {
			writeEcho(w, r, fault)
			return
		}
		if fault.Status == 0 && fault.Body == "" {
			if applied != nil {
				for k, v := range applied.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(applied.Code)
				w.Write(applied.Body.Bytes())
				return
			}
			h(w, r)
			return
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		status := fault.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		io.WriteString(w, fault.Body)
	}
}

// reject records why and answers with the vendor's error body.
func (f *Fake) reject(w http.ResponseWriter, status int, why, body string) {
	f.mu.Lock()
	f.rejections = append(f.rejections, why)
	f.mu.Unlock()
	if body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *Fake) remember(endpoint string, form url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastForm[endpoint] = form
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

// readForm parses a strict application/x-www-form-urlencoded body: the right
// content type, no JSON, no repeated keys. why is empty when it is fine.
func readForm(r *http.Request) (form url.Values, why string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, fmt.Sprintf("content type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return nil, "unreadable body"
	}
	if t := strings.TrimSpace(string(raw)); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		return nil, "JSON body where a form is required"
	}
	form, err = url.ParseQuery(string(raw))
	if err != nil {
		return nil, "malformed form body: " + err.Error()
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, "form parameter " + k + " repeated"
		}
	}
	return form, ""
}

// readJSON decodes a strict application/json body into v.
func readJSON(r *http.Request, v any) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fmt.Sprintf("content type %q, want application/json", r.Header.Get("Content-Type"))
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(v); err != nil {
		return "body is not the JSON expected: " + err.Error()
	}
	return ""
}

// basicRaw reads Basic credentials exactly as sent. It does not undo any
// URL-escaping, as PrivX and Code42 do not.
func basicRaw(r *http.Request) (id, secret string, ok bool) {
	h := r.Header.Get("Authorization")
	enc, found := strings.CutPrefix(h, "Basic ")
	if !found {
		return "", "", false
	}
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	id, secret, ok = strings.Cut(string(dec), ":")
	return id, secret, ok
}

// escapedHint explains a credential mismatch that URL-escaping would cause.
func escapedHint(sent, want string) string {
	if sent != want {
		if u, err := url.QueryUnescape(sent); err == nil && u == want {
			return " (the credentials were URL-escaped; this vendor wants them raw)"
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

const time1s = time.Second

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
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
