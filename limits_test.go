package vendor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// A secret sent with the wrong JSON type is refused by name, and its value
// is in no answer: neither the request's nor the existence check's, which
// Vault runs first on a write.
func TestWronglyTypedSecretIsA400WithoutItsValue(t *testing.T) {
	h := newHarness(t)
	_, cyral := h.vendorServer("cyral")
	_, privx := h.vendorServer("privx")
	h.ok(logical.CreateOperation, "roles/ok", cyral)
	const secret = "Zq7-leaky-secret-value-91"
	h.secrets = append(h.secrets, secret)

	for _, c := range []struct {
		name, field string
		base        map[string]any
		value       any
	}{
		{"client_secret a list", "client_secret", cyral, []any{secret}},
		{"client_secret a map", "client_secret", cyral, map[string]any{"s": secret}},
		{"client_secret a list of maps", "client_secret", cyral, []any{map[string]any{secret: secret}}},
		{"client_secret a number", "client_secret", cyral, 918273645546372819},
		{"client_secret a bool", "client_secret", cyral, true},
		{"oauth_client_secret a list", "oauth_client_secret", privx, []any{secret}},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := withFields(c.base, c.field, c.value)
			for _, path := range []string{"roles/ok", "roles/new"} {
				before := h.snapshot()
				msg := h.badRequest(logical.UpdateOperation, path, data, c.field)
				for _, leak := range []string{secret, "918273645546372819", "9.182736455463728e+17"} {
					if strings.Contains(msg, leak) {
						t.Fatalf("the 400 quotes the value: %s", msg)
					}
				}
				_, _, err := h.b.HandleExistenceCheck(context.Background(), &logical.Request{
					Operation: logical.UpdateOperation, Path: path, Data: data, Storage: h.storage,
				})
				if err == nil {
					t.Fatalf("existence check on %s passed", path)
				}
				h.seen = append(h.seen, err.Error())
				if !strings.Contains(err.Error(), c.field) || strings.Contains(err.Error(), secret) {
					t.Fatalf("existence check error %q: must name %s and not quote the value", err, c.field)
				}
				if after := h.snapshot(); len(after) != len(before) {
					t.Fatal("storage changed")
				}
			}
		})
	}

	// A field that is not secret is still named, with the framework's detail.
	h.badRequest(logical.UpdateOperation, "roles/ok", map[string]any{"client_id": []any{"a", "b"}}, "client_id")
	// A string secret is still taken.
	h.ok(logical.UpdateOperation, "roles/ok", map[string]any{"client_secret": hardSecret})
}

