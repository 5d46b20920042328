package vendortest

import (
	"net/http"
	"strings"
)

// CyberArk PAM self-hosted (PVWA). Logon: JSON, reply a bare JSON string;
// API calls carry that string as the whole Authorization header.
func init() {
	registerFake("cyberark-pam", 20*60*time1s, http.MethodGet, "/PasswordVault/API/Users", pamRoutes)
}

var pamMethods = []string{"CyberArk", "LDAP", "RADIUS", "Windows"}

func pamRoutes(f *Fake, mux *http.ServeMux) {
	pamErr := func(w http.ResponseWriter, status int, code, msg, why string) {
		f.reject(w, status, why, jsonText(map[string]string{"ErrorCode": code, "ErrorMessage": msg}))
	}
	mux.HandleFunc("POST /PasswordVault/API/Auth/{method}/Logon", f.endpoint("token", func(w http.ResponseWriter, r *http.Request) {
		method := ""
		for _, m := range pamMethods {
			if strings.EqualFold(m, r.PathValue("method")) {
				method = m
			}
		}
		if method == "" {
			pamErr(w, http.StatusNotFound, "PASWS002E", "The requested authentication method is not supported.", "unknown logon method "+r.PathValue("method"))
			return
		}
		var body struct {
			Username          *string `json:"username"`
			Password          *string `json:"password"`
			ConcurrentSession bool    `json:"concurrentSession"`
			NewPassword       string  `json:"newPassword"`
		}
		if why := readJSON(r, &body); why != "" {
			pamErr(w, http.StatusBadRequest, "PASWS167E", "There are some invalid parameters.", why)
			return
		}
		if body.Username == nil || body.Password == nil {
			pamErr(w, http.StatusBadRequest, "PASWS166E", "Logon parameters are missing.", "username or password missing")
			return
		}
		a := f.account(*body.Username)
		am := "CyberArk"
		if a != nil && a.AuthMethod != "" {
			am = a.AuthMethod
		}
		if a == nil || a.Secret != *body.Password || !strings.EqualFold(am, method) {
			pamErr(w, http.StatusForbidden, "ITATS004E", "Authentication failure for User ["+*body.Username+"].", "bad logon for "+*body.Username+" via "+method)
			return
		}
		tok, _ := f.issue(a.ID)
		writeJSON(w, http.StatusOK, tok)
	}))
	mux.HandleFunc("GET /PasswordVault/API/Users", f.endpoint("api", func(w http.ResponseWriter, r *http.Request) {
		if !f.Valid(r.Header.Get("Authorization")) {
			pamErr(w, http.StatusUnauthorized, "PASWS006E", "Your session has expired. Please log in again.", "api call without a live session token")
			return
		}
		f.mu.Lock()
		users := []map[string]any{}
		for _, a := range f.accounts {
			users = append(users, map[string]any{"id": a.UUID, "username": a.ID})
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"Users": users, "Total": len(users)})
	}))
}
