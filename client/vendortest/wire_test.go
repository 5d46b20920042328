package vendortest

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The wire checks of every fake, over real HTTP: for each endpoint a request
// the vendor accepts, then that request with one thing wrong, which the fake
// must refuse the way the vendor does (status, error code) and record why.
// What each vendor refuses is in the package's vendor files and, for the
// project, in the vendors' documentation they cite.

// wireReq is one request to a fake.
type wireReq struct {
	method, path string
	header       http.Header
	body         string
}

// with returns a copy of r with header k set to v ("" deletes it).
func (r wireReq) with(k, v string) wireReq {
	r.header = r.header.Clone()
	if v == "" {
		r.header.Del(k)
	} else {
		r.header.Set(k, v)
	}
	return r
}

// withBody returns a copy of r with another body.
func (r wireReq) withBody(body string) wireReq { r.body = body; return r }

// withPath returns a copy of r with another path.
func (r wireReq) withPath(path string) wireReq { r.path = path; return r }

// withMethod returns a copy of r with another method.
func (r wireReq) withMethod(m string) wireReq { r.method = m; return r }

// wireCase is one request and what the fake must answer. A case with a 2xx
// status and no want is a variant the vendor accepts too; every other case
// is a refusal (CyberArk Identity refuses with a 200 and success:false).
type wireCase struct {
	name   string
	req    func() wireReq
	status int
	// want is a text the body must hold: the vendor's error code.
	want string
}

// endpointCases is one endpoint: the request the vendor accepts, and the
// cases. endpoint is the counter the fake keeps for it (Calls), optionally
// followed by ":" and a label. valid is called afresh for every case, so that
// it can read state a previous case changed (a rotated secret).
type endpointCases struct {
	endpoint string
	valid    func() wireReq
	okStatus int
	cases    []wireCase
}

func formReq(path string, form url.Values) wireReq {
	return wireReq{method: http.MethodPost, path: path, body: form.Encode(),
		header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}
}

func jsonReq(method, path, authorization, body string) wireReq {
	h := http.Header{"Content-Type": {"application/json"}}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	return wireReq{method: method, path: path, header: h, body: body}
}

