package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrRefused matches (errors.Is) a vendor's answer that refused the
// request: it said no, and said it about the credentials or the request.
// Retrying cannot help; the operator must fix the role.
var ErrRefused = errors.New("the vendor refused the request")

// ErrInvalid matches (errors.Is) a request this package refused before
// any call, because of what it was given (a client id that is no URL path
// segment, a CA that does not parse). The vendor said nothing.
var ErrInvalid = errors.New("invalid input")

// invalidError is an ErrInvalid that names the input at fault.
type invalidError struct{ field, msg string }

func (e *invalidError) Error() string        { return e.field + " " + e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// invalid is an ErrInvalid naming field; msg says what is wrong with it.
func invalid(field string, msg string) error { return &invalidError{field: field, msg: msg} }

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

// Is makes every RejectedError match ErrRefused.
func (e *RejectedError) Is(target error) bool { return target == ErrRefused }

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
	// Host is the host (and port, when the URL gives one) that was called;
	// empty when the failure came after the call, from the reply's content.
	Host string
	// Path is the URL path called (never its query, which can hold a key).
	Path   string
	Status int    // HTTP status, when there was one
	Detail string // vendor message or a plain description of the transport failure, secrets removed
	// RetryAfter is how long the vendor asked callers to wait (its
	// Retry-After header on a 429 or 5xx), 0 if it asked nothing.
	RetryAfter time.Duration
	// Timeout is the per-attempt timeout in force, for a timeout's text.
	Timeout time.Duration
}

// Error says, in plain words, which call failed, how, and what to check.
func (e *UnavailableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s request", e.Vendor, e.Op)
	if e.Host != "" {
		fmt.Fprintf(&b, " to %s%s", e.Host, e.Path)
	}
	b.WriteString(" failed: ")
	b.WriteString(e.what())
	if fix := e.check(); fix != "" {
		b.WriteString("; " + fix)
	}
	return b.String()
}

// what is the failure in plain words.
func (e *UnavailableError) what() string {
	with := func(s string) string {
		if e.Detail != "" {
			return s + ": " + e.Detail
		}
		return s
	}
	switch e.Class {
	case ClassTimeout:
		if e.Status != 0 {
			return with(fmt.Sprintf("the vendor answered HTTP %d (it timed out)", e.Status))
		}
		if e.Timeout > 0 {
			return fmt.Sprintf("timed out after %s without an answer", shortDur(e.Timeout))
		}
		return "timed out without an answer"
	case ClassRefused:
		return "connection refused: nothing accepts connections at that host and port"
	case ClassNetwork, ClassTLS, ClassBlocked:
		if e.Detail == "" {
			return e.Class
		}
		return e.Detail
	case ClassServer:
		return with(fmt.Sprintf("the vendor answered HTTP %d (a server error)", e.Status))
	case ClassRateLimited:
		return with(fmt.Sprintf("the vendor answered HTTP %d (too many requests)", e.Status))
	case ClassBadResponse:
		if e.Status != 0 {
			return with(fmt.Sprintf("the vendor's answer (HTTP %d) could not be used", e.Status))
		}
		return with("the vendor's answer could not be used")
	}
	if e.Status != 0 {
		return with(fmt.Sprintf("%s: HTTP %d", e.Class, e.Status))
	}
	return with(e.Class)
}

// check says what the operator should look at.
func (e *UnavailableError) check() string {
	addr := "the role's " + addressFieldOf(e.Vendor)
	switch e.Class {
	case ClassTimeout:
		if e.Status != 0 {
			return "the vendor is slow or failing; retry later"
		}
		return "check " + addr + ", that the Vault node can reach that host (firewall, proxy), or raise request_timeout in the mount's config"
	case ClassRefused:
		return "check the host and port in " + addr + " and that the vendor's service is up"
	case ClassNetwork:
		return "check " + addr + ", and DNS, firewall and proxy settings on the Vault node"
	case ClassTLS:
		switch {
		case strings.Contains(e.Detail, "not trusted"):
			return "set the role's ca_cert to the CA that issued the vendor's certificate, or check that " + addr + " names the vendor, not a proxy"
		case strings.Contains(e.Detail, "not valid for"):
			return "write in " + addr + " the host name the certificate was issued for"
		}
		return "check " + addr + " (https to a TLS port) and the role's ca_cert"
	case ClassServer:
		return "the vendor's service is failing: retry later, or check the vendor's status"
	case ClassRateLimited:
		return "wait before retrying; the account's calls are over the vendor's rate limit"
	case ClassBadResponse:
		return "check that " + addr + " is the vendor's API address, not a web page or a proxy"
	}
	return ""
}