// A min_remaining that no token of the role can meet is refused without a
// vendor call once the role's lifetime is known, from token_ttl_cap or
// from a mint; before this, every such read was a vendor call.
func TestUnreachableMinRemainingMakesNoVendorCall(t *testing.T) {
	t.Run("learnt from a mint", func(t *testing.T) {
		h := newHarness(t)
		srv, role := h.vendorServer("cyral") // tokens live 300s, refreshed with 60s left
		h.ok(logical.CreateOperation, "roles/c", role)
		for range 20 {
			h.badRequest(logical.ReadOperation, "token/c", map[string]any{"min_remaining": 100000}, "min_remaining", "cannot be met", "live 5m ")
		}
		if n := srv.Calls("token"); n != 1 {
			t.Fatalf("20 reads with min_remaining=100000 made %d vendor calls, want 1", n)
		}
		// An ordinary read is served by the token that mint cached.
		h.ok(logical.ReadOperation, "token/c", nil)
		if n := srv.Calls("token"); n != 1 {
			t.Fatalf("vendor calls %d", n)
		}
	})
	t.Run("learnt from a cached token", func(t *testing.T) {
		h := newHarness(t)
		srv, role := h.vendorServer("cyral")
		h.ok(logical.CreateOperation, "roles/c", role)
		h.ok(logical.ReadOperation, "token/c", nil)
		// At most the lifetime less refresh_before can be asked for: a
		// fresh token serves such callers until the role's own refresh.
		h.badRequest(logical.ReadOperation, "token/c", map[string]any{"min_remaining": 241}, "min_remaining", "at most 4m")
		h.badRequest(logical.ReadOperation, "token/c", map[string]any{"min_remaining": 300}, "min_remaining", "at most 4m")
		if n := srv.Calls("token"); n != 1 {
			t.Fatalf("vendor calls %d, want 1", n)
		}
		h.clock.Add(61 * time.Second) // 239s left: too little for 240
		fresh := h.ok(logical.ReadOperation, "token/c", map[string]any{"min_remaining": 240})
		if intOf(t, fresh["expires_in"]) < 240 || srv.Calls("token") != 2 {
			t.Fatalf("min_remaining=240: %v (calls %d)", fresh, srv.Calls("token"))
		}
	})
	t.Run("known from token_ttl_cap", func(t *testing.T) {
		h := newHarness(t)
		srv, role := h.vendorServer("cyberark") // 5h tokens
		role["token_ttl_cap"] = "10m"
		h.ok(logical.CreateOperation, "roles/a", role)
		for range 5 {
			h.badRequest(logical.ReadOperation, "token/a", map[string]any{"min_remaining": "1h"}, "min_remaining", "token_ttl_cap", "live 10m ")
		}
		if n := srv.Calls("token"); n != 0 {
			t.Fatalf("a min_remaining over token_ttl_cap made %d vendor calls", n)
		}
	})
	t.Run("relearnt once per refresh", func(t *testing.T) {
		h := newHarness(t)
		srv, role := h.vendorServer("cyral")
		h.ok(logical.CreateOperation, "roles/c", role)
		h.badRequest(logical.ReadOperation, "token/c", map[string]any{"min_remaining": "1h"}, "min_remaining")
		// Past the cached token's refresh point an ordinary read would mint
		// anyway; a demanding one may too, once.
		h.clock.Add(5 * time.Minute)
		for range 10 {
			h.badRequest(logical.ReadOperation, "token/c", map[string]any{"min_remaining": "1h"}, "min_remaining")
		}
		if n := srv.Calls("token"); n != 2 {
			t.Fatalf("vendor calls %d, want 2", n)
		}
	})
}

// A reader whose request is cancelled returns at once; the mint it joined
// goes on, and the other readers get its token.
func TestCancelledReaderReturnsWhileTheMintGoesOn(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)

	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // a failing test must not leave the mint held
	srv.Inject("token", vendortest.Fault{Hold: release})

	read := func(ctx context.Context) <-chan error {
		done := make(chan error, 1)
		go func() {
			resp, err := h.b.HandleRequest(ctx, &logical.Request{Operation: logical.ReadOperation, Path: "token/c", Storage: h.storage})
			if err == nil && (resp == nil || resp.IsError()) {
				err = fmt.Errorf("read answered %v", resp)
			}
			done <- err
		}()
		return done
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := read(ctx)
	for i := 0; srv.Calls("token") == 0; i++ {
		if i > 500 {
			t.Fatal("the mint never reached the vendor")
		}
		time.Sleep(10 * time.Millisecond)
	}
	second := read(context.Background())

	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled reader: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled reader waited for the mint it joined")
	}
	select {
	case err := <-second:
		t.Fatalf("the other reader returned before the vendor answered: %v", err)
	default:
	}
	free()
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("the other reader: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the other reader never got its token")
	}
	h.ok(logical.ReadOperation, "token/c", nil)
	if n := srv.Calls("token"); n != 1 {
		t.Fatalf("vendor calls %d, want 1: the mint must go on and be cached", n)
	}
}