func basicHeader(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// escapedBasic is the Basic header x/oauth2 would send: id and secret
// form-encoded first.
func escapedBasic(id, secret string) string {
	return basicHeader(url.QueryEscape(id), url.QueryEscape(secret))
}

// bearer is a live token of account, presented the vendor's way.
func bearer(f *Fake, account string) string {
	tok, _ := f.issue(account)
	if f.spec.rawToken {
		return tok
	}
	return "Bearer " + tok
}

// expired is a token of account that has just expired.
func expired(f *Fake, account string) string {
	tok := f.vendor + "-expired-" + randomHex(8)
	f.mu.Lock()
	f.tokens[tok] = issued{account: account, expires: f.now().Add(-time.Second)}
	f.mu.Unlock()
	if f.spec.rawToken {
		return tok
	}
	return "Bearer " + tok
}

func (c wireCase) send(t *testing.T, srv *Server) (int, string) {
	t.Helper()
	r := c.req()
	req, err := http.NewRequest(r.method, srv.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// runWire sends each endpoint's valid request, then each case, checking
// status, error code and that every refusal is recorded with a reason.
func runWire(t *testing.T, srv *Server, endpoints []endpointCases) {
	t.Helper()
	for _, ep := range endpoints {
		cases := append([]wireCase{{name: "valid", req: ep.valid, status: ep.okStatus}}, ep.cases...)
		for _, c := range cases {
			t.Run(ep.endpoint+"/"+c.name, func(t *testing.T) {
				before := len(srv.Rejections())
				counter, _, _ := strings.Cut(ep.endpoint, ":")
				calls := srv.Calls(counter)
				status, body := c.send(t, srv)
				if status != c.status {
					t.Fatalf("status %d, want %d; body %s; fake's reasons %q", status, c.status, body, srv.Rejections()[before:])
				}
				if c.want != "" && !strings.Contains(body, c.want) {
					t.Fatalf("body %s does not hold %q", body, c.want)
				}
				rejected := len(srv.Rejections()) - before
				if ok := c.status < 300 && c.want == ""; ok && rejected != 0 {
					t.Fatalf("accepted, yet recorded as refused: %q", srv.Rejections()[before:])
				} else if !ok && rejected != 1 {
					t.Fatalf("refused with %d reasons recorded, want 1", rejected)
				}
				if c.status != http.StatusNotFound && srv.Calls(counter) != calls+1 {
					t.Fatalf("the request did not reach endpoint %q", counter)
				}
			})
		}
	}
}

// The wrong Authorization headers every Bearer API refuses.
func bearerCases(f *Fake, valid func() wireReq, caller string, status int, want string) []wireCase {
	cases := []wireCase{
		{"no Authorization", func() wireReq { return valid().with("Authorization", "") }, status, want},
		{"lowercase bearer", func() wireReq {
			return valid().with("Authorization", "bearer "+strings.TrimPrefix(bearer(f, caller), "Bearer "))
		}, status, want},
		{"bare token", func() wireReq { return valid().with("Authorization", strings.TrimPrefix(bearer(f, caller), "Bearer ")) }, status, want},
		{"Basic credentials", func() wireReq { return valid().with("Authorization", basicHeader(caller, "x")) }, status, want},
		{"unknown token", func() wireReq { return valid().with("Authorization", "Bearer "+f.vendor+"-"+randomHex(24)) }, status, want},
		{"expired token", func() wireReq { return valid().with("Authorization", expired(f, caller)) }, status, want},
	}
	if f.spec.rawToken {
		// PVWA's bare token is the right form; it refuses "Bearer <token>".
		return append(cases[:2], cases[3:]...)
	}
	return cases
}

// The content-type and encoding mistakes every form endpoint refuses.
func formBodyCases(valid func() wireReq, status int, want string) []wireCase {
	asJSON := func() wireReq {
		r := valid()
		form, _ := url.ParseQuery(r.body)
		m := map[string]string{}
		for k := range form {
			m[k] = form.Get(k)
		}
		return r.with("Content-Type", "application/json").withBody(jsonText(m))
	}
	return []wireCase{
		{"JSON body", asJSON, status, want},
		{"JSON body labelled a form", func() wireReq { return asJSON().with("Content-Type", "application/x-www-form-urlencoded") }, status, want},
		{"no content type", func() wireReq { return valid().with("Content-Type", "") }, status, want},
		{"text/plain", func() wireReq { return valid().with("Content-Type", "text/plain") }, status, want},
		{"multipart", func() wireReq { return valid().with("Content-Type", "multipart/form-data; boundary=x") }, status, want},
		{"repeated parameter", func() wireReq { r := valid(); return r.withBody(r.body + "&grant_type=client_credentials") }, status, want},
	}
}

// The content-type and encoding mistakes every JSON endpoint refuses.
func jsonBodyCases(valid func() wireReq, status int, want string) []wireCase {
	return []wireCase{
		{"form content type", func() wireReq { return valid().with("Content-Type", "application/x-www-form-urlencoded") }, status, want},
		{"no content type", func() wireReq { return valid().with("Content-Type", "") }, status, want},
		{"not JSON", func() wireReq { return valid().withBody("a=b") }, status, want},
		{"truncated JSON", func() wireReq { r := valid(); return r.withBody(r.body[:len(r.body)-1]) }, status, want},
		{"trailing data", func() wireReq { r := valid(); return r.withBody(r.body + `{"x":1}`) }, status, want},
	}
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func concat(lists ...[]wireCase) []wireCase {
	var out []wireCase
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// wireSecret holds characters that any encoding mistake changes.
const wireSecret = "Pa5s %#&+=:@/?x"

func TestCyralWire(t *testing.T) {
	srv := NewPlainServer("cyral",
		WithAccount(Account{ID: "svc", Secret: wireSecret}),
		WithAccount(Account{ID: "other", Secret: "other-secret"}),
		WithAccount(Account{ID: "admin", Secret: "admin-secret", Admin: true}))
	defer srv.Close()
	f := srv.Fake
	const tokenPath = "/v1/users/oidc/token"
	token := func() wireReq {
		return formReq(tokenPath, form("grant_type", "client_credentials", "client_id", "svc", "client_secret", wireSecret))
	}
	tokenWith := func(kv ...string) func() wireReq {
		return func() wireReq {
			r := token()
			v, _ := url.ParseQuery(r.body)
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					v.Del(kv[i])
				} else {
					v.Set(kv[i], kv[i+1])
				}
			}
			return r.withBody(v.Encode())
		}
	}
	rotate := func() wireReq {
		return wireReq{method: http.MethodPost, path: "/v1/users/serviceAccounts/svc/rotateSecret",
			header: http.Header{"Authorization": {bearer(f, "admin")}}}
	}
	list := func() wireReq {
		return wireReq{method: http.MethodGet, path: "/v1/users/serviceAccounts", header: http.Header{"Authorization": {bearer(f, "svc")}}}
	}
	runWire(t, srv, []endpointCases{
		{"token", token, 200, concat(
			[]wireCase{
				{"camelCase credentials", func() wireReq {
					return formReq(tokenPath, form("grant_type", "client_credentials", "clientId", "svc", "clientSecret", wireSecret))
				}, 200, ""},
				{"Basic credentials", func() wireReq {
					return formReq(tokenPath, form("grant_type", "client_credentials")).with("Authorization", basicHeader("svc", wireSecret))
				}, 400, "invalid_request"},
				{"Basic and form credentials", func() wireReq { return token().with("Authorization", basicHeader("svc", wireSecret)) }, 400, "invalid_request"},
				{"missing grant_type", tokenWith("grant_type", ""), 400, `"invalid_request"`},
				{"password grant", tokenWith("grant_type", "password"), 400, "unsupported_grant_type"},
				{"refresh grant without a token", tokenWith("grant_type", "refresh_token"), 400, "unsupported_grant_type"},
				{"wrong secret", tokenWith("client_secret", "Pa5s"), 401, "unauthorized_client"},
				{"no secret", tokenWith("client_secret", ""), 401, "unauthorized_client"},
				{"unknown client", tokenWith("client_id", "nobody"), 401, "unauthorized_client"},
				{"no client", tokenWith("client_id", "", "client_secret", ""), 401, "unauthorized_client"},
				{"credentials in the query", func() wireReq {
					return formReq(tokenPath+"?client_id=svc&client_secret="+url.QueryEscape(wireSecret), form("grant_type", "client_credentials"))
				}, 401, "unauthorized_client"},
				{"GET", func() wireReq { return token().withMethod(http.MethodGet) }, 404, ""},
			},
			formBodyCases(token, 400, "invalid_request"),
		)},
		{"rotate", rotate, 200, concat(
			bearerCases(f, rotate, "admin", 401, "unauthorized"),
			[]wireCase{
				{"the account itself", func() wireReq { return rotate().with("Authorization", bearer(f, "svc")) }, 200, ""},
				{"another account, no admin", func() wireReq { return rotate().with("Authorization", bearer(f, "other")) }, 403, "forbidden"},
				{"unknown account", func() wireReq { return rotate().withPath("/v1/users/serviceAccounts/nobody/rotateSecret") }, 404, "not_found"},
			},
		)},
		{"api", list, 200, bearerCases(f, list, "svc", 401, "unauthorized")},
	})
}

func TestCyberArkIdentityWire(t *testing.T) {
	const svc, admin, plain = "svc@cyberark.cloud.1", "admin@cyberark.cloud.1", "plain@cyberark.cloud.1"
	srv := NewPlainServer("cyberark",
		WithAccount(Account{ID: svc, Secret: wireSecret}),
		WithAccount(Account{ID: plain, Secret: "Plain-secret-1"}),
		WithAccount(Account{ID: admin, Secret: "Admin-secret-1", Admin: true}))
	defer srv.Close()
	f := srv.Fake
	const tokenPath = "/oauth2/platformtoken"
	tokenWith := func(kv ...string) func() wireReq {
		return func() wireReq {
			v := form("grant_type", "client_credentials", "client_id", svc, "client_secret", wireSecret)
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					v.Del(kv[i])
				} else {
					v.Set(kv[i], kv[i+1])
				}
			}
			return formReq(tokenPath, v)
		}
	}
	token := tokenWith()
	svcUUID := func() string { a, _ := f.Account(svc); return a.UUID }
	query := func() wireReq {
		return jsonReq(http.MethodPost, "/Redrock/query", bearer(f, admin), jsonText(map[string]string{"Script": "Select ID, Username from User WHERE Username='" + svc + "'"}))
	}
	reset := func() wireReq {
		return jsonReq(http.MethodPost, "/UserMgmt/ResetUserPassword", bearer(f, admin), jsonText(map[string]string{"ID": svcUUID(), "newPassword": "New-pass-" + randomHex(4)}))
	}
	resetWith := func(body map[string]string) func() wireReq {
		return func() wireReq { return reset().withBody(jsonText(body)) }
	}
	change := func() wireReq {
		a, _ := f.Account(plain)
		return jsonReq(http.MethodPost, "/UserMgmt/ChangeUserPassword", bearer(f, plain), jsonText(map[string]string{"oldPassword": a.Secret, "newPassword": "New-pass-" + randomHex(4)}))
	}
	// Identity answers logical failures with HTTP 200 and success:false.
	const failed = `"success":false`
	envelopeBearer := func(valid func() wireReq, caller string) []wireCase {
		cases := bearerCases(f, valid, caller, 401, "Unauthorized")
		for i := range cases {
			cases[i].want = failed
		}
		return cases
	}
	runWire(t, srv, []endpointCases{
		{"token", token, 200, concat(
			[]wireCase{
				{"missing grant_type", tokenWith("grant_type", ""), 400, "unsupported_grant_type"},
				{"password grant", tokenWith("grant_type", "password"), 400, "unsupported_grant_type"},
				{"client_id without @", tokenWith("client_id", "svc"), 400, "invalid_request"},
				{"wrong secret", tokenWith("client_secret", "Pa5s"), 401, "access_denied"},
				{"no secret", tokenWith("client_secret", ""), 401, "access_denied"},
				{"unknown client", tokenWith("client_id", "nobody@cyberark.cloud.1"), 401, "access_denied"},
				{"GET", func() wireReq { return token().withMethod(http.MethodGet) }, 404, ""},
			},
			formBodyCases(token, 400, "invalid_request"),
		)},
		{"query", query, 200, concat(
			envelopeBearer(query, admin),
			jsonBodyCases(query, 200, "InvalidArgument"),
			[]wireCase{
				{"no admin", func() wireReq { return query().with("Authorization", bearer(f, plain)) }, 200, `"ErrorCode":"Unauthorized"`},
				{"missing Script", func() wireReq { return query().withBody(`{}`) }, 200, "QueryError"},
				{"another query", func() wireReq { return query().withBody(`{"Script":"Select * from User"}`) }, 200, "QueryError"},
			},
		)},
		{"rotate:ResetUserPassword", reset, 200, concat(
			envelopeBearer(reset, admin),
			jsonBodyCases(reset, 200, "InvalidArgument"),
			[]wireCase{
				{"no admin", func() wireReq { return reset().with("Authorization", bearer(f, plain)) }, 200, `"ErrorCode":"Unauthorized"`},
				{"missing ID", resetWith(map[string]string{"newPassword": "New-pass-1"}), 200, "InvalidArgument"},
				{"missing newPassword", func() wireReq { return resetWith(map[string]string{"ID": svcUUID()})() }, 200, "InvalidArgument"},
				{"login for ID", resetWith(map[string]string{"ID": svc, "newPassword": "New-pass-1"}), 200, "UserNotFound"},
				{"weak password", func() wireReq { return resetWith(map[string]string{"ID": svcUUID(), "newPassword": "weakpass"})() }, 200, "PasswordComplexity"},
				{"short password", func() wireReq { return resetWith(map[string]string{"ID": svcUUID(), "newPassword": "Ab1"})() }, 200, "PasswordComplexity"},
			},
		)},
		{"rotate:ChangeUserPassword", change, 200, concat(
			envelopeBearer(change, plain),
			jsonBodyCases(change, 200, "InvalidArgument"),
			[]wireCase{
				{"wrong oldPassword", func() wireReq {
					return change().withBody(jsonText(map[string]string{"oldPassword": "Wrong-1", "newPassword": "New-pass-1"}))
				}, 200, "InvalidPassword"},
				{"missing oldPassword", func() wireReq { return change().withBody(`{"newPassword":"New-pass-1"}`) }, 200, "InvalidArgument"},
				{"missing newPassword", func() wireReq {
					a, _ := f.Account(plain)
					return change().withBody(jsonText(map[string]string{"oldPassword": a.Secret}))
				}, 200, "InvalidArgument"},
				{"weak password", func() wireReq {
					a, _ := f.Account(plain)
					return change().withBody(jsonText(map[string]string{"oldPassword": a.Secret, "newPassword": "alllowercase1"}))
				}, 200, "PasswordComplexity"},
			},
		)},
		{"api", func() wireReq { return jsonReq(http.MethodPost, "/Security/WhoAmI", bearer(f, svc), "") }, 200,
			bearerCases(f, func() wireReq { return jsonReq(http.MethodPost, "/Security/WhoAmI", bearer(f, svc), "") }, svc, 401, "Unauthorized")},
	})
}

func TestCyberArkPAMWire(t *testing.T) {
	srv := NewPlainServer("cyberark-pam",
		WithAccount(Account{ID: "svc", Secret: wireSecret}),
		WithAccount(Account{ID: "ldap-user", Secret: "Ldap-secret-1", AuthMethod: "LDAP"}),
		WithAccount(Account{ID: "plain", Secret: "Plain-secret-1"}),
		WithAccount(Account{ID: "admin", Secret: "Admin-secret-1", Admin: true}))
	defer srv.Close()
	f := srv.Fake
	const logonPath = "/PasswordVault/API/Auth/CyberArk/Logon"
	logonWith := func(body map[string]any) func() wireReq {
		return func() wireReq { return jsonReq(http.MethodPost, logonPath, "", jsonText(body)) }
	}
	logon := logonWith(map[string]any{"username": "svc", "password": wireSecret, "concurrentSession": true})
	uuid := func(id string) string { a, _ := f.Account(id); return a.UUID }
	reset := func() wireReq {
		return jsonReq(http.MethodPost, "/PasswordVault/API/Users/"+uuid("plain")+"/ResetPassword", bearer(f, "admin"),
			jsonText(map[string]string{"NewPassword": "New-pass-" + randomHex(4)}))
	}
	users := func() wireReq {
		return wireReq{method: http.MethodGet, path: "/PasswordVault/API/Users", header: http.Header{"Authorization": {bearer(f, "svc")}}}
	}
	// PVWA takes its own token raw: "Bearer <token>" is refused too.
	pamAuthCases := func(valid func() wireReq, caller string) []wireCase {
		cases := bearerCases(f, valid, caller, 401, "PASWS006E")
		return append(cases, wireCase{"Bearer and the token", func() wireReq { return valid().with("Authorization", "Bearer "+bearer(f, caller)) }, 401, "PASWS006E"})
	}
	runWire(t, srv, []endpointCases{
		{"token", logon, 200, concat(
			jsonBodyCases(logon, 400, "PASWS167E"),
			[]wireCase{
				{"without concurrentSession", logonWith(map[string]any{"username": "svc", "password": wireSecret}), 200, ""},
				{"LDAP user via LDAP", func() wireReq {
					return logonWith(map[string]any{"username": "ldap-user", "password": "Ldap-secret-1"})().withPath("/PasswordVault/API/Auth/LDAP/Logon")
				}, 200, ""},
				{"missing password", logonWith(map[string]any{"username": "svc"}), 400, "PASWS166E"},
				{"missing username", logonWith(map[string]any{"password": wireSecret}), 400, "PASWS166E"},
				{"wrong password", logonWith(map[string]any{"username": "svc", "password": "Pa5s"}), 403, "ITATS004E"},
				{"unknown user", logonWith(map[string]any{"username": "nobody", "password": wireSecret}), 403, "ITATS004E"},
				{"CyberArk user via LDAP", func() wireReq { return logon().withPath("/PasswordVault/API/Auth/LDAP/Logon") }, 403, "ITATS004E"},
				{"LDAP user via CyberArk", logonWith(map[string]any{"username": "ldap-user", "password": "Ldap-secret-1"}), 403, "ITATS004E"},
				{"unknown method", func() wireReq { return logon().withPath("/PasswordVault/API/Auth/SAML2/Logon") }, 404, "PASWS002E"},
				{"form body", func() wireReq {
					return formReq(logonPath, form("username", "svc", "password", wireSecret))
				}, 400, "PASWS167E"},
				{"username not a string", logonWith(map[string]any{"username": 7, "password": wireSecret}), 400, "PASWS167E"},
				{"weak newPassword", logonWith(map[string]any{"username": "svc", "password": wireSecret, "newPassword": "lowercase1"}), 400, "ITATS537E"},
				{"newPassword over 39", logonWith(map[string]any{"username": "svc", "password": wireSecret, "newPassword": "Ab1" + strings.Repeat("x", 37)}), 400, "ITATS537E"},
			},
		)},
		{"api", users, 200, pamAuthCases(users, "svc")},
		{"rotate", reset, 200, concat(
			pamAuthCases(reset, "admin"),
			jsonBodyCases(reset, 400, "PASWS167E"),
			[]wireCase{
				{"lower-case field name", func() wireReq { return reset().withBody(`{"newPassword":"New-pass-2"}`) }, 200, ""},
				{"no admin", func() wireReq { return reset().with("Authorization", bearer(f, "svc")) }, 403, "PASWS041E"},
				{"missing NewPassword", func() wireReq { return reset().withBody(`{}`) }, 400, "PASWS167E"},
				{"unknown user", func() wireReq { return reset().withPath("/PasswordVault/API/Users/99999/ResetPassword") }, 404, "PASWS013E"},
				{"login for id", func() wireReq { return reset().withPath("/PasswordVault/API/Users/plain/ResetPassword") }, 404, "PASWS013E"},
				{"weak password", func() wireReq { return reset().withBody(`{"NewPassword":"lowercase1"}`) }, 400, "ITATS537E"},
				{"password over 39", func() wireReq {
					return reset().withBody(jsonText(map[string]string{"NewPassword": "Ab1" + strings.Repeat("x", 37)}))
				}, 400, "ITATS537E"},
			},
		)},
	})
}

// A PVWA installed under another application name serves the same API
// under that name, and the web server answers the default path with its
// own 404 page: PVWA never sees the request.
func TestCyberArkPAMRenamedApplicationWire(t *testing.T) {
	srv := NewPlainServer("cyberark-pam", WithPVWAAppName("CustomVault"),
		WithAccount(Account{ID: "svc", Secret: wireSecret}),
		WithAccount(Account{ID: "plain", Secret: "Plain-secret-1"}),
		WithAccount(Account{ID: "admin", Secret: "Admin-secret-1", Admin: true}))
	defer srv.Close()
	f := srv.Fake
	logon := func() wireReq {
		return jsonReq(http.MethodPost, "/CustomVault/API/Auth/CyberArk/Logon", "", jsonText(map[string]any{"username": "svc", "password": wireSecret}))
	}
	users := func() wireReq {
		return wireReq{method: http.MethodGet, path: "/CustomVault/API/Users", header: http.Header{"Authorization": {bearer(f, "svc")}}}
	}
	reset := func() wireReq {
		a, _ := f.Account("plain")
		return jsonReq(http.MethodPost, "/CustomVault/API/Users/"+a.UUID+"/ResetPassword", bearer(f, "admin"),
			jsonText(map[string]string{"NewPassword": "New-pass-" + randomHex(4)}))
	}
	atDefault := func(valid func() wireReq) func() wireReq {
		return func() wireReq {
			r := valid()
			return r.withPath("/PasswordVault" + strings.TrimPrefix(r.path, "/CustomVault"))
		}
	}
	runWire(t, srv, []endpointCases{
		{"token", logon, 200, []wireCase{
			{"default application path", atDefault(logon), 404, "404 - File or directory not found."},
			{"wrong password", func() wireReq { return logon().withBody(jsonText(map[string]any{"username": "svc", "password": "x"})) }, 403, "ITATS004E"},
		}},
		{"api", users, 200, []wireCase{{"default application path", atDefault(users), 404, "404 - File or directory not found."}}},
		{"rotate", reset, 200, []wireCase{{"default application path", atDefault(reset), 404, "404 - File or directory not found."}}},
	})
	// The refusals at the default path reached no PVWA endpoint.
	if n := srv.Calls("token"); n != 2 {
		t.Fatalf("logon endpoint reached %d times, want 2", n)
	}
	// The fake's authenticated API is under the renamed application too.
	tok, _ := f.issue("svc")
	if status, err := srv.CallAPI(tok); err != nil || status != 200 {
		t.Fatalf("CallAPI under CustomVault: %d %v", status, err)
	}
	if m, p := APIEndpoint("cyberark-pam"); m != http.MethodGet || p != "/PasswordVault/API/Users" {
		t.Fatalf("APIEndpoint of the default fake: %s %s", m, p)
	}
}

func TestWithPVWAAppNameRefusesWhatIsNoPVWA(t *testing.T) {
	for name, build := range map[string]func(){
		"another vendor": func() { New("cyral", WithPVWAAppName("CustomVault")) },
		"a path":         func() { WithPVWAAppName("a/b") },
		"empty":          func() { WithPVWAAppName("") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			build()
		}()
	}
}

func TestPrivXWire(t *testing.T) {
	const oid, osecret = "privx-external", "oauth %sec#ret:x"
	acct := func(id, secret string, admin bool) Account {
		return Account{ID: id, Secret: secret, Admin: admin, Name: id, Roles: []string{"api-read"}, OAuthClientID: oid, OAuthClientSecret: osecret}
	}
	srv := NewPlainServer("privx", WithAccount(acct("c1", wireSecret, false)), WithAccount(acct("admin", "admin-secret", true)))
	defer srv.Close()
	f := srv.Fake
	const tokenPath = "/auth/api/v1/oauth/token"
	tokenWith := func(kv ...string) func() wireReq {
		return func() wireReq {
			v := form("grant_type", "password", "username", "c1", "password", wireSecret)
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					v.Del(kv[i])
				} else {
					v.Set(kv[i], kv[i+1])
				}
			}
			return formReq(tokenPath, v).with("Authorization", basicHeader(oid, osecret))
		}
	}
	token := tokenWith()
	const clients = "/local-user-store/api/v1/api-clients"
	create := func() wireReq {
		return jsonReq(http.MethodPost, clients, bearer(f, "admin"), `{"name":"new","roles":[{"id":"role-api-read","name":"api-read"}]}`)
	}
	read := func() wireReq {
		return wireReq{method: http.MethodGet, path: clients + "/c1", header: http.Header{"Authorization": {bearer(f, "admin")}}}
	}
	del := func() wireReq {
		id := "doomed-" + randomHex(4)
		f.AddAccount(acct(id, "s", false))
		return wireReq{method: http.MethodDelete, path: clients + "/" + id, header: http.Header{"Authorization": {bearer(f, "admin")}}}
	}
	list := func() wireReq {
		return wireReq{method: http.MethodGet, path: clients, header: http.Header{"Authorization": {bearer(f, "c1")}}}
	}
	adminCases := func(valid func() wireReq) []wireCase {
		return append(bearerCases(f, valid, "admin", 401, "UNAUTHORIZED"),
			wireCase{"no admin", func() wireReq { return valid().with("Authorization", bearer(f, "c1")) }, 403, "FORBIDDEN"})
	}
	runWire(t, srv, []endpointCases{
		{"token", token, 200, concat(
			formBodyCases(token, 400, "invalid_request"),
			[]wireCase{
				{"no Basic", func() wireReq { return token().with("Authorization", "") }, 401, "invalid_client"},
				{"URL-escaped Basic", func() wireReq { return token().with("Authorization", escapedBasic(oid, osecret)) }, 401, "invalid_client"},
				{"wrong OAuth secret", func() wireReq { return token().with("Authorization", basicHeader(oid, "oauth")) }, 401, "invalid_client"},
				{"unknown OAuth client", func() wireReq { return token().with("Authorization", basicHeader("other", osecret)) }, 401, "invalid_client"},
				{"API client in Basic", func() wireReq { return token().with("Authorization", basicHeader("c1", wireSecret)) }, 401, "invalid_client"},
				{"Bearer", func() wireReq { return token().with("Authorization", "Bearer x") }, 401, "invalid_client"},
				{"client_credentials grant", tokenWith("grant_type", "client_credentials"), 400, "unsupported_grant_type"},
				{"missing grant_type", tokenWith("grant_type", ""), 400, "unsupported_grant_type"},
				{"wrong secret", tokenWith("password", "Pa5s"), 401, "invalid_grant"},
				{"unknown API client", tokenWith("username", "nobody"), 401, "invalid_grant"},
				{"missing username", tokenWith("username", ""), 401, "invalid_grant"},
			},
		)},
		{"api", list, 200, bearerCases(f, list, "c1", 401, "UNAUTHORIZED")},
		{"read", read, 200, concat(adminCases(read), []wireCase{
			{"unknown client", func() wireReq { return read().withPath(clients + "/nobody") }, 404, "NOT_FOUND"},
		})},
		{"create", create, 201, concat(
			adminCases(create),
			jsonBodyCases(create, 400, "INVALID_PARAMETER_TYPE"),
			[]wireCase{
				{"missing name", func() wireReq { return create().withBody(`{"roles":[{"id":"role-api-read"}]}`) }, 400, "MISSING_PARAMETER"},
				{"roles as names", func() wireReq { return create().withBody(`{"name":"n","roles":["api-read"]}`) }, 400, "INVALID_PARAMETER_TYPE"},
				{"unknown role", func() wireReq { return create().withBody(`{"name":"n","roles":[{"id":"api-read"}]}`) }, 400, "INVALID_PARAMETER"},
			},
		)},
		{"delete", del, 200, concat(adminCases(del), []wireCase{
			{"unknown client", func() wireReq { return del().withPath(clients + "/nobody") }, 404, "NOT_FOUND"},
		})},
	})
}

