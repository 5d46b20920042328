package vendor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// rbStatus is the HTTP status Vault would answer with.
func rbStatus(t *testing.T, resp *logical.Response, err error) int {
	t.Helper()
	if resp != nil && resp.Data[logical.HTTPStatusCode] != nil {
		return resp.Data[logical.HTTPStatusCode].(int)
	}
	if code, _ := logical.RespondErrorCommon(&logical.Request{}, resp, err); code != 0 {
		return code
	}
	return http.StatusOK
}

// rbRefused requires the exact status and a message holding every part.
func (h *harness) rbRefused(op logical.Operation, path string, data map[string]any, status int, parts ...string) string {
	h.t.Helper()
	resp, err := h.do(op, path, data)
	if got := rbStatus(h.t.(*testing.T), resp, err); got != status {
		h.t.Fatalf("%s %s: status %d, want %d (%v %v)", op, path, got, status, resp, err)
	}
	msg := resp.Error().Error()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			h.t.Fatalf("%s %s: message %q lacks %q", op, path, msg, p)
		}
	}
	return msg
}

// goDuration matches the forms of Go's Duration.String that durText never
// writes (1m0s, 1h0m0s, 2h0m, 1.5s, 250ms), which no message may use.
var goDuration = regexp.MustCompile(`\b\d+(h\d+)?m0s\b|\b\d+h0m\b|\b\d+\.\d+s\b|\b\d+(ms|µs|ns)\b`)

// durationText matches a whole string that is a duration in any text form.
var durationText = regexp.MustCompile(`^(\d+h)?(\d+m)?(\d+(\.\d+)?(s|ms|µs|ns))?$`)

// rbNoGoDurations fails on a string value in data that is a duration in
// text form: reads give durations as integer seconds.
func rbNoGoDurations(t *testing.T, where string, data map[string]any) {
	t.Helper()
	for k, v := range data {
		if s, ok := v.(string); ok && s != "" && durationText.MatchString(s) {
			t.Errorf("%s: %s = %q is a duration in text; reads give integer seconds", where, k, s)
		}
	}
}

func rbSeconds(t *testing.T, where string, data map[string]any, want map[string]int64) {
	t.Helper()
	for k, w := range want {
		got, ok := data[k].(int64)
		if !ok {
			t.Errorf("%s: %s = %v (%T), want integer seconds", where, k, data[k], data[k])
			continue
		}
		if w >= 0 && got != w {
			t.Errorf("%s: %s = %d, want %d", where, k, got, w)
		}
	}
}

func TestReadsGiveDurationsAsIntegerSeconds(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	role["rotation_period"] = "1d"
	role["token_ttl_cap"] = "2m"
	role["refresh_before"] = "45s"
	h.ok(logical.CreateOperation, "roles/c", role)
	h.ok(logical.UpdateOperation, "config", map[string]any{"request_timeout": "1m30s"})

	data := h.ok(logical.ReadOperation, "roles/c", nil)
	rbSeconds(t, "role read", data, map[string]int64{"rotation_period": 86400, "token_ttl_cap": 120, "refresh_before": 45})
	rbNoGoDurations(t, "role read", data)

	cfg := h.ok(logical.ReadOperation, "config", nil)
	if n, ok := cfg["request_timeout"].(int64); !ok || n != 90 {
		t.Errorf("config request_timeout = %v (%T), want 90", cfg["request_timeout"], cfg["request_timeout"])
	}
	rbNoGoDurations(t, "config read", cfg)

	tok := h.ok(logical.ReadOperation, "token/c", nil)
	rbSeconds(t, "token read", tok, map[string]int64{"lifetime": 120, "rotation_period": 120, "expires_in": 120, "ttl": 75})
	rbNoGoDurations(t, "token read", tok)

	rot := h.ok(logical.UpdateOperation, "rotate-role/c", nil)
	rbNoGoDurations(t, "rotate-role", rot)
}

// The token read's lifetime is the same value as its rotation_period, the
// name Vault Agent reads.
func TestTokenReadGivesLifetimeBesideRotationPeriod(t *testing.T) {
	for _, vendor := range vendortest.Vendors() {
		t.Run(vendor, func(t *testing.T) {
			h := newHarness(t)
			_, role := h.vendorServer(vendor)
			h.ok(logical.CreateOperation, "roles/r", role)
			tok := h.ok(logical.ReadOperation, "token/r", nil)
			if intOf(t, tok["lifetime"]) != intOf(t, tok["rotation_period"]) || intOf(t, tok["lifetime"]) <= 0 {
				t.Fatalf("lifetime %v, rotation_period %v", tok["lifetime"], tok["rotation_period"])
			}
		})
	}
}

