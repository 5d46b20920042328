package vendor

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// A vendor that echoes the request in its error, in every way vendors do,
// gets a 400 that names it and holds no form of a secret; the harness
// searches every response, log line and event for every form at the end.
func TestEchoingVendorLeaksNoSecretThroughTheBackend(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	for _, vendor := range []string{"cyral", "incydr", "privx", "oauth2"} {
		srv, role := h.vendorServer(vendor)
		h.ok(logical.CreateOperation, "roles/"+vendor, role)
		for _, echo := range []string{vendortest.EchoHTML, vendortest.EchoJSON, vendortest.EchoJSONHTML, vendortest.EchoTruncated, vendortest.EchoRedirect} {
			// A role write lifts the memory of the last refusal, so this
			// read reaches the vendor.
			h.ok(logical.UpdateOperation, "roles/"+vendor, role)
			calls := srv.Calls("token")
			srv.Inject("token", vendortest.Fault{Echo: echo, Location: "https://login.example.invalid/sso"})
			msg := h.badRequest(logical.ReadOperation, "token/"+vendor, nil, vendor+" refused the token request")
			if srv.Calls("token") != calls+1 {
				t.Fatalf("%s/%s: the read did not reach the vendor", vendor, echo)
			}
			cut := append(vendortest.SecretForms(hardSecret[:len(hardSecret)-2]), vendortest.SecretForms("oauth %sec#ret")...)
			for _, form := range cut {
				if strings.Contains(msg, form) {
					t.Errorf("%s/%s: a truncated secret in %q", vendor, echo, msg)
				}
			}
			if strings.Contains(msg, "login.example.invalid") {
				t.Errorf("%s/%s: the redirect's Location is quoted: %q", vendor, echo, msg)
			}
		}
	}
}

// Reserved OAuth parameters, in any case, in token_params or a token_url's
// query, and client ids that leave their path segment, are 400s naming the
// field; storage is unchanged.
func TestReservedParametersAndPathEscapingIDsAreRefused(t *testing.T) {
	h := newHarness(t)
	_, oauth := h.vendorServer("oauth2")
	_, cyral := h.vendorServer("cyral")
	_, privx := h.vendorServer("privx")
	before := h.snapshot()
	for _, k := range []string{"GRANT_TYPE", "Client_Secret", "client_assertion_type", "Username", "PASSWORD", "Scope"} {
		h.badRequest(logical.CreateOperation, "roles/o", withFields(oauth, "token_params", map[string]any{k: "x"}), "token_params", k)
		h.badRequest(logical.CreateOperation, "roles/o", withFields(oauth, "token_url", oauth["token_url"].(string)+"?"+k+"=Query-Value-42"), "token_url", k)
	}
	for _, role := range []map[string]any{cyral, privx} {
		for _, id := range []string{".", "..", "a/b"} {
			h.badRequest(logical.CreateOperation, "roles/p", withFields(role, "client_id", id), "client_id", "URL path")
		}
	}
	if after := h.snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatal("a refused write changed storage")
	}
	h.secrets = append(h.secrets, "Query-Value-42")
}

// A token_url's query (which can hold a key) appears in no error and no log
// line, though Go's HTTP client quotes the whole URL on network failures.
func TestTokenURLQueryIsNeverQuoted(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	srv, oauth := h.vendorServer("oauth2")
	h.ok(logical.CreateOperation, "roles/o", withFields(oauth, "token_url", oauth["token_url"].(string)+"?api_key=Query-Value-42"))
	srv.Close()
	_, err := h.do(logical.ReadOperation, "token/o", nil)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "/oauth/token") {
		t.Fatalf("want a network error naming the path, got %v", err)
	}
	if !strings.Contains(h.logs.String(), "token mint failed") {
		t.Fatal("the failure was not logged")
	}
	// The harness searches every response and the log for it at the end.
	h.secrets = append(h.secrets, "Query-Value-42", "api_key=")
}

