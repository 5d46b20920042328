package client

import (
	"encoding/json"
	"html"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// The fuzz targets below cover every parser of a vendor's reply. `make
// test` runs their seed corpus (the quirks in docs/vendors.md); `make fuzz`
// explores from it for a bounded time. Each checks what must hold whatever
// the vendor sends: no panic, and no secret or token in an error text.

// fuzzSecret has characters that JSON, HTML and URLs escape, so an echo of
// it in any of those forms is searched for too; fuzzID is sent beside it in
// Basic credentials.
const fuzzSecret, fuzzID = `fz-Secret "9q"\%#:<@> é/+='`, "fz-id"

// fuzzSecrets are what a call with fuzzSecret keeps out of its errors.
func fuzzSecrets() []string {
	return Creds{ClientID: fuzzID, ClientSecret: fuzzSecret, Fields: Values{FieldOAuthClientID: fuzzID, FieldOAuthClientSecret: fuzzSecret}}.Secrets()
}

// secretLeaks are the forms whose presence in an output is a leak: every
// encoding vendortest knows, and the base64 of every Basic pair.
func secretLeaks() []string {
	return vendortest.LeakForms(nil, []vendortest.Pair{{ID: fuzzID, Secret: fuzzSecret}})
}

// secretForms are the ways a secret can appear in a vendor's body: every
// leak form, each also HTML-escaped and JSON-escaped once more (a vendor
// that quotes an escaped echo), and each cut short by one to three bytes.
func secretForms() []string {
	var out []string
	for _, f := range secretLeaks() {
		quoted, _ := json.Marshal(f)
		out = append(out, f, html.EscapeString(f), string(quoted[1:len(quoted)-1]))
		for cut := 1; cut <= 3; cut++ {
			out = append(out, f[:len(f)-cut])
		}
	}
	return out
}

// truncatedLeaks are leak forms cut short by a vendor: what is left must
// not survive either.
func truncatedLeaks() []string {
	var out []string
	for _, f := range secretLeaks() {
		for cut := 1; cut <= 3; cut++ {
			out = append(out, f[:len(f)-cut])
		}
	}
	return out
}

func FuzzParseOAuthToken(f *testing.F) {
	for _, seed := range []string{
		// Cyral: expires_in as a JSON string.
		`{"access_token":"eyJ.a.b","expires_in":"300","refresh_expires_in":"36000","refresh_token":"rt","token_type":"bearer","not-before-policy":0,"session_state":"s","scope":"profile email"}`,
		// PrivX, Incydr, Identity: a number; Identity's token_type is used verbatim.
		`{"access_token":"tok","token_type":"bearer","expires_in":1800,"refresh_token":"rt","scope":"privx-external"}`,
		`{"access_token":"tok","token_type":"Bearer","expires_in":18000}`,
		`{"access_token":"tok","token_type":"bearer","expires_in":900}`,
		`{"access_token":"tok","token_type":"MAC","expires_in":1.5}`,
		`{"access_token":"tok","expires_in":null}`, `{"access_token":"tok","expires_in":""}`,
		`{"access_token":"tok","expires_in":"abc"}`, `{"access_token":"tok","expires_in":-1}`,
		`{"access_token":"tok","expires_in":1e300}`, `{"access_token":""}`, `{"token_type":"bearer"}`,
		`{"access_token":"abc","expi`, `<html>maintenance</html>`, `"bare string"`, `[]`, ``, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := ParseOAuthToken("fuzz", body)
		if err != nil {
			var m map[string]any
			if json.Unmarshal(body, &m) == nil {
				if at, _ := m["access_token"].(string); len(at) >= 6 && strings.Contains(err.Error(), at) {
					t.Fatalf("error quotes the access token: %v", err)
				}
			}
			return
		}
		if tok.AccessToken == "" || tok.Lifetime < 0 || tok.Lifetime > 10*365*24*time.Hour {
			t.Fatalf("accepted %+v", tok)
		}
		if tok.Authorization != tok.TokenType+" "+tok.AccessToken {
			t.Fatalf("authorization %q for type %q", tok.Authorization, tok.TokenType)
		}
	})
}

func FuzzParsePAMLogon(f *testing.F) {
	for _, seed := range []string{`"a1b2c3d4e5"`, `""`, `"  "`, `{"ErrorCode":"ITATS004E","ErrorMessage":"Authentication failure"}`, `tok`, `"unterminated`, `null`, `123`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := ParsePAMLogon(body)
		if err != nil {
			var s string
			if json.Unmarshal(body, &s) == nil && len(s) >= 6 && strings.Contains(err.Error(), s) {
				t.Fatalf("error quotes the token: %v", err)
			}
			return
		}
		// PVWA's token goes back raw, as the whole header.
		if strings.TrimSpace(tok.AccessToken) == "" || tok.Authorization != tok.AccessToken || tok.Lifetime != 0 {
			t.Fatalf("accepted %+v", tok)
		}
	})
}

