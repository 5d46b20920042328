package vendor

import (
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

const (
	maxFieldLen  = 4096
	maxCACertLen = 64 << 10
)

// applyRoleFields copies the fields present in the request onto role.
func applyRoleFields(role *roleEntry, d *framework.FieldData) error {
	str := func(field string, dst *string) error {
		v, ok := d.GetOk(field)
		if !ok {
			return nil
		}
		s := strings.TrimSpace(v.(string))
		limit := maxFieldLen
		if field == "ca_cert" {
			limit = maxCACertLen
		}
		if len(s) > limit {
			return fieldErr(field, "is longer than %d bytes", limit)
		}
		*dst = s
		return nil
	}
	dur := func(field string, dst *time.Duration) error {
		v, ok := d.GetOk(field)
		if !ok {
			return nil
		}
		d, err := seconds(field, v.(int), maxPeriod, maxPeriodText)
		if err != nil {
			return err
		}
		*dst = d
		return nil
	}

	was := role.Vendor
	if err := str("vendor", &role.Vendor); err != nil {
		return err
	}
	if _, known := client.Lookup(role.Vendor); was != "" && role.Vendor != was && known {
		// Another vendor is another account; its records must not carry over.
		return fieldErr("vendor", "cannot change on update (this role is %s, not %s); delete the role and create it again with vendor=%s", was, role.Vendor, role.Vendor)
	}
	if role.Vendor == "" {
		return fieldErr("vendor", "is required; one of %s", strings.Join(client.Names(), ", "))
	}
	v, ok := client.Lookup(role.Vendor)
	if !ok {
		return fieldErr("vendor", "%q is not a known vendor; use one of %s", role.Vendor, strings.Join(client.Names(), ", "))
	}
	if err := applyVendorFields(role, v, d); err != nil {
		return err
	}
	steps := []error{
		str("client_id", &role.ClientID),
		str("client_secret", &role.ClientSecret),
		str("ca_cert", &role.CACert),
		str("rotation_role", &role.RotationRole),
		str("password_policy", &role.PasswordPolicy),
		dur("token_ttl_cap", &role.TokenTTLCap),
		dur("refresh_before", &role.RefreshBefore),
		dur("rotation_period", &role.RotationPeriod),
	}
	if err := firstErr(steps); err != nil {
		return err
	}
	if v, ok := d.GetOk("rotation_allowed_roles"); ok {
		role.RotationAllowedRoles = nil
		for _, s := range v.([]string) {
			if s = strings.TrimSpace(s); s != "" {
				role.RotationAllowedRoles = append(role.RotationAllowedRoles, s)
			}
		}
	}
	return nil
}

// resetRoleFields returns the fields a patch set to null to their
// defaults: empty, or unset where a default stands in.
func resetRoleFields(role *roleEntry, fields []string) error {
	for _, f := range fields {
		switch f {
		case "name", "verify":
		case "vendor":
			return fieldErr("vendor", "cannot be reset: delete the role and create it again")
		case "client_id":
			role.ClientID = ""
		case "client_secret":
			role.ClientSecret = ""
		case "ca_cert":
			role.CACert = ""
		case "rotation_role":
			role.RotationRole = ""
		case "password_policy":
			role.PasswordPolicy = ""
		case "token_ttl_cap":
			role.TokenTTLCap = 0
		case "refresh_before":
			role.RefreshBefore = 0
		case "rotation_period":
			role.RotationPeriod = 0
		case "rotation_allowed_roles":
			role.RotationAllowedRoles = nil
		case urlField(role.Vendor):
			role.URL = ""
		default:
			v, ok := client.Lookup(role.Vendor)
			if !ok {
				return fieldErr("vendor", "names an unknown vendor %s", role.Vendor)
			}
			if _, mine := vendorField(v, f); !mine && (declarations()[f] == nil || declarations()[f].field.IsAddress()) {
				return fieldErr(f, "does not apply to vendor %s", role.Vendor)
			}
			// A field of another vendor is cleared too: an older version
			// may have stored one.
			delete(role.Fields, f)
		}
	}
	return nil
}

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// validateRole checks a role as it would be saved.
func (b *backend) validateRole(name string, r *roleEntry, cfg *configEntry) error {
	v, ok := client.Lookup(r.Vendor)
	if !ok {
		return fieldErr("vendor", "names an unknown vendor %s", r.Vendor)
	}
	if err := checkVendorFields(v, r); err != nil {
		return err
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return fieldErr(urlField(r.Vendor), "is not a valid URL")
	}
	if err := cfg.checkURL(urlField(r.Vendor), u); err != nil {
		return err
	}
	if r.CACert != "" {
		if _, err := client.ParseCAPEM(r.CACert); err != nil {
			return &inputError{Field: "ca_cert", Msg: err.Error()}
		}
	}
	if r.TokenTTLCap > 0 && r.TokenTTLCap < 10*time.Second {
		return fieldErr("token_ttl_cap", "must be 0 (no cap) or at least 10s")
	}
	if r.TokenTTLCap > 0 && r.RefreshBefore >= r.TokenTTLCap {
		return fieldErr("refresh_before", "must be shorter than token_ttl_cap (%s); lower refresh_before, or raise token_ttl_cap", durText(r.TokenTTLCap))
	}
	if r.RotationPeriod > 0 && r.RotationPeriod < time.Minute {
		return fieldErr("rotation_period", "must be 0 (off) or at least 1m")
	}
	if r.RotationPeriod > 0 || r.RotationRole != "" {
		if err := client.CheckRotation(v, r.RotationRole == ""); err != nil {
			return err
		}
	}
	if r.PasswordPolicy != "" && !client.ChoosesSecret(v) {
		return fieldErr("password_policy", "does not apply to vendor %s, which makes its own secrets on rotation; leave it out, or set it empty", r.Vendor)
	}
	if err := checkAllowedRoles(r.RotationAllowedRoles); err != nil {
		return err
	}
	if r.RotationRole != "" {
		if r.RotationRole == name {
			return fieldErr("rotation_role", "must name another role; leave it empty for the role to rotate itself")
		}
		if !validName(r.RotationRole) {
			return fieldErr("rotation_role", "%q is not a valid role name: at most %d letters, digits, '-', '_' and '.' (never two dots together), starting and ending with a letter or digit", clipText(r.RotationRole, 100), maxNameLen)
		}
	}
	return nil
}
