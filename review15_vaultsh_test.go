package vendor

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// make dev links bin/vault to the server it ran (under make test-openbao,
// the OpenBao binary; under VAULT_VERSION=v1.20.4, that Vault) and prints
// `export PATH="$PWD/bin:$PATH"` for the user's shell. In that shell,
// scripts/vault.sh with VAULT_VERSION unset takes any `vault` on PATH, so
// the next plain `make test` or `make dev` silently runs on OpenBao or on
// the old Vault. vault.sh must not take its own project's bin/vault, nor
// a `vault` that is not Vault.
func TestReview15VaultShTakesNoOpenBaoOrOwnLink(t *testing.T) {
	dir := t.TempDir()
	copyInto(t, dir, "scripts/vault.sh", "scripts/vaultbin/go.mod", "scripts/vaultbin/go.sum", "scripts/vaultbin/main.go")
	var version string
	b, _ := os.ReadFile("scripts/vaultbin/go.mod")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "github.com/hashicorp/vault" || f[1] == "github.com/hashicorp/vault") {
			version = f[len(f)-1]
			break
		}
	}
	if version == "" {
		t.Fatal("no Vault version in scripts/vaultbin/go.mod")
	}
	// The cached build vault.sh would use, with its stamp.
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum", "main.go"} {
		b, _ := os.ReadFile(filepath.Join("scripts/vaultbin", f))
		h.Write(b)
	}
	stamp := hex.EncodeToString(h.Sum(nil))[:16]
	cacheHome := filepath.Join(dir, "cache")
	cached := filepath.Join(cacheHome, "vault-plugin-secrets-vendor", "vault-"+version, "vault")
	writeExec(t, cached, "#!/bin/sh\necho 'Vault "+version+", built 2025'\n")
	os.WriteFile(filepath.Join(filepath.Dir(cached), "stamp"), []byte(stamp+"\n"), 0o644)

	bao := filepath.Join(dir, "elsewhere", "bao")
	writeExec(t, bao, "#!/bin/sh\necho 'OpenBao v2.5.5 (abc), built 2025'\n")
	old := filepath.Join(dir, "elsewhere", "vault-1.20.4")
	writeExec(t, old, "#!/bin/sh\necho 'Vault v1.20.4, built 2025'\n")
	for name, target := range map[string]string{"bin/vault -> OpenBao": bao, "bin/vault -> Vault v1.20.4": old} {
		t.Run(name, func(t *testing.T) {
			link := filepath.Join(dir, "bin", "vault")
			os.MkdirAll(filepath.Dir(link), 0o755)
			os.Remove(link)
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", filepath.Join(dir, "scripts/vault.sh"))
			cmd.Env = []string{"HOME=" + dir, "XDG_CACHE_HOME=" + cacheHome, "PATH=" + filepath.Join(dir, "bin") + ":/usr/bin:/bin"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("vault.sh: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != cached {
				t.Fatalf("with the printed PATH line, vault.sh (VAULT_VERSION unset) gives %s, which is %s; want Vault %s at %s", got, target, version, cached)
			}
		})
	}
	t.Run("an OpenBao named vault on PATH", func(t *testing.T) {
		other := filepath.Join(dir, "other")
		writeExec(t, filepath.Join(other, "vault"), "#!/bin/sh\necho 'OpenBao v2.5.5 (abc), built 2025'\n")
		os.Remove(filepath.Join(dir, "bin", "vault"))
		cmd := exec.Command("bash", filepath.Join(dir, "scripts/vault.sh"))
		cmd.Env = []string{"HOME=" + dir, "XDG_CACHE_HOME=" + cacheHome, "PATH=" + other + ":/usr/bin:/bin"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("vault.sh: %v", err)
		}
		if got := strings.TrimSpace(string(out)); got != cached {
			t.Fatalf("vault.sh gives %s, an OpenBao server, for make test's Vault", got)
		}
	})
}
