package vendor

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// After a rotation, infrastructure as code re-applies the role as it was
// first written, old secret and all. The write is refused, verify or not,
// without a vendor call; the role keeps its secret and mints. The secret in
// force, or a new one, is taken.
func TestRotatedAwaySecretIsNotWrittenBack(t *testing.T) {
	for _, sc := range []rotScenario{rotScenarios[0], rotScenarios[2], rotScenarios[6]} {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t)
			w := h.rotationWorld(sc)
			old := w.storedRole()
			h.ok(logical.UpdateOperation, "rotate-role/r", nil)
			rotated := w.storedRole()
			before := h.snapshot()
			calls := w.srv.AllCalls()

			for _, verify := range []bool{false, true} {
				apply := map[string]any{"client_secret": old.ClientSecret, "refresh_before": "30s", "verify": verify}
				msg := h.badRequest(logical.UpdateOperation, "roles/r", apply,
					"client_secret", "rotated away by Vault at "+formatTime(rotated.LastRotated), "the vendor no longer accepts it", "rotate-role/r")
				if strings.Contains(msg, "oauth_client_secret") {
					t.Fatalf("the 400 names the wrong field: %s", msg)
				}
			}
			// With surrounding spaces it is still the same secret.
			h.badRequest(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": " " + old.ClientSecret + "\n"}, "client_secret", "rotated away")
			if after := h.snapshot(); !maps.Equal(after, before) {
				t.Fatal("a refused write changed storage")
			}
			if got := w.srv.AllCalls(); !maps.Equal(got, calls) {
				t.Fatalf("a refused write called the vendor: %v, then %v", calls, got)
			}
			w.mustMintFresh()

			// The secret in force may be written again.
			h.ok(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": rotated.ClientSecret, "verify": true})
			// A brand-new secret, set at the vendor by an operator, is taken.
			a, _ := w.srv.Account(rotated.ClientID)
			a.Secret = "Brand-New-Secret-9"
			w.srv.AddAccount(a)
			h.secrets = append(h.secrets, a.Secret)
			h.ok(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": a.Secret, "verify": true})
			w.mustMintFresh()
			// And the rotated-away one is still refused.
			h.badRequest(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": old.ClientSecret}, "client_secret", "rotated away")
		})
	}
}

// PrivX: an oauth_client_secret that a replacement retired is refused too,
// and a secret the rotation kept is not retired.
func TestRetiredOAuthClientSecretIsRefused(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[6]) // privx
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	r := w.storedRole()
	// The fake keeps the OAuth client across a replacement: still in force.
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"oauth_client_secret": r.Fields.String("oauth_client_secret"), "verify": true})
	for _, s := range r.Retired {
		if s.Field != "client_secret" {
			t.Fatalf("a secret still in force was retired: %+v", s)
		}
	}

	// A replacement that also brings a new OAuth client retires the old one.
	prev := *r
	next := prev
	next.Fields = prev.Fields.With(client.Values{"oauth_client_secret": "New-OAuth-Secret-3"})
	if err := h.b.retire(context.Background(), h.storage, "r", &prev, &next, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := putRole(context.Background(), h.storage, "r", &next); err != nil {
		t.Fatal(err)
	}
	h.badRequest(logical.UpdateOperation, "roles/r", map[string]any{"oauth_client_secret": prev.Fields.String("oauth_client_secret"), "verify": true},
		"oauth_client_secret was rotated away by Vault at "+formatTime(h.clock.Now()))
}

// Only the last few retired secrets are remembered.
func TestRetiredSecretsAreBounded(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[0]) // cyral, self
	var olds []string
	for range maxRetiredPerField + 2 {
		olds = append(olds, w.storedRole().ClientSecret)
		h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	}
	r := w.storedRole()
	if len(r.Retired) != maxRetiredPerField {
		t.Fatalf("%d retired secrets remembered, want %d", len(r.Retired), maxRetiredPerField)
	}
	for _, old := range olds[len(olds)-maxRetiredPerField:] {
		h.badRequest(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": old}, "client_secret", "rotated away")
	}
	// The oldest are forgotten.
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"client_secret": olds[0]})
}

// Deleting a role forgets what it retired: a role made again under its
// name starts with none.
func TestRoleDeleteForgetsRetiredSecrets(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[0]) // cyral, self
	old := w.storedRole()
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	h.ok(logical.DeleteOperation, "roles/r", nil)
	h.ok(logical.CreateOperation, "roles/r", map[string]any{
		"vendor": "cyral", "base_url": old.URL, "ca_cert": old.CACert, "client_id": old.ClientID, "client_secret": old.ClientSecret,
	})
	if r := w.storedRole(); len(r.Retired) != 0 {
		t.Fatalf("a new role inherited %d retired secrets", len(r.Retired))
	}
}

// Storage holds a keyed hash of a retired secret, with when it was retired,
// never the secret in any encoding nor an unkeyed hash of it; the key is
// seal-wrapped.
func TestStorageHoldsNoFormOfARetiredSecret(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[0]) // cyral, self
	old := w.storedRole().ClientSecret
	h.ok(logical.UpdateOperation, "rotate-role/r", nil)
	r := w.storedRole()
	if len(r.Retired) != 1 || r.Retired[0].Field != "client_secret" || !r.Retired[0].RetiredAt.Equal(r.LastRotated) || len(r.Retired[0].HMAC) != sha256.Size {
		t.Fatalf("retired %+v", r.Retired)
	}
	if !slices.Contains(h.b.PathsSpecial.SealWrapStorage, retiredKeyStorageKey) {
		t.Fatalf("the HMAC key at %q is not seal-wrapped: %v", retiredKeyStorageKey, h.b.PathsSpecial.SealWrapStorage)
	}
	key, err := h.storage.Get(context.Background(), retiredKeyStorageKey)
	if err != nil || key == nil || len(key.Value) < 32 {
		t.Fatalf("HMAC key: %v %v", key, err)
	}

	quoted, _ := json.Marshal(old)
	sum := sha256.Sum256([]byte(old))
	forms := map[string]string{
		"raw":            old,
		"JSON":           strings.Trim(string(quoted), `"`),
		"base64":         base64.StdEncoding.EncodeToString([]byte(old)),
		"base64 raw url": base64.RawURLEncoding.EncodeToString([]byte(old)),
		"hex":            hex.EncodeToString([]byte(old)),
		"sha256 hex":     hex.EncodeToString(sum[:]),
		"sha256 base64":  base64.StdEncoding.EncodeToString(sum[:]),
	}
	for k, v := range h.snapshot() {
		for form, s := range forms {
			if strings.Contains(v, s) {
				t.Errorf("storage entry %s holds the retired secret (%s)", k, form)
			}
		}
	}
}
