// Command noop is the benchmark's floor: an external secrets plugin that
// answers a read of <mount>/data with one field and does nothing else, so
// that a read of it costs what Vault and the plugin RPC cost.
package main

import (
	"context"
	"os"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

var shaped = map[string]any{
	"access_token":    "cyral-0123456789abcdef0123456789abcdef0123456789abcdef",
	"token_type":      "Bearer",
	"authorization":   "Bearer cyral-0123456789abcdef0123456789abcdef0123456789abcdef",
	"expires_at":      "2026-11-22T12:05:00Z",
	"expires_in":      int64(299),
	"ttl":             int64(239),
	"rotation_period": int64(300),
	"vendor":          "cyral",
}

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := &framework.Backend{
		BackendType: logical.TypeLogical,
		Paths: []*framework.Path{{
			Pattern: "data",
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
					return &logical.Response{Data: map[string]any{"ok": true}}, nil
				}},
			},
		}, {
			// A reply shaped like a token read (same fields, same sizes),
			// made by doing nothing: it separates the cost of carrying such
			// a reply through Vault from the cost of the plugin's work.
			Pattern: "shaped",
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.ReadOperation: &framework.PathOperation{Callback: func(context.Context, *logical.Request, *framework.FieldData) (*logical.Response, error) {
					return &logical.Response{Data: shaped}, nil
				}},
			},
		}},
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

func main() {
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{BackendFactoryFunc: factory}); err != nil {
		os.Exit(1)
	}
}
