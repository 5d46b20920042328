package vendor

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

const (
	configStorageKey = "config"

	defaultRequestTimeout = 10 * time.Second
	defaultMaxRetries     = 2
	maxRequestTimeout     = 5 * time.Minute
	maxMaxRetries         = 10
)

// configEntry is mount-wide policy for every role.
type configEntry struct {
	AllowedHosts   []string      `json:"allowed_hosts"`
	AllowHTTP      bool          `json:"allow_http"`
	RequestTimeout time.Duration `json:"request_timeout"`
	MaxRetries     int           `json:"max_retries"`
}

func defaultConfig() *configEntry {
	return &configEntry{RequestTimeout: defaultRequestTimeout, MaxRetries: defaultMaxRetries}
}

// checkURL enforces the policy on a URL about to be called or stored; field
// names the role field that holds it (base_url, or the address field its
// vendor declares).
// An IP literal where no vendor lives (link-local, unspecified, multicast)
// is refused whatever allowed_hosts says; the dialer refuses names that
// resolve there.
func (c *configEntry) checkURL(field string, u *url.URL) error {
	host := u.Hostname()
	_, addr, err := normalHost(host)
	if err != nil {
		return &inputError{Field: field, Msg: fmt.Sprintf("host %q %s", host, err)}
	}
	if addr.IsValid() {
		if why := client.BlockedAddress(addr); why != "" {
			return &inputError{Field: field, Msg: fmt.Sprintf("host %q is %s; it is never called, whatever allowed_hosts says", host, why)}
		}
	}
	if u.Scheme == "http" && !c.AllowHTTP {
		return &inputError{Field: field, Msg: fmt.Sprintf("uses plain http (%s); use https, or set allow_http=true on vendor/config for a test vendor", u.Host)}
	}
	if len(c.AllowedHosts) > 0 && !hostAllowed(c.AllowedHosts, host) {
		return &inputError{Field: field, Msg: fmt.Sprintf("host %q is not in config allowed_hosts (%s); point %s at an allowed host, or add the host to allowed_hosts on the mount's config", host, strings.Join(c.AllowedHosts, ", "), field)}
	}
	return nil
}

// urlChecker is checkURL for the URLs of one role field, as the HTTP
// layer calls it before every request.
func (c *configEntry) urlChecker(field string) func(*url.URL) error {
	return func(u *url.URL) error { return c.checkURL(field, u) }
}

func pathConfig(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "config",
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "vendor",
		},
		Fields: map[string]*framework.FieldSchema{
			"allowed_hosts": {
				Type:        framework.TypeCommaStringSlice,
				Description: "Hosts a role's URL may name, checked at role write and again at every call: host name patterns, where '*' stands for exactly one DNS label (*.vendor.example matches acme.vendor.example, not vendor.example or a.b.vendor.example; api.*.vendor.example), and IP addresses or CIDRs (127.0.0.1, 10.0.0.0/8, fd00::/8). Names are matched in IDNA ASCII form, lower case, without a trailing dot; a URL host not already in that form is refused. An IP literal host matches only IP and CIDR entries, and a name only name patterns; address-like patterns (10.*.*.*) and zone ids are refused. Empty allows any host. Link-local (169.254.0.0/16, fe80::/10), unspecified and multicast addresses are never connected to, whatever this says. A write that would leave existing roles outside it is refused with their names unless force=true.",
			},
			"allow_http": {
				Type:        framework.TypeBool,
				Description: "Allow plain-http vendor URLs. Off by default: credentials must not cross the network in clear text. Turning it off while roles use http is refused unless force=true.",
				Default:     false,
			},
			"request_timeout": {
				Type:        framework.TypeDurationSecond,
				Description: "Time limit for each HTTP attempt to a vendor: 1s to 5m, seconds or a duration such as 30s. Default 10s.",
				Default:     int(defaultRequestTimeout.Seconds()),
			},
			"max_retries": {
				Type:        framework.TypeInt,
				Description: "Retries after a network error, a 429 or a 5xx (never after a 4xx), honouring Retry-After within a bound: 0 to 10. Default 2.",
				Default:     defaultMaxRetries,
			},
			"force": {
				Type:        framework.TypeBool,
				Description: "Write and delete only, never stored: save (or delete) a config that puts existing roles outside allowed_hosts or allow_http. Without it such a write is refused with the list of those roles; with it, it is saved and those roles fail until they are changed.",
			},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation: &framework.PathOperation{
				Callback:     b.pathConfigRead,
				DisplayAttrs: &framework.DisplayAttributes{OperationSuffix: "configuration"},
			},
			logical.UpdateOperation: &framework.PathOperation{
				Callback:                    b.pathConfigWrite,
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
				DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "configure"},
			},
			logical.DeleteOperation: &framework.PathOperation{
				Callback:                    b.pathConfigDelete,
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
				DisplayAttrs:                &framework.DisplayAttributes{OperationSuffix: "configuration"},
			},
		},
		HelpSynopsis:    "Mount-wide policy: allowed vendor hosts, plain http, timeouts and retries.",
		HelpDescription: configHelp,
	}}
}

