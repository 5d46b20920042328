//go:build acceptance

package acceptance

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// hostsMount enables the plugin at a mount of its own, so that the host
// policy written here leaves the shared mount's config as other tests
// expect, and disables it when the test ends.
func (w *world) hostsMount(t *testing.T, path string) string {
	t.Helper()
	w.cli(t, "secrets", "enable", "-path="+path, "-plugin-version="+w.env.Version, "vault-plugin-secrets-vendor")
	t.Cleanup(func() { w.vault.CLI("secrets", "disable", path) })
	return path
}

// refused requires err to be a 400 from Vault whose text holds every part.
func refused(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 {
		t.Fatalf("%s: want a 400, got %v", what, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("%s: the 400 does not say %q: %v", what, p, err)
		}
	}
}

// TestHostPolicyRefusesAddressLikePatterns: through the vault CLI, an
// allowed_hosts pattern that looks like an address is a 400 naming
// allowed_hosts and the CIDR to write instead; IPs and CIDRs are taken,
// and patterns are stored in normal form.
func TestHostPolicyRefusesAddressLikePatterns(t *testing.T) {
	w := setup(t)
	m := w.hostsMount(t, "hosts-config")
	for pattern, says := range map[string]string{
		"10.*.*.*":       "10.0.0.0/8",
		"192.168.1.*":    "192.168.1.0/24",
		"fe80::1%eth0":   "zone",
		"169.254.0.0/16": "never dialled",
		"0.0.0.0":        "unspecified",
	} {
		_, stderr, err := w.vault.CLI("write", m+"/config", "allowed_hosts="+pattern)
		if err == nil || !strings.Contains(stderr, "Code: 400") || !strings.Contains(stderr, "allowed_hosts") ||
			!strings.Contains(stderr, pattern) || !strings.Contains(stderr, says) {
			t.Fatalf("allowed_hosts=%s: want a 400 naming allowed_hosts, the entry and %q, got %v: %s", pattern, says, err, stderr)
		}
	}
	w.cli(t, "write", m+"/config", "allowed_hosts=*.Cyral\u3002com,10.0.0.0/8,::1/128,127.0.0.1")
	out := w.cli(t, "read", "-field=allowed_hosts", m+"/config")
	if !strings.Contains(out, "*.cyral.com 10.0.0.0/8 ::1/128 127.0.0.1") {
		t.Fatalf("allowed_hosts read back as %s", out)
	}
}

// TestHostPolicyRefusesZoneIdsAndForeignFullStops: with allowed_hosts
// *.cyral.com (and the sim's own 127.0.0.1), a role whose URL host is an
// IPv6 zone id full of dots, or a name written with U+3002, U+FF0E or
// U+FF61 full stops, is a 400 naming base_url (token_url for oauth2) and the
// host, and nothing reaches the vendor.
func TestHostPolicyRefusesZoneIdsAndForeignFullStops(t *testing.T) {
	w := setup(t)
	m := w.hostsMount(t, "hosts-roles")
	w.cli(t, "write", m+"/config", "allowed_hosts=*.cyral.com,127.0.0.1", "allow_http=true")
	sim, _ := url.Parse(w.sim.Vendors["cyral"].BaseURL)
	port := sim.Port()
	before := w.sim.Calls(t)["cyral"]["token"]

	cyral := w.sim.Role(t, "cyral")
	oauth := w.sim.Role(t, "oauth2")
	write := func(name string, role map[string]any, field, value string) error {
		r := map[string]any{}
		for k, v := range role {
			r[k] = v
		}
		r[field] = value
		_, err := w.vault.Client().Logical().Write(m+"/roles/"+name, r)
		return err
	}
	for _, tc := range []struct{ url, host string }{
		{"http://[::ffff:7f00:1%25x.cyral.com]:" + port, "::ffff:7f00:1%x.cyral.com"},
		{"https://[::ffff:7f00:1%25x.cyral.com]:" + port, "::ffff:7f00:1%x.cyral.com"},
		{"https://evil\u3002acme.cyral.com:" + port, "evil\u3002acme.cyral.com"},
		{"https://evil\uff0eacme.cyral.com:" + port, "evil\uff0eacme.cyral.com"},
		{"https://evil\uff61acme.cyral.com:" + port, "evil\uff61acme.cyral.com"},
	} {
		refused(t, tc.url, write("zone", cyral, "base_url", tc.url), "base_url", tc.host)
		err := write("zone-oauth", oauth, "token_url", tc.url+"/oauth2/token?resource=query-text")
		refused(t, tc.url+" as a token_url", err, "token_url", tc.host)
		if strings.Contains(err.Error(), "query-text") {
			t.Fatalf("the 400 quotes the URL query: %v", err)
		}
	}
	if after := w.sim.Calls(t)["cyral"]["token"]; after != before {
		t.Fatalf("%d token requests reached the sim", after-before)
	}
	// The sim's own address is still fine.
	if err := write("ok", cyral, "base_url", w.sim.Vendors["cyral"].BaseURL); err != nil {
		t.Fatal(err)
	}
}

// TestHostPolicyNeverDialsTheUnspecifiedAddress: on Linux a connection to
// 0.0.0.0 reaches this machine. A role at http://0.0.0.0:PORT, where PORT
// is a plain-http cyral fake on loopback, is a 400 naming base_url and the
// host, whatever allowed_hosts says, and the fake sees no request.
func TestHostPolicyNeverDialsTheUnspecifiedAddress(t *testing.T) {
	w := setup(t)
	m := w.hostsMount(t, "hosts-zero")
	const id, secret = "hosts-zero", "Hosts-Zero-Secret-1 %#"
	fake := vendortest.NewPlainServer("cyral", vendortest.WithAccount(vendortest.Account{ID: id, Secret: secret}))
	defer fake.Close()
	u, _ := url.Parse(fake.URL)
	if u.Hostname() != "127.0.0.1" {
		t.Fatalf("the fake is not on loopback: %s", fake.URL)
	}
	w.cli(t, "write", m+"/config", "allow_http=true")
	role := map[string]any{"vendor": "cyral", "client_id": id, "client_secret": secret, "base_url": "http://0.0.0.0:" + u.Port()}

	for _, hosts := range []string{"", "127.0.0.0/8,*.cyral.com"} {
		if hosts != "" {
			w.cli(t, "write", m+"/config", "allowed_hosts="+hosts)
		}
		_, werr := w.vault.Client().Logical().Write(m+"/roles/zero", role)
		if werr == nil {
			// Accepted: see whether a mint goes through 0.0.0.0.
			w.vault.CLI("read", m+"/token/zero")
		}
		if n := fake.Calls("token"); n != 0 {
			t.Fatalf("allowed_hosts=%q: %d token requests reached the loopback fake through 0.0.0.0", hosts, n)
		}
		refused(t, "a role at 0.0.0.0", werr, "base_url", "0.0.0.0", "unspecified")
	}
}
