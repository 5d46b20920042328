package vendortest

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Code42 Incydr. Token: Basic client_id:client_secret sent raw and an empty
// body (a client_credentials form body or query is tolerated, as documented).
func init() {
	registerFake("incydr", fakeSpec{lifetime: 900 * time1s, routes: incydrRoutes, apiMethod: http.MethodGet, apiPath: "/v1/users"})
}

func incydrRoutes(f *Fake, mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/oauth", f.endpoint("token", func(w http.ResponseWriter, r *http.Request) {
		if gt := r.URL.Query().Get("grant_type"); r.URL.Query().Has("grant_type") && gt != "client_credentials" {
			f.reject(w, http.StatusBadRequest, "grant_type query "+gt, "")
			return
		}
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if body := strings.TrimSpace(string(raw)); body != "" {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			form, err := url.ParseQuery(body)
			if mt != "application/x-www-form-urlencoded" || err != nil || form.Get("grant_type") != "client_credentials" {
				f.reject(w, http.StatusBadRequest, "unexpected body (want empty): content type "+r.Header.Get("Content-Type"), "")
				return
			}
		}
		id, secret, ok := basicRaw(r)
		a := f.account(id)
		if !ok || a == nil || a.Secret != secret {
			// Code42 answers a bare 401 here.
			why := "bad Basic credentials"
			if a != nil {
				why += escapedHint(secret, a.Secret)
			}
			f.reject(w, http.StatusUnauthorized, why, "")
			return
		}
		tok, life := f.issue(a.ID)
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok,
			"token_type":   "bearer",
			"expires_in":   int(life.Seconds()),
		})
	}))
	mux.HandleFunc("GET /v1/users", f.endpoint("api", func(w http.ResponseWriter, r *http.Request) {
		if !f.Valid(r.Header.Get("Authorization")) {
			f.reject(w, http.StatusUnauthorized, "api call without a live Bearer token", "")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"users": []any{}, "totalCount": 0})
	}))
}
