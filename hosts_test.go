package vendor

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// Hosts that once passed a name pattern while Go dialled somewhere else:
// the dots of an IPv6 zone id, and the full stops of other scripts that
// IDNA maps to '.'.
const (
	zoneAttack       = "::ffff:7f00:1%x.cyral.com"
	ideographicStops = "evil\u3002acme.cyral.com"
	fullwidthStops   = "evil\uff0eacme.cyral.com"
	halfwidthStops   = "evil\uff61acme.cyral.com"
)

// TestHostPolicyIsExact: a name pattern's '*' is one DNS label of the host
// as it is dialled, and an IP literal matches only IP and CIDR entries.
func TestHostPolicyIsExact(t *testing.T) {
	for _, tc := range []struct {
		patterns string
		host     string
		want     bool
	}{
		// One label, no more, no less.
		{"*.cyral.com", "acme.cyral.com", true},
		{"*.cyral.com", "ACME.Cyral.com.", true},
		{"*.cyral.com", "cyral.com", false},
		{"*.cyral.com", "a.b.cyral.com", false},
		{"*.cyral.com", "acme.cyral.com.evil.io", false},
		{"api.*.code42.com", "api.us2.code42.com", true},
		{"api.*.code42.com", "api.code42.com", false},
		{"privx.example.com", "PrivX.Example.com.", true},
		// IDNA: hosts are matched in the ASCII form that is looked up.
		{"*.cyral.com", ideographicStops, false},
		{"*.cyral.com", fullwidthStops, false},
		{"*.cyral.com", halfwidthStops, false},
		{"*.cyral.com", "acme\u3002cyral.com", false}, // dialled as acme.cyral.com, but not in normal form
		{"*.xn--bcher-kva.de", "shop.xn--bcher-kva.de", true},
		{"*.xn--bcher-kva.de", "shop.bücher.de", false}, // to be written in its ASCII form
		// Zone ids.
		{"*.cyral.com", zoneAttack, false},
		{"*.cyral.com", "fe80::1%eth0.cyral.com", false},
		{"*.cyral.com", "acme%x.cyral.com", false},
		// Addresses: by netip, never label by label.
		{"10.0.0.0/8", "10.1.2.3", true},
		{"10.0.0.0/8", "11.1.2.3", false},
		{"10.0.0.0/8", "10.attacker.example.com", false},
		{"10.*.*.*", "10.attacker.example.com", false}, // refused at config write; never matches
		{"*.*.*.com", "10.1.2.com", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"::1/128", "::1", true},
		{"::1", "::1", true},
		{"::1/128", "::2", false},
		{"fd00::/8", "fd12:3456::1", true},
		{"10.0.0.0/8", "::ffff:10.1.2.3", false}, // a mapped form is not the normal form
		{"10.0.0.0/8", "::ffff:a01:203", false},
		{"127.0.0.1", "::ffff:127.0.0.1", false},
		{"127.0.0.0/8", "127.1", false},      // resolvers read 127.1 as 127.0.0.1
		{"127.0.0.0/8", "0x7f.0.0.1", false}, // and this
		{"127.0.0.0/8", "2130706433", false}, // and this
		{"127.0.0.0/8", "127.0.0.1.", false}, // and this
		// A name never matches an address entry, nor an address a name pattern.
		{"127.0.0.1", "localhost", false},
		{"*.0.0.1", "127.0.0.1", false},
		{"*.example.com", "1.example.com", true},
		// Lists.
		{"a.example.com,10.0.0.0/8,*.cyral.com", "acme.cyral.com", true},
		{"a.example.com,10.0.0.0/8,*.cyral.com", "10.9.9.9", true},
		{"a.example.com,10.0.0.0/8,*.cyral.com", "b.example.com", false},
	} {
		if got := hostAllowed(strings.Split(tc.patterns, ","), tc.host); got != tc.want {
			t.Errorf("%s ~ %q = %v, want %v", tc.patterns, tc.host, got, tc.want)
		}
	}
}

