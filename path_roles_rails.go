package vendor

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/helper/locksutil"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// The rails that keep a mistaken write or delete from breaking a working
// role: a stored secret does not follow its role to another account
// unproven, a self-rotating role where a lost answer loses the secret is
// warned of, and an admin role others rotate through is deleted only on
// purpose.

// checkSameAccount refuses to carry a stored secret to another address or
// client_id (or another account field the vendor pairs with a secret
// field) unproven: the secret belongs to the account it was written for,
// and offering it elsewhere is a failed logon at best. before is the role
// as stored (Vendor "" if new); given reports a field the request gives.
func checkSameAccount(before, role *roleEntry, given func(field string) bool, verify bool) error {
	if before.Vendor == "" || verify {
		return nil
	}
	secret := "client_secret"
	if v, ok := client.Lookup(role.Vendor); ok {
		secret, _, _ = client.CredentialField(v, role.Fields)
	}
	var changed []string
	if !given(secret) {
		if role.URL != before.URL {
			changed = append(changed, urlField(role.Vendor))
		}
		if role.ClientID != before.ClientID {
			changed = append(changed, "client_id")
		}
	}
	if len(changed) > 0 {
		return accountChangeError(changed, secret)
	}
	v, ok := client.Lookup(role.Vendor)
	if !ok {
		return nil
	}
	for _, f := range v.Fields() {
		if f.PairedSecret == "" || given(f.PairedSecret) {
			continue
		}
		if !sameValue(orDefault(f, before.Fields[f.Name]), orDefault(f, role.Fields[f.Name])) {
			return accountChangeError([]string{f.Name}, f.PairedSecret)
		}
	}
	return nil
}

// orDefault is a field's value, or its default when unset or empty: naming
// the default changes nothing.
func orDefault(f client.Field, v any) any {
	if s, _ := v.(string); s == "" && f.Default != "" {
		return f.Default
	}
	return v
}

func accountChangeError(changed []string, secret string) error {
	field := strings.Join(changed, " and ")
	verb := "changes"
	if len(changed) > 1 {
		verb = "change"
	}
	return &inputError{Field: field, Msg: fmt.Sprintf(
		"%s without a new %s, and the stored %s belongs to the account of the old %s; give %s in the same request, or verify=true to prove the stored secret works with the new %s",
		verb, secret, secret, field, secret, field)}
}

// selfRotationWarning warns of a role that rotates its own secret at a
// vendor where a lost answer loses the secret: no one but an admin of the
// vendor can then give the account a new one.
func selfRotationWarning(r *roleEntry) string {
	if r.RotationRole != "" || r.RotationPeriod <= 0 {
		return ""
	}
	v, ok := client.Lookup(r.Vendor)
	if !ok || !client.LosesSecretWithAnswer(v) {
		return ""
	}
	return fmt.Sprintf("rotation_period makes this role rotate its own secret, and %[1]s invalidates the old secret the moment it issues the new one: if that answer is lost (a network cut, or Vault stopping during the call), the role's secret is lost with it and only a %[1]s admin can issue a new one; set rotation_role to a %[1]s admin role that grants this role (in its rotation_allowed_roles), which can then replace a lost secret", v.Name())
}

// pathRoleDelete deletes a role, unless other roles name it as their
// rotation_role: they could no longer rotate, so that takes force=true.
func (b *backend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	force := false
	if v, ok := d.GetOk("force"); ok {
		force = v.(bool)
	}
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	// A role that cannot be decoded exists, and deleting it is the way
	// out the list gives for it.
	role, err := getRole(ctx, req.Storage, name)
	if err != nil && !undecodable(err) {
		return nil, err
	}
	if role == nil && err == nil {
		return roleNotFound(req, name)
	}
	deps, err := b.deleteUnlessNamed(ctx, req.Storage, name, lock, force)
	if err != nil {
		return errorResponse(err)
	}
	resp := b.endRotations(ctx, req.Storage, name)
	if len(deps) > 0 {
		if resp == nil {
			resp = &logical.Response{}
		}
		resp.AddWarning(fmt.Sprintf("%s still %s the deleted role %q as rotation_role and cannot rotate until it is set to another admin role or emptied: %s",
			dependentCount(len(deps)), nameVerb(len(deps)), name, dependentList(deps)))
	}
	return resp, nil
}

// deleteUnlessNamed deletes the role unless other roles name it as their
// rotation_role and force is false; it returns those roles. The check and
// the delete hold linkMu, so no write naming the role lands between them.
func (b *backend) deleteUnlessNamed(ctx context.Context, s logical.Storage, name string, held *locksutil.LockEntry, force bool) ([]string, error) {
	b.schedule.linkMu.Lock()
	defer b.schedule.linkMu.Unlock()
	deps, err := b.dependents(ctx, s, name, held)
	if err != nil {
		return nil, err
	}
	if len(deps) > 0 && !force {
		return nil, &inputError{Field: fmt.Sprintf("role %q", name), Msg: fmt.Sprintf(
			"is the rotation_role of %s: %s; deleting it stops their rotations: point their rotation_role at another admin role (or set it empty) first, or delete with force=true",
			dependentCount(len(deps)), dependentList(deps))}
	}
	b.forgetUnsaved(name)
	if err := s.Delete(ctx, roleStoragePrefix+name); err != nil {
		return nil, fmt.Errorf("deleting role %q: %w", name, err)
	}
	b.dropRole(name)
	b.schedule.remove(name)
	return deps, nil
}