// A vendor that says expires_in 0 (or under a second) gave a dead token: it
// is handed to the caller who asked, advertised with no life, and never
// cached. A vendor that says nothing gets the role's lifetime, cached. NaN
// and other non-numbers are a bad response.
func TestExpiresInZeroIsNeverCachedNorAdvertisedAsAlive(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	for _, v := range []string{`0`, `"0"`, `0.9`, `"0.4"`} {
		srv.Inject("token", vendortest.Fault{ReplySet: map[string]json.RawMessage{"expires_in": json.RawMessage(v)}, Times: 2})
		calls := srv.Calls("token")
		for range 2 {
			data := h.ok(logical.ReadOperation, "token/c", nil)
			if intOf(t, data["expires_in"]) != 0 || intOf(t, data["ttl"]) != 0 || intOf(t, data["rotation_period"]) != 0 {
				t.Fatalf("expires_in %s advertised as %v", v, data)
			}
		}
		if got := srv.Calls("token") - calls; got != 2 {
			t.Fatalf("expires_in %s: %d vendor calls for two reads; a dead token was cached", v, got)
		}
		// min_remaining cannot be met by a dead token (known from the last
		// mint, or learnt from a new one).
		srv.Inject("token", vendortest.Fault{ReplySet: map[string]json.RawMessage{"expires_in": json.RawMessage(v)}})
		h.badRequest(logical.ReadOperation, "token/c", map[string]any{"min_remaining": 10}, "min_remaining")
		srv.ClearFaults()
	}
	// Not said: the default lifetime, cached.
	srv.Inject("token", vendortest.Fault{ReplyDrop: []string{"expires_in"}})
	calls := srv.Calls("token")
	first := h.ok(logical.ReadOperation, "token/c", nil)
	second := h.ok(logical.ReadOperation, "token/c", nil)
	if intOf(t, first["rotation_period"]) != int64(defaultLifetime/time.Second) || second["access_token"] != first["access_token"] || srv.Calls("token")-calls != 1 {
		t.Fatalf("an unsaid lifetime: %v then %v after %d calls", first, second, srv.Calls("token")-calls)
	}
	h.b.dropRole("c")
	for _, v := range []string{`"NaN"`, `"Inf"`, `"abc"`, `-3`} {
		srv.Inject("token", vendortest.Fault{ReplySet: map[string]json.RawMessage{"expires_in": json.RawMessage(v)}})
		if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil || !strings.Contains(err.Error(), "could not be used") {
			t.Fatalf("expires_in %s: %v", v, err)
		}
	}
}

// PrivX: a rotation copies the old API client's roles exactly. A read that
// shows no roles list makes no replacement; a replacement with other roles
// is deleted; either way the role keeps its working client.
func TestPrivXRotationNeverStripsRoles(t *testing.T) {
	for name, fault := range map[string]struct {
		endpoint string
		fault    vendortest.Fault
	}{
		"roles null":    {"read", vendortest.Fault{ReplySet: map[string]json.RawMessage{"roles": json.RawMessage("null")}}},
		"roles missing": {"read", vendortest.Fault{ReplyDrop: []string{"roles"}}},
		"roles altered": {"create", vendortest.Fault{RequestSet: map[string]json.RawMessage{"roles": json.RawMessage("[]")}}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(rotScenarios[6]) // privx, through an admin
			before, _ := w.srv.Account("svc-vault")
			w.srv.Inject(fault.endpoint, fault.fault)
			h.badRequest(logical.UpdateOperation, "rotate-role/r", nil, "privx refused", "roles")
			w.mustBeSettled()
			if r := w.storedRole(); r.ClientID != "svc-vault" || r.ClientSecret != before.Secret {
				t.Fatalf("the role was switched to %s", r.ClientID)
			}
			if n := len(w.srv.Accounts()); n != 2 {
				t.Fatalf("%d API clients at the vendor, want the role's and the admin's", n)
			}
		})
	}
}
