package vendortest

import (
	"net/http"
	"strconv"
	"strings"
)

// CyberArk Identity (ISPSS). Token: form client_credentials at
// /oauth2/platformtoken with a user@suffix client_id.
func init() {
	registerFake("cyberark", 5*3600*time1s, http.MethodPost, "/Security/WhoAmI", cyberarkRoutes)
}

func cyberarkRoutes(f *Fake, mux *http.ServeMux) {
	deny := func(w http.ResponseWriter, status int, code, desc, why string) {
		f.reject(w, status, why, jsonText(map[string]string{"error": code, "error_description": desc}))
	}
	mux.HandleFunc("POST /oauth2/platformtoken", f.endpoint("token", func(w http.ResponseWriter, r *http.Request) {
		form, why := readForm(r)
		if why != "" {
			deny(w, http.StatusBadRequest, "invalid_request", "invalid request", why)
			return
		}
		if gt := form.Get("grant_type"); gt != "client_credentials" {
			deny(w, http.StatusBadRequest, "unsupported_grant_type", "grant type not supported", "grant_type "+strconv.Quote(gt))
			return
		}
		id, secret := form.Get("client_id"), form.Get("client_secret")
		if !strings.Contains(id, "@") {
			deny(w, http.StatusBadRequest, "invalid_request", "client_id must be a login name (user@suffix)", "client_id without @")
			return
		}
		a := f.account(id)
		if a == nil || a.Secret != secret {
			deny(w, http.StatusUnauthorized, "access_denied", "invalid client creds or client not allowed", "bad client credentials for "+strconv.Quote(id))
			return
		}
		f.remember("token", form)
		tok, life := f.issue(a.ID)
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok,
			"token_type":   "Bearer",
			"expires_in":   int(life.Seconds()),
		})
	}))
	mux.HandleFunc("POST /Security/WhoAmI", f.endpoint("api", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		user := f.validLocked(r.Header.Get("Authorization"))
		f.mu.Unlock()
		if user == "" {
			f.reject(w, http.StatusUnauthorized, "api call without a live Bearer token",
				`{"success":false,"Result":null,"Message":"Not Authorized","ErrorCode":"Unauthorized"}`)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "Result": map[string]any{"User": user}})
	}))
}
