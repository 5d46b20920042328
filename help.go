package vendor

import (
	"fmt"
	"strings"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// Path help is written here from the vendors' declarations (client.Names,
// client.Lookup, Fields and the rotation traits), so that a vendor added in
// client/ shows up in every help text without an edit here.

// vendorsWhere lists, sorted, the registered vendors for which keep holds.
func vendorsWhere(keep func(client.Vendor) bool) []string {
	var out []string
	for _, n := range client.Names() {
		if v, ok := client.Lookup(n); ok && keep(v) {
			out = append(out, n)
		}
	}
	return out
}

func rotatesSelf(v client.Vendor) bool  { return client.CheckRotation(v, true) == nil }
func rotatesAdmin(v client.Vendor) bool { return client.CheckRotation(v, false) == nil }
func adminOnly(v client.Vendor) bool    { return rotatesAdmin(v) && !rotatesSelf(v) }
func noRotation(v client.Vendor) bool   { return !rotatesAdmin(v) }
func makesOwnSecret(v client.Vendor) bool {
	return rotatesAdmin(v) && !client.ChoosesSecret(v)
}

// orNone is a list for a sentence, "none" when empty.
func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// commonApplies says which vendors a field every role schema has applies
// to; the vendors' own fields say it in fieldSchema.
func commonApplies(name string) string {
	switch name {
	case "rotation_period":
		return " Applies to vendors that rotate: " + orNone(vendorsWhere(rotatesAdmin)) + "; " +
			orNone(vendorsWhere(adminOnly)) + " only with a rotation_role."
	case "rotation_role", "rotation_allowed_roles":
		return " Applies to vendors that rotate: " + orNone(vendorsWhere(rotatesAdmin)) + "."
	case "password_policy":
		return " Applies to vendors where Vault chooses the new secret: " + orNone(vendorsWhere(client.ChoosesSecret)) + "."
	case "name":
		return ""
	}
	return " Applies to all vendors."
}

// vendorLines are one line per vendor: the fields it takes beyond the
// common ones, and how it rotates.
func vendorLines() string {
	var b strings.Builder
	width := 0
	for _, n := range client.Names() {
		width = max(width, len(n))
	}
	for _, n := range client.Names() {
		v, _ := client.Lookup(n)
		addr := client.AddressField(v)
		parts := []string{addr.Name + " (required)"}
		for _, f := range v.Fields() {
			if client.Common(f.Name) || f.IsAddress() {
				continue
			}
			p := f.Name
			var notes []string
			if f.Required {
				notes = append(notes, "required")
			}
			if f.Secret {
				notes = append(notes, "secret")
			}
			if f.Default != "" {
				notes = append(notes, "default "+f.Default)
			}
			if len(f.Allowed) > 0 {
				notes = append(notes, strings.Join(f.Allowed, "|"))
			}
			if len(notes) > 0 {
				p += " (" + strings.Join(notes, ", ") + ")"
			}
			parts = append(parts, p)
		}
		var rot string
		switch {
		case rotatesSelf(v):
			rot = "rotates itself or through a rotation_role"
		case rotatesAdmin(v):
			rot = "rotates only through a rotation_role"
		default:
			rot = "no rotation API"
		}
		if client.ChoosesSecret(v) {
			rot += "; password_policy applies"
		}
		if client.GivesNoLifetime(v) {
			rot += fmt.Sprintf("; tokens carry no lifetime: token_ttl_cap, or %s, is theirs", durText(defaultLifetime))
		}
		b.WriteString(wrap(fmt.Sprintf("  %-*s  %s; %s", width, n, strings.Join(parts, ", "), rot), 76, 4+width))
	}
	return b.String()
}

// wrap breaks line at spaces to at most width columns, indenting the
// lines after the first by indent spaces.
func wrap(line string, width, indent int) string {
	var b strings.Builder
	col := 0
	for i, w := range strings.Split(line, " ") {
		switch {
		case i == 0:
		case col+1+len(w) > width && col > indent:
			b.WriteString("\n" + strings.Repeat(" ", indent))
			col = indent
		default:
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String() + "\n"
}

// roleHelpText is the path-help of roles/<name>.
func roleHelpText() string {
	addrs := map[string]bool{}
	var addrNames []string
	for _, n := range client.Names() {
		v, _ := client.Lookup(n)
		if a := client.AddressField(v).Name; !addrs[a] {
			addrs[a] = true
			addrNames = append(addrNames, a)
		}
	}
	address := strings.Join(addrNames, " or ")
	return `
A role holds one set of vendor API client credentials. Every role takes
vendor, client_id, client_secret, ca_cert, token_ttl_cap, refresh_before
and verify (all vendors); the rotation fields apply to the vendors that
rotate; each vendor takes these fields of its own (PARAMETERS says the same
field by field):

` + vendorLines() + `
Writing an existing role updates only the fields given; so does a patch,
where a field set to null returns to its default. A missing role is a 404
on read, patch and delete.

A write is refused with a 400 naming the field and the fix when:
  - vendor is missing on create, unknown, or not the stored one: a role's
    vendor is fixed; delete the role and create it again
  - the address (` + address + `) or client_id changes without a new
    client_secret in the same request: the stored secret belongs to the old
    account; give client_secret, or verify=true to prove the new settings
  - a required field is missing (the address, client_id, client_secret and
    those marked required above), a field of another vendor is given, or a
    value is not one of those allowed
  - the address is not an absolute https URL with a host (plain http only
    with allow_http=true on config), carries user:password@ or a #fragment,
    or its host is not in config allowed_hosts or is link-local, unspecified
    or multicast
  - ca_cert holds no PEM certificate
  - token_ttl_cap is neither 0 nor at least 10s; refresh_before is not
    shorter than token_ttl_cap; a duration is negative or over ` + maxPeriodText + `
  - rotation_period is neither 0 nor at least 1m
  - rotation_period or rotation_role is set for a vendor with no rotation
    API (` + orNone(vendorsWhere(noRotation)) + `), or rotation_period without a rotation_role
    for a vendor that rotates only through one (` + orNone(vendorsWhere(adminOnly)) + `)
  - rotation_role names this role, a role that does not exist, a role of
    another vendor or address, or one whose rotation_allowed_roles does not
    grant this role; rotation_allowed_roles has an entry that is neither a
    role name nor a glob such as ci-*, or more than ` + fmt.Sprint(maxAllowedRoles) + ` entries
  - password_policy is set for a vendor that makes its own secrets
    (` + orNone(vendorsWhere(makesOwnSecret)) + `), or names a policy Vault cannot make a password with
  - client_secret (or another secret field) is a secret a rotation of this
    role retired
  - sizes: a role name over ` + fmt.Sprint(maxNameLen) + ` characters, a value over ` + fmt.Sprint(maxFieldLen) + ` bytes (ca_cert
    ` + fmt.Sprint(maxCACertLen>>10) + ` KiB), scopes or token_params over ` + fmt.Sprint(maxListEntries) + ` entries, a role over ` + fmt.Sprint(maxRoleBytes>>10) + ` KiB stored
  - verify=true and the mint with the new settings fails
  - force is given on a write: it applies only to delete
A delete of a role that other roles name as rotation_role is refused with
their names, unless it says force=true.

Reading never returns a secret: it shows <field>_set instead (such as
client_secret_set). Durations are integer seconds, with the value in force
where the default is implicit (token_ttl_cap of a vendor whose tokens carry
no lifetime; refresh_before as the role's tokens get it). ca_cert_subject,
ca_cert_expires_at (RFC 3339) and ca_cert_sha256 (hex of the DER) describe
each certificate of ca_cert in order; a read warns when one has expired or
expires within 30 days. last_rotated, next_rotation and last_rotation_error
tell of rotations.

It also shows what the Vault node that answers knows of the role's tokens,
from its memory (another node, or this one after a restart, may know
nothing: then they are empty): token_expires_at (RFC 3339) of the cached
token, last_mint (RFC 3339) when a token was last minted or tried for the
role, last_mint_error (that try's error, secrets removed; empty if it
succeeded) and next_mint_attempt (RFC 3339: no vendor call for the role
before then; empty if none is held back).

Example:

  vault write vendor/roles/ci vendor=<vendor> \
      base_url=https://vendor.example.com \
      client_id=sa-ci client_secret=@secret.txt verify=true
  vault patch vendor/roles/ci refresh_before=2m
`
}

// roleListHelp is the path-help of roles/.
const roleListHelp = `
Lists every role of this mount by name:

  vault list vendor/roles
  vault list -detailed vendor/roles

With -detailed (the key info of the list), each role's vendor,
next_rotation (RFC 3339, empty when not scheduled), last_rotation_error,
token_cached (whether the node that answers holds a live token for it) and
rotation_role show as columns, so the roles whose rotation fails are found
in one command. Read, write and delete need a role name: roles/<name>.
`

// rotateRulesHelp are the refusals of rotate-role/<name>, from the vendors'
// rotation traits.
func rotateRulesHelp() string {
	return `
A rotation is refused with a 400 when the vendor has no rotation API
(` + orNone(vendorsWhere(noRotation)) + `), when the role has no rotation_role and its vendor
rotates only through one (` + orNone(vendorsWhere(adminOnly)) + `), when its rotation_role does not exist,
is of another vendor or address, or does not grant this role in its
rotation_allowed_roles, when the vendor refuses the credentials, and when
the password_policy cannot make a password. A missing role is a 404.
`
}

// backendHelpText is the path-help of the mount itself.
func backendHelpText() string {
	return `
The vendor secrets engine stores the API client credentials that security
vendors issue to integrations, and hands out short-lived bearer tokens
minted with them. Applications read vendor/token/<role> and never see the
long-lived secret. Vendors: ` + strings.Join(client.Names(), ", ") + `.

Paths (vault path-help vendor/<path> describes each, its fields and the
rules a write can fail on):

  config               mount-wide policy: allowed_hosts, allow_http,
                       request_timeout, max_retries (read, write, delete)
  roles/               list the roles; -detailed shows each role's vendor,
                       next rotation, last rotation error and cached token
  roles/<name>         a vendor's API client credentials (create, read,
                       update, patch, delete)
  token/<name>         read a short-lived bearer token for a role
  rotate-role/<name>   rotate a role's secret through the vendor now
                       (vendors that rotate: ` + orNone(vendorsWhere(rotatesAdmin)) + `)
  metrics              counters of mints, token reads and rotations, as
                       JSON or Prometheus text

Unknown parameters are refused on every path, and a role that does not
exist is a 404 on every path that names one.
`
}