// addressFieldOf names the role field a vendor's address comes from.
func addressFieldOf(vendor string) string {
	if v, ok := Lookup(vendor); ok {
		return AddressField(v).Name
	}
	return FieldBaseURL
}

// shortDur writes d as an operator would type it (10s, 1m30s, 2m).
func shortDur(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	return s
}

// Vendor text is quoted only from the error fields vendorMessage names, each
// cut to a few hundred bytes; anything else a vendor sends is described, not
// quoted. Redaction is the second guard on what is quoted, and on transport
// error texts. Its rules:
//
//   - A secret is searched for as given and in every form it takes on the
//     way to a vendor and back: percent-encoded (either case of hex, with or
//     without '+' for space), HTML-escaped (named and numeric entities),
//     JSON- or JavaScript-escaped, and up to two of these layered. The
//     base64 of each Basic pair is one of the secrets (Creds.Secrets and
//     do add it), so its truncations count too.
//   - A vendor may echo a secret cut short, so any run of at least
//     minRedact bytes that matches the start of a secret is redacted as far
//     as it matches.
//   - A secret shorter than minRedact cannot be redacted without the
//     markers' positions spelling it out, so a text that holds one in any
//     form is withheld whole.
//   - All matches are found first and the output is built once: a marker is
//     never searched again, and the output grows by at most the length of
//     a marker per match (each of which covers at least minRedact bytes).
const (
	minRedact    = 6
	redactedMark = "[redacted]"
	withheldMark = "[withheld: it may hold a secret]"
)

// redact returns s with every secret removed, by the rules above.
func redact(s string, secrets []string) string {
	long, short := needles(secrets, len(s))
	if s == "" || len(long)+len(short) == 0 {
		return s
	}
	clean := func(t string) bool {
		spans, withhold := find(t, long, short)
		return len(spans) == 0 && !withhold
	}
	if spans, withhold := find(s, long, short); !withhold {
		// Checked once more: a marker next to the text around it could
		// still spell a secret.
		if out := cover(s, spans); clean(out) {
			return out
		}
	}
	return withheldFor(long, short)
}

// withheldFor is the marker for a withheld text, unless the marker itself
// would hold one of the secrets.
func withheldFor(long, short []string) string {
	if spans, w := find(withheldMark, long, short); len(spans) == 0 && !w {
		return withheldMark
	}
	return ""
}

// needles splits the distinct non-empty secrets into those long enough to
// redact and those too short to. No view of a text is longer than the text,
// so a secret is searched for only as far as textLen bytes: the rest could
// never match, and a 32 KiB secret would cost as much as a 32 KiB text.
func needles(secrets []string, textLen int) (long, short []string) {
	seen := map[string]bool{}
	for _, sec := range secrets {
		if len(sec) > textLen && textLen >= minRedact {
			sec = sec[:textLen]
		}
		if sec == "" || seen[sec] {
			continue
		}
		seen[sec] = true
		if len(sec) >= minRedact {
			long = append(long, sec)
		} else {
			short = append(short, sec)
		}
	}
	return long, short
}

// span is a half-open byte range of the source text.
type span struct{ from, to int }

// find returns the source spans that match a long needle (or a prefix of
// at least minRedact bytes of one) in any view of s, and whether a short
// needle appears in any view.
func find(s string, long, short []string) ([]span, bool) {
	var spans []span
	withhold := false
	for _, v := range views(s) {
		for _, n := range short {
			if strings.Contains(v.text, n) {
				withhold = true
			}
		}
		for _, n := range long {
			if !strings.Contains(v.text, n[:minRedact]) {
				continue
			}
			for i, l := range prefixMatches(n, v.text) {
				if l >= minRedact {
					spans = append(spans, span{v.from[i], v.to[i+l-1]})
				}
			}
		}
	}
	return spans, withhold
}

// prefixMatches returns, for each position of text, how many bytes from
// there match the start of needle (the Z-function of needle+text, capped at
// the needle's length), in time linear in both.
func prefixMatches(needle, text string) []int {
	m := len(needle)
	at := func(i int) byte {
		if i < m {
			return needle[i]
		}
		return text[i-m]
	}
	n := m + len(text)
	z := make([]int, n)
	for i, l, r := 1, 0, 0; i < n; i++ {
		if i < r {
			z[i] = min(r-i, z[i-l])
		}
		for i+z[i] < n && at(z[i]) == at(i+z[i]) {
			z[i]++
		}
		if i+z[i] > r {
			l, r = i, i+z[i]
		}
	}
	out := z[m:]
	for i := range out {
		out[i] = min(out[i], m, len(text)-i)
	}
	return out
}

