package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Actor is whoever performs a rotation: the role itself, or an admin role
// (the role's rotation_role) of the same vendor tenant.
type Actor struct {
	// Self is true when the role rotates its own secret.
	Self bool
	// Authorization returns the Authorization header value of a live token
	// of the actor. Vendors that need no token for a step never call it.
	Authorization func(ctx context.Context) (string, error)
	// Secrets are the actor's own secrets, kept out of error texts.
	Secrets []string
}

// A vendor that can rotate implements exactly one of the three interfaces
// below, named for who chooses the new secret.

// SecretSetter is a vendor where Vault chooses the new secret (a password)
// and tells the vendor.
type SecretSetter interface {
	// SetSecret makes newSecret the account's secret.
	SetSecret(ctx context.Context, h *HTTP, c Creds, by Actor, newSecret string) error
	// SecretRules are the limits the vendor puts on a new secret.
	SecretRules() SecretRules
}

// SecretRegenerator is a vendor that generates a new secret for the same
// client ID and returns it.
type SecretRegenerator interface {
	RegenerateSecret(ctx context.Context, h *HTTP, c Creds, by Actor) (string, error)
}

// ClientReplacer is a vendor whose client secret cannot be changed: rotation
// creates a replacement client with the same name and roles, switches to it,
// and deletes the old one. Only an admin can do that.
type ClientReplacer interface {
	// CreateReplacement creates a client like c.ClientID and returns its ID.
	CreateReplacement(ctx context.Context, h *HTTP, c Creds, by Actor) (string, error)
	// ReadClient returns c with the credentials of client id.
	ReadClient(ctx context.Context, h *HTTP, c Creds, by Actor, id string) (Creds, error)
	// DeleteClient deletes client id; one already gone is not an error.
	DeleteClient(ctx context.Context, h *HTTP, c Creds, by Actor, id string) error
}

// NoRotation is implemented by vendors with no rotation API: it says what
// an operator can do instead.
type NoRotation interface {
	NoRotation() string
}

// SecretRules bound a secret that Vault chooses.
type SecretRules struct {
	MinLen, MaxLen int
}

// CheckRotation reports, as an ErrInvalid naming the role field to fix,
// why v cannot rotate a role's secret with the given actor kind.
func CheckRotation(v Vendor, self bool) error {
	switch v := v.(type) {
	case SecretSetter, SecretRegenerator:
		return nil
	case ClientReplacer:
		if self {
			return invalid("rotation_role", fmt.Sprintf(
				"is required to rotate a %s role: rotation creates a replacement API client, which needs a role allowed to manage API clients", v.(Vendor).Name()))
		}
		return nil
	case NoRotation:
		return invalid("vendor", v.NoRotation())
	}
	return invalid("vendor", v.Name()+" offers no API to rotate a client secret")
}

// SecretByLogon is a SecretSetter whose self-service change is a logon
// with the current secret (PVWA's logon with newPassword).
type SecretByLogon interface {
	ChangesSecretByLogon()
}

// ChangesSecretByLogon reports whether v's self-service secret change is
// itself a logon, which a wrong current secret makes a failed one.
func ChangesSecretByLogon(v Vendor) bool {
	_, ok := v.(SecretByLogon)
	return ok
}

// ChoosesSecret reports whether Vault chooses v's new secrets, so that a
// password_policy applies.
func ChoosesSecret(v Vendor) bool {
	_, ok := v.(SecretSetter)
	return ok
}

// Rules returns v's secret rules, or none.
func Rules(v Vendor) SecretRules {
	if s, ok := v.(SecretSetter); ok {
		return s.SecretRules()
	}
	return SecretRules{}
}

// call makes an API call with the actor's token. Anything but a GET is sent
// once: a retry after a lost reply could rotate twice.
func (h *HTTP) call(ctx context.Context, by Actor, r request) ([]byte, error) {
	auth, err := by.Authorization(ctx)
	if err != nil {
		return nil, err
	}
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set("Authorization", auth)
	// The token itself is added by do, from the header.
	r.secrets = append(r.secrets, by.Secrets...)
	r.once = r.method != http.MethodGet
	return h.do(ctx, r)
}

// decodeReply reads a JSON admin reply into v without ever quoting the body,
// which may hold a secret.
func decodeReply(vendor, op string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return &UnavailableError{Vendor: vendor, Op: op, Class: ClassBadResponse,
			Detail: "the reply is not the JSON expected: " + jsonProblem(err)}
	}
	return nil
}

// RotationHow is implemented by vendors that rotate: one line on how, for
// the rotate-role path's help.
type RotationHow interface {
	RotationHow() string
}

// RotationHelp describes, vendor by vendor, how each registered vendor
// rotates a secret, and names those that cannot.
func RotationHelp() string {
	var b strings.Builder
	var none []string
	for _, name := range Names() {
		v, _ := Lookup(name)
		if h, ok := v.(RotationHow); ok && CheckRotation(v, false) == nil {
			fmt.Fprintf(&b, "  %s: %s\n", name, h.RotationHow())
		} else {
			none = append(none, name)
		}
	}
	if len(none) > 0 {
		fmt.Fprintf(&b, "\nNo rotation API: %s.\n", strings.Join(none, ", "))
	}
	return b.String()
}

// DirectoryLogon is implemented by vendors whose token call is a logon to
// a user directory (PVWA, CyberArk Identity): one that may lock the
// account after failed logons and may answer a bad password with a 5xx.
type DirectoryLogon interface {
	DirectoryLogon()
}

// ServerErrorMayBeFailedLogon reports whether a 5xx from v's token call
// can be a failed logon the account's directory counts.
func ServerErrorMayBeFailedLogon(v Vendor) bool {
	_, ok := v.(DirectoryLogon)
	return ok
}

// SecretOnlyInAnswer is implemented by a SecretRegenerator whose old
// secret stops working the moment the vendor issues the new one: between
// the vendor's answer and Vault's storing it, the new secret exists only in
// that answer, and an answer lost then loses the account's secret.
type SecretOnlyInAnswer interface {
	OldSecretEndsAtIssue()
}

// LosesSecretWithAnswer reports whether a lost answer to v's rotation call
// leaves the account with no working secret that Vault knows.
func LosesSecretWithAnswer(v Vendor) bool {
	if _, ok := v.(SecretRegenerator); !ok {
		return false
	}
	_, ok := v.(SecretOnlyInAnswer)
	return ok
}
