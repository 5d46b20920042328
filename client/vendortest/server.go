package vendortest

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
)

// Server serves one Fake over HTTPS (or plain HTTP) on loopback.
type Server struct {
	*Fake
	// URL is the vendor's base URL, as a role's base_url.
	URL string
	srv *httptest.Server
}

// NewServer starts a fake vendor over TLS with httptest's self-signed
// certificate; CACert returns it for a role's ca_cert.
func NewServer(vendor string, opts ...Option) *Server {
	f := New(vendor, opts...)
	srv := httptest.NewTLSServer(f)
	return &Server{Fake: f, URL: srv.URL, srv: srv}
}

// NewPlainServer starts a fake vendor over plain HTTP.
func NewPlainServer(vendor string, opts ...Option) *Server {
	f := New(vendor, opts...)
	srv := httptest.NewServer(f)
	return &Server{Fake: f, URL: srv.URL, srv: srv}
}

// RoleURL is the URL a role names: the token URL for oauth2, else the base URL.
func (s *Server) RoleURL() string {
	if s.Vendor() == "oauth2" {
		return s.URL + OAuth2TokenPath
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
