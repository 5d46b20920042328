package client

import (
	"strings"
	"time"
)

// SilentLifetime is implemented by vendors whose tokens never say how long
// they live (a PVWA session token is a bare string): the role's
// token_ttl_cap, or the plugin's default lifetime, stands in for them.
type SilentLifetime interface {
	TokensCarryNoLifetime()
}

// GivesNoLifetime reports whether v's tokens never carry a lifetime, so
// that a role's read shows the lifetime the plugin uses instead of 0.
func GivesNoLifetime(v Vendor) bool {
	_, ok := v.(SilentLifetime)
	return ok
}

// DurationText writes d the way an operator would type it back (90s, 5m,
// 1h30m), for messages: Go's own form (2m0s) is not what any field takes.
func DurationText(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
