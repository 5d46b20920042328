// Command vendor-sim serves every vendor fake from client/vendortest over
// HTTPS on loopback, each on its own port, with a CA it generates. It writes
// into -dir:
//
//	ca.pem             the CA that signed the servers' certificate
//	sim.json           base URLs, the control URL, and each vendor's API path
//	                   (vendortest.Manifest)
//	roles/<vendor>.json  a demo role for `vault write <mount>/roles/<name> @file`
//
// and serves a control API (faults, counters, lifetimes) on plain HTTP.
// It runs until interrupted.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

func main() {
	dir := flag.String("dir", "", "folder to write ca.pem, sim.json and roles/ into (required)")
	host := flag.String("host", "127.0.0.1", "loopback address to listen on")
	flag.Parse()
	if *dir == "" {
		log.Fatal("vendor-sim: -dir is required")
	}
	if ip := net.ParseIP(*host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("vendor-sim: -host must be a loopback address, not %q", *host)
	}
	if err := run(*dir, *host); err != nil {
		log.Fatalf("vendor-sim: %v", err)
	}
}

func run(dir, host string) error {
	if err := os.MkdirAll(filepath.Join(dir, "roles"), 0o700); err != nil {
		return err
	}
	caPEM, cert, err := newCA(host)
	if err != nil {
		return err
	}
	sim := vendortest.Manifest{CAFile: filepath.Join(dir, "ca.pem"), Vendors: map[string]vendortest.ManifestVendor{}}
	if err := os.WriteFile(sim.CAFile, caPEM, 0o600); err != nil {
		return err
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	fakes := map[string]*vendortest.Fake{}
	var servers []*http.Server
	for _, name := range vendortest.Vendors() {
		acct, role := demoAccount(name)
		f := vendortest.New(name, vendortest.WithAccount(acct))
		fakes[name] = f
		ln, err := tls.Listen("tcp", net.JoinHostPort(host, "0"), tlsConf)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go srv.Serve(ln)

		base := "https://" + ln.Addr().String()
		if name == "oauth2" {
			role["token_url"] = base + vendortest.OAuth2TokenPath
		} else {
			role["base_url"] = base
		}
		role["ca_cert"] = string(caPEM)
		roleFile := filepath.Join(dir, "roles", name+".json")
		raw, _ := json.MarshalIndent(role, "", "  ")
		if err := os.WriteFile(roleFile, raw, 0o600); err != nil {
			return err
		}
		method, path := vendortest.APIEndpoint(name)
		sim.Vendors[name] = vendortest.ManifestVendor{BaseURL: base, APIMethod: method, APIPath: path, RoleFile: roleFile}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return err
	}
	ctl := &http.Server{Handler: vendortest.ControlHandler(fakes), ReadHeaderTimeout: 10 * time.Second}
	servers = append(servers, ctl)
	go ctl.Serve(ln)
	sim.ControlURL = "http://" + ln.Addr().String()

	if err := vendortest.WriteManifest(dir, sim); err != nil {
		return err
	}
	for _, name := range vendortest.Vendors() {
		fmt.Printf("%-13s %s\n", name, sim.Vendors[name].BaseURL)
	}
	fmt.Printf("%-13s %s\n%-13s %s\n", "CA", sim.CAFile, "control", sim.ControlURL)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
	for _, s := range servers {
		s.Close()
	}
	return nil
}

// demoAccount makes credentials the fake accepts and the matching role. The
// secret carries characters that expose any encoding mistake on the wire.
func demoAccount(vendor string) (vendortest.Account, map[string]any) {
	secret := "demo-" + randomHex(12) + " %#&+=:@"
	acct := vendortest.Account{ID: "vault-demo", Secret: secret, Name: "vault-demo", Roles: []string{"api-read"}}
	role := map[string]any{"vendor": vendor, "client_id": acct.ID, "client_secret": secret}
	switch vendor {
	case "cyberark":
		acct.ID = "vault-demo@cyberark.cloud.4242"
		role["client_id"] = acct.ID
	case "privx":
		acct.OAuthClientID, acct.OAuthClientSecret = "privx-external", "oauth-"+randomHex(12)+"%:#"
		role["oauth_client_id"], role["oauth_client_secret"] = acct.OAuthClientID, acct.OAuthClientSecret
	case "oauth2":
		acct.Scopes = []string{"read", "write"}
		role["scopes"] = "read"
	}
	return acct, role
}

// newCA makes a CA and a server certificate it signs for the loopback names.
func newCA(host string) ([]byte, tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vendor-sim CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "vendor-sim"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP(host), net.IPv6loopback, net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
