//go:build acceptance

package acceptance

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An oauth2 role with auth_style=private_key_jwt, its key written from a
// file with the vault CLI, mints through the real Vault against a fake
// that verifies the assertion with the client's public key and refuses a
// replayed jti; a second mint, after a role write drops the cached token,
// is accepted too, so it carried a new jti. The key never comes back, and
// shows in no response, log line or audit entry.
func TestPrivateKeyJWTMintsThroughVault(t *testing.T) {
	w := setup(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	w.sim.Control(t, "/account", map[string]any{"vendor": "oauth2", "id": "jwt-client", "public_key": pubPEM, "key_id": "vault-1"})

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	demo := w.sim.Role(t, "oauth2")
	role := map[string]any{"vendor": "oauth2", "token_url": demo["token_url"], "ca_cert": demo["ca_cert"], "client_id": "jwt-client"}
	raw, _ := json.Marshal(role)
	roleFile := filepath.Join(dir, "role.json")
	if err := os.WriteFile(roleFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	path := mount + "/roles/jwt"
	// client_secret beside the key is refused, naming both.
	if _, errOut, err := w.vault.CLI("write", path, "@"+roleFile, "auth_style=private_key_jwt", "private_key=@"+keyFile, "client_secret=s3cret"); err == nil ||
		!strings.Contains(errOut, "client_secret and private_key") {
		t.Fatalf("client_secret with private_key_jwt: %v\n%s", err, errOut)
	}
	w.vault.MustCLI("write", path, "@"+roleFile, "auth_style=private_key_jwt", "private_key=@"+keyFile, "private_key_id=vault-1", "verify=true")

	out := w.vault.MustCLI("read", "-format=json", path)
	var read struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &read); err != nil {
		t.Fatal(err)
	}
	if read.Data["private_key_set"] != true || read.Data["client_secret_set"] != false || read.Data["auth_style"] != "private_key_jwt" {
		t.Fatalf("role read: %v", read.Data)
	}
	if _, ok := read.Data["private_key"]; ok {
		t.Fatal("the role read shows private_key")
	}

	before := w.sim.Calls(t)["oauth2"]["token"]
	first := w.readToken(t, "jwt")
	w.mustBeAccepted(t, "oauth2", first["authorization"].(string))
	// A role write drops the cached token; the next read mints anew.
	w.vault.MustCLI("write", path, "token_ttl_cap=30m")
	second := w.readToken(t, "jwt")
	w.mustBeAccepted(t, "oauth2", second["authorization"].(string))
	if first["access_token"] == second["access_token"] {
		t.Fatal("the second read did not mint a new token")
	}
	// Two mints, two assertions, both accepted by a fake that refuses a
	// jti it has seen.
	if got := w.sim.Calls(t)["oauth2"]["token"] - before; got != 2 {
		t.Fatalf("%d token calls for two mints", got)
	}

	body := strings.Split(keyPEM, "\n")[1]
	for _, text := range append(w.vault.Seen.All(), w.vault.Log(), readFile(t, w.vault.AuditPath)) {
		if strings.Contains(text, body) {
			t.Fatal("the private key shows in Vault's output, its log or the audit log")
		}
	}
	w.vault.MustCLI("delete", path)
}
