package vendor

import (
	"context"
	"strings"
	"sync"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// listErrorLen bounds last_rotation_error in a list: one table row each,
// so that ten thousand roles stay readable; the role read has it whole.
const listErrorLen = 200

// pathRoleList lists the roles with what an operator scans for across
// many of them (vault list -detailed shows it as columns): the vendor,
// the rotation schedule and its last error, whether this node holds a
// token, and the admin role that rotates each.
func (b *backend) pathRoleList(ctx context.Context, req *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
	var mu sync.Mutex
	info := map[string]any{}
	names, err := scanRoles(ctx, req.Storage, func(_ int, name string, r *roleEntry, decodeErr error) {
		var row map[string]any
		switch {
		case decodeErr != nil:
			// Listed, so that the operator sees it and can replace it. The
			// decoder's text is left out: it may quote the stored bytes.
			row = map[string]any{
				"vendor": "", "next_rotation": "", "last_rotation_error": "", "token_cached": false, "rotation_role": "",
				"error": "the stored role cannot be decoded, so it neither mints nor rotates; delete it with: vault delete " + mountPrefix(req.MountPoint) + "roles/" + name + ", then create it again",
			}
		case r != nil:
			row = b.listInfo(name, r)
		default:
			return // deleted since the list
		}
		mu.Lock()
		info[name] = row
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(info))
	for _, n := range names {
		if _, ok := info[n]; ok {
			keys = append(keys, n)
		}
	}
	return logical.ListResponseWithInfo(keys, info), nil
}

// listInfo is one role's row in the list.
func (b *backend) listInfo(name string, r *roleEntry) map[string]any {
	next := ""
	// As the role read shows it.
	if r.RotationPeriod > 0 {
		next = formatTime(r.dueAt())
	}
	return map[string]any{
		"vendor":              r.Vendor,
		"next_rotation":       next,
		"last_rotation_error": oneLine(r.LastRotationError, listErrorLen),
		"token_cached":        b.tokenCached(name),
		"rotation_role":       r.RotationRole,
	}
}

// tokenCached reports whether this node holds a live token for the role;
// another node, or this one after a restart, may hold none.
func (b *backend) tokenCached(name string) bool {
	v, ok := b.roles.Load(name)
	if !ok {
		return false
	}
	t := v.(*roleState).tok.Load()
	return t != nil && b.now().Before(t.expiresAt)
}

// oneLine makes a text fit one table cell: whitespace runs (an error
// joined from several has newlines) become one space, and it is cut at n
// bytes (clipText). The stored errors are already free of
// secrets; this only shortens them.
func oneLine(s string, n int) string {
	if s == "" {
		return ""
	}
	return clipText(strings.Join(strings.Fields(s), " "), n)
}
