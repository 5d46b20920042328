package vendor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// A rotation leaves whatever holds the role's first configuration
// (Terraform, a script) with a secret the vendor no longer takes; applied
// again, it would write that secret back and stop the role. So each role
// remembers the last few secrets its rotations replaced, as HMAC-SHA256
// under a random per-mount key kept seal-wrapped: the hashes show whether
// a written secret is one of them, and nothing else.

const (
	// retiredKeyStorageKey holds the HMAC key (seal-wrapped).
	retiredKeyStorageKey = "retired-secret-hmac-key"
	// maxRetiredPerField bounds the secrets remembered per field.
	maxRetiredPerField = 5
	retiredKeyLen      = 32
)

// retiredSecret is a secret a rotation replaced, as a keyed hash.
type retiredSecret struct {
	Field     string    `json:"field"`
	HMAC      []byte    `json:"hmac"`
	RetiredAt time.Time `json:"retired_at"`
}

// retiredKey returns the mount's HMAC key; with create, it makes the key
// if there is none yet. Without a key, nothing was ever retired.
func (b *backend) retiredKey(ctx context.Context, s logical.Storage, create bool) ([]byte, error) {
	b.retiredKeyMu.Lock()
	defer b.retiredKeyMu.Unlock()
	e, err := s.Get(ctx, retiredKeyStorageKey)
	if err != nil {
		return nil, fmt.Errorf("reading the key of retired secrets: %w", err)
	}
	if e != nil {
		if len(e.Value) != retiredKeyLen {
			return nil, fmt.Errorf("the key of retired secrets at %s is %d bytes, not %d", retiredKeyStorageKey, len(e.Value), retiredKeyLen)
		}
		return e.Value, nil
	}
	if !create {
		return nil, nil
	}
	key := make([]byte, retiredKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := s.Put(ctx, &logical.StorageEntry{Key: retiredKeyStorageKey, Value: key, SealWrap: true}); err != nil {
		return nil, fmt.Errorf("storing the key of retired secrets: %w", err)
	}
	return key, nil
}

// retiredMAC binds the hash to the role's name, so that equal secrets of
// two roles do not show as equal hashes.
func retiredMAC(key []byte, role, secret string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vendor retired secret\x00" + role + "\x00"))
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// retire records on next the secrets of prev that next replaced, at at.
// A secret next uses is never on the list, and each field keeps its
// newest maxRetiredPerField.
func (b *backend) retire(ctx context.Context, s logical.Storage, name string, prev, next *roleEntry, at time.Time) error {
	var fresh []retiredSecret
	var key []byte
	for _, field := range roleSecretFields(prev.Vendor) {
		old := prev.secretValue(field)
		if old == "" || old == next.secretValue(field) {
			continue
		}
		if key == nil {
			var err error
			if key, err = b.retiredKey(ctx, s, true); err != nil {
				return err
			}
		}
		fresh = append(fresh, retiredSecret{Field: field, HMAC: retiredMAC(key, name, old), RetiredAt: at})
	}
	if len(fresh) == 0 {
		return nil
	}
	var inUse [][]byte
	for _, field := range roleSecretFields(prev.Vendor) {
		if cur := next.secretValue(field); cur != "" {
			inUse = append(inUse, retiredMAC(key, name, cur))
		}
	}
	// Newest first, into a new slice: next shares prev's.
	all := append(fresh, prev.Retired...)
	kept := map[string]int{}
	var out []retiredSecret
	for _, r := range all {
		if kept[r.Field] >= maxRetiredPerField || macIn(r.HMAC, inUse) {
			continue
		}
		kept[r.Field]++
		out = append(out, r)
	}
	next.Retired = out
	return nil
}

func macIn(mac []byte, macs [][]byte) bool {
	for _, m := range macs {
		if hmac.Equal(mac, m) {
			return true
		}
	}
	return false
}

// refuseRetired refuses a role write that carries a secret the role's
// rotations replaced. It runs before verify, so that verify tells no more
// of a guess than this does: that it was rotated away, and when.
func (b *backend) refuseRetired(ctx context.Context, s logical.Storage, name string, role *roleEntry, d *framework.FieldData) error {
	if len(role.Retired) == 0 {
		return nil
	}
	key, err := b.retiredKey(ctx, s, false)
	if err != nil || key == nil {
		return err
	}
	for _, field := range roleSecretFields(role.Vendor) {
		if _, ok := d.GetOk(field); !ok {
			continue
		}
		v := role.secretValue(field)
		if v == "" {
			continue
		}
		mac := retiredMAC(key, name, v)
		for _, r := range role.Retired {
			if hmac.Equal(r.HMAC, mac) {
				return &inputError{Field: field, Msg: fmt.Sprintf(
					"was rotated away by Vault at %s: the vendor no longer accepts it, and writing it back would stop the role from minting. "+
						"Leave %s out of the write to keep the secret Vault rotated to (in Terraform, ignore_changes), write a new secret the vendor accepts, "+
						"or rotate with: vault write -f <mount>/rotate-role/%s",
					formatTime(r.RetiredAt), field, name)}
			}
		}
	}
	return nil
}