const configHelp = `
Settings that apply to every role of this mount, whatever its vendor.
Reading returns the values in force (defaults when nothing was written),
durations as integer seconds; deleting restores the defaults.

  allowed_hosts    hosts a role URL may name (empty: any host): name patterns
                   where * is exactly one DNS label (*.vendor.example matches
                   acme.vendor.example, not a.b.vendor.example), IP addresses and CIDRs
                   (10.0.0.0/8, fd00::/8); a pattern like 10.*.*.* is refused
                   in favour of a CIDR. Names are compared in IDNA ASCII, lower
                   case, without a trailing dot, and a URL host not already in
                   that form is refused, as are zone ids
  allow_http       allow plain-http vendor URLs (default false)
  request_timeout  per-attempt time limit (default 10s; 1s to 5m)
  max_retries      retries on network errors, 429 and 5xx (default 2; 0 to 10)
  force            write and delete only, never stored: go ahead even
                   though existing roles would fall outside allowed_hosts
                   or allow_http

A write is refused with a 400 naming the field and the fix when it carries
an unknown parameter; when an allowed_hosts entry is empty, has a scheme,
port, path or zone id, an empty label, or a * that is not a whole label;
when request_timeout is not between 1s and 5m or max_retries not between 0
and 10; and when existing roles would fall outside the new allowed_hosts or
allow_http (the 400 lists the first 20 with their hosts, and how many more),
unless it says force=true. A delete restores the defaults, allow_http=false
among them: while roles use plain http it is refused the same way unless
it says force=true (vault delete vendor/config force=true).

Whatever allowed_hosts says, no connection is made to a link-local address
(169.254.0.0/16, fe80::/10, where cloud metadata services listen), an
unspecified one (0.0.0.0, ::) or a multicast one, after DNS resolution.
`

// config returns the mount's config, cached in memory.
func (b *backend) config(ctx context.Context, s logical.Storage) (*configEntry, error) {
	if c := b.cfg.Load(); c != nil {
		return c, nil
	}
	epoch := b.epoch.Load()
	c, err := readConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	b.fillMu.Lock()
	if b.epoch.Load() == epoch {
		b.cfg.Store(c)
	}
	b.fillMu.Unlock()
	return c, nil
}

func readConfig(ctx context.Context, s logical.Storage) (*configEntry, error) {
	entry, err := s.Get(ctx, configStorageKey)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c := defaultConfig()
	if entry != nil {
		if err := entry.DecodeJSON(c); err != nil {
			return nil, fmt.Errorf("decoding config: %w", err)
		}
	}
	return c, nil
}

func (b *backend) pathConfigRead(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	c, err := readConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	hosts := c.AllowedHosts
	if hosts == nil {
		hosts = []string{}
	}
	return &logical.Response{Data: map[string]any{
		"allowed_hosts":   hosts,
		"allow_http":      c.AllowHTTP,
		"request_timeout": int64(c.RequestTimeout.Seconds()),
		"max_retries":     c.MaxRetries,
	}}, nil
}

