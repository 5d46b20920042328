package vendortest

import (
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// Server serves one Fake over HTTPS (or plain HTTP) on loopback.
type Server struct {
	*Fake
	// URL is the vendor's base URL, as a role's base_url.
	URL   string
	srv   *httptest.Server
	conns atomic.Int64
}

// NewServer starts a fake vendor over TLS with httptest's self-signed
// certificate; CACert returns it for a role's ca_cert.
func NewServer(vendor string, opts ...Option) *Server {
	s := &Server{Fake: New(vendor, opts...)}
	s.srv = httptest.NewUnstartedServer(s.Fake)
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.srv.StartTLS()
	s.URL = s.srv.URL
	return s
}

// Conns counts the connections clients have opened to the server.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// NewPlainServer starts a fake vendor over plain HTTP.
func NewPlainServer(vendor string, opts ...Option) *Server {
	s := &Server{Fake: New(vendor, opts...)}
	s.srv = httptest.NewServer(s.Fake)
	s.URL = s.srv.URL
	return s
}

// RoleURL is the URL a role names: the token URL for oauth2, else the base URL.
func (s *Server) RoleURL() string {
	if p := s.spec.tokenPath; p != "" {
		return s.URL + p
	}
	return s.URL
}

// CACert is the server certificate in PEM, empty for a plain server.
func (s *Server) CACert() string {
	c := s.srv.Certificate()
	if c == nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// Client is an HTTP client that trusts the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CallAPI presents authorization to the vendor's authenticated API and
// returns the status code.
func (s *Server) CallAPI(authorization string) (int, error) {
	req, err := s.APIRequest(s.URL, authorization)
	if err != nil {
		return 0, err
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }
