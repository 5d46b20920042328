package vendor

import (
	"context"
	"fmt"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// pathBadName answers requests whose role name the real paths do not
// accept (slashes, dots at the ends, "..", spaces, other characters) with a
// 400 that names the field, where Vault would only say "unsupported path".
// It comes last, so a valid name never reaches it, and it is unpublished.
func pathBadName() []*framework.Path {
	op := &framework.PathOperation{Callback: refuseName, Unpublished: true}
	return []*framework.Path{{
		Pattern: "(roles|token|rotate-role)/(?P<name>.*)",
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Description: "An invalid role name."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.ReadOperation:   op,
			logical.UpdateOperation: op,
			logical.DeleteOperation: op,
			logical.ListOperation:   op,
		},
		HelpSynopsis: "Refuses invalid role names.",
	}}
}

// refuseName answers a request whose role name is empty or invalid.
func refuseName(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name, _ := d.GetOk("name")
	if s, _ := name.(string); s != "" {
		return logical.ErrorResponse(fmt.Sprintf("name %q is not a valid role name: use letters, digits, '-', '_' and '.', starting and ending with a letter or digit", clipText(s, 100))), nil
	}
	return logical.ErrorResponse("name is required: give the role's name after the slash, as in roles/<name>"), nil
}
