package vendortest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// SecretForms lists every form in which secret could show up in a
// response, a log line, an error or an event, for leak searches: raw;
// form-encoded and path-encoded (upper- and lower-case hex); JSON-escaped as
// Go writes it (with and without its HTML-safe \u0026 escapes) and as
// encoders that also escape '/' and every non-ASCII rune write it; and
// HTML-escaped (Go's numeric entities, and the named ones).
func SecretForms(secret string) []string {
	if secret == "" {
		return nil
	}
	goJSON := jsonInner(secret, true)
	plainJSON := jsonInner(secret, false)
	var ascii strings.Builder
	for _, r := range strings.ReplaceAll(plainJSON, "/", `\/`) {
		if r > 0x7e {
			if r > 0xffff {
				r1, r2 := surrogates(r)
				fmt.Fprintf(&ascii, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&ascii, `\u%04x`, r)
			}
		} else {
			ascii.WriteRune(r)
		}
	}
	named := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;").Replace(secret)
	q, p := url.QueryEscape(secret), url.PathEscape(secret)
	return dedupe([]string{
		secret,
		q, lowerHex(q), p, lowerHex(p),
		goJSON, plainJSON, ascii.String(),
		html.EscapeString(secret), named,
	})
}

// BasicForms lists the base64 of the Basic credentials the plugin sends for
// id and secret: the pair as given (privx's OAuth client, incydr) and the
// pair form-encoded first (oauth2's auth_style=basic, RFC 6749 2.3.1).
func BasicForms(id, secret string) []string {
	if secret == "" {
		return nil
	}
	return dedupe([]string{
		base64.StdEncoding.EncodeToString([]byte(id + ":" + secret)),
		base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret))),
	})
}

// Pair is an id and its secret, as sent in a Basic header.
type Pair struct{ ID, Secret string }

// LeakForms lists every form of every secret, and the Basic forms of every
// pair, sorted and without repeats.
func LeakForms(secrets []string, pairs []Pair) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, SecretForms(s)...)
	}
	for _, p := range pairs {
		out = append(out, SecretForms(p.Secret)...)
		out = append(out, BasicForms(p.ID, p.Secret)...)
	}
	return dedupe(out)
}

func jsonInner(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	enc.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

var upperEscape = regexp.MustCompile(`%[0-9A-F]{2}`)

// lowerHex writes percent-escapes with lower-case hex digits, as some
// encoders do.
func lowerHex(s string) string {
	return upperEscape.ReplaceAllStringFunc(s, strings.ToLower)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