// A vendor whose tokens carry no lifetime (cyberark-pam) has them live
// 5 minutes unless token_ttl_cap says otherwise: the read shows the cap in
// force, not 0, and refresh_before as tokens get it.
func TestReadShowsEffectiveCapAndRefreshBefore(t *testing.T) {
	h := newHarness(t)
	_, pam := h.vendorServer("cyberark-pam")
	h.ok(logical.CreateOperation, "roles/pam", pam)
	data := h.ok(logical.ReadOperation, "roles/pam", nil)
	rbSeconds(t, "pam, no cap", data, map[string]int64{"token_ttl_cap": 300, "refresh_before": 60})
	tok := h.ok(logical.ReadOperation, "token/pam", nil)
	if intOf(t, tok["lifetime"]) != intOf(t, data["token_ttl_cap"]) {
		t.Fatalf("read says cap %v, tokens live %v", data["token_ttl_cap"], tok["lifetime"])
	}

	h.ok(logical.PatchOperation, "roles/pam", map[string]any{"token_ttl_cap": 90})
	data = h.ok(logical.ReadOperation, "roles/pam", nil)
	// A third of 90s: the default refresh_before of a short lifetime.
	rbSeconds(t, "pam, cap 90s", data, map[string]int64{"token_ttl_cap": 90, "refresh_before": 30})

	// An explicit refresh_before is held to half the lifetime.
	h.ok(logical.PatchOperation, "roles/pam", map[string]any{"token_ttl_cap": 60, "refresh_before": 50})
	data = h.ok(logical.ReadOperation, "roles/pam", nil)
	rbSeconds(t, "pam, cap 60s, refresh 50s", data, map[string]int64{"token_ttl_cap": 60, "refresh_before": 30})

	// A vendor that says its tokens' lifetime keeps 0 (no cap); refresh_before
	// follows the lifetime of the token this node holds once it has one.
	_, cyral := h.vendorServer("cyral", vendortest.WithLifetime(90*time.Second))
	h.ok(logical.CreateOperation, "roles/cy", cyral)
	data = h.ok(logical.ReadOperation, "roles/cy", nil)
	rbSeconds(t, "cyral before a mint", data, map[string]int64{"token_ttl_cap": 0, "refresh_before": 60})
	h.ok(logical.ReadOperation, "token/cy", nil)
	data = h.ok(logical.ReadOperation, "roles/cy", nil)
	rbSeconds(t, "cyral after a 90s token", data, map[string]int64{"token_ttl_cap": 0, "refresh_before": 30})
}

