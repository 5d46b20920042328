package vendor

import (
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Limits on what a request may carry and a role may hold: nothing in the
// schedule's arithmetic can overflow, and no role outgrows what storage
// (Raft's entry limit) takes.
const (
	maxNameLen = 128
	// maxPeriod bounds rotation_period, token_ttl_cap, refresh_before and
	// min_remaining, far below a time.Duration's 292 years.
	maxPeriod     = 10 * 365 * 24 * time.Hour
	maxPeriodText = "10 years (87600h)"
)

// seconds turns a field's whole seconds into a Duration, refusing a
// negative value or one over limit before multiplying, so nothing wraps.
func seconds(field string, secs int, limit time.Duration, limitText string) (time.Duration, error) {
	if secs < 0 {
		return 0, &client.FieldError{Field: field, Msg: "must not be negative"}
	}
	if secs > int(limit/time.Second) {
		return 0, &client.FieldError{Field: field, Msg: "must be at most " + limitText}
	}
	return time.Duration(secs) * time.Second, nil
}
