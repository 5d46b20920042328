package vendor

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// newSecret chooses a secret where Vault does: from the role's password
// policy, else a random one that meets the vendor's rules.
func (b *backend) newSecret(ctx context.Context, role *roleEntry, rules client.SecretRules) (string, error) {
	if role.PasswordPolicy == "" {
		return randomPassword(min(32, rules.MaxLen))
	}
	s, err := b.System().GeneratePasswordFromPolicy(ctx, role.PasswordPolicy)
	if err != nil {
		// Vault's own text is a gRPC status ("rpc error: code = Internal
		// desc = failed to generate password") that says neither why nor
		// what to do; missing and broken policies look alike in it.
		return "", &inputError{Field: "password_policy", Msg: fmt.Sprintf(
			"%q cannot generate a password in this Vault (the policy does not exist, or Vault cannot generate with it); create it with: vault write sys/policies/password/%s policy=@policy.hcl, and test it with: vault read sys/policies/password/%s/generate",
			role.PasswordPolicy, role.PasswordPolicy, role.PasswordPolicy)}
	}
	if n := len(s); n < rules.MinLen || (rules.MaxLen > 0 && n > rules.MaxLen) {
		return "", &inputError{Field: "password_policy", Msg: fmt.Sprintf(
			"%q makes %d-character passwords; %s takes %d to %d: set the policy's length within that (vault write sys/policies/password/%s policy=@policy.hcl)",
			role.PasswordPolicy, n, role.Vendor, rules.MinLen, rules.MaxLen, role.PasswordPolicy)}
	}
	return s, nil
}

// Character classes of generated passwords. The symbols are ones no vendor
// we know of refuses, and that need no quoting in JSON, forms or shells.
var passwordClasses = []string{
	"ABCDEFGHJKLMNPQRSTUVWXYZ",
	"abcdefghijkmnopqrstuvwxyz",
	"23456789",
	"-_.+=",
}

// randomPassword returns n characters from crypto/rand with at least one of
// each class.
func randomPassword(n int) (string, error) {
	all := strings.Join(passwordClasses, "")
	out := make([]byte, n)
	pick := func(set string) (byte, error) {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, err
		}
		return set[i.Int64()], nil
	}
	var err error
	for i := range out {
		set := all
		if i < len(passwordClasses) {
			set = passwordClasses[i]
		}
		if out[i], err = pick(set); err != nil {
			return "", err
		}
	}
	// Shuffle so that the guaranteed characters are not always first.
	for i := n - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}
