package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
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
// JSON string or a URL, where a vendor may echo it. Longer secrets go
// first, so that a secret that contains another leaves no tail behind.
func redact(s string, secrets []string) string {
	sorted := append([]string(nil), secrets...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, sec := range sorted {
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

// scrub redacts text, and redacts it again with percent-encoding undone
// (as in a path, and as in a form) when that reveals a secret some encoder
// escaped differently from Go (lower-case %2f, JavaScript's unescaped
// !'()*). Undoing is tolerant: one stray '%' must not hide the rest.
func scrub(text string, secrets []string) string {
	text = redact(text, secrets)
	for _, plus := range []bool{false, true} {
		if u := unescapeLoose(text, plus); u != text {
			if r := redact(u, secrets); r != u {
				return r
			}
		}
	}
	return text
}

// unescapeLoose decodes every valid %XX escape, and '+' as a space when
// plus is set, leaving everything else as it is.
func unescapeLoose(s string, plus bool) string {
	hex := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := hex(s[i+1])
			lo, ok2 := hex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		if c == '+' && plus {
			c = ' '
		}
		b.WriteByte(c)
	}
	return b.String()
}

// excerpt prepares a body of unknown shape for quoting, secrets removed. A
// JSON body is decoded and re-encoded in Go's escaping first, so that a
// secret escaped by another encoder (PHP writes \/, Python \u00e4) is seen
// in a form redact knows.
func excerpt(body []byte, secrets []string) string {
	text := strings.TrimSpace(string(body))
	var v any
	if json.Unmarshal(body, &v) == nil {
		if b, err := json.Marshal(v); err == nil {
			text = string(b)
		}
	}
	return scrub(text, secrets)
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
			return clip(scrub(code, secrets), 100), clip(scrub(msg, secrets), 300)
		}
	}
	if quiet {
		return "", fmt.Sprintf("(an error body of %d bytes, not quoted: this call's replies can carry secrets)", len(body))
	}
	return "", clip(excerpt(body, secrets), 200)
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
