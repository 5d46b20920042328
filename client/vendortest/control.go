package vendortest

import (
	"crypto"
	"encoding/json"
	"net/http"
	"time"
)

// APIEndpoint is the method and path of the vendor's authenticated API that
// a fake answers with 200 for a live token presented the vendor's way.
func APIEndpoint(vendor string) (method, path string) {
	spec := vendors[vendor]
	return spec.apiMethod, spec.appPrefix + spec.apiPath
}

// FaultRequest is a Fault as the control API takes it.
type FaultRequest struct {
	Vendor     string `json:"vendor"`
	Endpoint   string `json:"endpoint"`
	Status     int    `json:"status,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
	Body       string `json:"body,omitempty"`
	DelayMS    int    `json:"delay_ms,omitempty"`
	Times      int    `json:"times,omitempty"`
	Apply      bool   `json:"apply,omitempty"`
	// Echo and Location: see Fault.
	Echo     string `json:"echo,omitempty"`
	Location string `json:"location,omitempty"`
	// RequestSet, ReplySet and ReplyDrop: see Fault.
	RequestSet map[string]json.RawMessage `json:"request_set,omitempty"`
	ReplySet   map[string]json.RawMessage `json:"reply_set,omitempty"`
	ReplyDrop  []string                   `json:"reply_drop,omitempty"`
}

// AccountRequest adds an account to a fake through the control API. A privx
// account gets the fake's OAuth client.
type AccountRequest struct {
	Vendor     string   `json:"vendor"`
	ID         string   `json:"id"`
	Secret     string   `json:"secret"`
	Admin      bool     `json:"admin,omitempty"`
	Name       string   `json:"name,omitempty"`
	Roles      []string `json:"roles,omitempty"`
	AuthMethod string   `json:"auth_method,omitempty"`
	// PublicKey (PEM) registers an oauth2 client for private_key_jwt, in
	// place of Secret; KeyID is the kid its assertions carry.
	PublicKey string `json:"public_key,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
}

// ControlHandler lets a process that does not share memory with the fakes
// (an acceptance test driving vendor-sim) steer them:
//
//	GET  /calls                     {"cyral":{"token":3,"api":1},...}
//	POST /fault     FaultRequest    queue a fault
//	POST /clear                     drop every fault
//	POST /lifetime  {"vendor","seconds"}
//	POST /expire    {"vendor"}      end every issued token
//	POST /account   AccountRequest  add an account (with a secret, or an oauth2 public key)
//	POST /secret    {"vendor","id","secret"}  204 if it is the account's secret, 409 if not
//	GET  /secrets                   every secret any account ever had
//	GET  /leaks                     every form of them (LeakForms), Basic pairs included
func ControlHandler(fakes map[string]*Fake) http.Handler {
	mux := http.NewServeMux()
	fake := func(w http.ResponseWriter, name string) *Fake {
		f, ok := fakes[name]
		if !ok {
			http.Error(w, "no such vendor "+name, http.StatusNotFound)
		}
		return f
	}
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]map[string]int{}
		for name, f := range fakes {
			out[name] = f.AllCalls()
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /secrets", func(w http.ResponseWriter, r *http.Request) {
		var out []string
		for _, f := range fakes {
			out = append(out, f.SecretsEver()...)
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /leaks", func(w http.ResponseWriter, r *http.Request) {
		var out []string
		for _, f := range fakes {
			out = append(out, f.LeakForms()...)
		}
		writeJSON(w, http.StatusOK, dedupe(out))
	})
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		var fr FaultRequest
		if err := json.NewDecoder(r.Body).Decode(&fr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if f := fake(w, fr.Vendor); f != nil {
			f.Inject(fr.Endpoint, Fault{Status: fr.Status, RetryAfter: fr.RetryAfter, Body: fr.Body,
				Delay: time.Duration(fr.DelayMS) * time.Millisecond, Times: fr.Times, Apply: fr.Apply,
				Echo: fr.Echo, Location: fr.Location, RequestSet: fr.RequestSet, ReplySet: fr.ReplySet, ReplyDrop: fr.ReplyDrop})
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST /clear", func(w http.ResponseWriter, r *http.Request) {
		for _, f := range fakes {
			f.ClearFaults()
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /lifetime", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Vendor  string `json:"vendor"`
			Seconds int    `json:"seconds"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Seconds <= 0 {
			http.Error(w, "want {\"vendor\",\"seconds\"}", http.StatusBadRequest)
			return
		}
		if f := fake(w, req.Vendor); f != nil {
			f.SetLifetime(time.Duration(req.Seconds) * time.Second)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST /account", func(w http.ResponseWriter, r *http.Request) {
		var req AccountRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ID == "" || (req.Secret == "") == (req.PublicKey == "") {
			http.Error(w, "want {\"vendor\",\"id\",\"secret\"} or {\"vendor\",\"id\",\"public_key\"}", http.StatusBadRequest)
			return
		}
		var pub crypto.PublicKey
		if req.PublicKey != "" {
			var err error
			if pub, err = ParsePublicKeyPEM(req.PublicKey); err != nil {
				http.Error(w, "public_key: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
		if f := fake(w, req.Vendor); f != nil {
			f.mu.Lock()
			oid, osecret := f.oauthID, f.oauthSecret
			f.mu.Unlock()
			f.AddAccount(Account{ID: req.ID, Secret: req.Secret, Admin: req.Admin, Name: req.Name, Roles: req.Roles,
				AuthMethod: req.AuthMethod, OAuthClientID: oid, OAuthClientSecret: osecret, PublicKey: pub, KeyID: req.KeyID})
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST /secret", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Vendor, ID, Secret string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if f := fake(w, req.Vendor); f != nil {
			if a, ok := f.Account(req.ID); ok && a.Secret == req.Secret {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.WriteHeader(http.StatusConflict)
		}
	})
	mux.HandleFunc("POST /expire", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Vendor string `json:"vendor"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if f := fake(w, req.Vendor); f != nil {
			f.ExpireTokens()
			w.WriteHeader(http.StatusNoContent)
		}
	})
	return mux
}