func (b *backend) pathConfigWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	if err := rejectUnknownFields(req, d); err != nil {
		return errorResponse(err)
	}
	b.hostsMu.Lock()
	defer b.hostsMu.Unlock()
	c, err := readConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	old := *c
	if v, ok := d.GetOk("allowed_hosts"); ok {
		hosts := []string{}
		for _, h := range v.([]string) {
			h, err := normalPattern(h)
			if err != nil {
				return errorResponse(fieldErr("allowed_hosts", "%s", err))
			}
			hosts = append(hosts, h)
		}
		c.AllowedHosts = hosts
	}
	if v, ok := d.GetOk("allow_http"); ok {
		c.AllowHTTP = v.(bool)
	}
	if v, ok := d.GetOk("request_timeout"); ok {
		// Compared as seconds, so that no value can wrap into range.
		secs := v.(int)
		if secs < 1 || secs > int(maxRequestTimeout/time.Second) {
			return errorResponse(fieldErr("request_timeout", "must be between 1s and %s; give seconds or a duration such as 30s", durText(maxRequestTimeout)))
		}
		c.RequestTimeout = time.Duration(secs) * time.Second
	}
	if v, ok := d.GetOk("max_retries"); ok {
		n := v.(int)
		if n < 0 || n > maxMaxRetries {
			return errorResponse(fieldErr("max_retries", "must be between 0 and %d", maxMaxRetries))
		}
		c.MaxRetries = n
	}
	force := d.Get("force").(bool)
	warning, err := b.checkNarrowing(ctx, req.Storage, &old, c, force, false)
	if err != nil {
		return errorResponse(err)
	}
	entry, err := logical.StorageEntryJSON(configStorageKey, c)
	if err != nil {
		return nil, err
	}
	if err := req.Storage.Put(ctx, entry); err != nil {
		return nil, fmt.Errorf("writing config: %w", err)
	}
	b.dropAll()
	return warningResponse(warning), nil
}

// pathConfigDelete restores the defaults. allowed_hosts then allows any
// host, but allow_http returns to false: a mount whose roles use plain
// http is checked like a write.
func (b *backend) pathConfigDelete(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	b.hostsMu.Lock()
	defer b.hostsMu.Unlock()
	old, err := readConfig(ctx, req.Storage)
	if err != nil {
		return nil, err
	}
	force := d.Get("force").(bool)
	warning, err := b.checkNarrowing(ctx, req.Storage, old, defaultConfig(), force, true)
	if err != nil {
		return errorResponse(err)
	}
	if err := req.Storage.Delete(ctx, configStorageKey); err != nil {
		return nil, fmt.Errorf("deleting config: %w", err)
	}
	b.dropAll()
	return warningResponse(warning), nil
}

func warningResponse(warning string) *logical.Response {
	if warning == "" {
		return nil
	}
	return &logical.Response{Warnings: []string{warning}}
}

// maxListedRoles bounds the roles a message names; the rest are counted.
const maxListedRoles = 20