// cover replaces the union of spans in s by one marker per run.
func cover(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
	var b strings.Builder
	pos := 0
	for i := 0; i < len(spans); {
		from, to := spans[i].from, spans[i].to
		for i++; i < len(spans) && spans[i].from <= to; i++ {
			to = max(to, spans[i].to)
		}
		b.WriteString(s[pos:from])
		b.WriteString(redactedMark)
		pos = to
	}
	b.WriteString(s[pos:])
	return b.String()
}

// view is a decoding of a source text: byte i of text came from the source
// bytes from[i] to to[i] (exclusive).
type view struct {
	text     string
	from, to []int
}

// decoder undoes one layer of the encodings a secret travels in, where
// one of its escape characters occurs.
type decoder struct {
	escapes string
	decode  func(string, int) (string, int)
}

var decoders = []decoder{
	{"%", decodePercent(false)}, {"%+", decodePercent(true)}, {"&\\", decodeMarkup},
}

// views decodes s by every decoder and every pair of them.
func views(s string) []view {
	id := view{text: s, from: make([]int, len(s)), to: make([]int, len(s))}
	for i := 0; i < len(s); i++ {
		id.from[i], id.to[i] = i, i+1
	}
	out := []view{id}
	for _, d1 := range decoders {
		if !strings.ContainsAny(s, d1.escapes) {
			continue
		}
		v1 := decodeView(id, d1.decode)
		if v1.text == s {
			continue
		}
		out = append(out, v1)
		for _, d2 := range decoders {
			if !strings.ContainsAny(v1.text, d2.escapes) {
				continue
			}
			if v2 := decodeView(v1, d2.decode); v2.text != v1.text {
				out = append(out, v2)
			}
		}
	}
	return out
}

// decodeView applies d at every position of v: d returns the decoded bytes
// of the escape at the start of its input and how many bytes it took, or
// 0 when there is none.
func decodeView(v view, d func(string, int) (string, int)) view {
	out := view{from: make([]int, 0, len(v.text)), to: make([]int, 0, len(v.text))}
	var b strings.Builder
	b.Grow(len(v.text))
	for i := 0; i < len(v.text); {
		dec, n := d(v.text, i)
		if n == 0 {
			dec, n = v.text[i:i+1], 1
		}
		b.WriteString(dec)
		for range len(dec) {
			out.from = append(out.from, v.from[i])
			out.to = append(out.to, v.to[i+n-1])
		}
		i += n
	}
	out.text = b.String()
	return out
}

