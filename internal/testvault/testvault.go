// Package testvault runs real Vault servers and the vendor simulator for the
// acceptance tests and benchmarks: processes on loopback, bounded waits, and
// cleanup registered with the test.
package testvault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/vault/api"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// TB is the part of testing.TB these helpers use; *testing.T and
// *testing.B satisfy it, and so can an owner of package-lifetime resources.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Env holds the binaries, from the environment the Makefile sets.
type Env struct {
	// Vault is the server binary: a Vault, or an OpenBao (make test-openbao).
	Vault, Plugin, Sim, Version string
	// OpenBao is true when Vault is an OpenBao server, as its `version`
	// output says; the harness then sets what OpenBao needs (see
	// serverConfig and Cluster.waitMount).
	OpenBao bool
	// ServerVersion is the server's own version, as `version` prints it
	// (v1.21.0), for what differs between its releases.
	ServerVersion string
}

// VaultAtLeast reports whether the server is a Vault of version v or later.
func (e Env) VaultAtLeast(v string) bool {
	if e.OpenBao {
		return false
	}
	have, err1 := version.NewVersion(e.ServerVersion)
	want, err2 := version.NewVersion(v)
	return err1 == nil && err2 == nil && have.GreaterThanOrEqual(want)
}

// EnvFromOS reads VAULT_BIN, PLUGIN_BIN, SIM_BIN and PLUGIN_VERSION and fails
// loudly when one is missing: these tests are never skipped.
func EnvFromOS(t TB) Env {
	t.Helper()
	e := Env{Vault: os.Getenv("VAULT_BIN"), Plugin: os.Getenv("PLUGIN_BIN"), Sim: os.Getenv("SIM_BIN"), Version: os.Getenv("PLUGIN_VERSION")}
	for name, v := range map[string]string{"VAULT_BIN": e.Vault, "PLUGIN_BIN": e.Plugin, "SIM_BIN": e.Sim, "PLUGIN_VERSION": e.Version} {
		if v == "" {
			t.Fatalf("%s is not set: run the acceptance tests through `make acceptance` (scripts/acceptance.sh builds everything they need)", name)
		}
	}
	for _, p := range []string{e.Vault, e.Plugin, e.Sim} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("missing binary: %v", err)
		}
	}
	out, err := exec.Command(e.Vault, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", e.Vault, err)
	}
	switch {
	case strings.HasPrefix(string(out), "OpenBao "):
		e.OpenBao = true
	case strings.HasPrefix(string(out), "Vault "):
	default:
		t.Fatalf("%s is neither Vault nor OpenBao: its version says %q", e.Vault, out)
	}
	if f := strings.Fields(string(out)); len(f) > 1 {
		e.ServerVersion = strings.TrimSuffix(f[1], ",")
	}
	return e
}

// serverConfig is what every server's configuration file adds for this
// server kind. OpenBao refuses to enable an audit device through the API
// unless its configuration allows it; the acceptance tests audit through
// the API as an operator of Vault does.
func (e Env) serverConfig() string {
	if e.OpenBao {
		return "unsafe_allow_api_audit_creation = true\n"
	}
	return ""
}

// Name is the server's product name, for messages.
func (e Env) Name() string {
	if e.OpenBao {
		return "OpenBao"
	}
	return "Vault"
}

// ChildAttr starts a child in its own process group (so a kill reaches its
// plugins) and has the kernel kill it if the test binary dies first.
func ChildAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Server is one Vault server process with file storage.
type Server struct {
	t     TB
	env   Env
	Dir   string
	Addr  string
	Token string
	// UnsealKeys are the Shamir key shares that unseal it (threshold many).
	UnsealKeys []string
	LogPath    string
	// AuditPath is the file audit device's log (values HMAC'd, Vault's default).
	AuditPath string
	// Seen holds every response the CLI and the API clients got from it.
	Seen    *Recorder
	devArgs []string // -dev and its flags, for StartDev
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Recorder keeps texts for a search at the end of a run.
type Recorder struct {
	mu    sync.Mutex
	texts []string
}

// Add records a text.
func (r *Recorder) Add(text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.texts = append(r.texts, text)
}

// All returns every recorded text.
func (r *Recorder) All() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.texts...)
}

// recording passes requests on and records each response body.
type recording struct {
	base http.RoundTripper
	rec  *Recorder
}

func (t recording) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.rec.Add(string(body))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, err
}

