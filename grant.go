package vendor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-secure-stdlib/strutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
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
	// Leaving rotation_role empty is a fix only where the role can rotate itself.
	orSelf := ""
	if v, ok := client.Lookup(role.Vendor); ok && client.CheckRotation(v, true) == nil {
		orSelf = ", or leave rotation_role empty for the role to rotate itself"
	}
	switch {
	case admin == nil:
		return &inputError{Field: "rotation_role", Msg: fmt.Sprintf("names role %q, which does not exist; create it first%s", adminName, orSelf)}
	case admin.Vendor != role.Vendor:
		return &inputError{Field: "rotation_role", Msg: fmt.Sprintf("names a %s role; it must be a %s role at the same address (role %q is not): name a %s admin role that grants this role%s", admin.Vendor, role.Vendor, adminName, role.Vendor, orSelf)}
	case !sameOrigin(admin.URL, role.URL):
		return &inputError{Field: "rotation_role", Msg: fmt.Sprintf("names role %q at another address (%s); its token would be sent to %s: name an admin role at %s%s", adminName, origin(admin.URL), origin(role.URL), origin(role.URL), orSelf)}
	case !admin.grants(name):
		return &inputError{Field: "rotation_role", Msg: fmt.Sprintf(
			"names role %q, whose rotation_allowed_roles does not grant role %q: an admin role rotates only the roles it lists; add %q (or a glob such as %q) to rotation_allowed_roles on role %q",
			adminName, name, name, globOf(name), adminName)}
	}
	return nil
}

// checkRotationRole reads the role's rotation_role, if it names one, and
// checks that it may rotate the role.
func (b *backend) checkRotationRole(ctx context.Context, s logical.Storage, name string, role *roleEntry) error {
	if role.RotationRole == "" {
		return nil
	}
	admin, err := getRole(ctx, s, role.RotationRole)
	if err != nil {
		return err
	}
	return checkAdmin(name, role, admin)
}

// storeRole stores a role and its place in the schedule. One that names a
// rotation_role is stored under linkMu, its admin checked again there: a
// delete of the admin then either finds this role in the index, or has
// deleted the admin before this check.
func (b *backend) storeRole(ctx context.Context, s logical.Storage, name string, role *roleEntry) error {
	if role.RotationRole != "" {
		b.schedule.linkMu.Lock()
		defer b.schedule.linkMu.Unlock()
		if err := b.checkRotationRole(ctx, s, name, role); err != nil {
			return err
		}
	}
	if err := putRole(ctx, s, name, role); err != nil {
		return err
	}
	b.schedule.update(name, role)
	return nil
}

// dependentsWarning names the roles that name this one as rotation_role
// and that the write just saved stopped it from rotating: no longer in
// its rotation_allowed_roles, or left at the old address. The write
// stands (the operator may be moving them next); the warning says so.
// before is the role as stored before the write (Vendor "" if new).
func (b *backend) dependentsWarning(ctx context.Context, s logical.Storage, name string, before, role *roleEntry) string {
	// A role that grants nothing, before or now, rotates no other role.
	if len(before.RotationAllowedRoles) == 0 && len(role.RotationAllowedRoles) == 0 {
		return ""
	}
	deps, err := b.dependents(ctx, s, name, b.roleLock(name))
	if err != nil || len(deps) == 0 {
		return ""
	}
	created := before.Vendor == ""
	moved := created || !sameOrigin(before.URL, role.URL)
	var lost []string
	for _, dep := range deps {
		if !role.grants(dep) {
			if created || before.grants(dep) {
				lost = append(lost, dep+" (not in rotation_allowed_roles)")
			}
			continue
		}
		if !moved {
			continue
		}
		r, err := getRole(ctx, s, dep)
		if err != nil || r == nil || sameOrigin(r.URL, role.URL) {
			continue
		}
		if created || sameOrigin(r.URL, before.URL) {
			lost = append(lost, dep+" (at "+origin(r.URL)+")")
		}
	}
	if len(lost) == 0 {
		return ""
	}
	return fmt.Sprintf("%s that %s this role as rotation_role can no longer be rotated by it: %s; grant them in rotation_allowed_roles at their address, or set their rotation_role to another admin role",
		dependentCount(len(lost)), nameVerb(len(lost)), dependentList(lost))
}

// maxDependentsListed bounds the roles a message names; the rest are counted.
const maxDependentsListed = 20

func dependentList(names []string) string {
	if len(names) <= maxDependentsListed {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxDependentsListed], ", "), len(names)-maxDependentsListed)
}

// nameVerb agrees "name" with a count of roles.
func nameVerb(n int) string {
	if n == 1 {
		return "names"
	}
	return "name"
}

func dependentCount(n int) string {
	if n == 1 {
		return "1 role"
	}
	return fmt.Sprintf("%d roles", n)
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
