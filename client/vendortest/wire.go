package vendortest

// Wire parsing: how a fake reads a request the way its vendor does (strict
// form and JSON bodies, Basic credentials exactly as sent) and writes a
// reply.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// readForm parses a strict application/x-www-form-urlencoded body: the right
// content type, no JSON, no repeated keys. why is empty when it is fine.
func readForm(r *http.Request) (form url.Values, why string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, fmt.Sprintf("content type %q, want application/x-www-form-urlencoded", r.Header.Get("Content-Type"))
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		return nil, "unreadable body"
	}
	if t := strings.TrimSpace(string(raw)); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		return nil, "JSON body where a form is required"
	}
	form, err = url.ParseQuery(string(raw))
	if err != nil {
		return nil, "malformed form body: " + err.Error()
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, "form parameter " + k + " repeated"
		}
	}
	return form, ""
}

// readJSON decodes a strict application/json body into v: the right
// content type, one JSON value and nothing after it. It returns why not, or "".
func readJSON(r *http.Request, v any) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fmt.Sprintf("content type %q, want application/json", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<16))
	if err := dec.Decode(v); err != nil {
		return "body is not the JSON expected: " + err.Error()
	}
	// .NET's and Go's decoders refuse anything after the value.
	if _, err := dec.Token(); err != io.EOF {
		return "data after the JSON value"
	}
	return ""
}

// basicRaw reads Basic credentials exactly as sent. It does not undo any
// URL-escaping, as PrivX and Code42 do not.
func basicRaw(r *http.Request) (id, secret string, ok bool) {
	h := r.Header.Get("Authorization")
	enc, found := strings.CutPrefix(h, "Basic ")
	if !found {
		return "", "", false
	}
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	id, secret, ok = strings.Cut(string(dec), ":")
	return id, secret, ok
}

// escapedHint explains a credential mismatch that URL-escaping would cause.
func escapedHint(sent, want string) string {
	if sent != want {
		if u, err := url.QueryUnescape(sent); err == nil && u == want {
			return " (the credentials were URL-escaped; this vendor wants them raw)"
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
