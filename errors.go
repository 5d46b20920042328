package vendor

import (
	"errors"
	"fmt"

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
// a 400 that says what to fix for the caller's faults, the error itself
// (a 5xx) for anything else. Never both.
func errorResponse(err error) (*logical.Response, error) {
	if callersFault(err) {
		return logical.ErrorResponse(err.Error()), nil
	}
	return nil, err
}
