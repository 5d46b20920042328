package vendortest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestSecretFormsHoldEveryEncoding(t *testing.T) {
	forms := SecretForms(`a&b<c "d"/é`)
	for _, want := range []string{
		`a&b<c "d"/é`,
		`a\u0026b\u003cc \"d\"/é`,            // Go's JSON, as Vault writes responses
		`a&b<c \"d\"/é`,                      // JSON without HTML-safe escapes
		`a&b<c \"d\"\/\u00e9`,                // PHP, Python
		`a%26b%3Cc+%22d%22%2F%C3%A9`,         // form-encoded
		`a%26b%3cc+%22d%22%2f%c3%a9`,         // lower-case hex
		`a&amp;b&lt;c &#34;d&#34;/é`,         // html.EscapeString
		`a&amp;b&lt;c &quot;d&quot;/é`,       // named entities
		url.PathEscape(`a&b<c "d"/é`),        // path-encoded
		strings.ToLower(url.PathEscape(`é`)), // (part of the lower-case path form)
	} {
		if !slices.ContainsFunc(forms, func(f string) bool { return strings.Contains(f, want) }) {
			t.Errorf("no form holds %q: %q", want, forms)
		}
	}
	basic := BasicForms("id", "p%w:d")
	if !slices.Contains(basic, base64.StdEncoding.EncodeToString([]byte("id:p%w:d"))) ||
		!slices.Contains(basic, base64.StdEncoding.EncodeToString([]byte("id:p%25w%3Ad"))) {
		t.Fatalf("Basic forms %q", basic)
	}
}

func TestEchoFaultsEchoTheRequest(t *testing.T) {
	const secret = `se"cr<et&x`
	srv := NewServer("incydr", WithAccount(Account{ID: "svc", Secret: secret}))
	defer srv.Close()
	basic := base64.StdEncoding.EncodeToString([]byte("svc:" + secret))
	call := func(echo string) (*http.Response, string) {
		srv.Inject("token", Fault{Echo: echo, Location: "https://elsewhere.example/x"})
		req, _ := http.NewRequest("POST", srv.URL+"/v1/oauth", nil)
		req.Header.Set("Authorization", "Basic "+basic)
		client := srv.Client()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, string(raw)
	}
	description := func(body string) string {
		var m map[string]string
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("not JSON: %s", body)
		}
		return m["error_description"]
	}
	if _, body := call(EchoHTML); !strings.Contains(body, basic) || !strings.Contains(body, "se&#34;cr&lt;et&amp;x") {
		t.Errorf("html: %s", body)
	}
	if _, body := call(EchoJSON); !strings.Contains(description(body), basic) || !strings.Contains(description(body), secret) {
		t.Errorf("json: %s", body)
	}
	if _, body := call(EchoJSONHTML); !strings.Contains(description(body), "se&#34;cr&lt;et&amp;x") {
		t.Errorf("json-html: %s", body)
	}
	if _, body := call(EchoTruncated); !strings.Contains(description(body), secret[:len(secret)-2]) || strings.Contains(description(body), secret) {
		t.Errorf("truncated: %s", body)
	}
	resp, _ := call(EchoRedirect)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Host != "elsewhere.example" || !strings.Contains(loc.Query().Encode(), url.QueryEscape(secret)) {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// ReplySet, ReplyDrop and RequestSet edit what the real handler reads and writes.
func TestReplyAndRequestEdits(t *testing.T) {
	srv := NewServer("privx", WithAccount(Account{ID: "admin", Secret: "s", Admin: true, OAuthClientID: "o", OAuthClientSecret: "os"}),
		WithAccount(Account{ID: "c1", Secret: "s1", Name: "c1", Roles: []string{"a", "b"}, OAuthClientID: "o", OAuthClientSecret: "os"}))
	defer srv.Close()
	tok, _ := srv.issue("admin")
	do := func(method, path, body string) map[string]json.RawMessage {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]json.RawMessage
		json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	srv.Inject("read", Fault{ReplySet: map[string]json.RawMessage{"roles": json.RawMessage("null")}})
	if m := do("GET", "/local-user-store/api/v1/api-clients/c1", ""); string(m["roles"]) != "null" || string(m["secret"]) != `"s1"` {
		t.Fatalf("ReplySet: %s", m)
	}
	srv.Inject("read", Fault{ReplyDrop: []string{"roles"}})
	if m := do("GET", "/local-user-store/api/v1/api-clients/c1", ""); m["roles"] != nil || m["id"] == nil {
		t.Fatalf("ReplyDrop: %s", m)
	}
	srv.Inject("create", Fault{RequestSet: map[string]json.RawMessage{"roles": json.RawMessage(`[{"id":"role-a"}]`)}})
	var id string
	json.Unmarshal(do("POST", "/local-user-store/api/v1/api-clients", `{"name":"c1","roles":[{"id":"role-a"},{"id":"role-b"}]}`)["id"], &id)
	if a, ok := srv.Account(id); !ok || !slices.Equal(a.Roles, []string{"a"}) {
		t.Fatalf("RequestSet: %+v", a)
	}
}
