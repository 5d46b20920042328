package vendor

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/vault/sdk/framework"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// The role's fields are derived from the vendors' declarations
// (client.Vendor.Fields): the schema is the common fields plus every
// field any vendor declares, and a role takes, validates and shows the
// fields of its own vendor only.

// declared is one role field as the vendors declare it.
type declared struct {
	field client.Field
	// vendors declaring it, sorted; with their descriptions when those differ.
	vendors []string
	notes   []string
}

var (
	declaredOnce sync.Once
	declaredMap  map[string]*declared
)

// declarations are the vendors' own fields and address fields, by name.
func declarations() map[string]*declared {
	declaredOnce.Do(func() {
		vendors := make([]client.Vendor, 0, len(client.Names()))
		for _, vn := range client.Names() {
			v, _ := client.Lookup(vn)
			vendors = append(vendors, v)
		}
		var err error
		if declaredMap, err = declare(vendors); err != nil {
			panic(err)
		}
	})
	return declaredMap
}

// declare collects the fields vendors declare. A field declared by two
// vendors must have the same kind and secrecy.
func declare(vendors []client.Vendor) (map[string]*declared, error) {
	out := map[string]*declared{}
	for _, v := range vendors {
		vn := v.Name()
		fields := v.Fields()
		if addr := client.AddressField(v); addr.Name == client.FieldBaseURL {
			fields = append(fields, addr)
		}
		for _, f := range fields {
			if client.Common(f.Name) && !f.IsAddress() {
				continue // a note on a common field, not a declaration
			}
			if err := rootOwned(f); err != nil {
				return nil, fmt.Errorf("vendor %s: %w", vn, err)
			}
			d := out[f.Name]
			if d == nil {
				d = &declared{field: f}
				out[f.Name] = d
			} else if d.field.Kind != f.Kind || d.field.Secret != f.Secret {
				return nil, fmt.Errorf("vendor %s declares field %s unlike vendor %s does", vn, f.Name, d.vendors[0])
			}
			if d.field.Description == "" {
				d.field.Description = f.Description
			}
			if !slices.Contains(d.vendors, vn) {
				d.vendors = append(d.vendors, vn)
			}
		}
	}
	return out, nil
}

// roleReadOnly are the rows of a role read that no field writes.
var roleReadOnly = []string{"client_secret_set", "last_rotated", "next_rotation", "last_rotation_error", "rotation_pending", "ca_cert_subject", "ca_cert_expires_at", "ca_cert_sha256"}

// rootOwned refuses a vendor field that would stand in for a field or a
// read row of every role, and a secret that is not one string: secrets
// are redacted, hashed and kept out of messages as strings.
func rootOwned(f client.Field) error {
	read := f.Name
	if f.Secret {
		read += "_set"
	}
	if _, ok := roleFieldHelp[f.Name]; ok || slices.Contains(roleReadOnly, f.Name) || slices.Contains(roleReadOnly, read) {
		return fmt.Errorf("field %s is one every role has; give the vendor's field another name", f.Name)
	}
	if f.Secret && f.Kind != client.KindString && f.Kind != client.KindLowerString {
		return fmt.Errorf("secret field %s must be a string kind", f.Name)
	}
	return nil
}

// notes are the vendors' lines on a common field (client_id, base_url).
func notes(name string) []string {
	var out []string
	for _, vn := range client.Names() {
		v, _ := client.Lookup(vn)
		for _, f := range v.Fields() {
			if f.Name == name && client.Common(name) && !f.IsAddress() && f.Description != "" {
				out = append(out, vn+": "+f.Description)
			}
		}
	}
	return out
}

// vendorField is the declaration of field name by vendor v, if it has one.
func vendorField(v client.Vendor, name string) (client.Field, bool) {
	if addr := client.AddressField(v); addr.Name == name {
		return addr, true
	}
	for _, f := range v.Fields() {
		if f.Name == name && !client.Common(name) {
			return f, true
		}
	}
	return client.Field{}, false
}

func schemaType(k client.Kind) framework.FieldType {
	switch k {
	case client.KindLowerString:
		return framework.TypeLowerCaseString
	case client.KindList:
		return framework.TypeCommaStringSlice
	case client.KindPairs:
		return framework.TypeKVPairs
	}
	return framework.TypeString
}

