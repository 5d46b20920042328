package vendor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// cfgRailStatus is the HTTP status Vault answers a request with, and the
// error message if any.
func (h *harness) cfgRailStatus(op logical.Operation, path string, data map[string]any) (int, string, *logical.Response) {
	h.t.Helper()
	resp, err := h.do(op, path, data)
	req := &logical.Request{Operation: op, Path: path}
	status, rerr := logical.RespondErrorCommon(req, resp, err)
	if status == 0 {
		status = http.StatusOK
		if resp == nil {
			status = http.StatusNoContent
		}
	}
	msg := ""
	if rerr != nil {
		msg = rerr.Error()
	}
	return status, msg, resp
}

// wantRefusal requires exactly a 400 with exactly msg.
func (h *harness) wantRefusal(op logical.Operation, path string, data map[string]any, msg string) {
	h.t.Helper()
	status, got, _ := h.cfgRailStatus(op, path, data)
	if status != http.StatusBadRequest || got != msg {
		h.t.Fatalf("%s %s: got %d %q\nwant 400 %q", op, path, status, got, msg)
	}
}

// Issue 14 point 3: a config write that would put working roles outside
// allowed_hosts is refused, naming them, their hosts, and the ways out;
// nothing is saved and the roles keep working.
func TestConfigWriteThatStrandsRolesIsRefused(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/b-app", role)
	h.ok(logical.CreateOperation, "roles/a-app", role)
	h.ok(logical.ReadOperation, "token/a-app", nil)

	h.wantRefusal(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.cyral.com", "max_retries": 5},
		"allowed_hosts would put 2 existing roles outside the host policy, where every token read, rotation and update of them fails: a-app (127.0.0.1), b-app (127.0.0.1); add these hosts to allowed_hosts, or repeat the write with force=true to save it anyway")
	got := h.ok(logical.ReadOperation, "config", nil)
	if len(got["allowed_hosts"].([]string)) != 0 || got["max_retries"] != defaultMaxRetries {
		t.Fatalf("a refused write changed the config: %v", got)
	}
	h.ok(logical.ReadOperation, "token/b-app", nil)

	// A policy that still lets them through is saved, and so is one that
	// narrows while every role stays inside.
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.cyral.com,127.0.0.1"})
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "127.0.0.1"})
	h.ok(logical.ReadOperation, "token/b-app", nil)
}

// force=true saves the config anyway, and the answer warns which roles
// now fail.
func TestConfigWriteWithForceWarnsOfStrandedRoles(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("incydr")
	h.ok(logical.CreateOperation, "roles/i", role)
	status, _, resp := h.cfgRailStatus(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "api.*.code42.com", "force": true})
	if status != http.StatusOK || resp == nil || len(resp.Warnings) != 1 {
		t.Fatalf("forced write: %d %v", status, resp)
	}
	want := "allowed_hosts: 1 existing role is now outside the host policy, where every token read, rotation and update of them fails until they are changed or the config allows them again: i (127.0.0.1)"
	if resp.Warnings[0] != want {
		t.Fatalf("warning %q\nwant %q", resp.Warnings[0], want)
	}
	h.badRequest(logical.ReadOperation, "token/i", nil, "base_url", "allowed_hosts")
	// force is not stored.
	if got := h.ok(logical.ReadOperation, "config", nil); got["force"] != nil {
		t.Fatalf("force read back: %v", got)
	}
	// Roles already outside are not this write's doing: a write that
	// leaves them there, or changes something else, is not refused.
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.code42.com"})
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 1})
}

// Turning allow_http off is checked the same way, and the message says
// plain http is why.
func TestConfigWriteThatTurnsOffHTTPIsRefused(t *testing.T) {
	h := newHarness(t)
	plain := vendortest.NewPlainServer("incydr", vendortest.WithAccount(vendortest.Account{ID: "svc-vault", Secret: hardSecret}))
	defer plain.Close()
	h.ok(logical.UpdateOperation, "config", map[string]any{"allow_http": true})
	h.ok(logical.CreateOperation, "roles/plain", map[string]any{"vendor": "incydr", "base_url": plain.URL, "client_id": "svc-vault", "client_secret": hardSecret})
	_, tls := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/tls", tls)

	h.wantRefusal(logical.UpdateOperation, "config", map[string]any{"allow_http": false},
		"allow_http would put 1 existing role outside the host policy, where every token read, rotation and update of them fails: plain (127.0.0.1, plain http); keep allow_http=true, or move these roles to https first, or repeat the write with force=true to save it anyway")
	// Both at once: each role says why.
	h.wantRefusal(logical.UpdateOperation, "config", map[string]any{"allow_http": false, "allowed_hosts": "*.cyral.com"},
		"allowed_hosts and allow_http would put 2 existing roles outside the host policy, where every token read, rotation and update of them fails: plain (127.0.0.1, plain http), tls (127.0.0.1); add these hosts to allowed_hosts; keep allow_http=true, or move these roles to https first, or repeat the write with force=true to save it anyway")
	h.ok(logical.ReadOperation, "token/plain", nil)
}

