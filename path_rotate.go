package vendor

import (
	"context"
	"errors"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

func pathRotate(b *backend) []*framework.Path {
	return []*framework.Path{{
		Pattern: "rotate-role/" + framework.GenericNameRegex("name"),
		DisplayAttrs: &framework.DisplayAttributes{
			OperationPrefix: "vendor",
			OperationSuffix: "role",
		},
		Fields: map[string]*framework.FieldSchema{
			"name": {Type: framework.TypeString, Required: true, Description: "Name of the role whose secret to rotate."},
		},
		Operations: map[logical.Operation]framework.OperationHandler{
			logical.UpdateOperation: &framework.PathOperation{
				Callback:                    b.pathRotateWrite,
				ForwardPerformanceStandby:   true,
				ForwardPerformanceSecondary: true,
				DisplayAttrs:                &framework.DisplayAttributes{OperationVerb: "rotate"},
			},
		},
		HelpSynopsis:    "Rotate a role's secret through the vendor now.",
		HelpDescription: rotateHelp(),
	}}
}

// rotateHelp is built from the vendors' own descriptions.
func rotateHelp() string {
	return `
  vault write -f vendor/rotate-role/<name>

Replaces the role's client secret through the vendor's admin API, so that no
person ever holds it. How each vendor does it:

` + client.RotationHelp() + `
Where Vault makes the password it follows the role's password_policy, or
makes 32 random characters (at most the vendor's limit). The new secret is
proved with a mint before the role switches to it; a rotation interrupted at
any point is finished or undone by Vault's WAL rollback, and token reads keep
working meanwhile. Set rotation_period on the role to rotate on a schedule.
` + rotateRulesHelp()
}

func (b *backend) pathRotateWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	rt, err := b.rotateRole(ctx, req.Storage, name, triggerManual)
	var nr *noRoleError
	if errors.As(err, &nr) {
		return roleNotFound(req, nr.name)
	}
	if err != nil {
		return errorResponse(err)
	}
	resp := &logical.Response{Data: map[string]any{
		"vendor":       rt.role.Vendor,
		"client_id":    rt.role.ClientID,
		"last_rotated": formatTime(rt.role.LastRotated),
	}}
	for _, w := range rt.warn {
		resp.AddWarning(w)
	}
	return resp, nil
}