func hexVal(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// hexRun reads up to max hex digits of s from i.
func hexRun(s string, i, max int) (int, int) {
	v, n := 0, 0
	for n < max && i+n < len(s) {
		d, ok := hexVal(s[i+n])
		if !ok {
			break
		}
		v, n = v*16+d, n+1
	}
	return v, n
}

// decodePercent undoes %XX in either case, and '+' as a space when plus is set.
func decodePercent(plus bool) func(string, int) (string, int) {
	return func(s string, i int) (string, int) {
		switch {
		case s[i] == '%':
			if v, n := hexRun(s, i+1, 2); n == 2 {
				return string([]byte{byte(v)}), 3
			}
		case s[i] == '+' && plus:
			return " ", 1
		}
		return "", 0
	}
}

var entities = map[string]string{"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'", "sol": "/", "bsol": `\`, "nbsp": "\u00a0"}

// decodeMarkup undoes one HTML entity (&amp; &#39; &#x27;) or one JSON or
// JavaScript escape (\" \/ \n \u00e9 \x41, surrogate pairs joined).
func decodeMarkup(s string, i int) (string, int) {
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "&#x") || strings.HasPrefix(rest, "&#X"):
		if v, n := hexRun(s, i+3, 6); n > 0 && i+3+n < len(s) && s[i+3+n] == ';' && utf8.ValidRune(rune(v)) {
			return string(rune(v)), 4 + n
		}
	case strings.HasPrefix(rest, "&#"):
		v, n := 0, 0
		for n < 7 && i+2+n < len(s) && s[i+2+n] >= '0' && s[i+2+n] <= '9' {
			v, n = v*10+int(s[i+2+n]-'0'), n+1
		}
		if n > 0 && i+2+n < len(s) && s[i+2+n] == ';' && utf8.ValidRune(rune(v)) {
			return string(rune(v)), 3 + n
		}
	case rest[0] == '&':
		if semi := strings.IndexByte(rest, ';'); semi > 1 && semi <= 5 {
			if dec, ok := entities[strings.ToLower(rest[1:semi])]; ok {
				return dec, semi + 1
			}
		}
	case rest[0] == '\\' && len(rest) > 1:
		switch c := rest[1]; c {
		case '"', '\\', '/', '\'':
			return rest[1:2], 2
		case 'b':
			return "\b", 2
		case 'f':
			return "\f", 2
		case 'n':
			return "\n", 2
		case 'r':
			return "\r", 2
		case 't':
			return "\t", 2
		case 'x':
			if v, n := hexRun(s, i+2, 2); n == 2 {
				return string(rune(v)), 4
			}
		case 'u':
			v, n := hexRun(s, i+2, 4)
			if n != 4 {
				break
			}
			r := rune(v)
			if utf16.IsSurrogate(r) {
				if strings.HasPrefix(s[i+6:], "\\u") {
					if v2, n2 := hexRun(s, i+8, 4); n2 == 4 {
						if pair := utf16.DecodeRune(r, rune(v2)); pair != utf8.RuneError {
							return string(pair), 12
						}
					}
				}
				break
			}
			return string(r), 6
		}
	}
	return "", 0
}

// vendorMessage pulls the error code and text out of a vendor's error body,
// whichever of the known shapes it has: RFC 6749 (error, error_description),
// CyberArk PAM (ErrorCode, ErrorMessage), CyberArk Identity (ErrorCode,
// Message), PrivX APIs (error_code, error_message), and a plain message.
// Each is cut and redacted (quote). Any other body may be an echo of the
// request, so it is described (its kind and size; the status is in the
// error already), never quoted.
func vendorMessage(body []byte, contentType string, secrets []string) (code, msg string) {
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		code = firstString(m, "error", "ErrorCode", "error_code")
		msg = firstString(m, "error_description", "ErrorMessage", "Message", "error_message", "message")
		if code != "" || msg != "" {
			return quote(code, 100, secrets), quote(msg, 300, secrets)
		}
	}
	return "", describe(body, contentType)
}

// describe names a body's kind and size. The kind comes from a fixed list,
// so no text the vendor chose reaches the error.
func describe(body []byte, contentType string) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	kind := "a body"
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case json.Valid(body):
		kind = "a JSON body with no error field"
	case mt == "text/html" || mt == "application/xhtml+xml":
		kind = "an HTML body"
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		kind = "an XML body"
	case mt == "text/plain":
		kind = "a text body"
	}
	return fmt.Sprintf("(%s of %d bytes, not quoted: it may echo the request; only a vendor's error fields are quoted)", kind, len(body))
}

// quote prepares one vendor field for an error: control characters become
// spaces (secrets are searched for in that form too), secrets are removed,
// and it is cut to n bytes of the source. A long text is first cut to a
// length at which every form of a secret that starts before byte n still
// has its first minRedact bytes (at up to 16 bytes each) inside, so the
// prefix rule finds it; the result is then cut by source position, never
// inside a redaction, so no short run of a secret survives at the cut.
func quote(s string, n int, secrets []string) string {
	s = sanitize(s)
	secrets = withSanitized(secrets)
	cut := cutRunes(s, n+16*minRedact+minRedact)
	if len(cut) == len(s) {
		return clip(redact(s, secrets), n)
	}
	long, short := needles(secrets, len(cut))
	spans, withhold := find(cut, long, short)
	if withhold {
		return withheldFor(long, short)
	}
	end := len(cutRunes(cut, n))
	for grew := true; grew; {
		grew = false
		for _, sp := range spans {
			if sp.from < end && sp.to > end {
				end, grew = sp.to, true
			}
		}
	}
	var kept []span
	for _, sp := range spans {
		if sp.from < end {
			kept = append(kept, sp)
		}
	}
	out := cover(cut[:end], kept)
	if again, w := find(out, long, short); len(again) > 0 || w {
		return withheldFor(long, short)
	}
	if out = clip(out, n); !strings.HasSuffix(out, "…") {
		out += "…"
	}
	return out
}

// withSanitized adds, for each secret holding a control character, the
// form sanitize gives it.
func withSanitized(secrets []string) []string {
	out := secrets
	for _, sec := range secrets {
		if c := sanitize(sec); c != sec {
			if len(out) == len(secrets) {
				out = append([]string(nil), secrets...)
			}
			out = append(out, c)
		}
	}
	return out
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
	s = sanitize(s)
	if len(s) <= n {
		return s
	}
	return cutRunes(s, n) + "…"
}

// sanitize turns control characters into spaces.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// cutRunes shortens s to at most n bytes on a rune boundary.
func cutRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