// roleSchema is the schema of roles/<name>.
func roleSchema() map[string]*framework.FieldSchema {
	fields := map[string]*framework.FieldSchema{
		"name":                   {Type: framework.TypeString, Required: true},
		"vendor":                 {Type: framework.TypeLowerCaseString, AllowedValues: anySlice(client.Names())},
		"client_id":              {Type: framework.TypeString},
		"client_secret":          {Type: framework.TypeString, DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
		"ca_cert":                {Type: framework.TypeString},
		"token_ttl_cap":          {Type: framework.TypeDurationSecond},
		"refresh_before":         {Type: framework.TypeDurationSecond, Default: int(defaultRefreshBefore.Seconds())},
		"rotation_period":        {Type: framework.TypeDurationSecond},
		"rotation_role":          {Type: framework.TypeString},
		"rotation_allowed_roles": {Type: framework.TypeCommaStringSlice},
		"password_policy":        {Type: framework.TypeString},
		"verify":                 {Type: framework.TypeBool, Default: false},
		"force":                  {Type: framework.TypeBool, Default: false},
	}
	for name, f := range fields {
		f.Description = roleFieldHelp[name] + commonApplies(name)
	}
	fields["client_id"].Description += withNotes(notes("client_id"))
	for name, d := range declarations() {
		fields[name] = fieldSchema(name, d)
	}
	return fields
}

func withNotes(n []string) string {
	if len(n) == 0 {
		return ""
	}
	return " " + strings.Join(n, "; ") + "."
}

// fieldSchema is a vendor field's schema, its description saying which
// vendors it applies to.
func fieldSchema(name string, d *declared) *framework.FieldSchema {
	f := d.field
	s := &framework.FieldSchema{Type: schemaType(f.Kind)}
	desc := f.Description
	if f.IsAddress() && desc == "" {
		desc = "The vendor's address, an https URL."
	}
	if name == client.FieldBaseURL {
		desc += withNotes(notes(name))
	}
	desc = strings.TrimSpace(desc)
	if len(d.vendors) == 1 {
		desc += " Applies to vendor " + d.vendors[0] + "."
	} else {
		desc += " Applies to vendors " + strings.Join(d.vendors, ", ") + "."
	}
	if f.Required || f.IsAddress() {
		desc += " Required for them."
	}
	if f.Default != "" {
		desc += " Default: " + f.Default + "."
	}
	if f.Secret {
		desc += " Write-only: never returned."
		s.DisplayAttrs = &framework.DisplayAttributes{Sensitive: true}
	}
	if len(f.Allowed) > 0 {
		s.AllowedValues = anySlice(f.Allowed)
	}
	s.Description = desc
	return s
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// isSecretField reports whether any vendor declares name secret.
func isSecretField(name string) bool {
	d, ok := declarations()[name]
	return ok && d.field.Secret
}

// roleSecretFields are the secret fields of the role: client_secret and
// those its vendor declares secret.
func roleSecretFields(vendor string) []string {
	out := []string{"client_secret"}
	if v, ok := client.Lookup(vendor); ok {
		for _, f := range v.Fields() {
			if f.Secret && !client.Common(f.Name) {
				out = append(out, f.Name)
			}
		}
	}
	return out
}

// secretValue is the value of the role's secret field.
func (r *roleEntry) secretValue(field string) string {
	if field == "client_secret" {
		return r.ClientSecret
	}
	return r.Fields.String(field)
}

// applyVendorFields copies the vendor fields present in the request onto
// role, refusing those of other vendors.
func applyVendorFields(role *roleEntry, v client.Vendor, d *framework.FieldData) error {
	addr := client.AddressField(v)
	names := make([]string, 0, len(declarations()))
	for name := range declarations() {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw, ok := d.GetOk(name)
		if !ok {
			continue
		}
		f, mine := vendorField(v, name)
		if !mine {
			if declarations()[name].field.IsAddress() {
				return fieldErr(name, "does not apply to vendor %s; set %s instead", v.Name(), addr.Name)
			}
			if !empty(raw) {
				return fieldErr(name, "does not apply to vendor %s; leave it out, or set it empty on an existing role", v.Name())
			}
			// Empty clears what an older version may have stored.
			delete(role.Fields, name)
			continue
		}
		val, err := fieldValue(name, f.Kind, raw)
		if err != nil {
			return err
		}
		if f.IsAddress() {
			role.URL, _ = val.(string)
			continue
		}
		if empty(val) {
			delete(role.Fields, name)
			continue
		}
		if role.Fields == nil {
			role.Fields = client.Values{}
		}
		role.Fields[name] = val
	}
	return nil
}

func empty(v any) bool {
	return !client.Values{"v": v}.Has("v")
}

// fieldValue is a request's value of a vendor field, trimmed and within
// the limits.
func fieldValue(name string, k client.Kind, raw any) (any, error) {
	switch k {
	case client.KindList:
		list := raw.([]string)
		sizes := make([]int, len(list))
		for i, s := range list {
			sizes[i] = len(s)
		}
		if err := checkList(name, len(list), sizes); err != nil {
			return nil, err
		}
		var out []string
		for _, s := range list {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	case client.KindPairs:
		pairs := raw.(map[string]string)
		sizes := make([]int, 0, 2*len(pairs))
		for k, v := range pairs {
			sizes = append(sizes, len(k), len(v))
		}
		if err := checkList(name, len(pairs), sizes); err != nil {
			return nil, err
		}
		return pairs, nil
	}
	s := strings.TrimSpace(raw.(string))
	if len(s) > maxFieldLen {
		return nil, fieldErr(name, "is longer than %d bytes", maxFieldLen)
	}
	return s, nil
}

// checkVendorFields checks the role's address, credentials and vendor
// fields against its vendor's declaration.
func checkVendorFields(v client.Vendor, r *roleEntry) error {
	addr := client.AddressField(v)
	if r.URL == "" {
		return fieldErr(addr.Name, "is required")
	}
	if err := client.CheckURL(r.URL, addr.Kind == client.KindAddressQuery); err != nil {
		return &inputError{Field: addr.Name, Msg: err.Error()}
	}
	if r.ClientID == "" {
		return fieldErr("client_id", "is required")
	}
	if err := checkCredential(v, r); err != nil {
		return err
	}
	for _, name := range r.Fields.Names() {
		if _, ok := vendorField(v, name); !ok {
			return fieldErr(name, "does not apply to vendor %s; leave it out, or set it empty on an existing role", v.Name())
		}
	}
	for _, f := range v.Fields() {
		var val any
		switch {
		case f.Name == addr.Name:
			val = r.URL
		case f.Name == client.FieldClientID:
			val = r.ClientID
		case f.Name == client.FieldClientSecret:
			val = r.ClientSecret
		default:
			if !r.Fields.Has(f.Name) {
				if f.Required {
					return fieldErr(f.Name, "is required for vendor %s", v.Name())
				}
				continue
			}
			val = r.Fields[f.Name]
		}
		if s, ok := val.(string); ok && len(f.Allowed) > 0 && !slices.Contains(f.Allowed, s) {
			return fieldErr(f.Name, "must be one of %s", strings.Join(f.Allowed, ", "))
		}
		if f.Check != nil {
			if err := f.Check(val); err != nil {
				return &inputError{Field: f.Name, Msg: checkMessage(f, val, err)}
			}
		}
	}
	return nil
}

// checkCredential requires the one secret the role proves itself with:
// client_secret, or the field the vendor's declaration names for the
// values the role has (client.Field.Credential), and refuses the others.
func checkCredential(v client.Vendor, r *roleEntry) error {
	secret, by, refused := client.CredentialField(v, r.Fields)
	for _, name := range slices.Sorted(maps.Keys(refused)) {
		if r.Fields.Has(name) {
			return fieldErr(name, "is used only with %s, which this role does not have; leave it out, or set it empty on an existing role", refused[name])
		}
	}
	if secret == client.FieldClientSecret {
		if r.ClientSecret == "" {
			return fieldErr("client_secret", "is required")
		}
	} else {
		if r.ClientSecret != "" {
			return fieldErr("client_secret and "+secret, "are both given; with %s the role authenticates with %s and no client_secret: leave client_secret out (or set it empty on an existing role)", by, secret)
		}
		if !r.Fields.Has(secret) {
			return fieldErr(secret, "is required with %s", by)
		}
	}
	return nil
}

// checkMessage is a Check's refusal as the caller sees it: its text, but
// not when a secret field's check quoted the value.
func checkMessage(f client.Field, val any, err error) string {
	msg := err.Error()
	if s, _ := val.(string); s != "" && (f.Secret || f.Name == client.FieldClientSecret) && strings.Contains(msg, s) {
		return "is refused by the vendor's check, whose message quoted the value and is not repeated here"
	}
	return msg
}
