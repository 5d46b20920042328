package vendor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// A role whose vendor field chooses another credential than client_secret
// (oauth2's auth_style=private_key_jwt) requires that one, refuses
// client_secret beside it, keeps it write-only, and mints with it; in the
// other settings the key is refused.
func TestRoleWithPrivateKeyJWT(t *testing.T) {
	h := newHarness(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	keyLines := strings.Split(keyPEM, "\n")[1:3]
	srv, role := h.vendorServer("oauth2", vendortest.WithAccount(vendortest.Account{ID: "jwt-client", PublicKey: &key.PublicKey, KeyID: "kid-1",
		Scopes: []string{"read"}}))
	jwt := withFields(role, "client_id", "jwt-client", "client_secret", nil, "audience", nil, "scopes", "read",
		"auth_style", "private_key_jwt", "private_key", keyPEM, "private_key_id", "kid-1")

	h.badRequest(logical.CreateOperation, "roles/j", withFields(jwt, "client_secret", hardSecret), "client_secret and private_key", "auth_style=private_key_jwt")
	h.badRequest(logical.CreateOperation, "roles/j", withFields(jwt, "private_key", nil), "private_key is required with auth_style=private_key_jwt")
	h.badRequest(logical.CreateOperation, "roles/j", withFields(role, "private_key", keyPEM), "private_key is used only with auth_style=private_key_jwt")
	h.badRequest(logical.CreateOperation, "roles/j", withFields(role, "auth_style", "body", "private_key", keyPEM), "private_key is used only with auth_style=private_key_jwt")
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaSmall)}))
	msg := h.badRequest(logical.CreateOperation, "roles/j", withFields(jwt, "private_key", smallPEM), "private_key", "2048")
	if strings.Contains(msg, strings.Split(smallPEM, "\n")[1]) {
		t.Fatalf("the refusal quotes the key: %s", msg)
	}
	h.badRequest(logical.CreateOperation, "roles/j", withFields(jwt, "private_key", strings.Replace(keyPEM, keyLines[0], keyLines[0][:10]+"!!"+keyLines[0][12:], 1)), "private_key")

	h.ok(logical.CreateOperation, "roles/j", withFields(jwt, "verify", true))
	got := h.ok(logical.ReadOperation, "roles/j", nil)
	if got["private_key_set"] != true || got["client_secret_set"] != false || got["private_key_id"] != "kid-1" {
		t.Fatalf("role read %v", got)
	}
	if _, ok := got["private_key"]; ok {
		t.Fatal("the role read shows private_key")
	}
	for range 2 {
		data := h.ok(logical.ReadOperation, "token/j", nil)
		if status, err := srv.CallAPI("Bearer " + data["access_token"].(string)); err != nil || status != 200 {
			t.Fatalf("the minted token is not accepted: %d %v", status, err)
		}
	}
	if f := srv.LastForm("token"); f.Has("client_secret") || srv.LastHeader("token").Get("Authorization") != "" || f.Get("client_assertion") == "" {
		t.Fatalf("token request form %v", f)
	}

	// The client_id changes only with a new key: the key belongs to the client.
	h.badRequest(logical.UpdateOperation, "roles/j", map[string]any{"client_id": "another"}, "client_id", "without a new private_key")

	// A role moves from a secret to a key by emptying client_secret in the
	// same write, and back by emptying private_key.
	h.ok(logical.CreateOperation, "roles/b", role)
	h.badRequest(logical.UpdateOperation, "roles/b", map[string]any{"auth_style": "private_key_jwt", "private_key": keyPEM}, "client_secret and private_key")
	h.ok(logical.UpdateOperation, "roles/b", map[string]any{"client_id": "jwt-client", "client_secret": "", "audience": "", "scopes": "read",
		"auth_style": "private_key_jwt", "private_key": keyPEM, "private_key_id": "kid-1"})
	h.ok(logical.ReadOperation, "token/b", nil)
	h.badRequest(logical.UpdateOperation, "roles/b", map[string]any{"auth_style": "basic"}, "private_key is used only with auth_style=private_key_jwt")

	for _, seen := range h.seen {
		for _, line := range keyLines {
			if strings.Contains(seen, line) {
				t.Fatalf("a response or error holds the private key: %s", seen)
			}
		}
	}
}
