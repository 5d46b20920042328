package vendortest

import (
	"net/http"
	"strconv"
)

// Cyral's control plane (Keycloak underneath). Token: form body with
// client_credentials in it, never Basic; expires_in comes back as a string.
func init() {
	registerFake("cyral", fakeSpec{lifetime: 300 * time1s, routes: cyralRoutes, apiMethod: http.MethodGet, apiPath: "/v1/users/serviceAccounts"})
}

func cyralRoutes(f *Fake, mux *http.ServeMux) {
	oauthErr := func(w http.ResponseWriter, status int, code, desc, why string) {
		f.reject(w, status, why, jsonText(map[string]string{"error": code, "error_description": desc}))
	}
	mux.HandleFunc("POST /v1/users/oidc/token", f.endpoint("token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			oauthErr(w, http.StatusBadRequest, "invalid_request", "Client credentials must be sent in the request body", "Authorization header sent; Cyral wants credentials in the form")
			return
		}
		form, why := readForm(r)
		if why != "" {
			oauthErr(w, http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type", why)
			return
		}
		if !form.Has("grant_type") {
			// Keycloak's answer to a token request without a grant type.
			oauthErr(w, http.StatusBadRequest, "invalid_request", "Missing form parameter: grant_type", "no grant_type")
			return
		}
		if gt := form.Get("grant_type"); gt != "client_credentials" {
			oauthErr(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type", "grant_type "+strconv.Quote(gt))
			return
		}
		id, secret := form.Get("client_id"), form.Get("client_secret")
		if id == "" {
			// The camelCase spelling the control plane also accepts.
			id, secret = form.Get("clientId"), form.Get("clientSecret")
		}
		a := f.account(id)
		if a == nil || a.Secret != secret {
			oauthErr(w, http.StatusUnauthorized, "unauthorized_client", "Invalid client or Invalid client credentials", "bad client credentials for "+strconv.Quote(id))
			return
		}
		f.remember("token", form)
		tok, life := f.issue(a.ID)
		secs := strconv.Itoa(int(life.Seconds()))
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token":       tok,
			"expires_in":         secs, // a string, as the control plane sends it
			"refresh_expires_in": "36000",
			"refresh_token":      "rt-" + randomHex(16),
			"token_type":         "bearer",
			"not-before-policy":  0,
			"session_state":      randomHex(8),
			"scope":              "profile email",
		})
	}))
	// The service account itself, or one allowed to manage service accounts,
	// may rotate a secret; the old secret stops working at once.
	mux.HandleFunc("POST /v1/users/serviceAccounts/{clientId}/rotateSecret", f.endpoint("rotate", func(w http.ResponseWriter, r *http.Request) {
		caller := f.caller(r)
		if caller == nil {
			f.reject(w, http.StatusUnauthorized, "rotateSecret without a live Bearer token", `{"error":"unauthorized"}`)
			return
		}
		target := r.PathValue("clientId")
		if caller.ID != target && !caller.Admin {
			oauthErr(w, http.StatusForbidden, "forbidden", "not allowed to manage service accounts", caller.ID+" may not rotate "+target)
			return
		}
		a := f.account(target)
		if a == nil {
			oauthErr(w, http.StatusNotFound, "not_found", "service account not found", "rotateSecret for unknown "+strconv.Quote(target))
			return
		}
		secret := "cyral-" + randomHex(20)
		f.setSecret(target, secret)
		writeJSON(w, http.StatusOK, map[string]any{"clientId": a.ID, "clientSecret": secret, "displayName": a.Name, "roleIds": a.Roles})
	}))
	mux.HandleFunc("GET /v1/users/serviceAccounts", f.endpoint("api", func(w http.ResponseWriter, r *http.Request) {
		if !f.Valid(r.Header.Get("Authorization")) {
			f.reject(w, http.StatusUnauthorized, "api call without a live Bearer token", `{"error":"unauthorized"}`)
			return
		}
		f.mu.Lock()
		list := []map[string]any{}
		for _, a := range f.accounts {
			list = append(list, map[string]any{"clientId": a.ID, "displayName": a.Name, "roleIds": a.Roles})
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"serviceAccounts": list})
	}))
}
