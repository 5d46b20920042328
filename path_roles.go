package vendor

import (
	"context"
	"fmt"
	"net/url"
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

	maxFieldLen  = 4096
	maxCACertLen = 64 << 10
)

// roleEntry is a role as stored (seal-wrapped) under role/<name>.
type roleEntry struct {
	Vendor string `json:"vendor"`
	// URL is base_url, or token_url for the oauth2 vendor.
	URL               string            `json:"url"`
	ClientID          string            `json:"client_id"`
	ClientSecret      string            `json:"client_secret"`
	OAuthClientID     string            `json:"oauth_client_id,omitempty"`
	OAuthClientSecret string            `json:"oauth_client_secret,omitempty"`
	AuthMethod        string            `json:"auth_method,omitempty"`
	Scopes            []string          `json:"scopes,omitempty"`
	Audience          string            `json:"audience,omitempty"`
	AuthStyle         string            `json:"auth_style,omitempty"`
	TokenParams       map[string]string `json:"token_params,omitempty"`
	CACert            string            `json:"ca_cert,omitempty"`
	TokenTTLCap       time.Duration     `json:"token_ttl_cap"`
	RefreshBefore     time.Duration     `json:"refresh_before"`
	RotationPeriod    time.Duration     `json:"rotation_period"`
	RotationRole      string            `json:"rotation_role,omitempty"`
	PasswordPolicy    string            `json:"password_policy,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
	LastRotated       time.Time         `json:"last_rotated"`
	LastRotationError string            `json:"last_rotation_error,omitempty"`
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
	return client.Creds{
		BaseURL:           r.URL,
		ClientID:          r.ClientID,
		ClientSecret:      r.ClientSecret,
		OAuthClientID:     r.OAuthClientID,
		OAuthClientSecret: r.OAuthClientSecret,
		AuthMethod:        r.AuthMethod,
		Scopes:            r.Scopes,
		Audience:          r.Audience,
		AuthStyle:         r.AuthStyle,
		TokenParams:       r.TokenParams,
	}
}

// urlField is the role field that holds the vendor's address.
func urlField(vendor string) string {
	if vendor == "oauth2" {
		return "token_url"
	}
	return "base_url"
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

// Field descriptions feed both the OpenAPI schema and path-help.
var roleFieldHelp = map[string]string{
	"name":                   "Name of the role.",
	"vendor":                 "Vendor kind: " + strings.Join(client.Names(), ", ") + ". Required on create.",
	"base_url":               "The vendor's base URL (https://tenant.cyral.com, https://acme.id.cyberark.cloud, https://pvwa.example.com, https://privx.example.com, https://api.us.code42.com). Required for every vendor but oauth2.",
	"token_url":              "oauth2 only: the authorization server's token endpoint URL. Required for oauth2.",
	"client_id":              "The client ID, login or user name the vendor issued to the integration (cyberark: user@suffix). Required on create.",
	"client_secret":          "The client secret or password. Write-only: never returned. Required on create.",
	"oauth_client_id":        "privx only: the API client's OAuth client ID, sent as Basic credentials. Required for privx.",
	"oauth_client_secret":    "privx only: the API client's OAuth client secret. Write-only. Required for privx.",
	"auth_method":            "cyberark-pam only: PVWA logon method: cyberark (default), ldap, radius or windows.",
	"scopes":                 "oauth2 only: scopes to request, comma-separated.",
	"audience":               "oauth2 only: the audience parameter to send, for servers that require one.",
	"auth_style":             "oauth2 only: how to send the client credentials: basic (HTTP Basic, the default) or body (in the form).",
	"token_params":           "oauth2 only: extra form parameters for the token request, as key=value pairs.",
	"ca_cert":                "PEM certificate(s) to trust for this vendor's TLS, replacing the system roots for this role.",
	"token_ttl_cap":          "Never hand out a token older than this, even if the vendor says it lives longer; also the lifetime used when the vendor gives none (cyberark-pam: default 5m). 0 means no cap.",
	"refresh_before":         "A cached token with less life left than this is not handed out; a fresh one is minted. Default 60s, or a third of a shorter lifetime; at most half the lifetime.",
	"rotation_period":        "Rotate the client secret through the vendor on this schedule. 0 (default) turns scheduled rotation off.",
	"rotation_role":          "Another role whose token performs admin rotation of this role's secret. Empty: the role rotates itself.",
	"rotation_allowed_roles": "On an admin role: the roles that may name this role as their rotation_role, as names or globs with * (ci-*). Empty (the default) allows none: an admin role rotates no other role until it is granted here.",
	"password_policy":        "Vault password policy used where Vault chooses the new secret during rotation.",
	"verify":                 "Write-only: mint one token with the new settings before saving them, and refuse to save if that fails.",
}

func pathRoles(b *backend) []*framework.Path {
	fields := map[string]*framework.FieldSchema{
		"name":                   {Type: framework.TypeString, Required: true},
		"vendor":                 {Type: framework.TypeLowerCaseString, AllowedValues: anySlice(client.Names())},
		"base_url":               {Type: framework.TypeString},
		"token_url":              {Type: framework.TypeString},
		"client_id":              {Type: framework.TypeString},
		"client_secret":          {Type: framework.TypeString, DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
		"oauth_client_id":        {Type: framework.TypeString},
		"oauth_client_secret":    {Type: framework.TypeString, DisplayAttrs: &framework.DisplayAttributes{Sensitive: true}},
		"auth_method":            {Type: framework.TypeLowerCaseString, AllowedValues: []any{"cyberark", "ldap", "radius", "windows"}},
		"scopes":                 {Type: framework.TypeCommaStringSlice},
		"audience":               {Type: framework.TypeString},
		"auth_style":             {Type: framework.TypeLowerCaseString, AllowedValues: []any{client.AuthStyleBasic, client.AuthStyleBody}},
		"token_params":           {Type: framework.TypeKVPairs},
		"ca_cert":                {Type: framework.TypeString},
		"token_ttl_cap":          {Type: framework.TypeDurationSecond},
		"refresh_before":         {Type: framework.TypeDurationSecond, Default: int(defaultRefreshBefore.Seconds())},
		"rotation_period":        {Type: framework.TypeDurationSecond},
		"rotation_role":          {Type: framework.TypeString},
		"rotation_allowed_roles": {Type: framework.TypeCommaStringSlice},
		"password_policy":        {Type: framework.TypeString},
		"verify":                 {Type: framework.TypeBool, Default: false},
	}
	for name, f := range fields {
		f.Description = roleFieldHelp[name]
	}
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
			HelpDescription: "Lists every role of this mount by name.",
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

const roleHelp = `
A role holds one set of vendor API client credentials. Writing an existing
role updates only the fields given. Reading never returns a secret: it shows
client_secret_set (and oauth_client_secret_set) instead, with last_rotated,
next_rotation and last_rotation_error.

Example:

  vault write vendor/roles/cyral-ci vendor=cyral \
      base_url=https://acme.app.cyral.com \
      client_id=sa-ci client_secret=@secret.txt verify=true
`

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

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
		return nil, fmt.Errorf("decoding role %q: %w", name, err)
	}
	return &r, nil
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

func (b *backend) pathRoleList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	names, err := req.Storage.List(ctx, roleStoragePrefix)
	if err != nil {
		return nil, fmt.Errorf("listing roles: %w", err)
	}
	return logical.ListResponse(names), nil
}

func (b *backend) pathRoleRead(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	r, err := getRole(ctx, req.Storage, d.Get("name").(string))
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: roleData(r)}, nil
}

// roleData is what a role read shows: every field but the secrets.
func roleData(r *roleEntry) map[string]any {
	data := map[string]any{
		"vendor":                  r.Vendor,
		"base_url":                "",
		"token_url":               "",
		"client_id":               r.ClientID,
		"client_secret_set":       r.ClientSecret != "",
		"oauth_client_id":         r.OAuthClientID,
		"oauth_client_secret_set": r.OAuthClientSecret != "",
		"auth_method":             r.AuthMethod,
		"scopes":                  nonNil(r.Scopes),
		"audience":                r.Audience,
		"auth_style":              r.AuthStyle,
		"token_params":            nonNilMap(r.TokenParams),
		"ca_cert":                 r.CACert,
		"token_ttl_cap":           int64(r.TokenTTLCap.Seconds()),
		"refresh_before":          int64(r.RefreshBefore.Seconds()),
		"rotation_period":         int64(r.RotationPeriod.Seconds()),
		"rotation_role":           r.RotationRole,
		"rotation_allowed_roles":  nonNil(r.RotationAllowedRoles),
		"password_policy":         r.PasswordPolicy,
		"last_rotated":            formatTime(r.LastRotated),
		"next_rotation":           "",
		"last_rotation_error":     r.LastRotationError,
		"rotation_pending":        r.Pending != nil,
	}
	data[urlField(r.Vendor)] = r.URL
	if r.Vendor == "cyberark-pam" && r.AuthMethod == "" {
		data["auth_method"] = client.PAMDefaultAuthMethod
	}
	if r.RefreshBefore == 0 {
		data["refresh_before"] = int64(defaultRefreshBefore.Seconds())
	}
	if r.RotationPeriod > 0 {
		data["next_rotation"] = formatTime(r.dueAt())
	}
	return data
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
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

func (b *backend) pathRoleWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if resp := rejectUnknownFields(req, d); resp != nil {
		return resp, nil
	}
	name := d.Get("name").(string)
	// A write must not race a rotation that is switching the role's secret.
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	role, err := getRole(ctx, req.Storage, name)
	if err != nil {
		return nil, err
	}
	if role == nil {
		gen, err := uuid.GenerateUUID()
		if err != nil {
			return nil, err
		}
		role = &roleEntry{CreatedAt: b.now().UTC(), Generation: gen}
	}
	before := *role
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
	if role.RotationPeriod > 0 && role.RotationRole != "" {
		// A schedule must not fail at its first run for want of a grant.
		admin, err := getRole(ctx, req.Storage, role.RotationRole)
		if err != nil {
			return nil, err
		}
		if err := checkAdmin(name, role, admin); err != nil {
			return errorResponse(err)
		}
	}
	if d.Get("verify").(bool) {
		st, err := b.newRoleState(name, role, cfg)
		if err != nil {
			return errorResponse(err)
		}
		// An operator's verify is tried even if these credentials were
		// refused lately, but within the account's failed logons like any
		// other: anyone who may write one role may name any account.
		b.forgetRefusals(role.Vendor, role.creds())
		if _, err := b.guardedToken(ctx, st.vendor, st.http, role.creds()); err != nil {
			if client.IsRejected(err) || isHeld(err) {
				return logical.ErrorResponse("verify failed, role not saved: %s", err), nil
			}
			return nil, fmt.Errorf("verify failed, role not saved: %w", err)
		}
	}
	if err := putRole(ctx, req.Storage, name, role); err != nil {
		return nil, err
	}
	b.schedule.update(name, role)
	if newSecret || otherAccount {
		b.forgetUnsaved(name)
	}
	// New settings, or ones an operator just proved: whatever the vendor
	// refused before says nothing of them.
	b.forgetRefusals(before.Vendor, before.creds())
	b.forgetRefusals(role.Vendor, role.creds())
	b.dropRole(name)
	b.remember(name, role, cfg)
	return nil, nil
}

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
			return &client.FieldError{Field: field, Msg: fmt.Sprintf("is longer than %d bytes", limit)}
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
	if was != "" && role.Vendor != was {
		// Another vendor is another account; its records must not carry over.
		return &client.FieldError{Field: "vendor", Msg: fmt.Sprintf("cannot change on update (this role is %s): delete the role and create it again", was)}
	}
	if role.Vendor == "" {
		return &client.FieldError{Field: "vendor", Msg: "is required; one of " + strings.Join(client.Names(), ", ")}
	}
	if _, ok := client.Lookup(role.Vendor); !ok {
		return &client.FieldError{Field: "vendor", Msg: fmt.Sprintf("%q is not a known vendor; use one of %s", role.Vendor, strings.Join(client.Names(), ", "))}
	}
	want, other := urlField(role.Vendor), "token_url"
	if want == "token_url" {
		other = "base_url"
	}
	if _, ok := d.GetOk(other); ok {
		return &client.FieldError{Field: other, Msg: fmt.Sprintf("does not apply to vendor %s; set %s instead", role.Vendor, want)}
	}
	steps := []error{
		str(want, &role.URL),
		str("client_id", &role.ClientID),
		str("client_secret", &role.ClientSecret),
		str("oauth_client_id", &role.OAuthClientID),
		str("oauth_client_secret", &role.OAuthClientSecret),
		str("auth_method", &role.AuthMethod),
		str("audience", &role.Audience),
		str("auth_style", &role.AuthStyle),
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
	if v, ok := d.GetOk("scopes"); ok {
		scopes := v.([]string)
		sizes := make([]int, len(scopes))
		for i, s := range scopes {
			sizes[i] = len(s)
		}
		if err := checkList("scopes", len(scopes), sizes); err != nil {
			return err
		}
		role.Scopes = nil
		for _, s := range scopes {
			if s = strings.TrimSpace(s); s != "" {
				role.Scopes = append(role.Scopes, s)
			}
		}
	}
	if v, ok := d.GetOk("rotation_allowed_roles"); ok {
		role.RotationAllowedRoles = nil
		for _, s := range v.([]string) {
			if s = strings.TrimSpace(s); s != "" {
				role.RotationAllowedRoles = append(role.RotationAllowedRoles, s)
			}
		}
	}
	if v, ok := d.GetOk("token_params"); ok {
		params := v.(map[string]string)
		sizes := make([]int, 0, 2*len(params))
		for k, v := range params {
			sizes = append(sizes, len(k), len(v))
		}
		if err := checkList("token_params", len(params), sizes); err != nil {
			return err
		}
		role.TokenParams = params
		if len(role.TokenParams) == 0 {
			role.TokenParams = nil
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
	v, _ := client.Lookup(r.Vendor)
	if err := client.Validate(v, r.creds()); err != nil {
		return err
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return &client.FieldError{Field: urlField(r.Vendor), Msg: "is not a valid URL"}
	}
	if err := cfg.checkURL(urlField(r.Vendor), u); err != nil {
		return err
	}
	if r.CACert != "" {
		if _, err := client.ParseCAPEM(r.CACert); err != nil {
			return &client.FieldError{Field: "ca_cert", Msg: err.Error()}
		}
	}
	if r.TokenTTLCap > 0 && r.TokenTTLCap < 10*time.Second {
		return &client.FieldError{Field: "token_ttl_cap", Msg: "must be 0 (no cap) or at least 10s"}
	}
	if r.TokenTTLCap > 0 && r.RefreshBefore >= r.TokenTTLCap {
		return &client.FieldError{Field: "refresh_before", Msg: fmt.Sprintf("must be shorter than token_ttl_cap (%s)", r.TokenTTLCap)}
	}
	if r.RotationPeriod > 0 && r.RotationPeriod < time.Minute {
		return &client.FieldError{Field: "rotation_period", Msg: "must be 0 (off) or at least 1m"}
	}
	if r.RotationPeriod > 0 || r.RotationRole != "" {
		if err := client.CheckRotation(v, r.RotationRole == ""); err != nil {
			return err
		}
	}
	if r.PasswordPolicy != "" && !client.ChoosesSecret(v) {
		return &client.FieldError{Field: "password_policy", Msg: fmt.Sprintf("does not apply to vendor %s, which makes its own secrets on rotation; leave it out, or set it empty", r.Vendor)}
	}
	if err := checkAllowedRoles(r.RotationAllowedRoles); err != nil {
		return err
	}
	if r.RotationRole != "" {
		if r.RotationRole == name {
			return &client.FieldError{Field: "rotation_role", Msg: "must name another role; leave it empty for the role to rotate itself"}
		}
		if !validName(r.RotationRole) {
			return &client.FieldError{Field: "rotation_role", Msg: fmt.Sprintf("%q is not a valid role name: at most %d letters, digits, '-', '_' and '.', starting and ending with a letter or digit", clipText(r.RotationRole, 100), maxNameLen)}
		}
	}
	return nil
}

// checkPasswordPolicy makes one password with the role's policy, so that a
// missing policy or one the vendor would refuse is found at write time.
func (b *backend) checkPasswordPolicy(ctx context.Context, r *roleEntry) error {
	if r.PasswordPolicy == "" {
		return nil
	}
	_, err := b.newSecret(ctx, r, client.Rules(mustVendor(r.Vendor)))
	return err
}

func (b *backend) pathRoleDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	lock := b.roleLock(name)
	lock.Lock()
	defer lock.Unlock()
	b.forgetUnsaved(name)
	if err := req.Storage.Delete(ctx, roleStoragePrefix+name); err != nil {
		return nil, fmt.Errorf("deleting role %q: %w", name, err)
	}
	b.dropRole(name)
	b.schedule.remove(name)
	return b.endRotations(ctx, req.Storage, name), nil
}

// errorResponse answers input and vendor-refusal errors with a 400 that says
// what to fix, and passes anything else on as an error (a 5xx). Never both.
func errorResponse(err error) (*logical.Response, error) {
	if client.IsRejected(err) || isHeld(err) {
		return logical.ErrorResponse(err.Error()), nil
	}
	return nil, err
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
