package vendor

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// snapshot is every key and value in storage.
func (h *harness) snapshot() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	var walk func(prefix string)
	walk = func(prefix string) {
		keys, err := h.storage.List(context.Background(), prefix)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, k := range keys {
			if strings.HasSuffix(k, "/") {
				walk(prefix + k)
				continue
			}
			e, err := h.storage.Get(context.Background(), prefix+k)
			if err != nil || e == nil {
				h.t.Fatalf("get %s: %v", prefix+k, err)
			}
			out[prefix+k] = string(e.Value)
		}
	}
	walk("")
	return out
}

// TestMalformedInputIsA400NamingTheFieldAndChangesNothing sends malformed
// input of every kind to every path that takes input. Each answer is a 400
// whose message names the field, and storage is byte-for-byte unchanged.
func TestMalformedInputIsA400NamingTheFieldAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	_, cyral := h.vendorServer("cyral")
	_, privx := h.vendorServer("privx")
	_, oauth := h.vendorServer("oauth2")
	h.ok(logical.CreateOperation, "roles/ok", cyral)
	h.ok(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "127.0.0.1,*.cyral.com,api.*.code42.com"})

	with := withFields
	oauthTo := func(kv ...any) map[string]any {
		return with(oauth, kv...)
	}
	bigPEM := "-----BEGIN CERTIFICATE-----\n" + strings.Repeat("QUJD", 20000) + "\n-----END CERTIFICATE-----\n"
	type tc struct {
		name  string
		op    logical.Operation
		path  string
		data  map[string]any
		field string // the message must name it
		more  string // and say this too
	}
	cases := []tc{
		// Types.
		{"refresh_before not a duration", logical.UpdateOperation, "roles/ok", map[string]any{"refresh_before": "soon"}, "refresh_before", ""},
		{"token_ttl_cap a list", logical.UpdateOperation, "roles/ok", map[string]any{"token_ttl_cap": []any{1, 2}}, "token_ttl_cap", ""},
		{"rotation_period an object", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_period": map[string]any{"h": 1}}, "rotation_period", ""},
		{"verify not a bool", logical.UpdateOperation, "roles/ok", map[string]any{"verify": "perhaps"}, "verify", ""},
		{"max_retries not a number", logical.UpdateOperation, "config", map[string]any{"max_retries": "many"}, "max_retries", ""},
		{"allow_http not a bool", logical.UpdateOperation, "config", map[string]any{"allow_http": "sometimes"}, "allow_http", ""},
		{"min_remaining not a duration", logical.ReadOperation, "token/ok", map[string]any{"min_remaining": "lots"}, "min_remaining", ""},
		// Ranges.
		{"negative refresh_before", logical.UpdateOperation, "roles/ok", map[string]any{"refresh_before": -1}, "refresh_before", "negative"},
		{"negative token_ttl_cap", logical.UpdateOperation, "roles/ok", map[string]any{"token_ttl_cap": -60}, "token_ttl_cap", "negative"},
		{"token_ttl_cap under 10s", logical.UpdateOperation, "roles/ok", map[string]any{"token_ttl_cap": 5}, "token_ttl_cap", "10s"},
		{"refresh_before not under the cap", logical.UpdateOperation, "roles/ok", map[string]any{"token_ttl_cap": 60, "refresh_before": 90}, "refresh_before", "token_ttl_cap"},
		{"rotation_period under 1m", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_period": 30}, "rotation_period", "1m"},
		{"negative rotation_period", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_period": -3600}, "rotation_period", "negative"},
		{"max_retries over 10", logical.UpdateOperation, "config", map[string]any{"max_retries": 11}, "max_retries", ""},
		{"negative max_retries", logical.UpdateOperation, "config", map[string]any{"max_retries": -1}, "max_retries", ""},
		{"request_timeout 0", logical.UpdateOperation, "config", map[string]any{"request_timeout": 0}, "request_timeout", ""},
		{"request_timeout a day", logical.UpdateOperation, "config", map[string]any{"request_timeout": "24h"}, "request_timeout", ""},
		{"negative min_remaining", logical.ReadOperation, "token/ok", map[string]any{"min_remaining": -5}, "min_remaining", ""},
		// URLs.
		{"userinfo in base_url", logical.CreateOperation, "roles/new", with(cyral, "base_url", "https://admin:pw@acme.cyral.com"), "base_url", "user:password@"},
		{"fragment in base_url", logical.CreateOperation, "roles/new", with(cyral, "base_url", "https://acme.cyral.com/#frag"), "base_url", "fragment"},
		{"empty fragment in base_url", logical.CreateOperation, "roles/new", with(cyral, "base_url", "https://acme.cyral.com/#"), "base_url", "fragment"},
		{"query in base_url", logical.CreateOperation, "roles/new", with(cyral, "base_url", "https://acme.cyral.com/?x=1"), "base_url", "query"},
		{"plain http base_url", logical.CreateOperation, "roles/new", with(cyral, "base_url", "http://acme.cyral.com"), "base_url", "allow_http"},
		{"ftp base_url", logical.CreateOperation, "roles/new", with(cyral, "base_url", "ftp://acme.cyral.com"), "base_url", "https://"},
		{"no host", logical.CreateOperation, "roles/new", with(cyral, "base_url", "https:///path"), "base_url", "host"},
		{"relative base_url", logical.CreateOperation, "roles/new", with(cyral, "base_url", "acme.cyral.com"), "base_url", ""},
		{"host outside allowed_hosts", logical.CreateOperation, "roles/new", with(cyral, "base_url", "https://evil.example.com"), "base_url", "allowed_hosts"},
		{"host two labels deep", logical.CreateOperation, "roles/new", with(cyral, "base_url", "https://a.b.cyral.com"), "base_url", "allowed_hosts"},
		{"userinfo in token_url", logical.CreateOperation, "roles/new", oauthTo("token_url", "https://u:p@127.0.0.1/t"), "token_url", "user:password@"},
		{"token_url on cyral", logical.CreateOperation, "roles/new", with(cyral, "token_url", "https://acme.cyral.com/t"), "token_url", "base_url instead"},
		// Oversized.
		{"oversized client_id", logical.CreateOperation, "roles/new", with(cyral, "client_id", strings.Repeat("x", 5000)), "client_id", "longer than"},
		{"oversized client_secret", logical.CreateOperation, "roles/new", with(cyral, "client_secret", strings.Repeat("s", 5000)), "client_secret", "longer than"},
		{"oversized base_url", logical.CreateOperation, "roles/new", with(cyral, "base_url", "https://acme.cyral.com/"+strings.Repeat("p", 5000)), "base_url", "longer than"},
		{"oversized ca_cert", logical.CreateOperation, "roles/new", with(cyral, "ca_cert", bigPEM), "ca_cert", "longer than"},
		// Invalid PEM.
		{"ca_cert not PEM", logical.CreateOperation, "roles/new", with(cyral, "ca_cert", "hello"), "ca_cert", "PEM"},
		{"ca_cert a private key", logical.CreateOperation, "roles/new", with(cyral, "ca_cert", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "ca_cert", "PEM"},
		{"ca_cert with broken base64", logical.CreateOperation, "roles/new", with(cyral, "ca_cert", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"), "ca_cert", "PEM"},
		// Vendors and their fields.
		{"unknown vendor", logical.CreateOperation, "roles/new", with(cyral, "vendor", "okta"), "vendor", "okta"},
		{"no vendor", logical.CreateOperation, "roles/new", with(cyral, "vendor", nil), "vendor", "required"},
		{"empty client_id", logical.CreateOperation, "roles/new", with(cyral, "client_id", ""), "client_id", "required"},
		{"privx without oauth_client_id", logical.CreateOperation, "roles/new", with(privx, "oauth_client_id", nil), "oauth_client_id", "required"},
		{"privx oauth_client_id with a colon", logical.CreateOperation, "roles/new", with(privx, "oauth_client_id", "a:b"), "oauth_client_id", "':'"},
		{"scopes on cyral", logical.CreateOperation, "roles/new", with(cyral, "scopes", "read"), "scopes", "does not apply"},
		{"scope with a space", logical.CreateOperation, "roles/new", oauthTo("scopes", []any{"read write"}), "scopes", ""},
		{"reserved token_params", logical.CreateOperation, "roles/new", oauthTo("token_params", map[string]any{"client_secret": "x"}), "token_params", "client_secret"},
		{"unknown auth_style", logical.CreateOperation, "roles/new", oauthTo("auth_style", "jwt"), "auth_style", ""},
		{"unknown field", logical.CreateOperation, "roles/new", with(cyral, "clientsecret", "x"), "clientsecret", "unknown field"},
		{"rotation_role naming itself", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_role": "ok"}, "rotation_role", "another role"},
		{"rotation_role with a slash", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_role": "../config"}, "rotation_role", "not a valid role name"},
		{"password_policy on cyral", logical.UpdateOperation, "roles/ok", map[string]any{"password_policy": "p"}, "password_policy", "does not apply"},
		{"rotation on incydr", logical.CreateOperation, "roles/new", with(cyral, "vendor", "incydr", "base_url", "https://api.us.code42.com", "rotation_period", "24h"), "vendor", "no public API"},
		// Names.
		{"name with a slash", logical.UpdateOperation, "roles/a/b", cyral, "name", "not a valid role name"},
		{"path traversal in a role name", logical.UpdateOperation, "roles/../config", cyral, "name", "not a valid role name"},
		{"path traversal in a token read", logical.ReadOperation, "token/../roles/ok", nil, "name", "not a valid role name"},
		{"name ending in a dot", logical.UpdateOperation, "roles/bad.", cyral, "name", "not a valid role name"},
		{"name with a space", logical.UpdateOperation, "roles/a b", cyral, "name", "not a valid role name"},
		{"name with a percent escape", logical.UpdateOperation, "rotate-role/%2e%2e", nil, "name", "not a valid role name"},
		{"empty role name", logical.UpdateOperation, "roles/", cyral, "name", "required"},
		{"empty name in a token read", logical.ReadOperation, "token/", nil, "name", "required"},
		{"empty name to rotate", logical.UpdateOperation, "rotate-role/", nil, "name", "required"},
		{"empty config host", logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "a.com,,b.com"}, "allowed_hosts", ""},
		{"host pattern with a scheme", logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "https://x.com"}, "allowed_hosts", "without scheme"},
		{"host pattern of only wildcards", logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.*"}, "allowed_hosts", ""},
		{"client_id not UTF-8", logical.UpdateOperation, "roles/ok", map[string]any{"client_id": "\xe8"}, "client_id", "UTF-8"},
		{"allowed_hosts not UTF-8", logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "a.\xff.com"}, "allowed_hosts", "UTF-8"},
		{"unknown config field", logical.UpdateOperation, "config", map[string]any{"timeout": 5}, "timeout", "unknown field"},
		// Limits.
		{"rotation_period past a Duration's range", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_period": 9223372036}, "rotation_period", "10 years"},
		{"rotation_period over 10 years", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_period": 315360001}, "rotation_period", "10 years"},
		{"rotation_period overflowing a Duration", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_period": 9223372037}, "rotation_period", ""},
		{"token_ttl_cap past a Duration's range", logical.UpdateOperation, "roles/ok", map[string]any{"token_ttl_cap": 9223372036}, "token_ttl_cap", "10 years"},
		{"refresh_before past a Duration's range", logical.UpdateOperation, "roles/ok", map[string]any{"refresh_before": 9223372036}, "refresh_before", "10 years"},
		{"min_remaining past a Duration's range", logical.ReadOperation, "token/ok", map[string]any{"min_remaining": 9223372036}, "min_remaining", "10 years"},
		{"min_remaining overflowing a Duration", logical.ReadOperation, "token/ok", map[string]any{"min_remaining": "9223372037"}, "min_remaining", ""},
		{"request_timeout past a Duration's range", logical.UpdateOperation, "config", map[string]any{"request_timeout": 9223372036}, "request_timeout", ""},
		{"65 token_params", logical.CreateOperation, "roles/new", oauthTo("token_params", manyParams(65, 1)), "token_params", "64"},
		{"token_params value over 4096 bytes", logical.CreateOperation, "roles/new", oauthTo("token_params", map[string]any{"k": strings.Repeat("v", 4097)}), "token_params", "4096"},
		{"token_params key over 4096 bytes", logical.CreateOperation, "roles/new", oauthTo("token_params", map[string]any{strings.Repeat("k", 4097): "v"}), "token_params", "4096"},
		{"65 scopes", logical.CreateOperation, "roles/new", oauthTo("scopes", manyScopes(65)), "scopes", "64"},
		{"scope over 4096 bytes", logical.CreateOperation, "roles/new", oauthTo("scopes", []any{strings.Repeat("s", 4097)}), "scopes", "4096"},
		{"a 129-character role name", logical.CreateOperation, "roles/" + strings.Repeat("n", 129), cyral, "name", "128"},
		{"a 1 MiB role name", logical.CreateOperation, "roles/" + strings.Repeat("n", 1<<20), cyral, "name", "128"},
		{"a 129-character name in a token read", logical.ReadOperation, "token/" + strings.Repeat("n", 129), nil, "name", "128"},
		{"a 129-character name to rotate", logical.UpdateOperation, "rotate-role/" + strings.Repeat("n", 129), nil, "name", "128"},
		{"a 129-character rotation_role", logical.UpdateOperation, "roles/ok", map[string]any{"rotation_role": strings.Repeat("n", 129)}, "rotation_role", "128"},
		{"a role over 64 KiB", logical.CreateOperation, "roles/new", oauthTo("token_params", manyParams(20, 4000)), "token_params", "64 KiB"},
		{"client_secret a list", logical.UpdateOperation, "roles/ok", map[string]any{"client_secret": []any{"x"}}, "client_secret", "not repeated"},
		{"oauth_client_secret a map", logical.CreateOperation, "roles/new", with(privx, "oauth_client_secret", map[string]any{"a": "b"}), "oauth_client_secret", "not repeated"},
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := h.snapshot()
			msg := h.badRequest(c.op, c.path, c.data, c.field)
			if c.more != "" && !strings.Contains(msg, c.more) {
				t.Fatalf("message %q lacks %q", msg, c.more)
			}
			if after := h.snapshot(); !reflect.DeepEqual(before, after) {
				t.Fatalf("storage changed: %d keys before, %d after", len(before), len(after))
			}
		})
	}
	// The role still works after all that.
	h.ok(logical.ReadOperation, "token/ok", nil)
	t.Logf("%d malformed inputs", len(cases))
}

// manyParams is n token_params whose values are size bytes long.
func manyParams(n, size int) map[string]any {
	out := map[string]any{}
	for i := range n {
		out[fmt.Sprintf("p%03d", i)] = strings.Repeat("v", size)
	}
	return out
}

func manyScopes(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = fmt.Sprintf("s%03d", i)
	}
	return out
}

// The OpenAPI document keeps every operation of the real paths: refusing
// bad names must not shadow them (a catch-all path once did).
func TestOpenAPIKeepsEveryOperation(t *testing.T) {
	h := newHarness(t)
	h.sys.PluginEnvironment = &logical.PluginEnvironment{VaultVersion: "v1.21.0"}
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Storage: h.storage})
	if err != nil {
		t.Fatal(err)
	}
	doc, ok := resp.Data["openapi"].(*framework.OASDocument)
	if !ok {
		t.Fatalf("no OpenAPI document: %T", resp.Data["openapi"])
	}
	for path, ops := range map[string][]string{
		"/roles/{name}":       {"get", "post", "patch", "delete"},
		"/roles/":             {"get"},
		"/token/{name}":       {"get"},
		"/rotate-role/{name}": {"post"},
		"/config":             {"get", "post", "delete"},
	} {
		pi := doc.Paths[path]
		if pi == nil {
			t.Fatalf("no %s in the OpenAPI document", path)
		}
		have := map[string]bool{"get": pi.Get != nil, "post": pi.Post != nil, "patch": pi.Patch != nil, "delete": pi.Delete != nil}
		for _, op := range ops {
			if !have[op] {
				t.Errorf("%s has no %s operation", path, op)
			}
		}
	}
}
