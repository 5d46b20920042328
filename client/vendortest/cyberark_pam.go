package vendortest

import (
	"io"
	"net/http"
	"strconv"
	"strings"
)

// CyberArk PAM self-hosted (PVWA). Logon: JSON, reply a bare JSON string;
// API calls carry that string as the whole Authorization header.
func init() {
	registerFake("cyberark-pam", fakeSpec{lifetime: 20 * 60 * time1s, routes: pamRoutes, apiMethod: http.MethodGet, apiPath: "/API/Users",
		appPrefix: "/" + PVWADefaultAppName, rawToken: true, numericIDs: true})
}

// PVWADefaultAppName is the application path PVWA installs under.
const PVWADefaultAppName = "PasswordVault"

// WithPVWAAppName makes a cyberark-pam fake serve PVWA under /name instead
// of /PasswordVault, as a site that renamed the application does: the
// default path then answers 404, as the site's web server would. It panics
// on a name that is not one path segment, or on another vendor.
func WithPVWAAppName(name string) Option {
	if name == "" || strings.ContainsAny(name, "/?#%") {
		panic("vendortest: " + name + " is not one URL path segment")
	}
	return func(f *Fake) {
		if f.vendor != "cyberark-pam" {
			panic("vendortest: WithPVWAAppName is for the cyberark-pam fake, not " + f.vendor)
		}
		f.appPrefix = "/" + name
	}
}

// iisNotFound stands for the HTML page IIS serves for a path it has
// nothing at: a web server's page, with no PVWA error code in it.
const iisNotFound = `<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head>` +
	`<body><h2>404 - File or directory not found.</h2></body></html>`

var pamMethods = []string{"CyberArk", "LDAP", "RADIUS", "Windows"}

func pamRoutes(f *Fake, mux *http.ServeMux) {
	app := f.appPrefix
	if app != "/"+PVWADefaultAppName {
		// IIS answers a path outside every application with its own HTML
		// page; PVWA never sees the request.
		mux.HandleFunc("/"+PVWADefaultAppName+"/", func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.rejections = append(f.rejections, "no application at "+r.URL.Path+"; PVWA is installed under "+app)
			f.mu.Unlock()
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, iisNotFound)
		})
	}
	pamErr := func(w http.ResponseWriter, status int, code, msg, why string) {
		f.reject(w, status, why, jsonText(map[string]string{"ErrorCode": code, "ErrorMessage": msg}))
	}
	mux.HandleFunc("POST "+app+"/API/Auth/{method}/Logon", f.endpoint("token", func(w http.ResponseWriter, r *http.Request) {
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
		if body.NewPassword != "" {
			// The user changes its own password as it logs on.
			if why := weakPassword(body.NewPassword, 8, 39); why != "" {
				pamErr(w, http.StatusBadRequest, "ITATS537E", "The new password does not meet the password policy.", "weak newPassword: "+why)
				return
			}
			f.setSecret(a.ID, body.NewPassword)
		}
		tok, _ := f.issue(a.ID)
		writeJSON(w, http.StatusOK, tok)
	}))
	listUsers := func(w http.ResponseWriter, r *http.Request) {
		if f.caller(r) == nil {
			pamErr(w, http.StatusUnauthorized, "PASWS006E", "Your session has expired. Please log in again.", "api call without a live session token")
			return
		}
		search := strings.ToLower(r.URL.Query().Get("search"))
		f.mu.Lock()
		users := []map[string]any{}
		for _, a := range f.accounts {
			if strings.Contains(strings.ToLower(a.ID), search) {
				id, _ := strconv.Atoi(a.UUID)
				users = append(users, map[string]any{"id": id, "username": a.ID})
			}
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"Users": users, "Total": len(users)})
	}
	// Searches are counted apart from plain API calls.
	api, query := f.endpoint("api", listUsers), f.endpoint("query", listUsers)
	mux.HandleFunc("GET "+app+"/API/Users", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("search") {
			query(w, r)
			return
		}
		api(w, r)
	})
	mux.HandleFunc("POST "+app+"/API/Users/{id}/ResetPassword", f.endpoint("rotate", func(w http.ResponseWriter, r *http.Request) {
		caller := f.caller(r)
		if caller == nil {
			pamErr(w, http.StatusUnauthorized, "PASWS006E", "Your session has expired. Please log in again.", "ResetPassword without a live session token")
			return
		}
		if !caller.Admin {
			pamErr(w, http.StatusForbidden, "PASWS041E", "You are not authorized to perform this action.", caller.ID+" is no admin")
			return
		}
		// PVWA binds JSON case-insensitively, as .NET does.
		var body map[string]any
		if why := readJSON(r, &body); why != "" {
			pamErr(w, http.StatusBadRequest, "PASWS167E", "There are some invalid parameters.", why)
			return
		}
		var newPassword string
		for k, v := range body {
			if strings.EqualFold(k, "newPassword") {
				newPassword, _ = v.(string)
			}
		}
		if newPassword == "" {
			pamErr(w, http.StatusBadRequest, "PASWS167E", "There are some invalid parameters.", "ResetPassword without NewPassword")
			return
		}
		a := f.byUUID(r.PathValue("id"))
		if a == nil {
			pamErr(w, http.StatusNotFound, "PASWS013E", "User was not found.", "ResetPassword for unknown user "+r.PathValue("id"))
			return
		}
		if why := weakPassword(newPassword, 8, 39); why != "" {
			pamErr(w, http.StatusBadRequest, "ITATS537E", "The new password does not meet the password policy.", "weak NewPassword: "+why)
			return
		}
		f.setSecret(a.ID, newPassword)
		w.WriteHeader(http.StatusOK)
	}))
}
