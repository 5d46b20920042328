package vendor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-uuid"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

const (
	roleStoragePrefix = "role/"

	// defaultRefreshBefore applies unless a third of the token's life is shorter.
	defaultRefreshBefore = 60 * time.Second
	// defaultLifetime is used when the vendor gives no expiry and the role no token_ttl_cap.
	defaultLifetime = 5 * time.Minute
)

// roleEntry is a role as stored (seal-wrapped) under role/<name>.
type roleEntry struct {
	Vendor string `json:"vendor"`
	// URL is the vendor's address: base_url, or the field it declares.
	URL          string `json:"url"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// Fields are the vendor's own fields (client.Vendor.Fields).
	Fields            client.Values `json:"fields,omitempty"`
	CACert            string        `json:"ca_cert,omitempty"`
	TokenTTLCap       time.Duration `json:"token_ttl_cap"`
	RefreshBefore     time.Duration `json:"refresh_before"`
	RotationPeriod    time.Duration `json:"rotation_period"`
	RotationRole      string        `json:"rotation_role,omitempty"`
	PasswordPolicy    string        `json:"password_policy,omitempty"`
	CreatedAt         time.Time     `json:"created_at"`
	LastRotated       time.Time     `json:"last_rotated"`
	LastRotationError string        `json:"last_rotation_error,omitempty"`
	// LastRotationAttempt is when a rotation last failed, for the retry schedule.
	LastRotationAttempt time.Time `json:"last_rotation_attempt"`
	// LastRotationID names the last rotation that finished, so a recovery
	// can tell a finished rotation from one that never stored its secret.
	LastRotationID string `json:"last_rotation_id,omitempty"`
	// Pending is the new secret of an unfinished rotation.
	Pending *pendingSecret `json:"pending,omitempty"`

	// RotationAllowedRoles, on an admin role, names the roles (globs) that
	// may use it as their rotation_role.
	RotationAllowedRoles []string `json:"rotation_allowed_roles,omitempty"`
	// UpdatedAt is when an operator last wrote the role, and AccountSince
	// when an operator last set its account (client_id or address).
	UpdatedAt    time.Time `json:"updated_at"`
	AccountSince time.Time `json:"account_since"`
	// Lost records a rotation that lost the role's secret and could not
	// replace it.
	Lost *lostRotation `json:"lost,omitempty"`
	// Generation is random, set when the role is created and never changed:
	// a rotation's WAL entry carries it, so that an entry written for a role
	// since deleted never acts on a role made again under the same name.
	// Roles stored before it existed have none, nor have their WAL entries.
	Generation string `json:"generation,omitempty"`
	// Retired holds keyed hashes of the secrets rotations replaced, so
	// that a write carrying one back is refused.
	Retired []retiredSecret `json:"retired,omitempty"`
}

func (r *roleEntry) creds() client.Creds {
	return client.Creds{BaseURL: r.URL, ClientID: r.ClientID, ClientSecret: r.ClientSecret, Fields: r.Fields}
}

// urlField is the role field that holds the vendor's address.
func urlField(vendor string) string {
	if v, ok := client.Lookup(vendor); ok {
		return client.AddressField(v).Name
	}
	return client.FieldBaseURL
}

// lifetime is how long a token minted now may be handed out: the vendor's
// word, capped by token_ttl_cap, which also stands in when the vendor is silent.
func (r *roleEntry) lifetime(vendorLife time.Duration) time.Duration {
	life := vendorLife
	if life <= 0 {
		life = r.TokenTTLCap
	}
	if life <= 0 {
		life = defaultLifetime
	}
	if r.TokenTTLCap > 0 && life > r.TokenTTLCap {
		life = r.TokenTTLCap
	}
	return life
}

// tokenLifetime is lifetime for a minted token. A vendor that said 0 (or
// under a second) gave a token that is dead already: it has no life to
// hand out, unlike one whose vendor said nothing.
func (r *roleEntry) tokenLifetime(tok client.Token) time.Duration {
	if tok.LifetimeKnown && tok.Lifetime <= 0 {
		return 0
	}
	return r.lifetime(tok.Lifetime)
}

// refreshBefore is how much life a cached token must have left to be handed
// out. An explicit value is held to half the lifetime so that a cached token
// is always reused for a while.
func (r *roleEntry) refreshBefore(life time.Duration) time.Duration {
	if r.RefreshBefore > 0 {
		return min(r.RefreshBefore, life/2)
	}
	return min(defaultRefreshBefore, life/3)
}

// Descriptions of the fields every role takes; they feed both the OpenAPI
// schema and path-help. The vendors' own fields describe themselves.
var roleFieldHelp = map[string]string{
	"name":                   "Name of the role: at most 128 letters, digits, '-', '_' and '.', starting and ending with a letter or digit.",
	"vendor":                 "Vendor kind: " + strings.Join(client.Names(), ", ") + ". Required on create; fixed after it (delete the role and create it again to change it).",
	"client_id":              "The client ID, login or user name the vendor issued to the integration. Required on create. A change without a new client_secret in the same write needs verify=true.",
	"client_secret":          "The client secret or password. Write-only: never returned. Required on create, unless the role's vendor fields choose another secret field to authenticate with (which then refuses this one). A secret a rotation of this role retired is refused.",
	"ca_cert":                "PEM certificate(s) to trust for this vendor's TLS, replacing the system roots for this role. A read shows ca_cert_subject, ca_cert_expires_at and ca_cert_sha256 for each, and warns within 30 days of expiry.",
	"token_ttl_cap":          "Never hand out a token older than this, even if the vendor says it lives longer; also the lifetime used when the vendor gives none (then 5m when unset, and a read shows 300). 0 (no cap) or at least 10s.",
	"refresh_before":         "A cached token with less life left than this is not handed out; a fresh one is minted. Default 60s, or a third of a shorter lifetime; at most half the lifetime; shorter than token_ttl_cap. A read shows the value in force for the tokens the answering node has minted; before it has minted one, the default 60 (which, written back, holds tokens under 3 minutes to half their life instead of a third).",
	"rotation_period":        "Rotate the client secret through the vendor on this schedule. 0 (default) turns scheduled rotation off; otherwise at least 1m, at most 10 years.",
	"rotation_role":          "Another role whose token performs admin rotation of this role's secret: it must exist, be of the same vendor and address, and grant this role in its rotation_allowed_roles. Empty: the role rotates itself.",
	"rotation_allowed_roles": "On an admin role: the roles that may name this role as their rotation_role, as names or globs with * (ci-*), at most 64. Empty (the default) allows none: an admin role rotates no other role until it is granted here.",
	"password_policy":        "Vault password policy used where Vault chooses the new secret during rotation; it must be able to make a password when the role is written.",
	"verify":                 "Write-only: mint one token with the new settings before saving them, and refuse to save if that fails. Lets an address or client_id change without a new client_secret.",
	"force":                  "Delete only: delete a role that other roles name as their rotation_role (their rotations then fail until they name another). Refused on a write or patch.",
}

func pathRoles(b *backend) []*framework.Path {
	fields := roleSchema()
	return []*framework.Path{
		{
			Pattern: "roles/?$",
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "vendor",
				OperationSuffix: "roles",
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ListOperation: &framework.PathOperation{Callback: b.pathRoleList},
				// Anything else on roles/ lacks the role's name.
				logical.ReadOperation:   &framework.PathOperation{Callback: refuseName, Unpublished: true},
				logical.UpdateOperation: &framework.PathOperation{Callback: refuseName, Unpublished: true},
				logical.DeleteOperation: &framework.PathOperation{Callback: refuseName, Unpublished: true},
			},
			HelpSynopsis:    "List the roles.",
			HelpDescription: roleListHelp,
		},
		{
			Pattern: "roles/" + framework.GenericNameRegex("name"),
			DisplayAttrs: &framework.DisplayAttributes{
				OperationPrefix: "vendor",
				OperationSuffix: "role",
			},
			Fields:         fields,
			ExistenceCheck: b.roleExists,
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: b.pathRoleRead},
				logical.CreateOperation: &framework.PathOperation{
					Callback:                    b.pathRoleWrite,
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
				logical.UpdateOperation: &framework.PathOperation{
					Callback:                    b.pathRoleWrite,
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
				logical.PatchOperation: &framework.PathOperation{
					Callback:                    b.pathRolePatch,
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
				logical.DeleteOperation: &framework.PathOperation{
					Callback:                    b.pathRoleDelete,
					ForwardPerformanceStandby:   true,
					ForwardPerformanceSecondary: true,
				},
			},
			HelpSynopsis:    "Manage a role: a vendor's API client credentials.",
			HelpDescription: roleHelp,
		},
	}
}

// roleHelp is the path-help of roles/<name>, written from the vendors'
// declarations (help.go).
var roleHelp = roleHelpText()

func getRole(ctx context.Context, s logical.Storage, name string) (*roleEntry, error) {
	entry, err := s.Get(ctx, roleStoragePrefix+name)
	if err != nil {
		return nil, fmt.Errorf("reading role %q: %w", name, err)
	}
	if entry == nil {
		return nil, nil
	}
	var r roleEntry
	if err := entry.DecodeJSON(&r); err != nil {
		return nil, &roleDecodeError{name: name, err: err}
	}
	return &r, nil
}

// roleDecodeError is a stored role no version can decode: it neither
// mints nor rotates, and can only be deleted.
type roleDecodeError struct {
	name string
	err  error
}

func (e *roleDecodeError) Error() string { return fmt.Sprintf("decoding role %q: %v", e.name, e.err) }
func (e *roleDecodeError) Unwrap() error { return e.err }

func undecodable(err error) bool {
	var de *roleDecodeError
	return errors.As(err, &de)
}

func putRole(ctx context.Context, s logical.Storage, name string, r *roleEntry) error {
	entry, err := logical.StorageEntryJSON(roleStoragePrefix+name, r)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, entry); err != nil {
		return fmt.Errorf("writing role %q: %w", name, err)
	}
	return nil
}

// refuseName answers a request on roles/ without a role name.
func refuseName(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
	return nameRefusal(""), nil
}

func (b *backend) roleExists(ctx context.Context, req *logical.Request, d *framework.FieldData) (bool, error) {
	r, err := getRole(ctx, req.Storage, d.Get("name").(string))
	return r != nil, err
}

func (b *backend) pathRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	r, err := getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return roleNotFound(req, name)
	}
	return b.roleReadResponse(req, name, r), nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (b *backend) pathRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return b.changeRole(ctx, req, d, func(name string, role *roleEntry) (*logical.Response, error) {
		if role == nil {
			gen, err := uuid.GenerateUUID()
			if err != nil {
				return nil, err
			}
			role = &roleEntry{CreatedAt: b.now().UTC(), Generation: gen}
		}
		return b.saveRole(ctx, req, d, name, role, nil)
	})
}

// changeRole refuses unknown fields, then calls change with the role as
// stored (nil if there is none) under the role's lock: a write must not
// race a rotation that is switching the role's secret.
func (b *backend) changeRole(ctx context.Context, req *logical.Request, d *framework.FieldData, change func(name string, role *roleEntry) (*logical.Response, error)) (*logical.Response, error) {
	if err := rejectUnknownFields(req, d); err != nil {
		return errorResponse(err)
	}
	if _, ok := req.Data["force"]; ok {
		return errorResponse(fieldErr("force", "applies only to delete; leave it out of writes and patches"))
	}
	name := d.Get("name").(string)
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	role, err := getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	return change(name, role)
}

// pathRolePatch updates the fields given of an existing role, as a JSON
// merge patch: a field set to null returns to its default (or unset).
func (b *backend) pathRolePatch(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	return b.changeRole(ctx, req, d, func(name string, role *roleEntry) (*logical.Response, error) {
		if role == nil {
			return roleNotFound(req, name)
		}
		var reset []string
		raw := make(map[string]any, len(d.Raw))
		for k, v := range d.Raw {
			if v == nil {
				reset = append(reset, k)
			} else {
				raw[k] = v
			}
		}
		sort.Strings(reset)
		patch := &framework.FieldData{Raw: raw, Schema: d.Schema}
		return b.saveRole(ctx, req, patch, name, role, reset)
	})
}

// saveRole applies the fields of d, and resets those named in reset, to
// role, checks the result and stores it.
func (b *backend) saveRole(ctx context.Context, req *logical.Request, d *framework.FieldData, name string, role *roleEntry, reset []string) (*logical.Response, error) {
	before := *role
	// The edits below change role.Fields in place; before keeps its own.
	before.Fields = role.Fields.Clone()
	if err := resetRoleFields(role, reset); err != nil {
		return errorResponse(err)
	}
	if err := applyRoleFields(role, d); err != nil {
		return errorResponse(err)
	}
	if err := b.refuseRetired(ctx, req.Storage, name, role, d); err != nil {
		return errorResponse(err)
	}
	_, newSecret := d.GetOk("client_secret")
	otherAccount := role.ClientID != before.ClientID || !sameOrigin(role.URL, before.URL)
	if newSecret || otherAccount {
		// The operator's secret wins over an unfinished rotation's, once
		// it is stored; and a pending secret or a lost one belongs to the
		// account the role held before.
		role.Pending = nil
		role.Lost = nil
	}
	role.UpdatedAt = b.now().UTC()
	if otherAccount {
		role.AccountSince = role.UpdatedAt
	}
	// Held until the role is stored: a config write waits, and its scan
	// then sees this role; one before it gave this write its config.
	b.hostsMu.RLock()
	defer b.hostsMu.RUnlock()
	cfg, err := b.config(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	if err := b.validateRole(name, role, cfg); err != nil {
		return errorResponse(err)
	}
	if err := b.checkPasswordPolicy(ctx, role); err != nil {
		return errorResponse(err)
	}
	if err := checkRoleSize(role); err != nil {
		return errorResponse(err)
	}
	verify := false
	if v, ok := d.GetOk("verify"); ok {
		verify = v.(bool)
	}
	given := func(field string) bool { _, ok := d.GetOk(field); return ok }
	if err := checkSameAccount(&before, role, given, verify); err != nil {
		return errorResponse(err)
	}
	// A rotation_role must work when it is saved, not fail at the first
	// rotation; checked here before verify spends a vendor call, and again
	// below where no delete can come between the check and the save.
	if err := b.checkRotationRole(ctx, req.Storage, name, role); err != nil {
		return errorResponse(err)
	}
	if verify {
		if err := b.verifyRole(ctx, name, role, cfg); err != nil {
			return errorResponse(err)
		}
	}
	if err := b.storeRole(ctx, req.Storage, name, role); err != nil {
		return errorResponse(err)
	}
	if newSecret || otherAccount {
		b.forgetUnsaved(name)
	}
	// New settings, or ones an operator just proved: whatever the vendor
	// refused before says nothing of them.
	b.forgetRefusals(before.Vendor, before.creds())
	b.forgetRefusals(role.Vendor, role.creds())
	b.dropRole(name)
	b.remember(name, role, cfg)
	var warnings []string
	if w := selfRotationWarning(role); w != "" {
		warnings = append(warnings, w)
	}
	if w := b.dependentsWarning(ctx, req.Storage, name, &before, role); w != "" {
		warnings = append(warnings, w)
	}
	if len(warnings) == 0 {
		return nil, nil
	}
	return &logical.Response{Warnings: warnings}, nil
}

// verifyRole mints one token with role's settings before they are saved.
func (b *backend) verifyRole(ctx context.Context, name string, role *roleEntry, cfg *configEntry) error {
	st, err := b.newRoleState(name, role, cfg)
	if err != nil {
		return err
	}
	// An operator's verify is tried even if these credentials were
	// refused lately, but within the account's failed logons like any
	// other: anyone who may write one role may name any account.
	b.forgetRefusals(role.Vendor, role.creds())
	if _, err := b.guardedToken(ctx, st.vendor, st.http, role.creds()); err != nil {
		if callersFault(err) {
			return &verifyError{err}
		}
		return fmt.Errorf("verify failed, role not saved: %w", err)
	}
	return nil
}

// verifyError is a verify the caller must fix; it keeps its cause's kind.
type verifyError struct{ err error }

func (e *verifyError) Error() string { return "verify failed, role not saved: " + e.err.Error() }
func (e *verifyError) Unwrap() error { return e.err }

// checkPasswordPolicy makes one password with the role's policy, so that a
// missing policy or one the vendor would refuse is found at write time.
func (b *backend) checkPasswordPolicy(ctx context.Context, r *roleEntry) error {
	if r.PasswordPolicy == "" {
		return nil
	}
	_, err := b.newSecret(ctx, r, client.Rules(mustVendor(r.Vendor)))
	return err
}

func sortStrings(s []string) { sort.Strings(s) }

func schemaNames(schema map[string]*framework.FieldSchema) []string {
	names := make([]string, 0, len(schema))
	for k := range schema {
		if k != "name" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	return names
}