// TestHostPatternValidation: allowed_hosts takes name patterns, IP
// addresses and CIDRs, and refuses anything that looks like an address but
// would be matched as a name.
func TestHostPatternValidation(t *testing.T) {
	for _, p := range []string{
		"*.cyral.com", "api.*.code42.com", "privx.example.com", "*.xn--bcher-kva.de",
		"127.0.0.1", "10.0.0.0/8", "192.168.1.0/24", "::1", "::1/128", "fd00::/8", "2001:db8::/32",
		"10.*.*.com", "*.1.example.com",
	} {
		if err := checkHostPattern(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for p, why := range map[string]string{
		"10.*.*.*":         "10.0.0.0/8",
		"192.168.1.*":      "CIDR",
		"*.*.*.1":          "CIDR",
		"*.0.0.1":          "CIDR",
		"10.0.*.0":         "CIDR",
		"example.1":        "CIDR",
		"fe80::1%eth0":     "zone",
		"*.cyral.com%eth0": "zone",
		"::ffff:10.0.0.1":  "10.0.0.1",
		"10.1.2.3/8":       "10.0.0.0/8",
		"169.254.169.254":  "link-local",
		"169.254.0.0/16":   "link-local",
		"fe80::/10":        "link-local",
		"0.0.0.0":          "unspecified",
		"::":               "unspecified",
		"224.0.0.0/4":      "multicast",
		"ff02::1":          "multicast",
		"*.cyral.com:443":  "port",
		"a::b::c":          "CIDR",
		"https://x.com":    "scheme",
		"a*.com":           "one whole label",
		"*.*":              "at least one",
		"a..com":           "empty",
		"under_score.com":  "",
	} {
		err := checkHostPattern(p)
		if err == nil {
			t.Errorf("%q accepted", p)
			continue
		}
		if !strings.Contains(err.Error(), why) {
			t.Errorf("%q refused with %q, which does not say %q", p, err, why)
		}
	}
}

// TestConfigStoresNormalHostPatterns: patterns are normalised at config
// write the way hosts are, and address-like patterns are refused in favour
// of CIDRs, with a 400 naming allowed_hosts.
func TestConfigStoresNormalHostPatterns(t *testing.T) {
	h := newHarness(t)
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "10.*.*.*"}, "allowed_hosts", "10.*.*.*", "10.0.0.0/8")
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "192.168.1.*"}, "allowed_hosts", "192.168.1.*", "CIDR")
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "fe80::1%eth0"}, "allowed_hosts", "zone")
	h.badRequest(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "169.254.0.0/16"}, "allowed_hosts", "link-local")
	h.ok(logical.UpdateOperation, "config", map[string]any{
		"allowed_hosts": "*.Cyral\u3002com,API.*.code42.com.,*.bücher.de,10.0.0.0/8,::1/128,127.0.0.1,FD00::/8",
	})
	got := h.ok(logical.ReadOperation, "config", nil)["allowed_hosts"].([]string)
	want := "*.cyral.com,api.*.code42.com,*.xn--bcher-kva.de,10.0.0.0/8,::1/128,127.0.0.1,fd00::/8"
	if strings.Join(got, ",") != want {
		t.Fatalf("stored %v, want %s", got, want)
	}
}

