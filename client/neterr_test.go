package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Transport failures are described in plain words with what to check,
// never in Go's own text, which quotes the request line and the URL.
func TestTransportFailuresAreDescribed(t *testing.T) {
	wrap := func(err error) error {
		op := &net.OpError{Op: "dial", Net: "tcp", Err: err}
		return &url.Error{Op: "Post", URL: "https://api.example.com:8443/oauth/token?key=Query-Value-42", Err: op}
	}
	cert := &x509.Certificate{}
	cases := []struct {
		name, class, want, check string
		err                      error
	}{
		{"DNS name not found", ClassNetwork, `host name "api.example.com" not found (DNS)`, "DNS, firewall and proxy",
			wrap(&net.DNSError{Err: "no such host", Name: "api.example.com", IsNotFound: true})},
		{"DNS failing", ClassNetwork, "DNS lookup failed: server misbehaving", "DNS, firewall and proxy",
			wrap(&net.DNSError{Err: "server misbehaving", Name: "api.example.com"})},
		{"refused", ClassRefused, "connection refused: nothing accepts connections at that host and port", "check the host and port in the role's token_url",
			wrap(os.NewSyscallError("connect", syscall.ECONNREFUSED))},
		{"reset", ClassNetwork, "connection reset (by the vendor or a proxy between)", "DNS, firewall and proxy",
			wrap(os.NewSyscallError("read", syscall.ECONNRESET))},
		{"unreachable", ClassNetwork, "no route to the host", "DNS, firewall and proxy",
			wrap(os.NewSyscallError("connect", syscall.EHOSTUNREACH))},
		{"deadline", ClassTimeout, "timed out after 10s without an answer", "raise request_timeout",
			wrap(context.DeadlineExceeded)},
		{"unknown CA", ClassTLS, "TLS certificate not trusted", "set the role's ca_cert",
			wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{Cert: cert}})},
		{"name mismatch", ClassTLS, `TLS certificate not valid for "api.example.com" (it was issued for another name)`, "the host name the certificate was issued for",
			wrap(x509.HostnameError{Certificate: cert, Host: "api.example.com"})},
		{"expired", ClassTLS, "TLS certificate expired or not yet valid", "ca_cert",
			wrap(x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired})},
		{"plain http on the port", ClassTLS, "the server did not answer in TLS (an http server on that port?)", "https to a TLS port",
			wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"})},
		{"anything else", ClassNetwork, "network error: protocol error", "DNS, firewall and proxy",
			wrap(errors.New("protocol error"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			class, detail := classifyNetError(c.err)
			e := &UnavailableError{Vendor: "oauth2", Op: "token", Class: class, Host: "api.example.com:8443", Path: "/oauth/token",
				Detail: detail, Timeout: 10 * time.Second}
			msg := e.Error()
			if class != c.class || !strings.HasPrefix(msg, "oauth2 token request to api.example.com:8443/oauth/token failed: "+c.want) || !strings.Contains(msg, c.check) {
				t.Fatalf("class %q, message %q", class, msg)
			}
			for _, raw := range []string{"dial tcp", "Post ", "Query-Value-42", "x509:", "tls:"} {
				if strings.Contains(msg, raw) {
					t.Fatalf("message quotes %q: %q", raw, msg)
				}
			}
		})
	}
}

// The answers of a vendor that is up but failing say so, with its status.
func TestVendorAnswersAreDescribed(t *testing.T) {
	for _, c := range []struct {
		e    UnavailableError
		want string
	}{
		{UnavailableError{Class: ClassServer, Status: 503, Detail: "maintenance"}, "the vendor answered HTTP 503 (a server error): maintenance; the vendor's service is failing"},
		{UnavailableError{Class: ClassRateLimited, Status: 429}, "the vendor answered HTTP 429 (too many requests); wait before retrying"},
		{UnavailableError{Class: ClassTimeout, Status: 408}, "the vendor answered HTTP 408 (it timed out); the vendor is slow or failing"},
		{UnavailableError{Class: ClassBadResponse, Detail: "the reply has no clientSecret"}, "the vendor's answer could not be used: the reply has no clientSecret; check that the role's base_url is the vendor's API address"},
	} {
		c.e.Vendor, c.e.Op = "cyral", "token"
		if got := c.e.Error(); !strings.HasPrefix(got, "cyral token request failed: "+c.want) {
			t.Errorf("got %q, want it to start %q", got, "cyral token request failed: "+c.want)
		}
	}
}
