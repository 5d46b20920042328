package vendor

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// inputError is bad input: the caller must fix Field.
type inputError struct {
	Field string
	Msg   string
}

func (e *inputError) Error() string { return e.Field + " " + e.Msg }

// fieldErr is an *inputError whose message is formatted.
func fieldErr(field, format string, args ...any) error {
	return &inputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// rejected reports whether err is bad input, found here or by the client
// package before any call, or the vendor's refusal: either way the role
// must change before the request can succeed.
func rejected(err error) bool {
	var ie *inputError
	return errors.As(err, &ie) || errors.Is(err, client.ErrInvalid) || vendorRefused(err)
}

// vendorRefused reports whether the vendor itself answered no: a definite
// answer about the credentials, unlike a local refusal (input, host
// policy, the logon guard) or a failure to reach it.
func vendorRefused(err error) bool { return errors.Is(err, client.ErrRefused) }

// callersFault reports whether err is the caller's to fix, a 400: a
// rejection, or a logon the guard held back.
func callersFault(err error) bool { return rejected(err) || isHeld(err) }

// errorResponse is the one mapping from an error to what Vault answers:
// a 404 for a missing role, a 400 that says what to fix for the caller's
// faults, a 502 (504 for a timeout) for a vendor that could not be
// reached or answered unusably, the error itself (a 500) for anything
// else. Never both.
func errorResponse(err error) (*logical.Response, error) {
	var nr *noRoleError
	if errors.As(err, &nr) {
		return statusResponse(http.StatusNotFound, nr.Error()), nil
	}
	if callersFault(err) {
		return logical.ErrorResponse(err.Error()), nil
	}
	if code := gatewayStatus(err); code != 0 {
		return statusResponse(code, err.Error()), nil
	}
	return nil, err
}

// gatewayStatus is the status for a vendor failure, or 0 for another
// error. Vault stands between the caller and the vendor, so the vendor's
// trouble is a gateway's: 504 when it did not answer in time, else 502.
// A vendor's 429 and 503 are not passed on as such: from Vault, a 429
// means Vault's own rate-limit quota and a 503 a sealed or standby node,
// which would send the operator to the wrong place.
func gatewayStatus(err error) int {
	var ue *client.UnavailableError
	if !errors.As(err, &ue) {
		return 0
	}
	if ue.Class == client.ClassTimeout {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// statusResponse is an error answer with a status other than 400, which
// Vault writes as the raw body given. Its API client and CLI read an
// error's text from "errors" (logical.RespondWithStatusCode would put it
// in data.error, which prints as an empty error list). The body holds no
// data on purpose: for a 404 on a read, Vault's API client returns a body
// with data as if it were the secret, so a Vault Agent template or a
// script reading token/<missing> would get an "error" row instead of no
// secret. Without data, a read's 404 is "no value" to them, and HTTP
// callers get the message.
func statusResponse(code int, msg string) *logical.Response {
	body, err := json.Marshal(map[string]any{"errors": []string{msg}})
	if err != nil {
		body = []byte(`{"errors":["the error could not be encoded"]}`)
	}
	return &logical.Response{Data: map[string]any{
		logical.HTTPContentType: "application/json",
		logical.HTTPStatusCode:  code,
		logical.HTTPRawBody:     string(body), // a string, as Vault's own raw error answers: audit HMACs it
	}}
}

// unwrappable turns a statusResponse into an answer Vault does not wrap,
// for a request that asks for wrapping: Vault wraps every answer that is
// neither a Go error nor IsError, so a raw 404 or 502 would reach the
// caller as a 200 with a wrapping token, the failure hidden until the
// token is unwrapped. A 4xx becomes the 400 error answer, a 5xx the Go
// error Vault answers with a 500; the message is kept.
func unwrappable(resp *logical.Response, err error) (*logical.Response, error) {
	if err != nil || resp == nil || resp.Data == nil {
		return resp, err
	}
	code, ok := resp.Data[logical.HTTPStatusCode].(int)
	raw, isText := resp.Data[logical.HTTPRawBody].(string)
	if !ok || !isText || code < 400 {
		return resp, err
	}
	var body struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal([]byte(raw), &body) != nil || len(body.Errors) == 0 {
		return resp, err
	}
	msg := strings.Join(body.Errors, "; ")
	if code >= 500 {
		return nil, errors.New(msg)
	}
	return logical.ErrorResponse(msg), nil
}

// noRoleError is the one answer, a 404, for a role named in a request
// path that does not exist, on every path that names one.
type noRoleError struct {
	mount string // the mount's path as Vault gives it (req.MountPoint), such as "vendor/"
	name  string
}

func (e *noRoleError) Error() string {
	mount := mountPrefix(e.mount)
	return fmt.Sprintf("role %q does not exist at %sroles/%s; list the roles with: vault list %sroles", e.name, mount, e.name, mount)
}

// roleNotFound answers a request on a role that does not exist.
func roleNotFound(req *logical.Request, name string) (*logical.Response, error) {
	return errorResponse(&noRoleError{mount: req.MountPoint, name: name})
}

// durText writes a duration the way an operator would type it back
// (90s, 5m, 1h30m, 240h), for messages; reads give integer seconds.
func durText(d time.Duration) string { return client.DurationText(d) }