func FuzzVendorMessage(f *testing.F) {
	for _, seed := range []string{
		`{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}`,
		`{"error":"access_denied","error_description":"invalid client creds or client not allowed"}`,
		`{"ErrorCode":"ITATS004E","ErrorMessage":"Authentication failure for User [x]."}`,
		`{"success":false,"Result":null,"Message":"Not Authorized","ErrorCode":"Unauthorized"}`,
		`{"error_code":"UNAUTHORIZED","error_message":"unauthorized","property":"roles"}`,
		`{"error":"bad","error_description":"your secret ` + fuzzSecret + ` is wrong"}`,
		"line one\nline two\r\x00", strings.Repeat("é", 300), ``, `{"error":123}`,
		`<html><body>Authorization: Basic ` + secretLeaks()[0] + `</body></html>`,
	} {
		f.Add([]byte(seed), "application/json")
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		// The body may hold the secret anywhere, in any form, even across the cut.
		bodies := [][]byte{body}
		for _, form := range secretForms() {
			bodies = append(bodies, append(append([]byte{}, body...), form...))
			bodies = append(bodies, []byte(`{"error_description":`+jsonString(string(body)+form)+`}`), []byte(`{"other":`+jsonString(form)+`}`))
		}
		leaks := append(secretLeaks(), truncatedLeaks()...)
		for _, b := range bodies {
			code, msg := vendorMessage(b, contentType, fuzzSecrets())
			for _, out := range []string{code, msg} {
				for _, form := range leaks {
					if strings.Contains(out, form) {
						t.Fatalf("secret form %q in %q", form, out)
					}
				}
				if strings.ContainsAny(out, "\n\r\x00") {
					t.Fatalf("control character in %q", out)
				}
				if len(out) > 310+len("…") {
					t.Fatalf("%d bytes", len(out))
				}
				if utf8.ValidString(string(b)) && !utf8.ValidString(out) {
					t.Fatalf("cut inside a rune: %q", out)
				}
			}
			// Only a known error field is quoted: any other body is described.
			var m map[string]any
			if json.Unmarshal(b, &m) != nil && len(msg) > 0 && !strings.Contains(msg, "not quoted") {
				t.Fatalf("an unparsed body was quoted: %q", msg)
			}
		}
	})
}

func jsonString(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}

func FuzzAdminReplies(f *testing.F) {
	for _, seed := range []string{
		`{"clientId":"svc","clientSecret":"new-secret","displayName":"svc","roleIds":["r"]}`,
		`{"clientId":"other","clientSecret":"new-secret"}`, `{"clientId":"svc"}`,
		`{"success":true,"Result":{"Count":1,"Results":[{"Row":{"ID":"uuid-1","Username":"svc"}}]}}`,
		`{"success":false,"Result":null,"Message":"Password does not meet complexity requirements.","ErrorCode":"PasswordComplexity"}`,
		`{"success":true,"Result":null}`, `{"Result":{}}`,
		`{"Users":[{"id":12,"username":"svc"}],"Total":1}`, `{"Users":[{"id":"12","username":"SVC"}]}`,
		`{"Users":[{"id":1.5e3,"username":"svc"}]}`, `{"Users":null}`,
		`{"id":"c1","name":"svc","roles":[{"id":"role-a","name":"a"}],"secret":"s","oauth_client_id":"privx-external","oauth_client_secret":"o"}`,
		`not json`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		secrets := fuzzSecrets()
		check := func(what string, err error) {
			if err == nil {
				return
			}
			for _, form := range secretLeaks() {
				if strings.Contains(err.Error(), form) {
					t.Fatalf("%s: secret in %v", what, err)
				}
			}
		}
		if s, err := parseRotateSecret(body, "svc"); err == nil && s == "" {
			t.Fatal("rotateSecret accepted an empty secret")
		} else {
			check("rotateSecret", err)
		}
		if raw, err := parseIdentityEnvelope("op", body, secrets); err == nil {
			id, err := parseRedrockUser(raw, "svc")
			if err == nil && id == "" {
				t.Fatal("Redrock accepted an empty uuid")
			}
			check("Redrock", err)
		} else {
			check("envelope", err)
		}
		if id, err := parsePAMUsers(body, "svc"); err == nil && (id == "" || strings.ContainsAny(id, "/?#")) {
			t.Fatalf("PAM user id %q", id)
		} else {
			check("PAM users", err)
		}
		var pc privxClient
		check("privx", decodeReply("privx", "read", body, &pc))
	})
}

func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, seed := range []string{"0", "30", "3600", "-5", "99999999999999999999", "Sun, 22 Nov 2026 12:00:30 GMT", "Sun, 22 Nov 2026 11:00:00 GMT", "soon", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := retryAfter(v, now); ok && (d < 0 || d > 24*time.Hour) {
			t.Fatalf("retryAfter(%q) = %s", v, d)
		}
	})
}

func FuzzCheckURL(f *testing.F) {
	for _, seed := range []string{
		"https://acme.cyral.com", "https://api.us.code42.com/", "http://127.0.0.1:8200", "https://u:p@x.com",
		"https://x.com/#", "https://x.com/?a=b", "ftp://x.com", "https:///p", "//x.com", "x.com", "https://[::1]:443/t",
		"https://x.com:99999", "https://%zz", "https://x.com/%2e%2e/",
	} {
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, raw string, queryOK bool) {
		if checkURL(raw, queryOK) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.User != nil || u.Fragment != "" || strings.HasSuffix(raw, "#") {
			t.Fatalf("accepted %q", raw)
		}
		if !queryOK && (u.RawQuery != "" || u.ForceQuery) {
			t.Fatalf("accepted a query in %q", raw)
		}
	})
}
