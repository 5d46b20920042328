package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestUnspecifiedAddressIsRefusedAtDial: with no URL policy at all, a call
// to http://0.0.0.0:PORT, which on Linux connects to this machine, never
// reaches the loopback server at PORT, fails at once without retries, and
// says why.
func TestUnspecifiedAddressIsRefusedAtDial(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	if !strings.HasPrefix(u.Host, "127.0.0.1:") {
		t.Fatalf("the test server is not on loopback: %s", u.Host)
	}

	// Long waits between attempts: a retry would show as a slow test.
	h, err := NewHTTP(Options{MaxRetries: 3, RetryWaitMin: time.Minute, RetryWaitMax: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Never through a proxy from the environment: only loopback traffic.
	h.rc.HTTPClient.Transport.(*http.Transport).Proxy = nil

	for _, host := range []string{"0.0.0.0", "[::]"} {
		target := "http://" + host + ":" + u.Port() + "/token"
		_, err := h.do(context.Background(), request{vendor: "test", op: "token", method: http.MethodGet, url: target})
		if n := hits.Load(); n != 0 {
			t.Fatalf("%s: %d requests reached the loopback server", host, n)
		}
		var ue *UnavailableError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "unspecified") || !strings.Contains(err.Error(), "allowed_hosts") {
			t.Fatalf("%s: want an error that says the address is unspecified, got %v", host, err)
		}
	}
}

// TestDialControlRefusesWhereNoVendorLives checks the dialer's Control
// function on the addresses a connection would go to after DNS, without
// connecting anywhere.
func TestDialControlRefusesWhereNoVendorLives(t *testing.T) {
	for addr, why := range map[string]string{
		"169.254.169.254:80":          "link-local",
		"169.254.0.1:443":             "link-local",
		"[fe80::1]:443":               "link-local",
		"[fe80::1%eth0]:443":          "link-local",
		"[::ffff:169.254.169.254]:80": "link-local",
		"[64:ff9b::a9fe:a9fe]:80":     "link-local",
		"224.0.0.1:80":                "multicast",
		"239.255.255.250:1900":        "multicast",
		"[ff02::1]:443":               "multicast",
		"0.0.0.0:80":                  "unspecified",
		"[::]:443":                    "unspecified",
		"[::ffff:0.0.0.0]:443":        "unspecified",
		"not-an-address:443":          "cannot read",
		"169.254.169.254":             "cannot read",
	} {
		err := dialControl("tcp", addr, nil)
		var be *BlockedAddressError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "allowed_hosts") {
			t.Errorf("%s: want a refusal that says %q and names allowed_hosts, got %v", addr, why, err)
		}
	}
	for _, addr := range []string{
		"127.0.0.1:443", "[::1]:443", "10.0.0.1:443", "192.168.1.10:8443",
		"93.184.216.34:443", "[2606:4700:4700::1111]:443", "[::ffff:93.184.216.34]:443",
	} {
		if err := dialControl("tcp", addr, nil); err != nil {
			t.Errorf("%s refused: %v", addr, err)
		}
	}
}

// A refused address is final: retrying cannot change where a name points
// within one call, and each retry would be another attempt on it.
func TestBlockedAddressIsNotRetried(t *testing.T) {
	h, err := NewHTTP(Options{MaxRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	err = &url.Error{Op: "Get", URL: "http://x", Err: dialControl("tcp", "169.254.169.254:80", nil)}
	if retry, _ := h.shouldRetry(context.Background(), nil, err); retry {
		t.Fatal("a refused address would be retried")
	}
	if class, _ := classifyNetError(err); class != ClassBlocked {
		t.Fatalf("classified as %q", class)
	}
}
