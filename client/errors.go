package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// FieldError is bad role input: the caller must fix Field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Msg }

// RejectedError means the vendor answered and refused the request (bad
// credentials, wrong client, forbidden). Retrying cannot help; the operator
// must fix the role. Code and Message are the vendor's own words.
type RejectedError struct {
	Vendor  string
	Op      string
	Status  int
	Code    string
	Message string
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s refused the %s request: HTTP %d", e.Vendor, e.Op, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Failure classes of an UnavailableError.
const (
	ClassTimeout     = "timeout"
	ClassRefused     = "connection refused"
	ClassNetwork     = "network error"
	ClassTLS         = "TLS error"
	ClassServer      = "5xx"
	ClassRateLimited = "429"
	ClassBadResponse = "bad response"
)

// UnavailableError means the vendor could not be reached or answered with
// something unusable. It may succeed later.
type UnavailableError struct {
	Vendor string
	Op     string
	Class  string
	Status int    // HTTP status, when there was one
	Detail string // vendor message or transport error text, secrets removed
}

func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s request failed (%s)", e.Vendor, e.Op, e.Class)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	return b.String()
}

// IsRejected reports whether err is the caller's to fix (a 400): bad input
// or a vendor refusal.
func IsRejected(err error) bool {
	var fe *FieldError
	var re *RejectedError
	return errors.As(err, &fe) || errors.As(err, &re)
}

// IsRefusal reports whether the vendor itself answered no: a definite
// answer, unlike a local input error or a failure to reach it.
func IsRefusal(err error) bool {
	var re *RejectedError
	return errors.As(err, &re)
}

// redact removes every non-empty secret from s, also as it looks inside a
// JSON string or a URL, where a vendor may echo it.
func redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		quoted, _ := json.Marshal(sec)
		for _, form := range []string{sec, string(quoted[1 : len(quoted)-1]), url.QueryEscape(sec), url.PathEscape(sec)} {
			s = strings.ReplaceAll(s, form, "[redacted]")
		}
	}
	return s
}

// vendorMessage pulls the error code and text out of a vendor's error body,
// whichever of the known shapes it has: RFC 6749 (error, error_description),
// CyberArk PAM (ErrorCode, ErrorMessage), CyberArk Identity (ErrorCode,
// Message), PrivX APIs (error_code, error_message). Anything else becomes a
// short excerpt of the body. Secrets are removed before anything is cut, so
// no prefix of one survives at the cut.
func vendorMessage(body []byte, secrets []string, quiet bool) (code, msg string) {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		code = firstString(m, "error", "ErrorCode", "error_code", "errorCode")
		msg = firstString(m, "error_description", "ErrorMessage", "Message", "error_message", "message", "Details")
		if code != "" || msg != "" {
			return clip(redact(code, secrets), 100), clip(redact(msg, secrets), 300)
		}
	}
	if quiet {
		return "", fmt.Sprintf("(an error body of %d bytes, not quoted: this call's replies can carry secrets)", len(body))
	}
	return "", clip(redact(strings.TrimSpace(string(body)), secrets), 200)
}

func firstString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// clip shortens s to at most n bytes on a rune boundary and drops control
// characters, so a hostile body cannot forge log lines.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