// Start runs a Vault server on persistent file storage with the plugin
// directory set up, initialises and unseals it, registers the plugin by
// sha256 and version, and enables it at mount.
func Start(t TB, env Env, mount string) *Server {
	t.Helper()
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, env.Plugin, filepath.Join(plugins, "vault-plugin-secrets-vendor"))
	port := FreePort(t)
	s := &Server{t: t, env: env, Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", port), LogPath: filepath.Join(dir, "vault.log"),
		AuditPath: filepath.Join(dir, "audit.log"), Seen: &Recorder{}}
	conf := fmt.Sprintf(`
storage "file" { path = %q }
listener "tcp" {
  address     = "127.0.0.1:%d"
  tls_disable = true
}
plugin_directory = %q
api_addr         = %q
disable_mlock    = true
log_level        = "trace"
%s`, filepath.Join(dir, "data"), port, plugins, s.Addr, env.serverConfig())
	if err := os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.Stop)

	c := s.rawClient()
	init, err := c.Sys().Init(&api.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("vault operator init: %v\n%s", err, s.Log())
	}
	s.Token, s.UnsealKeys = init.RootToken, init.Keys
	s.unseal()
	// Every request from here on is audited, with Vault's default HMAC of values.
	s.MustCLI("audit", "enable", "file", "file_path="+s.AuditPath)

	s.MustCLI("plugin", "register", "-sha256="+sha256File(t, env.Plugin), "-version="+env.Version,
		"-command=vault-plugin-secrets-vendor", "secret", "vault-plugin-secrets-vendor")
	s.MustCLI("secrets", "enable", "-path="+mount, "-plugin-version="+env.Version, "vault-plugin-secrets-vendor")
	return s
}

// StartDev runs `vault server -dev` (in-memory storage, KV-v2 at secret/,
// root token "root", log level info) with plugins, a map of mount path to
// plugin binary: each is registered by sha256 under its file name and
// enabled at its mount. It
// serves the benchmark, which measures Vault as operators run it for speed
// tests; the acceptance tests use Start.
func StartDev(t TB, env Env, plugins map[string]string) *Server {
	t.Helper()
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, bin := range plugins {
		copyFile(t, bin, filepath.Join(pluginDir, filepath.Base(bin)))
	}
	port := FreePort(t)
	s := &Server{t: t, env: env, Dir: dir, Addr: fmt.Sprintf("http://127.0.0.1:%d", port), LogPath: filepath.Join(dir, "vault.log"),
		Token: "root", Seen: &Recorder{}, devArgs: []string{"-dev", "-dev-root-token-id=root", fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port)}}
	if err := os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(fmt.Sprintf("plugin_directory = %q\n", pluginDir)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(s.Stop)
	for mount, bin := range plugins {
		name := filepath.Base(bin)
		s.MustCLI("plugin", "register", "-sha256="+sha256File(t, bin), "-version="+env.Version, "-command="+name, "secret", name)
		s.MustCLI("secrets", "enable", "-path="+mount, "-plugin-version="+env.Version, name)
	}
	return s
}

// PluginPID is the process id of a running plugin binary started by this server.
func (s *Server) PluginPID(name string) (int, error) {
	out, err := exec.Command("pgrep", "-f", "-P", fmt.Sprint(s.cmd.Process.Pid), name).Output()
	if err != nil {
		return 0, fmt.Errorf("no %s process under Vault: %v", name, err)
	}
	var pid int
	_, err = fmt.Sscan(string(out), &pid)
	return pid, err
}