// TestRoleURLHostsAreExact writes roles whose URL host once passed
// *.cyral.com: each is a 400 naming the URL field and the host, and a role
// stored before the policy tightened is refused at call time, naming its
// own URL field.
func TestRoleURLHostsAreExact(t *testing.T) {
	h := newHarness(t)
	srv, cyral := h.vendorServer("cyral")
	_, oauth := h.vendorServer("oauth2")
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.cyral.com,127.0.0.1", "allow_http": true})

	for _, tc := range []struct{ url, host string }{
		{"http://[::ffff:7f00:1%25x.cyral.com]:" + port, zoneAttack},
		{"https://[::ffff:7f00:1%25x.cyral.com]:" + port, zoneAttack},
		{"https://" + ideographicStops, ideographicStops},
		{"https://" + fullwidthStops, fullwidthStops},
		{"https://" + halfwidthStops, halfwidthStops},
		{"https://evil%E3%80%82acme.cyral.com", ideographicStops},
		{"https://acme.cyral.com%25eth0", "acme.cyral.com%eth0"},
		{"https://127.1:" + port, "127.1"},
		{"https://[0:0:0:0:0:0:0:1]:" + port, "0:0:0:0:0:0:0:1"},
		{"https://[::ffff:127.0.0.1]:" + port, "::ffff:127.0.0.1"},
	} {
		msg := h.badRequest(logical.CreateOperation, "roles/r", withFields(cyral, "base_url", tc.url), "base_url")
		if !strings.Contains(msg, tc.host) {
			t.Errorf("%s: message %q does not name the host %q", tc.url, msg, tc.host)
		}
		msg = h.badRequest(logical.CreateOperation, "roles/o", withFields(oauth, "token_url", tc.url+"/token?aud=secret-query"), "token_url")
		if !strings.Contains(msg, tc.host) || strings.Contains(msg, "base_url") || strings.Contains(msg, "secret-query") {
			t.Errorf("%s: message %q does not name the host, or names base_url, or quotes the query", tc.url, msg)
		}
	}
	if srv.Calls("token") != 0 {
		t.Fatalf("%d calls reached the vendor", srv.Calls("token"))
	}

	// Stored while the policy allowed it, refused at call time once it
	// does not, naming the role's own URL field and host.
	h.ok(logical.CreateOperation, "roles/o", oauth)
	h.ok(logical.CreateOperation, "roles/c", cyral)
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.cyral.com", "force": true})
	msg := h.badRequest(logical.ReadOperation, "token/o", nil, "token_url", "allowed_hosts", "127.0.0.1")
	if strings.Contains(msg, "base_url") {
		t.Fatalf("oauth2 refusal names base_url: %q", msg)
	}
	h.badRequest(logical.ReadOperation, "token/c", nil, "base_url", "allowed_hosts", "127.0.0.1")
	// An address entry admits it again; a name-shaped one never could.
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.cyral.com,127.0.0.0/8"})
	h.ok(logical.ReadOperation, "token/c", nil)
}

// TestUnspecifiedAddressIsNeverDialled: on Linux a connection to 0.0.0.0
// reaches this machine. A role at http://0.0.0.0:PORT (PORT a loopback
// server's) is refused at write, and a role stored with that URL before
// is refused at call time, with no request reaching the server, whatever
// allowed_hosts says.
func TestUnspecifiedAddressIsNeverDialled(t *testing.T) {
	h := newHarness(t)
	plain := vendortest.NewPlainServer("cyral", vendortest.WithAccount(vendortest.Account{ID: "svc-vault", Secret: hardSecret}))
	defer plain.Close()
	u, _ := url.Parse(plain.URL)
	h.ok(logical.UpdateOperation, "config", map[string]any{"allow_http": true})

	role := map[string]any{"vendor": "cyral", "client_id": "svc-vault", "client_secret": hardSecret, "base_url": plain.URL}
	h.ok(logical.CreateOperation, "roles/ok", role)

	// A role stored by an earlier version, before this check.
	r, err := getRole(context.Background(), h.storage, "ok")
	if err != nil || r == nil {
		t.Fatal(err)
	}
	r.URL = "http://0.0.0.0:" + u.Port()
	if err := putRole(context.Background(), h.storage, "zero", r); err != nil {
		t.Fatal(err)
	}
	resp, err := h.do(logical.ReadOperation, "token/zero", nil)
	if n := plain.Calls("token"); n != 0 {
		t.Fatalf("%d requests reached the server through 0.0.0.0", n)
	}
	if err != nil || !resp.IsError() {
		t.Fatalf("want a 400, got %v %v", resp, err)
	}
	for _, part := range []string{"base_url", "0.0.0.0", "unspecified"} {
		if msg := resp.Error().Error(); !strings.Contains(msg, part) {
			t.Fatalf("message %q lacks %q", msg, part)
		}
	}

	// Writing such a role is refused outright.
	for _, host := range []string{"0.0.0.0", "[::]"} {
		h.badRequest(logical.CreateOperation, "roles/zero2", withFields(role, "base_url", "http://"+host+":"+u.Port()), "base_url", strings.Trim(host, "[]"), "unspecified")
	}
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "127.0.0.0/8"})
	h.badRequest(logical.CreateOperation, "roles/zero2", withFields(role, "base_url", "http://0.0.0.0:"+u.Port()), "base_url", "0.0.0.0")
}
