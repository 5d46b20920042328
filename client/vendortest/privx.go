package vendortest

import (
	"net/http"
	"strconv"
)

// PrivX. Token: Basic oauth_client_id:oauth_client_secret sent raw, and a
// form password grant carrying the API client's id and secret.
func init() {
	registerFake("privx", 1800*time1s, http.MethodGet, "/local-user-store/api/v1/api-clients", privxRoutes)
}

func privxRoutes(f *Fake, mux *http.ServeMux) {
	oauthErr := func(w http.ResponseWriter, status int, code, desc, why string) {
		f.reject(w, status, why, jsonText(map[string]string{"error": code, "error_description": desc}))
	}
	mux.HandleFunc("POST /auth/api/v1/oauth/token", f.endpoint("token", func(w http.ResponseWriter, r *http.Request) {
		oid, osecret, ok := basicRaw(r)
		if !ok {
			oauthErr(w, http.StatusUnauthorized, "invalid_client", "client authentication failed", "no Basic credentials")
			return
		}
		form, why := readForm(r)
		if why != "" {
			oauthErr(w, http.StatusBadRequest, "invalid_request", "only form-encoded requests are accepted", why)
			return
		}
		if gt := form.Get("grant_type"); gt != "password" {
			oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported", "grant_type "+strconv.Quote(gt))
			return
		}
		a := f.account(form.Get("username"))
		if a == nil {
			oauthErr(w, http.StatusUnauthorized, "invalid_grant", "invalid username or password", "unknown api client "+strconv.Quote(form.Get("username")))
			return
		}
		if oid != a.OAuthClientID || osecret != a.OAuthClientSecret {
			oauthErr(w, http.StatusUnauthorized, "invalid_client", "client authentication failed",
				"bad oauth client credentials"+escapedHint(oid, a.OAuthClientID)+escapedHint(osecret, a.OAuthClientSecret))
			return
		}
		if form.Get("password") != a.Secret {
			oauthErr(w, http.StatusUnauthorized, "invalid_grant", "invalid username or password", "bad api client secret")
			return
		}
		f.remember("token", form)
		tok, life := f.issue(a.ID)
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token":  tok,
			"token_type":    "bearer",
			"expires_in":    int(life.Seconds()),
			"refresh_token": "rt-" + randomHex(16),
			"scope":         "privx-external",
		})
	}))
	mux.HandleFunc("GET /local-user-store/api/v1/api-clients", f.endpoint("api", func(w http.ResponseWriter, r *http.Request) {
		if !f.Valid(r.Header.Get("Authorization")) {
			f.reject(w, http.StatusUnauthorized, "api call without a live Bearer token",
				`{"error_code":"UNAUTHORIZED","error_message":"unauthorized"}`)
			return
		}
		f.mu.Lock()
		items := []map[string]any{}
		for _, a := range f.accounts {
			items = append(items, map[string]any{"id": a.ID, "name": a.Name, "roles": a.Roles})
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(items), "items": items})
	}))
}
