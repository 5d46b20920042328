package client

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"testing"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// Every form a secret travels or is echoed in is redacted, alone and inside
// text, and so is a secret cut short.
func TestRedactCoversEveryForm(t *testing.T) {
	const sec = `s3 cr%et#:@&+=/?x"<'é`
	c := Creds{ClientID: "svc-vault", ClientSecret: sec, Fields: Values{FieldOAuthClientID: "privx-external", FieldOAuthClientSecret: "oauth %sec#ret:x"}}
	oid, osecret := c.Fields.String(FieldOAuthClientID), c.Fields.String(FieldOAuthClientSecret)
	secrets := c.Secrets()
	jsonOf := func(s string) string { b, _ := json.Marshal(s); return string(b[1 : len(b)-1]) }
	forms := map[string]string{
		"raw":                   sec,
		"query-escaped":         url.QueryEscape(sec),
		"path-escaped":          url.PathEscape(sec),
		"lower-case hex":        strings.ToLower(url.QueryEscape(sec)),
		"JSON":                  jsonOf(sec),
		"JSON, \\/ and \\u":     strings.ReplaceAll(strings.ReplaceAll(jsonOf(sec), "/", `\/`), "é", `\u00e9`),
		"HTML":                  html.EscapeString(sec),
		"HTML, named":           strings.NewReplacer("&", "&amp;", `"`, "&quot;", "'", "&apos;", "<", "&lt;").Replace(sec),
		"HTML, hex entities":    strings.NewReplacer("&", "&#x26;", `"`, "&#x22;", "'", "&#x27;", "<", "&#x3C;").Replace(sec),
		"JSON of query-escaped": jsonOf(url.QueryEscape(sec)),
		"query of HTML":         url.QueryEscape(html.EscapeString(sec)),
		"Basic raw":             base64.StdEncoding.EncodeToString([]byte(c.ClientID + ":" + sec)),
		"Basic form-encoded":    base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(c.ClientID) + ":" + url.QueryEscape(sec))),
		"Basic privx":           base64.StdEncoding.EncodeToString([]byte(oid + ":" + osecret)),
		"truncated by 3":        sec[:len(sec)-len("<'é")],
		"truncated to 6 bytes":  sec[:6],
		"truncated Basic":       base64.StdEncoding.EncodeToString([]byte(c.ClientID + ":" + sec))[:20],
		"truncated, escaped":    url.QueryEscape(sec[:9]),
	}
	leaks := append(vendortest.LeakForms([]string{sec[:len(sec)-len("<'é")], sec[:6]}, []vendortest.Pair{{ID: c.ClientID, Secret: sec}, {ID: oid, Secret: osecret}}),
		base64.StdEncoding.EncodeToString([]byte(c.ClientID + ":" + sec))[:20])
	for name, form := range forms {
		for _, text := range []string{form, "before " + form + " after", form + form, "a" + form[:len(form)/2] + form} {
			out := redact(text, secrets)
			for _, leak := range leaks {
				if strings.Contains(out, leak) {
					t.Errorf("%s: %q left %q in %q", name, text, leak, out)
				}
			}
			if !strings.Contains(out, redactedMark) {
				t.Errorf("%s: nothing redacted in %q", name, out)
			}
		}
	}
	// Text that holds no secret is left alone, and so is a prefix shorter
	// than minRedact: it cannot be told from ordinary text.
	for _, text := range []string{"invalid_client: bad credentials", "s3 cr and more"} {
		if out := redact(text, secrets); out != text {
			t.Errorf("%q became %q", text, out)
		}
	}
}

// Redaction is one pass: a marker is never searched again, the output grows
// by at most one marker per match, and a secret too short to redact safely
// withholds the text whole, so no marker positions spell it.
func TestRedactIsOnePassAndBounded(t *testing.T) {
	body := strings.Repeat("the vendor rejected the credentials. ", 256<<10/37)
	for _, sec := range []string{"e", "d", "]", "[r", "x"} {
		out := redact(body, []string{sec})
		if len(out) > len(body)+len(withheldMark) {
			t.Fatalf("secret %q: %d bytes from %d", sec, len(out), len(body))
		}
		if strings.Contains(body, sec) && strings.Contains(out, sec) {
			t.Fatalf("secret %q survives in %q", sec, clip(out, 80))
		}
		// Two texts with the secret in different places come out the same.
		if a, b := redact("abc"+sec+"def", []string{sec}), redact(sec+"abcdef", []string{sec}); a != b {
			t.Fatalf("secret %q: outputs %q and %q tell where it was", sec, a, b)
		}
	}
	// A secret that is part of the marker is not found in the markers.
	for _, sec := range []string{"redact", "acted]", "[redacted]"} {
		out := redact("x "+sec+" y "+sec, []string{sec})
		if strings.Contains(out, sec) || len(out) > 2*len(redactedMark)+len(withheldMark)+10 {
			t.Fatalf("secret %q: %q", sec, out)
		}
	}
	// Many matches of a long secret: one marker each, nothing re-scanned.
	sec := "Leak-Probe-Secret %#&+=:@"
	text := strings.Repeat(sec+" / ", 5000)
	out := redact(text, []string{sec})
	if strings.Count(out, redactedMark) != 5000 || len(out) > len(text) || strings.Contains(out, "Leak-Probe") {
		t.Fatalf("%d markers, %d bytes from %d", strings.Count(out, redactedMark), len(out), len(text))
	}
}

// A vendor's own words that merely start like a credential header are kept:
// only the credential after the scheme is a secret.
func TestTheAuthorizationSchemeIsNotASecret(t *testing.T) {
	msg := `{"error":"invalid_token","error_description":"Bearer token expired; Basic auth is disabled"}`
	for _, auth := range []string{"Bearer tok-123456789", "Basic c3ZjOnNlY3JldA=="} {
		code, desc := vendorMessage([]byte(msg), "application/json", []string{credentialOf(auth)})
		if code != "invalid_token" || desc != "Bearer token expired; Basic auth is disabled" {
			t.Fatalf("%s: %q %q", auth, code, desc)
		}
	}
}
