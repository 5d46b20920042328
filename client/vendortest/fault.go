package vendortest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Echo modes of a Fault: the ways careless vendors hand a request back.
const (
	// EchoHTML is an HTML error page (not JSON) that quotes the request:
	// its Authorization header, its body and every credential in it,
	// HTML-escaped.
	EchoHTML = "html"
	// EchoJSON is an RFC 6749 error whose error_description quotes the
	// Authorization header and every credential of the request.
	EchoJSON = "json"
	// EchoJSONHTML is EchoJSON with the quoted values HTML-escaped, as a
	// vendor that renders its messages through an HTML template sends them.
	EchoJSONHTML = "json-html"
	// EchoTruncated is EchoJSON with every quoted value cut short by its
	// last two characters.
	EchoTruncated = "truncated"
	// EchoRedirect is a 302 to Location with the request's credentials in
	// the query.
	EchoRedirect = "redirect"
)

// echoed lists what a request carries that a vendor could echo: the
// Authorization header, the Basic credentials decoded, and every value of
// the query, a form body or a JSON body, as name=value, sorted.
func echoed(r *http.Request) (items []string, body string) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	body = string(raw)
	if auth := r.Header.Get("Authorization"); auth != "" {
		items = append(items, "Authorization: "+auth)
		if enc, ok := strings.CutPrefix(auth, "Basic "); ok {
			if dec, err := base64.StdEncoding.DecodeString(enc); err == nil {
				id, secret, _ := strings.Cut(string(dec), ":")
				items = append(items, "basic_id="+id, "basic_secret="+secret)
			}
		}
	}
	var values []string
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			values = append(values, k+"="+v)
		}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		form, _ := url.ParseQuery(body)
		for k, vs := range form {
			for _, v := range vs {
				values = append(values, k+"="+v)
			}
		}
	case "application/json":
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			for k, v := range m {
				if s, ok := v.(string); ok {
					values = append(values, k+"="+s)
				}
			}
		}
	}
	sort.Strings(values)
	return append(items, values...), body
}

// writeEcho answers with the request echoed the fault's way.
func writeEcho(w http.ResponseWriter, r *http.Request, fault *Fault) {
	items, body := echoed(r)
	status := func(def int) int {
		if fault.Status != 0 {
			return fault.Status
		}
		return def
	}
	oauthError := func(desc []string) {
		writeJSON(w, status(http.StatusUnauthorized), map[string]string{
			"error": "invalid_client", "error_description": "bad credentials in " + strings.Join(desc, "; "),
		})
	}
	switch fault.Echo {
	case EchoHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status(http.StatusBadRequest))
		io.WriteString(w, "<!DOCTYPE html>\n<html><head><title>Bad Request</title></head><body><h1>Bad Request</h1>\n<p>We could not process this request:</p>\n<pre>"+
			html.EscapeString(strings.Join(append(items, body), "\n"))+"</pre></body></html>\n")
	case EchoJSON:
		oauthError(items)
	case EchoJSONHTML:
		esc := make([]string, len(items))
		for i, it := range items {
			esc[i] = html.EscapeString(it)
		}
		oauthError(esc)
	case EchoTruncated:
		cut := make([]string, len(items))
		for i, it := range items {
			runes := []rune(it)
			cut[i] = string(runes[:max(len(runes)-2, 0)])
		}
		oauthError(cut)
	case EchoRedirect:
		loc := fault.Location
		if loc == "" {
			loc = "https://login.example.invalid/"
		}
		q := url.Values{}
		for i, it := range items {
			q.Set("v"+strconv.Itoa(i), it)
		}
		w.Header().Set("Location", loc+"?"+q.Encode())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status(http.StatusFound))
		io.WriteString(w, "<html><body>Moved</body></html>\n")
	default:
		http.Error(w, "vendortest: unknown echo mode "+strconv.Quote(fault.Echo), http.StatusInternalServerError)
	}
}