// A config delete restores the defaults: any host, but no plain http.
// Roles on plain http make it a refusal unless it says force=true.
func TestConfigDeleteThatTurnsOffHTTPIsRefused(t *testing.T) {
	h := newHarness(t)
	_, tls := h.vendorServer("cyral")
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "127.0.0.1", "allow_http": true})
	h.ok(logical.CreateOperation, "roles/tls", tls)
	// Nothing on plain http: the delete only widens.
	if status, msg, _ := h.cfgRailStatus(logical.DeleteOperation, "config", nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, msg)
	}

	plain := vendortest.NewPlainServer("incydr", vendortest.WithAccount(vendortest.Account{ID: "svc-vault", Secret: hardSecret}))
	defer plain.Close()
	h.ok(logical.UpdateOperation, "config", map[string]any{"allow_http": true})
	h.ok(logical.CreateOperation, "roles/plain", map[string]any{"vendor": "incydr", "base_url": plain.URL, "client_id": "svc-vault", "client_secret": hardSecret})
	h.wantRefusal(logical.DeleteOperation, "config", nil,
		"allow_http returns to false when the config is deleted, which would put 1 existing role outside the host policy, where every token read, rotation and update of them fails: plain (127.0.0.1, plain http); write the settings you want instead of deleting the config (keeping allow_http=true), or move these roles to https first, or delete with force=true to delete it anyway")
	if got := h.ok(logical.ReadOperation, "config", nil); got["allow_http"] != true {
		t.Fatalf("a refused delete changed the config: %v", got)
	}
	status, _, resp := h.cfgRailStatus(logical.DeleteOperation, "config", map[string]any{"force": "true"})
	if status != http.StatusOK || resp == nil || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "plain (127.0.0.1, plain http)") {
		t.Fatalf("forced delete: %d %v", status, resp)
	}
	h.badRequest(logical.ReadOperation, "token/plain", nil, "allow_http")
}

// Many stranded roles: the first 20 by name, each with its host, and a
// count of the rest.
func TestConfigRefusalListsTwentyRolesAndCountsTheRest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for i := range 45 {
		host := "a.cyral.com"
		if i%2 == 1 {
			host = fmt.Sprintf("h%d.other.example", i)
		}
		r := &roleEntry{Vendor: "cyral", URL: "https://" + host, ClientID: "svc", ClientSecret: hardSecret}
		if err := putRole(ctx, h.storage, fmt.Sprintf("r%02d", i), r); err != nil {
			t.Fatal(err)
		}
	}
	// One that cannot be decoded is broken whatever the config says.
	if err := h.storage.Put(ctx, &logical.StorageEntry{Key: "role/r99", Value: []byte("{")}); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for i := 1; len(listed) < 20; i += 2 {
		listed = append(listed, fmt.Sprintf("r%02d (h%d.other.example)", i, i))
	}
	h.wantRefusal(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.cyral.com"},
		"allowed_hosts would put 22 existing roles outside the host policy, where every token read, rotation and update of them fails: "+
			strings.Join(listed, ", ")+" and 2 more; add these hosts to allowed_hosts, or repeat the write with force=true to save it anyway")
}

// A change that cannot narrow reads no role.
func TestConfigWriteThatWidensReadsNoRole(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "127.0.0.1"})
	h.ok(logical.CreateOperation, "roles/r", role)
	reads := 0
	h.storage.setOnGet(func(key string) {
		if strings.HasPrefix(key, roleStoragePrefix) {
			reads++
		}
	})
	defer h.storage.setOnGet(nil)
	for _, data := range []map[string]any{
		{"max_retries": 3}, {"request_timeout": 30}, {"allow_http": true}, {"allowed_hosts": "127.0.0.1"}, {"allowed_hosts": ""}, {"allow_http": true, "allowed_hosts": ""},
	} {
		h.ok(logical.UpdateOperation, "config", data)
	}
	if reads != 0 {
		t.Fatalf("%d role reads for changes that cannot narrow", reads)
	}
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.cyral.com,127.0.0.1"})
	if reads != 1 {
		t.Fatalf("%d role reads for a narrowing write of one role", reads)
	}
}
