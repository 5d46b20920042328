package vendor

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// A role read: the role's fields as stored (secrets as <field>_set), the
// values in force where a default stands in, what this node knows of its
// tokens, and its ca_cert described, with a warning before it expires.

// caExpiryNotice is how far ahead a role read warns of a CA's expiry.
const caExpiryNotice = 30 * 24 * time.Hour

// caCertInfo describes each certificate of a ca_cert PEM, in PEM order:
// its subject, its expiry (RFC 3339) and the SHA-256 of its DER (hex), so
// a read shows the trust anchor without the PEM having to be decoded.
func caCertInfo(pemText string) (subjects, expires, sums []string) {
	subjects, expires, sums = []string{}, []string{}, []string{}
	for _, c := range caCerts(pemText) {
		sum := sha256.Sum256(c.Raw)
		subjects = append(subjects, c.Subject.String())
		expires = append(expires, formatTime(c.NotAfter))
		sums = append(sums, hex.EncodeToString(sum[:]))
	}
	return subjects, expires, sums
}

// caCerts are the certificates of a PEM text as the TLS layer takes them:
// CERTIFICATE blocks without headers that parse.
func caCerts(pemText string) []*x509.Certificate {
	var out []*x509.Certificate
	rest := []byte(pemText)
	for len(rest) > 0 {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) != 0 {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// caWarnings warn of a ca_cert certificate that has expired or expires
// within caExpiryNotice: TLS to the vendor then fails, and tokens with it.
func caWarnings(mount, name, pemText string, now time.Time) []string {
	certs := caCerts(pemText)
	var out []string
	for i, c := range certs {
		which := fmt.Sprintf("certificate %d of %d (%s)", i+1, len(certs), c.Subject.String())
		fix := fmt.Sprintf("write the vendor's current CA with: vault patch %sroles/%s ca_cert=@ca.pem", mountPrefix(mount), name)
		switch left := c.NotAfter.Sub(now); {
		case left <= 0:
			out = append(out, fmt.Sprintf("ca_cert %s expired at %s; TLS to the vendor fails with it as the only trust anchor: %s", which, formatTime(c.NotAfter), fix))
		case left < caExpiryNotice:
			out = append(out, fmt.Sprintf("ca_cert %s expires at %s, in %s; before then, %s", which, formatTime(c.NotAfter), untilText(left), fix))
		}
	}
	return out
}

// untilText is how long until a certificate expires, in days when it is
// a day or more away (a CA's life is counted in days, not seconds).
func untilText(d time.Duration) string {
	if days := int(d / (24 * time.Hour)); days >= 1 {
		if days == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", days)
	}
	return durText(d.Round(time.Minute))
}

// roleData is what a role read shows: the common fields and its vendor's
// own, secrets as <name>_set, defaults where a field is unset.
func roleData(r *roleEntry) map[string]any {
	data := map[string]any{
		"vendor":                 r.Vendor,
		"client_id":              r.ClientID,
		"client_secret_set":      r.ClientSecret != "",
		"ca_cert":                r.CACert,
		"token_ttl_cap":          int64(r.TokenTTLCap.Seconds()),
		"refresh_before":         int64(r.RefreshBefore.Seconds()),
		"rotation_period":        int64(r.RotationPeriod.Seconds()),
		"rotation_role":          r.RotationRole,
		"rotation_allowed_roles": nonNil(r.RotationAllowedRoles),
		"password_policy":        r.PasswordPolicy,
		"last_rotated":           formatTime(r.LastRotated),
		"next_rotation":          "",
		"last_rotation_error":    r.LastRotationError,
		"rotation_pending":       r.Pending != nil,
	}
	data[urlField(r.Vendor)] = r.URL
	if v, ok := client.Lookup(r.Vendor); ok {
		for _, f := range v.Fields() {
			if client.Common(f.Name) || f.IsAddress() {
				continue
			}
			switch {
			case f.Secret:
				data[f.Name+"_set"] = r.Fields.Has(f.Name)
			case f.Kind == client.KindList:
				data[f.Name] = nonNil(r.Fields.List(f.Name))
			case f.Kind == client.KindPairs:
				data[f.Name] = nonNilMap(r.Fields.Pairs(f.Name))
			default:
				s := r.Fields.String(f.Name)
				if s == "" {
					s = f.Default
				}
				data[f.Name] = s
			}
		}
	}
	data["token_ttl_cap"] = int64(r.effectiveCap() / time.Second)
	data["refresh_before"] = int64(r.effectiveRefreshBefore(0) / time.Second)
	subjects, expires, sums := caCertInfo(r.CACert)
	data["ca_cert_subject"], data["ca_cert_expires_at"], data["ca_cert_sha256"] = subjects, expires, sums
	if r.RotationPeriod > 0 {
		data["next_rotation"] = formatTime(r.dueAt())
	}
	return data
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// effectiveCap is the token_ttl_cap in force: a vendor whose tokens say
// nothing of their lifetime has them live defaultLifetime when the role
// sets no cap, and a read that said 0 would hide that.
func (r *roleEntry) effectiveCap() time.Duration {
	if r.TokenTTLCap > 0 {
		return r.TokenTTLCap
	}
	if v, ok := client.Lookup(r.Vendor); ok && client.GivesNoLifetime(v) {
		return defaultLifetime
	}
	return 0
}

// effectiveRefreshBefore is the refresh_before a token of the role gets:
// from life when known (a token this node holds), else from the lifetime
// the role itself fixes, else the value written or the default.
func (r *roleEntry) effectiveRefreshBefore(life time.Duration) time.Duration {
	if life <= 0 {
		life = r.effectiveCap()
	}
	if life > 0 {
		return r.refreshBefore(life)
	}
	if r.RefreshBefore > 0 {
		return r.RefreshBefore
	}
	return defaultRefreshBefore
}

// mountPrefix is the mount as a path prefix for a command in a message.
func mountPrefix(mount string) string {
	if mount == "" {
		mount = "vendor/"
	}
	if !strings.HasSuffix(mount, "/") {
		mount += "/"
	}
	return mount
}

// roleReadResponse is a role read: the role as stored, with what this node
// knows of its tokens (roleHealth), refresh_before as its last token got
// it, and warnings of a CA that has expired or soon will.
func (b *backend) roleReadResponse(req *logical.Request, name string, r *roleEntry) *logical.Response {
	data := roleData(r)
	for k, v := range b.roleHealth(name) {
		data[k] = v
	}
	if v, ok := b.roles.Load(name); ok {
		if t := v.(*roleState).tok.Load(); t != nil {
			data["refresh_before"] = int64(r.effectiveRefreshBefore(t.lifetime) / time.Second)
		}
	}
	resp := &logical.Response{Data: data}
	for _, w := range caWarnings(req.MountPoint, name, r.CACert, b.now()) {
		resp.AddWarning(w)
	}
	return resp
}
