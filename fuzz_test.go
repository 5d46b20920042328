package vendor

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// FuzzRoleWrite sends arbitrary field values to roles/<name> the way
// Vault's router would. Whatever comes in, the answer is success or a 400,
// never a 5xx or a panic; the secret is never echoed; and a role that was
// accepted reads back as written and passes its own validation again.
func FuzzRoleWrite(f *testing.F) {
	f.Add("cyral", "https://acme.cyral.com", "sa-ci", "60", "", "", "r1")
	f.Add("cyberark", "https://acme.id.cyberark.cloud", "svc@cyberark.cloud.1", "5m", "24h", "", "r2")
	f.Add("cyberark-pam", "https://pvwa.example.com/PasswordVault", "svc", "0", "", "", "r3")
	f.Add("privx", "https://privx.example.com", "client", "30", "", "admin", "r4")
	f.Add("incydr", "https://api.us.code42.com", "id:with:colons", "x", "1h", "", "r5")
	f.Add("oauth2", "https://as.example.com/token?aud=1", "c", "-1", "", "", "r6")
	f.Add("okta", "http://u:p@host/#f", "", "9999999999999999999", "", "../x", "a..b")
	f.Add("cyral", "https://[::1]:8443", "ü", "1e9", "59s", "", "bad/name")
	f.Fuzz(func(t *testing.T, vendor, baseURL, clientID, refresh, rotation, rotationRole, name string) {
		b := newBackend(time.Now)
		conf := logical.TestBackendConfig()
		storage := &logical.InmemStorage{}
		conf.StorageView = storage
		if err := b.Setup(context.Background(), conf); err != nil {
			t.Fatal(err)
		}
		const secret = "fuzz-role-Secret-7x"
		data := map[string]any{
			"vendor": vendor, "base_url": baseURL, "client_id": clientID, "client_secret": secret,
			"refresh_before": refresh, "rotation_period": rotation, "rotation_role": rotationRole,
		}
		if vendor == "oauth2" {
			data["token_url"] = data["base_url"]
			delete(data, "base_url")
		}
		if vendor == "privx" {
			data["oauth_client_id"], data["oauth_client_secret"] = "privx-external", "oauth-"+secret
		}
		// Route as Vault does: create where the existence check says the
		// entry is missing, update otherwise or where there is no check.
		req := &logical.Request{Operation: logical.UpdateOperation, Path: "roles/" + name, Data: data, Storage: storage}
		if found, exists, err := b.HandleExistenceCheck(context.Background(), req); err == nil && found && !exists {
			req.Operation = logical.CreateOperation
		}
		resp, err := b.HandleRequest(context.Background(), req)
		if err != nil && err != logical.ErrUnsupportedPath {
			t.Fatalf("a 5xx for input: %v", err)
		}
		if raw, _ := json.Marshal(resp); strings.Contains(string(raw), secret) {
			t.Fatalf("the secret was echoed: %s", raw)
		}
		if err != nil || resp.IsError() {
			return
		}
		role, gerr := getRole(context.Background(), storage, name)
		if gerr != nil || role == nil {
			t.Fatalf("accepted but not stored: %v", gerr)
		}
		if role.Vendor != strings.ToLower(vendor) || role.ClientID != strings.TrimSpace(clientID) || role.ClientSecret != secret {
			t.Fatalf("stored %+v", role)
		}
		cfg, _ := b.config(context.Background(), storage)
		if err := b.validateRole(name, role, cfg); err != nil {
			t.Fatalf("a stored role fails its own validation: %v", err)
		}
	})
}

// FuzzHostPattern: a host an accepted entry allows is in normal form (ASCII,
// no zone id); an IP literal host is allowed only by an address or CIDR
// entry holding it, and a name only by a name pattern with as many labels,
// every one of which that is not "*" is the host's own.
func FuzzHostPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"*.cyral.com", "acme.cyral.com"}, {"*.cyral.com", "cyral.com"}, {"*.cyral.com", "a.b.cyral.com"},
		{"*.cyral.com", "acme.cyral.com.evil.io"},
		{"api.*.code42.com", "api.us2.code42.com"}, {"api.*.code42.com", "API.US.CODE42.COM."},
		{"127.0.0.1", "127.0.0.1"}, {"*.*", "a.b"}, {"a*.com", "ab.com"}, {"", ""}, {"::1", "::1"},
		{"*.cyral.com", "::ffff:7f00:1%x.cyral.com"}, {"*.cyral.com", "evil\u3002acme.cyral.com"},
		{"*.cyral.com", "evil\uff0eacme.cyral.com"}, {"*.cyral.com", "evil\uff61acme.cyral.com"},
		{"10.*.*.*", "10.attacker.example.com"}, {"10.0.0.0/8", "10.attacker.example.com"},
		{"10.0.0.0/8", "10.1.2.3"}, {"10.0.0.0/8", "::ffff:10.1.2.3"}, {"::1/128", "::1"},
		{"127.0.0.0/8", "127.1"}, {"*.0.0.1", "127.0.0.1"}, {"fe80::1%eth0", "fe80::1%eth0"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		p, err := normalPattern(pattern)
		if err != nil || !hostAllowed([]string{pattern}, host) {
			return
		}
		name, addr, err := normalHost(host)
		if err != nil || !isASCII(host) || strings.Contains(host, "%") {
			t.Fatalf("%q allowed %q, which is not in normal form", pattern, host)
		}
		pr, perr := netip.ParsePrefix(p)
		a, aerr := netip.ParseAddr(p)
		if addr.IsValid() {
			if !(perr == nil && pr.Contains(addr)) && !(aerr == nil && a == addr) {
				t.Fatalf("%q allowed the address %q", pattern, host)
			}
			return
		}
		if perr == nil || aerr == nil {
			t.Fatalf("the address entry %q allowed the name %q", pattern, host)
		}
		pl, hl := strings.Split(p, "."), strings.Split(name, ".")
		if len(pl) != len(hl) {
			t.Fatalf("%q allowed %q", pattern, host)
		}
		for i := range pl {
			if pl[i] != "*" && pl[i] != hl[i] {
				t.Fatalf("%q allowed %q", pattern, host)
			}
		}
	})
}
