package client

// Tests that kill mutations a careful reviewer planted by hand and the
// rest of the suite let through (issue 12, point 9).

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Mutation: redaction of two secrets where one holds the other leaves a
// fragment of the longer one (its tail after a marker: "[redacted]XYZ"),
// depending on the order the secrets come in. Whatever the order, the
// encoding or where they stand, neither secret nor any run of them
// survives.
func TestMutantRedactsASecretThatHoldsAnother(t *testing.T) {
	const short, long = "abcdef123456", "abcdef123456XYZ"
	enc := map[string]func(string) string{
		"raw":      func(s string) string { return s },
		"query":    url.QueryEscape,
		"html":     func(s string) string { return html.EscapeString(s + "&") },
		"json-ish": func(s string) string { return strings.ReplaceAll(s, "X", `\u0058`) },
	}
	texts := []string{
		"short=" + short + " long=" + long,
		"long=" + long + " short=" + short,
		long,
		long + long,
		short + long,
		long + short,
		"echo: " + long + ".",
		`{"client_secret":"` + long + `","old":"` + short + `"}`,
	}
	// What may not remain: either secret, the longer one's tail that the
	// shorter does not cover, and any run of minRedact bytes of them.
	fragments := []string{short, long, "XYZ", "456XYZ"}
	for i := 0; i+minRedact <= len(long); i++ {
		fragments = append(fragments, long[i:i+minRedact])
	}
	for _, secrets := range [][]string{{short, long}, {long, short}} {
		for name, e := range enc {
			for _, text := range texts {
				in := e(text)
				for _, out := range []string{redact(in, secrets), quote(in, 300, secrets), quote(strings.Repeat("pad ", 80)+in, 300, secrets)} {
					plain := html.UnescapeString(out)
					if u, err := url.QueryUnescape(plain); err == nil {
						plain = u
					}
					plain = strings.ReplaceAll(plain, `\u0058`, "X")
					for _, f := range fragments {
						if strings.Contains(plain, f) {
							t.Errorf("secrets %q, %s: %q left %q in %q", secrets, name, in, f, out)
						}
					}
				}
				if out := redact(in, secrets); !strings.Contains(out, redactedMark) && out != withheldMark {
					t.Errorf("secrets %q, %s: nothing redacted in %q", secrets, name, out)
				}
			}
		}
		// Through a vendor's error body, as a token call quotes it.
		body := `{"error":"invalid_client","error_description":"client ` + long + ` (was ` + short + `) is not allowed"}`
		code, msg := vendorMessage([]byte(body), "application/json", secrets)
		if code != "invalid_client" || !strings.Contains(msg, "is not allowed") {
			t.Errorf("secrets %q: the vendor's message was lost: %q %q", secrets, code, msg)
		}
		for _, f := range fragments {
			if strings.Contains(msg, f) {
				t.Errorf("secrets %q: the vendor's message kept %q: %q", secrets, f, msg)
			}
		}
	}
}

// Mutation: a 3xx whose Location names a second server is followed (or
// followed when the second server shares the first one's host name). The
// call must end at the first server with a refusal that says it was a
// redirect to another host, and the second server must see nothing: no
// request, so neither the form's secret nor a Basic header.
func TestMutantRedirectToASecondServerIsNotFollowed(t *testing.T) {
	var reached atomic.Int64
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		// Were the call to get here, it would succeed.
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"access_token":"second-server-token","token_type":"bearer","expires_in":300}`))
	}))
	defer second.Close()

	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, vendor := range []string{"cyral", "incydr"} {
			t.Run(fmt.Sprintf("%s/%d", vendor, status), func(t *testing.T) {
				before := reached.Load()
				var calls atomic.Int64
				first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					calls.Add(1)
					http.Redirect(w, r, second.URL+r.URL.Path, status)
				}))
				defer first.Close()
				h, err := NewHTTP(Options{UserAgent: "test", MaxRetries: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 10 * time.Millisecond, Timeout: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				defer h.CloseIdle()
				v, _ := Lookup(vendor)
				const secret = "redirect-Secret-5tq9"
				_, err = v.Token(context.Background(), h, Creds{BaseURL: first.URL, ClientID: "svc-vault", ClientSecret: secret})

				if n := reached.Load() - before; n != 0 {
					t.Fatalf("the redirect was followed to the second server (%d requests)", n)
				}
				if err == nil {
					t.Fatal("a redirect gave a token")
				}
				msg := err.Error()
				if !errors.Is(err, ErrRefused) || !strings.Contains(msg, "redirect") || !strings.Contains(msg, "not followed") || !strings.Contains(msg, "another host") {
					t.Fatalf("want a refusal saying the redirect to another host was not followed, got %v", err)
				}
				if strings.Contains(msg, secret) || strings.Contains(msg, strings.TrimPrefix(second.URL, "http://")) {
					t.Fatalf("the error quotes the secret or the Location: %v", err)
				}
				if calls.Load() != 1 {
					t.Fatalf("%d calls to the first server: a redirect is not retried", calls.Load())
				}
			})
		}
	}
}