// rbCert makes a self-signed CA certificate valid until notAfter.
func rbCert(t *testing.T, cn string, notAfter time.Time) ([]byte, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Vendor Test"}},
		NotBefore:             notAfter.Add(-2 * 365 * 24 * time.Hour),
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func rbList(t *testing.T, data map[string]any, key string) []string {
	t.Helper()
	l, ok := data[key].([]string)
	if !ok {
		t.Fatalf("%s = %v (%T), want a list of strings", key, data[key], data[key])
	}
	return l
}

func TestRoleReadDescribesTheCACertificates(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("incydr")
	now := h.clock.Now()
	farDER, far := rbCert(t, "Far Root", now.Add(400*24*time.Hour))
	soonDER, soon := rbCert(t, "Soon Root", now.Add(10*24*time.Hour))
	_, gone := rbCert(t, "Gone Root", now.Add(-time.Hour))

	// One certificate, valid for long: its subject, expiry and fingerprint,
	// and no warning.
	role["ca_cert"] = far
	h.ok(logical.CreateOperation, "roles/i", role)
	resp, err := h.do(logical.ReadOperation, "roles/i", nil)
	if err != nil || resp.IsError() {
		t.Fatal(resp, err)
	}
	sum := sha256.Sum256(farDER)
	if got := rbList(t, resp.Data, "ca_cert_subject"); len(got) != 1 || got[0] != "CN=Far Root,O=Vendor Test" {
		t.Errorf("ca_cert_subject %q", got)
	}
	if got := rbList(t, resp.Data, "ca_cert_expires_at"); len(got) != 1 || got[0] != now.Add(400*24*time.Hour).UTC().Format(time.RFC3339) {
		t.Errorf("ca_cert_expires_at %q", got)
	}
	if got := rbList(t, resp.Data, "ca_cert_sha256"); len(got) != 1 || got[0] != hex.EncodeToString(sum[:]) {
		t.Errorf("ca_cert_sha256 %q, want %s", got, hex.EncodeToString(sum[:]))
	}
	if len(resp.Warnings) != 0 {
		t.Errorf("warnings for a CA valid for 400 days: %v", resp.Warnings)
	}

	// Two certificates: one entry each, in PEM order, and a warning for the
	// one that expires within 30 days, saying when and how to replace it.
	h.ok(logical.PatchOperation, "roles/i", map[string]any{"ca_cert": far + soon})
	resp, _ = h.do(logical.ReadOperation, "roles/i", nil)
	soonSum := sha256.Sum256(soonDER)
	if got := rbList(t, resp.Data, "ca_cert_subject"); len(got) != 2 || got[0] != "CN=Far Root,O=Vendor Test" || got[1] != "CN=Soon Root,O=Vendor Test" {
		t.Errorf("ca_cert_subject %q", got)
	}
	if got := rbList(t, resp.Data, "ca_cert_sha256"); len(got) != 2 || got[1] != hex.EncodeToString(soonSum[:]) || strings.Contains(got[1], ":") {
		t.Errorf("ca_cert_sha256 %q", got)
	}
	if len(resp.Warnings) != 1 {
		t.Fatalf("warnings %v, want one for the certificate expiring in 10 days", resp.Warnings)
	}
	for _, want := range []string{"ca_cert certificate 2 of 2 (CN=Soon Root,O=Vendor Test)", "expires at " + now.Add(10*24*time.Hour).UTC().Format(time.RFC3339), "in 10 days", "vault patch vendor/roles/i ca_cert=@ca.pem"} {
		if !strings.Contains(resp.Warnings[0], want) {
			t.Errorf("warning %q lacks %q", resp.Warnings[0], want)
		}
	}

	// An expired one: the warning says so and what it breaks.
	h.ok(logical.PatchOperation, "roles/i", map[string]any{"ca_cert": gone})
	resp, _ = h.do(logical.ReadOperation, "roles/i", nil)
	if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "expired at") || !strings.Contains(resp.Warnings[0], "TLS to the vendor fails") || !strings.Contains(resp.Warnings[0], "ca_cert=@ca.pem") {
		t.Fatalf("warnings %v", resp.Warnings)
	}

	// No ca_cert: empty lists, not absent rows.
	h.ok(logical.PatchOperation, "roles/i", map[string]any{"ca_cert": nil})
	data := h.ok(logical.ReadOperation, "roles/i", nil)
	for _, k := range []string{"ca_cert_subject", "ca_cert_expires_at", "ca_cert_sha256"} {
		if l := rbList(t, data, k); len(l) != 0 {
			t.Errorf("%s = %q without a ca_cert", k, l)
		}
	}
}

// Messages give durations as an operator types them back.
func TestMessagesGiveDurationsAsTyped(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	role["token_ttl_cap"] = "1m"
	role["refresh_before"] = "1m"
	msg := h.rbRefused(logical.CreateOperation, "roles/c", role, http.StatusBadRequest,
		"refresh_before must be shorter than token_ttl_cap (1m)", "lower refresh_before, or raise token_ttl_cap")
	if goDuration.MatchString(msg) {
		t.Errorf("message %q has a Go duration", msg)
	}
	role["refresh_before"] = "20s"
	h.ok(logical.CreateOperation, "roles/c", role)
	msg = h.rbRefused(logical.ReadOperation, "token/c", map[string]any{"min_remaining": "2h"}, http.StatusBadRequest,
		"min_remaining of 2h cannot be met", "live 1m (token_ttl_cap)", "replaced when 20s is left", "ask for at most 40s")
	if goDuration.MatchString(msg) {
		t.Errorf("message %q has a Go duration", msg)
	}
	msg = h.rbRefused(logical.UpdateOperation, "config", map[string]any{"request_timeout": "1h"}, http.StatusBadRequest,
		"request_timeout must be between 1s and 5m")
	if goDuration.MatchString(msg) {
		t.Errorf("message %q has a Go duration", msg)
	}
}

func TestDurationPatternsCatchGoForms(t *testing.T) {
	for _, s := range []string{"1m0s", "1h0m0s", "2h0m", "250ms", "1.5s", "at 5m0s left"} {
		if !goDuration.MatchString(s) {
			t.Errorf("goDuration misses %q", s)
		}
	}
	for _, s := range []string{"90s", "5m", "1h30m", "5m30s", "2026-11-22T12:00:00Z", "240h"} {
		if goDuration.MatchString(s) {
			t.Errorf("goDuration takes durText's %q", s)
		}
	}
	for _, s := range []string{"0s", "5m0s", "90s", "1h"} {
		if !durationText.MatchString(s) {
			t.Errorf("durationText misses %q", s)
		}
	}
	for _, s := range []string{"cyral", "2026-11-22T12:00:00Z", "https://x"} {
		if durationText.MatchString(s) {
			t.Errorf("durationText takes %q", s)
		}
	}
}
