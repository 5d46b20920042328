package vendor

import (
	"testing"
	"time"
)

func TestDurTextReadsAsAnOperatorWouldTypeIt(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", 5 * time.Minute: "5m", time.Hour: "1h",
		90 * time.Minute: "1h30m", 3601 * time.Second: "1h0m1s", 240 * time.Hour: "240h",
	} {
		if got := durText(d); got != want {
			t.Errorf("durText(%s) = %q, want %q", d, got, want)
		}
	}
}

// clipText cuts on a character boundary, so a clipped message (and a list
// cell, which uses it) is still valid UTF-8.
func TestClipTextNeverSplitsACharacter(t *testing.T) {
	got := clipText("ab\u00e9\u00e9", 3) // é is two bytes: byte 3 is inside the first
	if got != "ab…" {
		t.Fatalf("clipText = %q, want %q", got, "ab…")
	}
	if got := clipText("abcdef", 3); got != "abc…" {
		t.Fatalf("clipText = %q", got)
	}
}
