package vendortest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// OAuth2TokenPath is where the generic RFC 6749 fake serves its token endpoint.
const OAuth2TokenPath = "/oauth/token"

// A generic RFC 6749 authorization server, client credentials grant. Basic
// credentials are form-encoded before base64 (section 2.3.1); a client must
// use one authentication method, not two.
func init() {
	registerFake("oauth2", fakeSpec{lifetime: 3600 * time1s, routes: oauth2Routes, apiMethod: http.MethodGet, apiPath: "/api/resource",
		tokenPath: OAuth2TokenPath})
}

// Client authentication methods an oauth2 fake can insist on, named as RFC
// 7591 registers them (a client's token_endpoint_auth_method).
const (
	// ClientAuthEither accepts Basic or the form body, not both: the default.
	ClientAuthEither = ""
	// ClientAuthBasic accepts only HTTP Basic, RFC 6749's default.
	ClientAuthBasic = "client_secret_basic"
	// ClientAuthPost accepts only client_id and client_secret in the form.
	ClientAuthPost = "client_secret_post"
)

// WithClientAuth makes an oauth2 fake accept one client authentication
// method only, as a server does that registered the client with that
// token_endpoint_auth_method. It panics on another method or vendor.
func WithClientAuth(method string) Option {
	if method != ClientAuthEither && method != ClientAuthBasic && method != ClientAuthPost {
		panic("vendortest: unknown client authentication method " + method)
	}
	return func(f *Fake) {
		if f.vendor != "oauth2" {
			panic("vendortest: WithClientAuth is for the oauth2 fake, not " + f.vendor)
		}
		f.clientAuth = method
	}
}

func oauth2Routes(f *Fake, mux *http.ServeMux) {
	oauthErr := func(w http.ResponseWriter, status int, code, desc, why string) {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		}
		f.reject(w, status, why, jsonText(map[string]string{"error": code, "error_description": desc}))
	}
	mux.HandleFunc("POST "+OAuth2TokenPath, f.endpoint("token", func(w http.ResponseWriter, r *http.Request) {
		form, why := readForm(r)
		if why != "" {
			oauthErr(w, http.StatusBadRequest, "invalid_request", "the request must be form-encoded", why)
			return
		}
		if gt := form.Get("grant_type"); gt != "client_credentials" {
			code := "unsupported_grant_type"
			if gt == "" {
				code = "invalid_request"
			}
			oauthErr(w, http.StatusBadRequest, code, "grant_type must be client_credentials", "grant_type "+strconv.Quote(gt))
			return
		}
		bid, bsecret, basic := basicRaw(r)
		inBody := form.Has("client_secret")
		assertion := form.Has("client_assertion") || form.Has("client_assertion_type")
		if n := count(basic, inBody, assertion); n > 1 {
			oauthErr(w, http.StatusBadRequest, "invalid_request", "use only one client authentication method",
				strconv.Itoa(n)+" client authentication methods sent (Basic, client_secret, client_assertion)")
			return
		}
		var a *Account
		if assertion {
			var desc, why string
			if a, desc, why = f.assertionClient(r, form); a == nil {
				oauthErr(w, http.StatusUnauthorized, "invalid_client", desc, why)
				return
			}
		} else {
			switch {
			case f.clientAuth == ClientAuthBasic && !basic:
				oauthErr(w, http.StatusUnauthorized, "invalid_client", "client authentication failed: this client must use client_secret_basic",
					"no Basic credentials; the client is registered for client_secret_basic")
				return
			case f.clientAuth == ClientAuthPost && !inBody:
				oauthErr(w, http.StatusUnauthorized, "invalid_client", "client authentication failed: this client must use client_secret_post",
					"no client_secret in the form; the client is registered for client_secret_post")
				return
			}
			id, secret := form.Get("client_id"), form.Get("client_secret")
			if basic {
				var err1, err2 error
				id, err1 = url.QueryUnescape(bid)
				secret, err2 = url.QueryUnescape(bsecret)
				if err1 != nil || err2 != nil {
					oauthErr(w, http.StatusUnauthorized, "invalid_client", "client authentication failed", "Basic credentials not form-encoded")
					return
				}
			}
			a = f.account(id)
			if a != nil && a.PublicKey != nil {
				oauthErr(w, http.StatusUnauthorized, "invalid_client", "client authentication failed: this client must use private_key_jwt",
					"a secret sent for "+strconv.Quote(id)+", which is registered for private_key_jwt")
				return
			}
			if a == nil || a.Secret != secret {
				oauthErr(w, http.StatusUnauthorized, "invalid_client", "client authentication failed", "bad client credentials for "+strconv.Quote(id))
				return
			}
		}
		var scopes []string
		if s := form.Get("scope"); s != "" {
			scopes = strings.Split(s, " ")
		}
		for _, s := range scopes {
			if len(a.Scopes) > 0 && !contains(a.Scopes, s) {
				oauthErr(w, http.StatusBadRequest, "invalid_scope", "scope "+s+" is not allowed for this client", "scope "+s)
				return
			}
		}
		if a.Audience != "" && form.Get("audience") != a.Audience {
			oauthErr(w, http.StatusBadRequest, "invalid_request", "audience is required", "audience "+strconv.Quote(form.Get("audience")))
			return
		}
		f.remember("token", form)
		tok, life := f.issue(a.ID)
		reply := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(life.Seconds())}
		if len(scopes) > 0 {
			reply["scope"] = strings.Join(scopes, " ")
		}
		writeJSON(w, http.StatusOK, reply)
	}))
	mux.HandleFunc("GET /api/resource", f.endpoint("api", func(w http.ResponseWriter, r *http.Request) {
		if !f.Valid(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			f.reject(w, http.StatusUnauthorized, "api call without a live Bearer token", "")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func count(conds ...bool) int {
	n := 0
	for _, c := range conds {
		if c {
			n++
		}
	}
	return n
}
