//go:build acceptance

package acceptance

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/internal/testvault"
)

// agentRenders runs vault agent with a template of role's token and
// returns its first n renders, each checked as it comes: a token the
// vendor accepts, with at least minLeft of life (some, if minLeft is 0),
// rendered before the token it replaced expired. The returned stop ends
// the agent; cleanup does too, and logs the agent's output if t failed.
func (w *world) agentRenders(t *testing.T, vendor, role string, n int, minLeft time.Duration) (renders []string, stop func()) {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "vault-token")
	os.WriteFile(tokenFile, []byte(w.vault.Token), 0o600)
	out := filepath.Join(dir, "rendered")
	conf := fmt.Sprintf(`
vault { address = %q }
auto_auth {
  method "token_file" {
    config = { token_file_path = %q }
  }
}
template {
  destination = %q
  contents    = "{{ with secret \"%s/token/%s\" }}{{ .Data.authorization }}|{{ .Data.expires_at }}{{ end }}"
}
`, w.vault.Addr, tokenFile, out, mount, role)
	confPath := filepath.Join(dir, "agent.hcl")
	os.WriteFile(confPath, []byte(conf), 0o600)
	logPath := filepath.Join(dir, "agent.log")
	logf, _ := os.Create(logPath)
	agent := exec.Command(w.env.Vault, "agent", "-config="+confPath)
	agent.Stdout, agent.Stderr = logf, logf
	agent.SysProcAttr = testvault.ChildAttr()
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			syscall.Kill(-agent.Process.Pid, syscall.SIGTERM)
			agent.Wait()
			logf.Close()
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			raw, _ := os.ReadFile(logPath)
			t.Logf("agent log:\n%s", raw)
		}
	})

	last := ""
	deadline := time.Now().Add(90 * time.Second)
	for len(renders) < n {
		if time.Now().After(deadline) {
			t.Fatalf("agent rendered %d times in 90s: %q", len(renders), renders)
		}
		raw, _ := os.ReadFile(out)
		if cur := string(raw); cur != "" && cur != last {
			auth, exp, ok := strings.Cut(cur, "|")
			expires, err := time.Parse(time.RFC3339, exp)
			if !ok || err != nil {
				t.Fatalf("rendered %q", cur)
			}
			now := time.Now()
			w.mustBeAccepted(t, vendor, auth)
			if left := expires.Sub(now); left <= 0 || left < minLeft {
				t.Fatalf("render %d holds a token with only %s left", len(renders)+1, left)
			}
			if last != "" {
				_, prevExp, _ := strings.Cut(last, "|")
				if pe, _ := time.Parse(time.RFC3339, prevExp); !now.Before(pe) {
					t.Fatalf("re-rendered at %s, after the previous token expired at %s", now.Format(time.RFC3339), prevExp)
				}
			}
			renders = append(renders, cur)
			last = cur
		}
		time.Sleep(200 * time.Millisecond)
	}
	return renders, stop
}