func TestIncydrWire(t *testing.T) {
	srv := NewPlainServer("incydr", WithAccount(Account{ID: "key-1", Secret: wireSecret}))
	defer srv.Close()
	f := srv.Fake
	token := func() wireReq {
		return wireReq{method: http.MethodPost, path: "/v1/oauth", header: http.Header{"Authorization": {basicHeader("key-1", wireSecret)}}}
	}
	withForm := func(v url.Values) func() wireReq {
		return func() wireReq {
			return token().with("Content-Type", "application/x-www-form-urlencoded").withBody(v.Encode())
		}
	}
	users := func() wireReq {
		return wireReq{method: http.MethodGet, path: "/v1/users", header: http.Header{"Authorization": {bearer(f, "key-1")}}}
	}
	runWire(t, srv, []endpointCases{
		{"token", token, 200, []wireCase{
			{"grant_type in the query", func() wireReq { return token().withPath("/v1/oauth?grant_type=client_credentials") }, 200, ""},
			{"grant_type in a form", withForm(form("grant_type", "client_credentials")), 200, ""},
			{"no Basic", func() wireReq { return token().with("Authorization", "") }, 401, ""},
			{"URL-escaped Basic", func() wireReq { return token().with("Authorization", escapedBasic("key-1", wireSecret)) }, 401, ""},
			{"wrong secret", func() wireReq { return token().with("Authorization", basicHeader("key-1", "Pa5s")) }, 401, ""},
			{"unknown key", func() wireReq { return token().with("Authorization", basicHeader("key-2", wireSecret)) }, 401, ""},
			{"Basic not base64", func() wireReq { return token().with("Authorization", "Basic %%%") }, 401, ""},
			{"Bearer", func() wireReq { return token().with("Authorization", "Bearer x") }, 401, ""},
			{"credentials in a form", func() wireReq {
				return withForm(form("grant_type", "client_credentials", "client_id", "key-1", "client_secret", wireSecret))().with("Authorization", "")
			}, 401, ""},
			{"password grant in the query", func() wireReq { return token().withPath("/v1/oauth?grant_type=password") }, 400, ""},
			{"password grant in a form", withForm(form("grant_type", "password")), 400, ""},
			{"JSON body", func() wireReq {
				return token().with("Content-Type", "application/json").withBody(`{"grant_type":"client_credentials"}`)
			}, 400, ""},
			{"form body without a content type", func() wireReq { return withForm(form("grant_type", "client_credentials"))().with("Content-Type", "") }, 400, ""},
			{"GET", func() wireReq { return token().withMethod(http.MethodGet) }, 404, ""},
		}},
		{"api", users, 200, bearerCases(f, users, "key-1", 401, "")},
	})
}

