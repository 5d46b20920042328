package client

import (
	"fmt"
	"strings"
	"testing"
)

// quote now cuts its input at n+16*minRedact+minRedact bytes, before
// redaction, and clips the output at n after it. But redaction shrinks the
// text (a percent-encoded 40-byte secret becomes a 10-byte marker), so the
// output can reach input bytes near the cut, and a secret starting within
// minRedact bytes of the cut keeps a run too short for the prefix rule: up
// to five bytes of it are quoted where the whole text would have had them
// redacted (the old cut, 16 times the longest secret, kept it whole).
func TestQuoteCutLeavesNoPrefixOfASecret(t *testing.T) {
	secret := "Zq7-Kp2xWm9Rt4Lv8Nc3Bh6Yd1Fs5Gj0"
	const n = 300
	enc := ""
	for i := 0; i < len(secret); i++ {
		enc += fmt.Sprintf("%%%02X", secret[i])
	}
	enc += enc // two echoes shrink by 172 bytes
	cut := n + 16*minRedact + minRedact
	text := enc + strings.Repeat("x", cut-len(enc)-4) + secret
	if full := redact(text, []string{secret}); strings.Contains(full, secret[:4]) {
		t.Fatal("the whole text is not redacted: the scenario did not arise")
	}
	if out := quote(text, n, []string{secret}); strings.Contains(out, "x"+secret[:4]) {
		t.Fatalf("quote left the first bytes of a secret that redaction of the whole text removes: %q", out[len(out)-20:])
	}
}

// Control characters are now mapped to spaces after redaction, so a
// secret holding a space within its first minRedact bytes that the vendor
// echoes with a tab (a form or a log that reflowed it) is not found by
// redaction, then sanitising turns it back into the secret.
func TestSanitiseAfterRedactionSpellsNoSecret(t *testing.T) {
	secret := "Kx9 q-Tr0ub4dor&3-horse"
	out := quote("bad password: Kx9\tq-Tr0ub4dor&3-horse", 300, []string{secret})
	if strings.Contains(out, secret) {
		t.Fatalf("the quoted text spells the secret: %q", out)
	}
}
