package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Review of issue 11: each test here fails on the tree it was written
// against and names the hole it shows.

// quote turns control characters into spaces before it redacts, so a
// secret holding a tab (or any control character) no longer matches its
// own echo and is quoted almost whole.
func TestSecretWithAControlCharacterIsNotQuoted(t *testing.T) {
	const secret = "ab\tcdefghijkl"
	body := `{"error":"invalid_client","error_description":"wrong secret ab\tcdefghijkl for client x"}`
	_, msg := vendorMessage([]byte(body), "application/json", []string{secret})
	if strings.Contains(msg, "cdefghijkl") {
		t.Fatalf("the secret, less its tab, is quoted: %q", msg)
	}
}

// do keeps the token_url's whole raw query out of errors, but a vendor that
// echoes one value of it (the key the query is there to carry) is quoted.
func TestEchoOfOneTokenURLQueryValueIsNotQuoted(t *testing.T) {
	const key = "SUPERSECRETKEY123"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"unknown api_key ` + r.URL.Query().Get("api_key") + `"}`))
	}))
	defer srv.Close()
	h, err := NewHTTP(Options{MaxRetries: -1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := Creds{BaseURL: srv.URL + "/token?tenant=acme&api_key=" + key, ClientID: "client", ClientSecret: "client-secret-1"}
	if err := Validate(oauth2{}, c); err != nil {
		t.Fatal(err)
	}
	_, err = oauth2{}.Token(context.Background(), h, c)
	if err == nil {
		t.Fatal("want a refusal")
	}
	if strings.Contains(err.Error(), key) {
		t.Fatalf("the token_url query's key is in the error: %v", err)
	}
}

// Reserved parameters are compared after ASCII-style lower-casing, but
// servers that match names case-insensitively often use Unicode case
// mapping (Java's equalsIgnoreCase and CASE_INSENSITIVE_ORDER take 'ſ'
// U+017F for 's' and 'ı' U+0131 for 'i'; Go's own strings.EqualFold takes
// 'ſ' for 's'), so these reach such a server as client_secret, scope and
// client_id beside the real ones.
func TestReservedParamsInUnicodeCaseAreRefused(t *testing.T) {
	base := Creds{BaseURL: "https://auth.example.com/token", ClientID: "id", ClientSecret: "secret-123"}
	for _, k := range []string{"client_ſecret", "ſcope", "clıent_id", "paſſword"} {
		c := base
		c.Fields = Values{FieldTokenParams: map[string]string{k: "x"}}
		if err := Validate(oauth2{}, c); err == nil {
			t.Errorf("token_params %q is accepted", k)
		}
		c = base
		c.BaseURL += "?" + k + "=x"
		if err := Validate(oauth2{}, c); err == nil {
			t.Errorf("token_url query %q is accepted", k)
		}
	}
}

// Cloud metadata services also listen on IPv6 unique-local addresses:
// AWS IMDS at fd00:ec2::254 and Google's metadata server at fd20:ce::254.
// Neither is link-local, so both are dialled (and accepted as IP literals
// when allowed_hosts is empty).
func TestIPv6MetadataAddressesAreNeverDialled(t *testing.T) {
	for _, a := range []string{"fd00:ec2::254", "fd20:ce::254"} {
		if why := BlockedAddress(netip.MustParseAddr(a)); why == "" {
			t.Errorf("%s (a cloud metadata service) is not refused", a)
		}
		if err := dialControl("tcp6", "["+a+"]:80", nil); err == nil {
			t.Errorf("the dialler connects to %s", a)
		}
	}
}

// quote holds a field to n+16*longest bytes before redacting it, and
// longest counts the base64 of the form-encoded Basic pair: with a 4 KiB
// client_id and client_secret (the field limit) that is about 512 KiB,
// decoded in up to 13 views of 17 bytes a byte. One 1 MiB error reply
// from a vendor host (any host when allowed_hosts is empty) then costs
// ~170 MiB and half a second of CPU, for a 300-byte message. A secret
// starting before byte n needs only minRedact bytes past n to be redacted
// by the prefix rule, so the window need not grow with the secrets.
func TestRedactionCostIsBoundedWhateverTheSecrets(t *testing.T) {
	c := Creds{ClientID: strings.Repeat("!", 4096), ClientSecret: strings.Repeat("!", 4096)}
	desc := "%41 + &amp; " + strings.Repeat("abcdefgh", (1<<20-200)/8)
	body := []byte(`{"error":"invalid_client","error_description":"` + desc + `"}`)
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m1)
	_, msg := vendorMessage(body, "application/json", c.Secrets())
	runtime.ReadMemStats(&m2)
	if len(msg) > 310 {
		t.Fatalf("message of %d bytes", len(msg))
	}
	if mb := (m2.TotalAlloc - m1.TotalAlloc) >> 20; mb > 32 {
		t.Fatalf("quoting one vendor field allocated %d MiB", mb)
	}
}

// privxFake answers the calls of CreateReplacement for API client old:
// create answers with createID; the n-th read (from 1) is answered by
// read(n). It counts DELETEs by id.
func privxFake(t *testing.T, createID string, read func(n int, w http.ResponseWriter)) (*httptest.Server, *sync64) {
	t.Helper()
	var reads atomic.Int64
	deletes := &sync64{m: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == privxClients:
			_, _ = w.Write([]byte(`{"id":"` + createID + `"}`))
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, privxClients+"/"):
			read(int(reads.Add(1)), w)
		case r.Method == http.MethodDelete:
			deletes.add(strings.TrimPrefix(r.URL.Path, privxClients+"/"))
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, deletes
}

type sync64 struct {
	mu sync.Mutex
	m  map[string]int
}

func (s *sync64) add(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k]++
}

func (s *sync64) get(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[k]
}

const oldClient = `{"id":"old","name":"svc","roles":[{"id":"r1"},{"id":"r2"}]}`

func privxReplace(t *testing.T, srv *httptest.Server) (string, error) {
	t.Helper()
	h, err := NewHTTP(Options{MaxRetries: -1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := Creds{BaseURL: srv.URL, ClientID: "old", ClientSecret: "old-secret-1", Fields: Values{FieldOAuthClientID: "oid", FieldOAuthClientSecret: "osecret-1"}}
	by := Actor{Authorization: func(context.Context) (string, error) { return "Bearer admin-token-1", nil }}
	return privx{}.CreateReplacement(context.Background(), h, c, by)
}

// A create that answers with the old client's own id (an idempotent
// create by name does) is taken as a replacement: the rotation then
// "succeeds" without changing anything.
func TestPrivxReplacementCannotBeTheOldClient(t *testing.T) {
	srv, _ := privxFake(t, "old", func(_ int, w http.ResponseWriter) { _, _ = w.Write([]byte(oldClient)) })
	id, err := privxReplace(t, srv)
	if err == nil {
		t.Fatalf("the old client %q was accepted as its own replacement", id)
	}
}

// Worse: when that read-back fails, checkRoles deletes "the replacement",
// which is the role's own, live API client.
func TestPrivxFailedReadBackNeverDeletesTheOldClient(t *testing.T) {
	srv, deletes := privxFake(t, "old", func(n int, w http.ResponseWriter) {
		if n == 1 {
			_, _ = w.Write([]byte(oldClient))
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	_, _ = privxReplace(t, srv)
	if deletes.get("old") != 0 {
		t.Fatal("the role's own API client was deleted")
	}
}

// A token reply's expires_in that is not a number is quoted (40 bytes,
// unredacted), though it is not one of the error fields vendor text may be
// quoted from: a vendor that swaps or echoes fields puts the token, or an
// echoed secret, in the error.
func TestBadExpiresInIsNotQuoted(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.live-token"
	_, err := ParseOAuthToken("oauth2", []byte(`{"access_token":"`+tok+`","expires_in":"`+tok+`"}`))
	if err == nil {
		t.Fatal("want a bad response")
	}
	if strings.Contains(err.Error(), tok[:20]) {
		t.Fatalf("the token is in the error: %v", err)
	}
}