// checkNarrowing finds the roles that the config next would put outside
// the host policy and that old let through: a config write must not stop
// working roles by a typo. Without force it refuses the change, listing
// them; with force it returns a warning that lists them. Roles already
// outside old are not counted: this change does not break them. deleting
// says the change is a config delete.
func (b *backend) checkNarrowing(ctx context.Context, s logical.Storage, old, next *configEntry, force, deleting bool) (string, error) {
	if !narrows(old, next) {
		return "", nil
	}
	var (
		mu      sync.Mutex
		outside []outsideRole
	)
	_, err := scanRoles(ctx, s, func(_ int, name string, r *roleEntry, decodeErr error) {
		if r == nil || decodeErr != nil {
			return // gone, or broken whatever the config says
		}
		u, err := url.Parse(r.URL)
		if err != nil {
			return
		}
		field := urlField(r.Vendor)
		if next.checkURL(field, u) == nil || old.checkURL(field, u) != nil {
			return
		}
		o := outsideRole{name: name, host: u.Hostname(), http: u.Scheme == "http" && !next.AllowHTTP}
		mu.Lock()
		outside = append(outside, o)
		mu.Unlock()
	})
	if err != nil {
		return "", err
	}
	if len(outside) == 0 {
		return "", nil
	}
	sort.Slice(outside, func(i, j int) bool { return outside[i].name < outside[j].name })
	var fields, fixes []string
	hosts, plain := false, false
	for _, o := range outside {
		plain = plain || o.http
		hosts = hosts || !o.http
	}
	if hosts {
		fields = append(fields, "allowed_hosts")
		fixes = append(fixes, "add these hosts to allowed_hosts")
	}
	if plain {
		fields = append(fields, "allow_http")
		if deleting {
			fixes = append(fixes, "write the settings you want instead of deleting the config (keeping allow_http=true), or move these roles to https first")
		} else {
			fixes = append(fixes, "keep allow_http=true, or move these roles to https first")
		}
	}
	field, change, retry := strings.Join(fields, " and "), "would put", "repeat the write with force=true to save it anyway"
	if deleting {
		// Only allow_http can narrow: the default allowed_hosts allows any host.
		field, change, retry = "allow_http", "returns to false when the config is deleted, which would put", "delete with force=true to delete it anyway"
	}
	listed := outsideList(outside)
	if force {
		return fmt.Sprintf("%s: %s now outside the host policy, where every token read, rotation and update of them fails until they are changed or the config allows them again: %s",
			field, rolesCount(len(outside), "existing role is", "existing roles are"), listed), nil
	}
	return "", &inputError{Field: field, Msg: fmt.Sprintf(
		"%s %s outside the host policy, where every token read, rotation and update of them fails: %s; %s, or %s",
		change, rolesCount(len(outside), "existing role", "existing roles"), listed, strings.Join(fixes, "; "), retry)}
}

// outsideRole is a role a config change puts outside the host policy:
// its URL's host, and whether plain http is what puts it there.
type outsideRole struct {
	name string
	host string
	http bool
}

// narrows reports whether next may refuse a URL that old accepts.
func narrows(old, next *configEntry) bool {
	if old.AllowHTTP && !next.AllowHTTP {
		return true
	}
	if len(next.AllowedHosts) == 0 {
		return false
	}
	return !slices.Equal(old.AllowedHosts, next.AllowedHosts)
}

// outsideList names the first maxListedRoles roles, each with its host,
// and counts the rest.
func outsideList(roles []outsideRole) string {
	parts := make([]string, 0, min(len(roles), maxListedRoles))
	for _, o := range roles[:min(len(roles), maxListedRoles)] {
		if o.http {
			parts = append(parts, fmt.Sprintf("%s (%s, plain http)", o.name, o.host))
		} else {
			parts = append(parts, fmt.Sprintf("%s (%s)", o.name, o.host))
		}
	}
	text := strings.Join(parts, ", ")
	if rest := len(roles) - len(parts); rest > 0 {
		text += fmt.Sprintf(" and %d more", rest)
	}
	return text
}

func rolesCount(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// rejectUnknownFields turns fields the path does not take into an input
// error (a 400), where Vault would only warn that it ignored them. It also
// refuses text that is not UTF-8: storing it as JSON would silently change it.
func rejectUnknownFields(req *logical.Request, d *framework.FieldData) error {
	for _, k := range sortedKeys(req.Data) {
		if !validText(req.Data[k]) {
			return fieldErr(k, "is not valid UTF-8 text")
		}
	}
	var unknown []string
	for k := range req.Data {
		if _, ok := d.Schema[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sortStrings(unknown)
	what := "is an unknown field"
	if len(unknown) > 1 {
		what = "are unknown fields"
	}
	return &inputError{Field: strings.Join(unknown, ", "), Msg: what + "; this path takes: " + strings.Join(schemaNames(d.Schema), ", ")}
}

// validText reports whether every string in v, however nested, is UTF-8.
func validText(v any) bool {
	switch v := v.(type) {
	case string:
		return utf8.ValidString(v)
	case []any:
		for _, e := range v {
			if !validText(e) {
				return false
			}
		}
	case []string:
		for _, e := range v {
			if !utf8.ValidString(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range v {
			if !utf8.ValidString(k) || !validText(e) {
				return false
			}
		}
	case map[string]string:
		for k, e := range v {
			if !utf8.ValidString(k) || !utf8.ValidString(e) {
				return false
			}
		}
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}
