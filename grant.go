package vendor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/strutil"
)

// An admin role (another role's rotation_role) can change secrets of
// accounts other than its own. Two rules keep that power inside what its
// owner meant: the admin role names the roles it serves in
// rotation_allowed_roles, and it changes only an account whose role proves
// it holds it (provesHolding in rotation.go) or whose secret this plugin
// lost mid-rotation (lostRotation below).

const maxAllowedRoles = 64

// checkAllowedRoles validates rotation_allowed_roles: role names, or globs
// where * stands for any run of characters.
func checkAllowedRoles(list []string) error {
	if len(list) > maxAllowedRoles {
		return &inputError{Field: "rotation_allowed_roles", Msg: fmt.Sprintf("has %d entries; at most %d", len(list), maxAllowedRoles)}
	}
	for _, e := range list {
		if e == "*" {
			continue
		}
		if !validName(strings.ReplaceAll(e, "*", "x")) {
			return &inputError{Field: "rotation_allowed_roles", Msg: fmt.Sprintf("entry %q is not a role name or a glob such as ci-*", clipText(e, 100))}
		}
	}
	return nil
}

// grants reports whether the admin role grants rotation to role name.
func (r *roleEntry) grants(name string) bool {
	return strutil.StrListContainsGlob(r.RotationAllowedRoles, name)
}

// checkAdmin checks that admin (nil: missing), named by role's
// rotation_role, may rotate role name.
func checkAdmin(name string, role, admin *roleEntry) error {
	adminName := role.RotationRole
	switch {
	case admin == nil:
		return &inputError{Field: "rotation_role", Msg: fmt.Sprintf("names role %q, which does not exist", adminName)}
	case admin.Vendor != role.Vendor:
		return &inputError{Field: "rotation_role", Msg: fmt.Sprintf("names a %s role; it must be a %s role of the same tenant", admin.Vendor, role.Vendor)}
	case !sameOrigin(admin.URL, role.URL):
		return &inputError{Field: "rotation_role", Msg: fmt.Sprintf("names role %q at another address (%s); its token would be sent to %s", adminName, origin(admin.URL), origin(role.URL))}
	case !admin.grants(name):
		return &inputError{Field: "rotation_role", Msg: fmt.Sprintf(
			"names role %q, whose rotation_allowed_roles does not grant role %q: an admin role rotates only the roles it lists; add %q (or a glob such as %q) to rotation_allowed_roles on role %q",
			adminName, name, name, globOf(name), adminName)}
	}
	return nil
}

func globOf(name string) string {
	if i := strings.IndexAny(name, "-_."); i > 0 {
		return name[:i+1] + "*"
	}
	return name + "*"
}

// lostRotation is the plugin's own record that a rotation lost the secret
// of account ClientID at URL: neither the old nor the new secret works and
// no admin could replace it. Until an operator rewrites the role, nothing
// proves secrets for it again (each proof would be a failed logon); after
// that an admin rotation_role may replace the secret without the role
// proving it holds the account, since this plugin lost it.
type lostRotation struct {
	RotationID string    `json:"rotation_id,omitempty"`
	ClientID   string    `json:"client_id"`
	URL        string    `json:"url"`
	At         time.Time `json:"at"`
	// Proved: the lost rotation began from a secret the vendor accepted,
	// so the account was the role's. Only then may an admin replace it.
	Proved bool `json:"proved"`
}

// stuck: a rotation lost the secret and no operator has written the role since.
func (r *roleEntry) stuck() bool {
	return r.Lost != nil && !r.UpdatedAt.After(r.Lost.At)
}

func (r *roleEntry) stuckError() error {
	return &errStuck{&inputError{Field: "client_secret", Msg: fmt.Sprintf(
		"of this role was lost by the rotation of %s (last_rotation_error says why); no secret is tried again until the role is written: write the account's current client_secret, or set rotation_role to an admin role that grants this role and rotate",
		r.Lost.At.UTC().Format(time.RFC3339))}}
}

// errStuck is the refusal to rotate a stuck role. It is a 400, and it is
// not recorded over the error that made the role stuck.
type errStuck struct{ *inputError }

func (e *errStuck) Unwrap() error { return e.inputError }

// lostHere: the plugin lost the secret of the account the role holds now.
func (r *roleEntry) lostHere() bool {
	return r.Lost != nil && r.Lost.Proved && r.Lost.ClientID == r.ClientID && sameOrigin(r.Lost.URL, r.URL)
}

// markLost records that the role's secret is lost and stops the rotation
// machinery from proving secrets for it.
func (rt *rotation) markLost(ctx context.Context, why error) error {
	err := fmt.Errorf("%w; the role cannot mint until its secret is replaced, and no secret is tried again until the role is written: write a new client_secret to the role, or set rotation_role to an admin role that grants it and rotate", why)
	id := rt.w.ID
	if p := rt.role.Pending; p != nil && id == "" {
		id = p.RotationID
	}
	next := *rt.role
	next.Lost = &lostRotation{RotationID: id, ClientID: rt.role.ClientID, URL: rt.role.URL, At: rt.b.now().UTC(), Proved: rt.evidence}
	next.LastRotationError = clipText(err.Error(), 1000)
	pctx, cancel := persistCtx(ctx)
	defer cancel()
	if perr := putRole(pctx, rt.s, rt.name, &next); perr != nil {
		return fmt.Errorf("%w (recording it failed: %v)", err, perr)
	}
	rt.role = &next
	rt.b.dropRole(rt.name)
	rt.outcome = outcomeLost
	return err
}
