package vendor

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// Audit of issue 14 (branch i14audit), found on a live dev server:
//
//	$ vault write vendor/roles/a..b vendor=cyral ...   -> 500 "1 error occurred: * internal error"
//	$ curl .../v1/vendor/token/a..b                     -> 500 "1 error occurred: * reading role \"a..b\": relative paths not supported"
//	$ vault write vendor/roles/demo-cyral rotation_role=a..b -> the same 500
//
// A name with ".." inside it matches the paths' name pattern (letters,
// digits, '-', '_' and '.'), but the storage view Vault hands a plugin
// refuses every key that contains "..". The README promises a 400 naming
// `name` for a name with `..`, and issue 14 point 5 no Go-internal text and
// no "1 error occurred:" wrapper. The harness's in-memory storage accepts
// such keys, so this test puts Vault's own check (logical.StorageView's
// SanityCheck, the same as the barrier view's) in front of it.
func TestDotDotInsideANameIsA400NamingTheField(t *testing.T) {
	h := newHarness(t)
	h.storage.Storage = logical.NewStorageView(&logical.InmemStorage{}, "")
	_, cyral := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/ok", cyral)

	cases := []struct {
		op   logical.Operation
		path string
		data map[string]any
		want []string
	}{
		{logical.CreateOperation, "roles/a..b", cyral, []string{`name "a..b" is not a valid role name`}},
		{logical.UpdateOperation, "roles/a..b", cyral, []string{`name "a..b" is not a valid role name`}},
		{logical.ReadOperation, "roles/a..b", nil, []string{`name "a..b" is not a valid role name`}},
		{logical.DeleteOperation, "roles/a..b", nil, []string{`name "a..b" is not a valid role name`}},
		{logical.ReadOperation, "token/a..b", nil, []string{`name "a..b" is not a valid role name`}},
		{logical.UpdateOperation, "rotate-role/a..b", nil, []string{`name "a..b" is not a valid role name`}},
		{logical.UpdateOperation, "roles/ok", map[string]any{"rotation_role": "a..b"}, []string{"rotation_role", "not a valid role name"}},
	}
	for _, c := range cases {
		resp, err := h.b.HandleRequest(context.Background(), &logical.Request{
			Operation: c.op, Path: c.path, Data: c.data, Storage: h.storage, MountPoint: "vendor/"})
		if err != nil {
			t.Errorf("%s %s: want a 400 naming the field, got error %q", c.op, c.path, err)
			continue
		}
		code, msg, ok := rawError(resp)
		if !ok && resp != nil && resp.IsError() {
			code, msg, ok = 400, resp.Data["error"].(string), true
		}
		if !ok || code != 400 {
			t.Errorf("%s %s: want a 400, got %v", c.op, c.path, resp)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s %s: message %q lacks %q", c.op, c.path, msg, w)
			}
		}
	}
	// The role it would have touched still works.
	h.ok(logical.ReadOperation, "token/ok", nil)
}
