package vendor

import (
	"context"
	"hash/fnv"
	"strings"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"golang.org/x/sync/errgroup"
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
		HelpDescription: rotateHelp,
	}}
}

const rotateHelp = `
  vault write -f vendor/rotate-role/<name>

Replaces the role's client secret through the vendor's admin API, so that no
person ever holds it:

  cyral         rotateSecret; Cyral makes the new secret
  cyberark      ChangeUserPassword as the role itself, or ResetUserPassword
                through rotation_role; Vault makes the new password
  cyberark-pam  a logon with newPassword as the role itself, or ResetPassword
                through rotation_role; Vault makes the new password (at most
                39 characters)
  privx         through rotation_role: a new API client with the same name
                and roles replaces the role's, which is then deleted

incydr and oauth2 vendors offer no rotation API.

Where Vault makes the password it follows the role's password_policy, or
makes 32 random characters (at most the vendor's limit). The new secret is
proved with a mint before the role switches to it; a rotation interrupted at
any point is finished or undone by Vault's WAL rollback, and token reads keep
working meanwhile. Set rotation_period on the role to rotate on a schedule.
`

func (b *backend) pathRotateWrite(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.Get("name").(string)
	rt, err := b.rotateRole(ctx, req.Storage, name, triggerManual)
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

// periodic rotates the roles whose rotation_period has run out. It runs
// only where storage is writable: the active node of a primary cluster.
// Each rotation has its own time limit and records its own failure on its
// role, so one failing vendor never holds up another role.
func (b *backend) periodic(ctx context.Context, req *logical.Request) error {
	b.pruneClients()
	b.pruneGuards()
	if !b.WriteSafeReplicationState() {
		return nil
	}
	names, err := req.Storage.List(ctx, roleStoragePrefix)
	if err != nil {
		return err
	}
	now := b.now()
	var g errgroup.Group
	g.SetLimit(maxParallelRotations)
	for _, name := range names {
		if strings.HasSuffix(name, "/") {
			continue
		}
		role, err := getRole(ctx, req.Storage, name)
		if err != nil || role == nil || role.RotationPeriod <= 0 || now.Before(role.dueAt()) {
			continue
		}
		g.Go(func() error {
			// rotateRole checks again, under the role's lock, that the role
			// is still due: a manual rotation may have just done it.
			b.rotateRole(ctx, req.Storage, name, triggerScheduled)
			return nil
		})
	}
	return g.Wait()
}

// dueAt is when the schedule next rotates the role: a period after the last
// rotation (or the role's creation), plus a jitter fixed per role and
// rotation so that roles made together do not all rotate together. After a
// failure the schedule retries sooner than a whole period.
func (r *roleEntry) dueAt() time.Time {
	from := r.LastRotated
	if from.IsZero() {
		from = r.CreatedAt
	}
	// A period stored before it was limited is taken as the limit, so
	// the sum below cannot overflow.
	period := min(r.RotationPeriod, maxPeriod)
	due := from.Add(period + r.jitter())
	if r.LastRotationError != "" && r.LastRotationAttempt.After(from) {
		retry := r.LastRotationAttempt.Add(min(max(period/10, time.Minute), time.Hour))
		if retry.After(due) {
			return retry
		}
	}
	return due
}

// jitter is up to a twentieth of the period, at most five minutes.
func (r *roleEntry) jitter() time.Duration {
	spread := min(r.RotationPeriod/20, 5*time.Minute)
	if spread <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(r.ClientID))
	h.Write([]byte(r.LastRotated.String()))
	return time.Duration(h.Sum64() % uint64(spread))
}