// rotation_period is at most 10 years, and a schedule never overflows:
// 9223372036 seconds once put next_rotation in 1734 and rotated every tick.
func TestRotationPeriodCannotOverflowTheSchedule(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	for _, v := range []any{9223372036, "87601h", 315360001} {
		h.badRequest(logical.UpdateOperation, "roles/c", map[string]any{"rotation_period": v}, "rotation_period", "10 years")
	}
	h.ok(logical.UpdateOperation, "roles/c", map[string]any{"rotation_period": "87600h"})
	read := h.ok(logical.ReadOperation, "roles/c", nil)
	next, err := time.Parse(time.RFC3339, read["next_rotation"].(string))
	if err != nil || !next.After(h.clock.Now().Add(87599*time.Hour)) {
		t.Fatalf("next_rotation %v for 10 years", read["next_rotation"])
	}

	// A role stored before the limit still schedules sanely.
	stored, err := getRole(context.Background(), h.storage, "c")
	if err != nil {
		t.Fatal(err)
	}
	stored.RotationPeriod = 9223372036 * time.Second
	if err := putRole(context.Background(), h.storage, "c", stored); err != nil {
		t.Fatal(err)
	}
	h.b.dropRole("c")
	read = h.ok(logical.ReadOperation, "roles/c", nil)
	next, err = time.Parse(time.RFC3339, read["next_rotation"].(string))
	if err != nil || !next.After(h.clock.Now()) {
		t.Fatalf("next_rotation %v for an overlong stored period", read["next_rotation"])
	}
	h.clock.Add(time.Hour)
	if err := h.rollback(); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("rotate"); n != 0 {
		t.Fatalf("an overlong period rotated %d times", n)
	}
}

// Limits on what a role may hold: the largest allowed values are taken.
func TestRoleLimitsTakeTheLargestAllowedValues(t *testing.T) {
	h := newHarness(t)
	_, cyral := h.vendorServer("cyral")
	_, oauth := h.vendorServer("oauth2")

	long := strings.Repeat("n", 128)
	h.ok(logical.CreateOperation, "roles/"+long, cyral)
	h.ok(logical.ReadOperation, "token/"+long, nil)

	params := map[string]any{}
	for i := range 64 {
		params[fmt.Sprintf("p%02d", i)] = "v"
	}
	scopes := make([]any, 64)
	for i := range scopes {
		scopes[i] = fmt.Sprintf("s%02d", i)
	}
	h.ok(logical.CreateOperation, "roles/o", withFields(oauth, "token_params", params, "scopes", scopes))
	h.ok(logical.UpdateOperation, "roles/o", map[string]any{
		"token_params": map[string]any{strings.Repeat("k", 4096): strings.Repeat("v", 4096)},
		"scopes":       []any{strings.Repeat("s", 4096)},
	})
	got := h.ok(logical.ReadOperation, "roles/o", nil)
	if len(got["scopes"].([]string)) != 1 || len(got["token_params"].(map[string]string)) != 1 {
		t.Fatalf("role read %v", got)
	}
}

// A role over 64 KiB as stored is refused, naming its large fields.
func TestOversizedRoleIsRefusedNamingItsLargeFields(t *testing.T) {
	h := newHarness(t)
	srv, oauth := h.vendorServer("oauth2")
	params := map[string]any{}
	for i := range 20 {
		params[fmt.Sprintf("p%02d", i)] = strings.Repeat("v", 4000)
	}
	data := withFields(oauth, "token_params", params, "verify", true)
	msg := h.badRequest(logical.CreateOperation, "roles/big", data, "token_params", "64 KiB")
	if strings.Contains(msg, "ca_cert") {
		t.Fatalf("a small ca_cert named as large: %s", msg)
	}
	if n := srv.Calls("token"); n != 0 {
		t.Fatalf("verify called the vendor %d times for a role that cannot be stored", n)
	}
	if r, _ := getRole(context.Background(), h.storage, "big"); r != nil {
		t.Fatal("the oversized role was stored")
	}
}