func (s *Server) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = exec.Command(s.env.Vault, append([]string{"server", "-config=" + filepath.Join(s.Dir, "vault.hcl")}, s.devArgs...)...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = ChildAttr()
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); logf.Close(); close(s.exited) }()
	c := s.rawClient()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := c.Sys().SealStatus(); err == nil {
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("vault server exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("vault server not up after 60s:\n%s", s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) unseal() {
	s.t.Helper()
	// A node joining a Raft cluster may not take keys at once: retry.
	deadline := time.Now().Add(60 * time.Second)
	for sealed := true; sealed; {
		for _, k := range s.UnsealKeys {
			st, err := s.rawClient().Sys().Unseal(k)
			if err == nil && !st.Sealed {
				sealed = false
				break
			}
		}
		if sealed {
			if time.Now().After(deadline) {
				s.t.Fatalf("unseal: still sealed after 60s:\n%s", s.Log())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Wait until the mount table is loaded (on a standby: until it can
	// reach the active node).
	c := s.Client()
	deadline = time.Now().Add(60 * time.Second)
	for {
		if _, err := c.Sys().ListMounts(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("vault not active after unseal:\n%s", s.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Restart stops the server gracefully and starts it again on the same storage.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
	s.unseal()
}

// Kill ends the server with SIGKILL, as a crash would.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop ends the server with SIGTERM, then SIGKILL after 20s.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	s.signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		s.signal(syscall.SIGKILL)
		<-s.exited
	}
}

func (s *Server) signal(sig syscall.Signal) {
	// The whole process group: Vault and its plugin processes.
	syscall.Kill(-s.cmd.Process.Pid, sig)
	if sig == syscall.SIGKILL {
		<-s.exited
	}
}

// Log returns the server's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

func (s *Server) rawClient() *api.Client {
	conf := api.DefaultConfig()
	conf.Address = s.Addr
	conf.MaxRetries = 0
	conf.Timeout = 30 * time.Second
	conf.HttpClient.Transport = recording{base: conf.HttpClient.Transport, rec: s.Seen}
	c, err := api.NewClient(conf)
	if err != nil {
		s.t.Fatal(err)
	}
	c.SetToken("")
	return c
}

// Client is a Vault API client with the root token.
func (s *Server) Client() *api.Client {
	c := s.rawClient()
	c.SetToken(s.Token)
	return c
}

// CLI runs the real vault CLI against the server.
func (s *Server) CLI(args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.env.Vault, args...)
	// OpenBao's CLI reads BAO_* first and VAULT_* when those are unset: set both.
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN="+s.Token, "VAULT_FORMAT=", "VAULT_NAMESPACE=",
		"BAO_ADDR="+s.Addr, "BAO_TOKEN="+s.Token, "BAO_FORMAT=", "BAO_NAMESPACE=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	s.Seen.Add(out.String() + errb.String())
	return out.String(), errb.String(), err
}

// MustCLI runs the vault CLI and fails the test on error.
func (s *Server) MustCLI(args ...string) string {
	s.t.Helper()
	out, errOut, err := s.CLI(args...)
	if err != nil {
		s.t.Fatalf("vault %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// Sim is a running vendor-sim, as its manifest describes it.
type Sim struct {
	vendortest.Manifest
	http *http.Client
}

// StartSim runs vendor-sim and waits for it to describe itself.
func StartSim(t TB, env Env) *Sim {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(env.Sim, "-dir", dir)
	// A log file, not the test's own stderr: a child holding go test's pipe
	// keeps go test waiting after a test binary dies.
	simLog, err := os.Create(filepath.Join(dir, "vendor-sim.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer simLog.Close()
	cmd.Stdout, cmd.Stderr = io.Discard, simLog
	cmd.SysProcAttr = ChildAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	var sim Sim
	for {
		m, err := vendortest.ReadManifest(dir)
		if err == nil {
			sim.Manifest = m
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("vendor-sim wrote no " + vendortest.ManifestFile + " within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	pem, err := os.ReadFile(sim.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	sim.http = trustingClient(t, pem)
	return &sim
}

// CallAPI presents authorization to the vendor's authenticated API.
func (s *Sim) CallAPI(vendor, authorization string) (int, error) {
	v := s.Vendors[vendor]
	req, err := http.NewRequest(v.APIMethod, v.BaseURL+v.APIPath, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", authorization)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Calls returns the per-vendor, per-endpoint call counters.
func (s *Sim) Calls(t TB) map[string]map[string]int {
	t.Helper()
	resp, err := http.Get(s.ControlURL + "/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Control posts a JSON body to a control endpoint (/fault, /lifetime, ...).
func (s *Sim) Control(t TB, path string, body any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(s.ControlURL+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("control %s: %s", path, resp.Status)
	}
}

// SecretIs reports whether secret is the account's secret at the vendor now.
func (s *Sim) SecretIs(t TB, vendor, id, secret string) bool {
	t.Helper()
	raw, _ := json.Marshal(map[string]string{"vendor": vendor, "id": id, "secret": secret})
	resp, err := http.Post(s.ControlURL+"/secret", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return true
	case http.StatusConflict:
		return false
	}
	t.Fatalf("control /secret: %s", resp.Status)
	return false
}

// Role returns the demo role of a vendor as written by vendor-sim.
func (s *Sim) Role(t TB, vendor string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(s.Vendors[vendor].RoleFile)
	if err != nil {
		t.Fatal(err)
	}
	var role map[string]any
	if err := json.Unmarshal(raw, &role); err != nil {
		t.Fatal(err)
	}
	return role
}

// AddAccount adds an account to a simulated vendor and returns a role for
// it (the demo role's address, CA and vendor fields, with this account's
// credentials).
func (s *Sim) AddAccount(t TB, vendor, id, secret string, admin bool) map[string]any {
	t.Helper()
	s.Control(t, "/account", map[string]any{"vendor": vendor, "id": id, "secret": secret, "admin": admin,
		"name": id, "roles": []string{"api-read"}})
	role := s.Role(t, vendor)
	role["client_id"], role["client_secret"] = id, secret
	return role
}

// SecretsEver returns every secret any simulated account ever had.
func (s *Sim) SecretsEver(t TB) []string { return s.stringList(t, "/secrets") }

// LeakForms returns every form (vendortest.LeakForms: raw, encoded,
// escaped, and the base64 of each Basic pair) of every secret any simulated
// account ever had, for leak searches.
func (s *Sim) LeakForms(t TB) []string { return s.stringList(t, "/leaks") }

// stringList reads a JSON list of strings from the control API.
func (s *Sim) stringList(t TB, path string) []string {
	t.Helper()
	resp, err := http.Get(s.ControlURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// RoleSecret returns the demo role's client_secret, for leak searches.
func (s *Sim) RoleSecrets(t TB) []string {
	t.Helper()
	var out []string
	for _, v := range s.Vendors {
		raw, err := os.ReadFile(v.RoleFile)
		if err != nil {
			t.Fatal(err)
		}
		var role map[string]any
		json.Unmarshal(raw, &role)
		for _, k := range []string{"client_secret", "oauth_client_secret"} {
			if sec, ok := role[k].(string); ok {
				out = append(out, sec)
			}
		}
	}
	return out
}

func copyFile(t TB, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o755); err != nil {
		t.Fatal(err)
	}
}

func sha256File(t TB, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func trustingClient(t TB, caPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("vendor-sim CA is not PEM")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