// setRequestFields replaces top-level fields of a JSON request body.
func setRequestFields(r *http.Request, set map[string]json.RawMessage) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		for k, v := range set {
			m[k] = v
		}
		raw, _ = json.Marshal(m)
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
}

// editReply replaces and removes top-level fields of a recorded JSON reply.
func editReply(rec *httptest.ResponseRecorder, set map[string]json.RawMessage, drop []string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		return
	}
	for k, v := range set {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	raw, _ := json.Marshal(m)
	rec.Body = bytes.NewBuffer(raw)
	rec.Header().Del("Content-Length")
}

// Fault is injected into the next Times calls of one endpoint.
type Fault struct {
	// Delay holds the answer back (the request's own context still ends it).
	Delay time.Duration
	// Hold, when set, holds the answer back until it is closed.
	Hold <-chan struct{}
	// Status, when set, answers with this status instead of the real reply.
	Status int
	// RetryAfter is sent as the Retry-After header.
	RetryAfter string
	// Body replaces the answer's body: garbage, truncated JSON, an error text.
	// With Status 0 it is sent as a 200.
	Body string
	// Times is how many calls the fault affects; 0 means one, -1 every call.
	Times int
	// Apply runs the real handler first, so its changes take effect, and
	// only then delays, holds or replaces the answer: a reply lost after the
	// vendor acted.
	Apply bool
	// Echo answers the way a careless vendor's error page does, echoing the
	// request's credentials: EchoHTML, EchoJSON, EchoJSONHTML, EchoTruncated
	// or EchoRedirect. Status, when set, is its status.
	Echo string
	// Location is where an EchoRedirect points (the credentials go in its
	// query); empty means https://login.example.invalid/.
	Location string
	// RequestSet replaces top-level fields of a JSON request body before the
	// real handler sees it: a vendor that applies something other than what
	// it was sent.
	RequestSet map[string]json.RawMessage
	// ReplySet replaces, and ReplyDrop removes, top-level fields of the real
	// handler's JSON reply (a JSON null sets the field to null).
	ReplySet  map[string]json.RawMessage
	ReplyDrop []string
}

// Inject queues a fault for an endpoint ("token", "api", ...).
func (f *Fake) Inject(endpoint string, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fault.Times == 0 {
		fault.Times = 1
	}
	f.faults[endpoint] = append(f.faults[endpoint], fault)
}

// ClearFaults drops every queued fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = map[string][]Fault{}
}

// endpoint wraps a handler with call counting and fault injection.
func (f *Fake) endpoint(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls[name]++
		f.lastHeader[name] = r.Header.Clone()
		var fault *Fault
		if q := f.faults[name]; len(q) > 0 {
			fc := q[0]
			fault = &fc
			if q[0].Times > 0 {
				q[0].Times--
				if q[0].Times == 0 {
					f.faults[name] = q[1:]
				}
			}
		}
		f.mu.Unlock()
		if fault == nil {
			h(w, r)
			return
		}
		if fault.RequestSet != nil {
			setRequestFields(r, fault.RequestSet)
		}
		var applied *httptest.ResponseRecorder
		if fault.Apply || fault.ReplySet != nil || fault.ReplyDrop != nil {
			applied = httptest.NewRecorder()
			h(applied, r)
			editReply(applied, fault.ReplySet, fault.ReplyDrop)
		}
		if fault.Delay > 0 {
			t := time.NewTimer(fault.Delay)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		if fault.Hold != nil {
			select {
			case <-r.Context().Done():
				return
			case <-fault.Hold:
			}
		}
		if fault.Echo != "" {
			writeEcho(w, r, fault)
			return
		}
		if fault.Status == 0 && fault.Body == "" {
			if applied != nil {
				for k, v := range applied.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(applied.Code)
				w.Write(applied.Body.Bytes())
				return
			}
			h(w, r)
			return
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		status := fault.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		io.WriteString(w, fault.Body)
	}
}
