package vendortest

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// redrockUser is the one query shape the fake understands: a user's ID by
// login, with quotes in the login doubled.
var redrockUser = regexp.MustCompile(`(?i)^\s*select\s+ID\s*,\s*Username\s+from\s+User\s+where\s+Username\s*=\s*'((?:[^']|'')*)'\s*$`)

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CyberArk Identity (ISPSS). Token: form client_credentials at
// /oauth2/platformtoken with a user@suffix client_id.
func init() {
	registerFake("cyberark", fakeSpec{lifetime: 5 * 3600 * time1s, routes: cyberarkRoutes, apiMethod: http.MethodPost, apiPath: "/Security/WhoAmI"})
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
	// Identity's REST envelope: HTTP 200 even for logical failures.
	envelope := func(w http.ResponseWriter, status int, ok bool, result any, code, msg, why string) {
		if !ok {
			f.mu.Lock()
			f.rejections = append(f.rejections, why)
			f.mu.Unlock()
		}
		writeJSON(w, status, map[string]any{"success": ok, "Result": result, "Message": nilIfEmpty(msg), "ErrorCode": nilIfEmpty(code), "ErrorID": nil, "Exception": nil})
	}
	// authed reads the caller and a strict JSON body, answering for failures.
	authed := func(w http.ResponseWriter, r *http.Request, body any) *Account {
		caller := f.caller(r)
		if caller == nil {
			envelope(w, http.StatusUnauthorized, false, nil, "Unauthorized", "Not Authorized", "admin API call without a live Bearer token")
			return nil
		}
		if why := readJSON(r, body); why != "" {
			envelope(w, http.StatusOK, false, nil, "InvalidArgument", "Invalid request body", why)
			return nil
		}
		return caller
	}
	// setPassword applies the tenant's complexity rules, then the password.
	setPassword := func(w http.ResponseWriter, id, password string) {
		if why := weakPassword(password, 8, 64); why != "" {
			envelope(w, http.StatusOK, false, nil, "PasswordComplexity", "Password does not meet complexity requirements.", "weak new password: "+why)
			return
		}
		f.setSecret(id, password)
		envelope(w, http.StatusOK, true, nil, "", "", "")
	}
	mux.HandleFunc("POST /UserMgmt/ChangeUserPassword", f.endpoint("rotate", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			OldPassword *string `json:"oldPassword"`
			NewPassword *string `json:"newPassword"`
		}
		caller := authed(w, r, &body)
		if caller == nil {
			return
		}
		if body.OldPassword == nil || body.NewPassword == nil {
			envelope(w, http.StatusOK, false, nil, "InvalidArgument", "oldPassword and newPassword are required", "missing oldPassword or newPassword")
			return
		}
		if *body.OldPassword != caller.Secret {
			envelope(w, http.StatusOK, false, nil, "InvalidPassword", "The current password is incorrect.", "wrong oldPassword for "+caller.ID)
			return
		}
		setPassword(w, caller.ID, *body.NewPassword)
	}))
	mux.HandleFunc("POST /Redrock/query", f.endpoint("query", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Script string `json:"Script"`
		}
		caller := authed(w, r, &body)
		if caller == nil {
			return
		}
		if !caller.Admin {
			envelope(w, http.StatusOK, false, nil, "Unauthorized", "You are not authorized to perform this operation.", caller.ID+" is no admin")
			return
		}
		m := redrockUser.FindStringSubmatch(body.Script)
		if m == nil {
			envelope(w, http.StatusOK, false, nil, "QueryError", "Query could not be parsed.", "unexpected script "+strconv.Quote(body.Script))
			return
		}
		rows := []any{}
		if a := f.account(strings.ReplaceAll(m[1], "''", "'")); a != nil {
			rows = append(rows, map[string]any{"Row": map[string]any{"ID": a.UUID, "Username": a.ID}})
		}
		envelope(w, http.StatusOK, true, map[string]any{"Count": len(rows), "Results": rows}, "", "", "")
	}))
	mux.HandleFunc("POST /UserMgmt/ResetUserPassword", f.endpoint("rotate", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID          *string `json:"ID"`
			NewPassword *string `json:"newPassword"`
		}
		caller := authed(w, r, &body)
		if caller == nil {
			return
		}
		if !caller.Admin {
			envelope(w, http.StatusOK, false, nil, "Unauthorized", "You are not authorized to perform this operation.", caller.ID+" is no admin")
			return
		}
		if body.ID == nil || body.NewPassword == nil {
			envelope(w, http.StatusOK, false, nil, "InvalidArgument", "ID and newPassword are required", "missing ID or newPassword")
			return
		}
		a := f.byUUID(*body.ID)
		if a == nil {
			envelope(w, http.StatusOK, false, nil, "UserNotFound", "User not found.", "reset for unknown uuid "+*body.ID)
			return
		}
		setPassword(w, a.ID, *body.NewPassword)
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
