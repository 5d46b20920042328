package vendortest

import (
	"net/http"
	"strconv"
	"strings"
)

// PrivX. Token: Basic oauth_client_id:oauth_client_secret sent raw, and a
// form password grant carrying the API client's id and secret.
func init() {
	registerFake("privx", fakeSpec{lifetime: 1800 * time1s, routes: privxRoutes, apiMethod: http.MethodGet, apiPath: "/local-user-store/api/v1/api-clients"})
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
	apiErr := func(w http.ResponseWriter, status int, code, msg, property, why string) {
		body := map[string]string{"error_code": code, "error_message": msg}
		if property != "" {
			body["property"] = property
		}
		f.reject(w, status, why, jsonText(body))
	}
	// admin answers for a caller that may not manage API clients.
	admin := func(w http.ResponseWriter, r *http.Request) bool {
		caller := f.caller(r)
		switch {
		case caller == nil:
			apiErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized", "", "api call without a live Bearer token")
		case !caller.Admin:
			apiErr(w, http.StatusForbidden, "FORBIDDEN", "insufficient permissions", "", caller.ID+" may not manage api clients")
		default:
			return true
		}
		return false
	}
	view := func(a *Account, withSecrets bool) map[string]any {
		roles := []map[string]string{}
		for _, name := range a.Roles {
			roles = append(roles, map[string]string{"id": "role-" + name, "name": name})
		}
		v := map[string]any{"id": a.ID, "name": a.Name, "roles": roles}
		if withSecrets {
			v["secret"], v["oauth_client_id"], v["oauth_client_secret"] = a.Secret, a.OAuthClientID, a.OAuthClientSecret
		}
		return v
	}
	mux.HandleFunc("GET /local-user-store/api/v1/api-clients", f.endpoint("api", func(w http.ResponseWriter, r *http.Request) {
		if f.caller(r) == nil {
			apiErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized", "", "api call without a live Bearer token")
			return
		}
		items := []map[string]any{}
		for _, a := range f.Accounts() {
			items = append(items, view(&a, false))
		}
		writeJSON(w, http.StatusOK, map[string]any{"count": len(items), "items": items})
	}))
	mux.HandleFunc("GET /local-user-store/api/v1/api-clients/{id}", f.endpoint("read", func(w http.ResponseWriter, r *http.Request) {
		if !admin(w, r) {
			return
		}
		a := f.account(r.PathValue("id"))
		if a == nil {
			apiErr(w, http.StatusNotFound, "NOT_FOUND", "api client not found", "", "read of unknown api client "+r.PathValue("id"))
			return
		}
		writeJSON(w, http.StatusOK, view(a, true))
	}))
	mux.HandleFunc("POST /local-user-store/api/v1/api-clients", f.endpoint("create", func(w http.ResponseWriter, r *http.Request) {
		if !admin(w, r) {
			return
		}
		var body struct {
			Name  string `json:"name"`
			Roles []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"roles"`
		}
		if why := readJSON(r, &body); why != "" {
			apiErr(w, http.StatusBadRequest, "INVALID_PARAMETER_TYPE", "invalid request body", "roles", why)
			return
		}
		if body.Name == "" {
			apiErr(w, http.StatusBadRequest, "MISSING_PARAMETER", "name is required", "name", "create without a name")
			return
		}
		var roles []string
		for _, role := range body.Roles {
			name, ok := strings.CutPrefix(role.ID, "role-")
			if !ok {
				apiErr(w, http.StatusBadRequest, "INVALID_PARAMETER", "unknown role", "roles", "create with unknown role id "+strconv.Quote(role.ID))
				return
			}
			roles = append(roles, name)
		}
		f.mu.Lock()
		id := f.newUUID() + "-" + randomHex(4)
		f.mu.Unlock()
		f.AddAccount(Account{ID: id, Secret: randomHex(16), Name: body.Name, Roles: roles,
			OAuthClientID: f.oauthID, OAuthClientSecret: f.oauthSecret})
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	}))
	mux.HandleFunc("DELETE /local-user-store/api/v1/api-clients/{id}", f.endpoint("delete", func(w http.ResponseWriter, r *http.Request) {
		if !admin(w, r) {
			return
		}
		f.mu.Lock()
		_, ok := f.accounts[r.PathValue("id")]
		delete(f.accounts, r.PathValue("id"))
		f.mu.Unlock()
		if !ok {
			apiErr(w, http.StatusNotFound, "NOT_FOUND", "api client not found", "", "delete of unknown api client "+r.PathValue("id"))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
}
