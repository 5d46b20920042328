//go:build acceptance

package acceptance

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Vault Agent re-renders a token template while the vendor takes 3 s per
// token call: refresh ahead has the next token ready, so no read of the
// agent's waits on the vendor. Vault's own audit log times every read
// (request and response entries), the plugin's view through a real Vault.
func TestAgentReRendersWhileTheVendorIsSlow(t *testing.T) {
	w := setup(t)
	const role = "agent-slow"
	// 20s tokens replaced with 8s left: ttl 12s, background mint 4-8s in.
	w.vault.MustCLI("write", mount+"/roles/"+role, "@"+w.sim.Vendors["cyral"].RoleFile, "token_ttl_cap=20s", "refresh_before=8s")
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.log")
	w.vault.MustCLI("audit", "enable", "-path=refresh-audit", "file", "file_path="+auditPath)
	defer w.vault.CLI("audit", "disable", "refresh-audit")
	// The first token, minted before the vendor slows down.
	w.readToken(t, role)
	w.sim.Control(t, "/fault", map[string]any{"vendor": "cyral", "endpoint": "token", "delay_ms": 3000, "times": -1})
	defer w.sim.Control(t, "/clear", map[string]any{})
	callsBefore := w.sim.Calls(t)["cyral"]["token"]

	// Four renders: the first and three re-renders.
	renders, stop := w.agentRenders(t, "cyral", role, 4, 0)
	stop()
	calls := w.sim.Calls(t)["cyral"]["token"] - callsBefore

	// Every read of the role Vault answered, timed by its audit log: none
	// took anything like the vendor's 3 s.
	reads := auditedReads(t, auditPath, mount+"/token/"+role)
	if len(reads) < len(renders) {
		t.Fatalf("%d audited reads for %d renders", len(reads), len(renders))
	}
	for i, d := range reads {
		if d > 1500*time.Millisecond {
			t.Fatalf("read %d of %d took %s: it waited on the 3 s vendor", i+1, len(reads), d)
		}
	}
	// The mints ran behind the reads: at least one per re-render, and not
	// one per read.
	if calls < len(renders)-1 || calls > 2*len(renders)+2 {
		t.Fatalf("%d vendor token calls for %d renders", calls, len(renders))
	}
	t.Logf("%d renders, %d reads (slowest %s), %d vendor token calls", len(renders), len(reads), slowest(reads), calls)
}

// auditedReads returns how long each read of path took, from the request
// and response entries of a file audit log.
func auditedReads(t *testing.T, auditPath, path string) []time.Duration {
	t.Helper()
	f, err := os.Open(auditPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type entry struct {
		Type    string    `json:"type"`
		Time    time.Time `json:"time"`
		Request struct {
			ID        string `json:"id"`
			Path      string `json:"path"`
			Operation string `json:"operation"`
		} `json:"request"`
	}
	began := map[string]time.Time{}
	var took []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e entry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Request.Path != path || e.Request.Operation != "read" {
			continue
		}
		switch e.Type {
		case "request":
			began[e.Request.ID] = e.Time
		case "response":
			if at, ok := began[e.Request.ID]; ok {
				took = append(took, e.Time.Sub(at))
			}
		}
	}
	return took
}

func slowest(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
