// Package vendortest provides wire-faithful fakes of the vendors' token and
// admin APIs, in the spirit of net/http/httptest. A fake rejects what the real
// vendor would reject (wrong content type, JSON where a form is required,
// URL-escaped Basic credentials, a missing grant type), counts calls per
// endpoint and injects faults.
//
// The package is laid out by concern:
//
//	fake.go      the Fake, its registry of vendors, counters and inspection
//	accounts.go  account state, issued tokens, password rules
//	wire.go      reading requests the vendor's way, writing replies
//	fault.go     fault injection: the middleware every endpoint runs through
//	control.go   the control API vendor-sim serves, for other processes
//	manifest.go  sim.json, what vendor-sim writes about itself
//	forms.go     every form a secret can take, for leak searches
//	server.go    a Fake served over HTTPS or HTTP on loopback
//	<vendor>.go  one vendor's routes and the checks its endpoints make
package vendortest

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Option configures a Fake.
type Option func(*Fake)

// WithClock makes the fake read time from now, for expiry checks.
func WithClock(now func() time.Time) Option { return func(f *Fake) { f.now = now } }

// WithLifetime sets how long issued tokens live.
func WithLifetime(d time.Duration) Option { return func(f *Fake) { f.lifetime = d } }

// Fake is one vendor's API held in memory. It is an http.Handler.
type Fake struct {
	vendor   string
	spec     fakeSpec
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
	// oauth2: the one client authentication method accepted, if any.
	clientAuth string
	// oauth2: the jti of every assertion accepted, until it expires.
	seenJTI map[string]time.Time
	// appPrefix is the path the vendor's web application is installed
	// under, spec.appPrefix unless a test renamed it.
	appPrefix string
}

// fakeSpec is what a vendor's file registers: everything about the vendor
// the shared code needs, so that it names no vendor.
type fakeSpec struct {
	// lifetime of the tokens the vendor issues.
	lifetime time.Duration
	// routes registers the vendor's endpoints.
	routes func(f *Fake, mux *http.ServeMux)
	// apiMethod and apiPath name an authenticated API that answers 200 for
	// a live token (APIEndpoint). apiPath is under appPrefix.
	apiMethod, apiPath string
	// appPrefix is the path every endpoint sits under by default, for a
	// vendor whose sites may install its application under another name.
	appPrefix string
	// rawToken: API calls carry the token as the whole Authorization
	// header, not as "Bearer <token>".
	rawToken bool
	// numericIDs: the admin API numbers accounts instead of naming them by
	// opaque strings.
	numericIDs bool
	// tokenPath, when set, is where the token endpoint is, and a role names
	// the token URL rather than the base URL.
	tokenPath string
}

// vendors maps a vendor name to its fake, registered by each vendor's file.
var vendors = map[string]fakeSpec{}

func registerFake(name string, spec fakeSpec) { vendors[name] = spec }

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
		spec:       spec,
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
		seenJTI:    map[string]time.Time{},
		appPrefix:  spec.appPrefix,
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
	req, err := http.NewRequest(f.spec.apiMethod, strings.TrimRight(baseURL, "/")+f.appPrefix+f.spec.apiPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", authorization)
	return req, nil
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

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

const time1s = time.Second