func TestOAuth2Wire(t *testing.T) {
	accounts := []Option{
		WithAccount(Account{ID: "svc:1", Secret: wireSecret, Scopes: []string{"read", "write"}}),
		WithAccount(Account{ID: "aud", Secret: "aud-secret", Audience: "https://api.example"}),
	}
	srv := NewPlainServer("oauth2", accounts...)
	defer srv.Close()
	f := srv.Fake
	tokenWith := func(kv ...string) func() wireReq {
		return func() wireReq {
			v := form("grant_type", "client_credentials")
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "" {
					v.Del(kv[i])
				} else {
					v.Set(kv[i], kv[i+1])
				}
			}
			return formReq(OAuth2TokenPath, v).with("Authorization", escapedBasic("svc:1", wireSecret))
		}
	}
	token := tokenWith()
	inBody := func() wireReq {
		return tokenWith("client_id", "svc:1", "client_secret", wireSecret)().with("Authorization", "")
	}
	api := func() wireReq {
		return wireReq{method: http.MethodGet, path: "/api/resource", header: http.Header{"Authorization": {bearer(f, "svc:1")}}}
	}
	runWire(t, srv, []endpointCases{
		{"token", token, 200, concat(
			formBodyCases(token, 400, "invalid_request"),
			[]wireCase{
				{"credentials in the body", inBody, 200, ""},
				{"allowed scopes", tokenWith("scope", "read write"), 200, ""},
				{"audience required and given", func() wireReq {
					return tokenWith("audience", "https://api.example")().with("Authorization", escapedBasic("aud", "aud-secret"))
				}, 200, ""},
				{"missing grant_type", tokenWith("grant_type", ""), 400, `"invalid_request"`},
				{"password grant", tokenWith("grant_type", "password"), 400, "unsupported_grant_type"},
				{"Basic and body credentials", func() wireReq {
					return tokenWith("client_id", "svc:1", "client_secret", wireSecret)()
				}, 400, "invalid_request"},
				{"Basic and client_assertion", tokenWith("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
					"client_assertion", "eyJhbGciOiJub25lIn0.e30."), 400, "invalid_request"},
				{"client_assertion, unregistered", func() wireReq {
					return tokenWith("client_id", "svc:1", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
						"client_assertion", "eyJhbGciOiJub25lIn0.e30.")().with("Authorization", "")
				}, 401, "invalid_client"},
				{"raw Basic", func() wireReq { return token().with("Authorization", basicHeader("svc:1", wireSecret)) }, 401, "invalid_client"},
				{"wrong secret", func() wireReq { return token().with("Authorization", escapedBasic("svc:1", "Pa5s")) }, 401, "invalid_client"},
				{"unknown client", func() wireReq { return token().with("Authorization", escapedBasic("nobody", wireSecret)) }, 401, "invalid_client"},
				{"no credentials", func() wireReq { return token().with("Authorization", "") }, 401, "invalid_client"},
				{"wrong secret in the body", func() wireReq {
					return tokenWith("client_id", "svc:1", "client_secret", "Pa5s")().with("Authorization", "")
				}, 401, "invalid_client"},
				{"scope not allowed", tokenWith("scope", "read admin"), 400, "invalid_scope"},
				{"audience missing", func() wireReq { return token().with("Authorization", escapedBasic("aud", "aud-secret")) }, 400, "invalid_request"},
				{"wrong audience", func() wireReq {
					return tokenWith("audience", "https://other.example")().with("Authorization", escapedBasic("aud", "aud-secret"))
				}, 400, "invalid_request"},
			},
		)},
		{"api", api, 200, bearerCases(f, api, "svc:1", 401, "")},
	})

	// A client registered for one authentication method may use no other.
	basicOnly := NewPlainServer("oauth2", append(accounts, WithClientAuth(ClientAuthBasic))...)
	defer basicOnly.Close()
	runWire(t, basicOnly, []endpointCases{{"token:basic only", token, 200, []wireCase{
		{"credentials in the body", inBody, 401, "invalid_client"},
		{"client_id in the body, no secret", func() wireReq {
			return tokenWith("client_id", "svc:1")().with("Authorization", "")
		}, 401, "invalid_client"},
	}}})
	postOnly := NewPlainServer("oauth2", append(accounts, WithClientAuth(ClientAuthPost))...)
	defer postOnly.Close()
	runWire(t, postOnly, []endpointCases{{"token:post only", inBody, 200, []wireCase{
		{"Basic credentials", token, 401, "invalid_client"},
		{"Basic and client_id in the body", func() wireReq { return tokenWith("client_id", "svc:1")() }, 401, "invalid_client"},
	}}})
}

// Every fake has wire tests here.
func TestEveryFakeHasWireTests(t *testing.T) {
	tested := map[string]bool{"cyral": true, "cyberark": true, "cyberark-pam": true, "privx": true, "incydr": true, "oauth2": true}
	for _, v := range Vendors() {
		if !tested[v] {
			t.Errorf("the %s fake has no wire test", v)
		}
	}
}
