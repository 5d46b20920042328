package vendor

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// The read path as Vault's router calls it, in-process: no RPC, no HTTP.
// `make bench` runs these; nothing in `make test` asserts a time.

func BenchmarkTokenReadCached(b *testing.B) {
	h := newHarness(b)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/r", role)
	h.ok(logical.ReadOperation, "token/r", nil)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "token/r", Storage: h.storage})
			if err != nil || resp.IsError() {
				b.Fatal(err, resp)
			}
		}
	})
}

// BenchmarkTokenMint: a loaded role mints a new token on each iteration
// (the vendor is an in-process fake over TLS on loopback, connection kept).
func BenchmarkTokenMint(b *testing.B) {
	h := newHarness(b)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/r", role)
	st, err := h.b.roleState(context.Background(), h.storage, "r")
	if err != nil || st == nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.b.mint(context.Background(), st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdRoleRead: the first read of a role: storage read, transport,
// mint.
func BenchmarkColdRoleRead(b *testing.B) {
	h := newHarness(b)
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/r", role)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.b.dropRole("r")
		resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "token/r", Storage: h.storage})
		if err != nil || resp.IsError() {
			b.Fatal(err, resp)
		}
	}
}

// BenchmarkMemoryPerRole reports the live heap a loaded role with a cached
// token costs the plugin (storage lives in Vault, not here).
func BenchmarkMemoryPerRole(b *testing.B) {
	const n = 2000
	for b.Loop() {
		h := newHarness(b)
		_, role := h.vendorServer("cyral")
		for i := range n {
			h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.CreateOperation, Path: fmt.Sprintf("roles/r%d", i), Data: role, Storage: h.storage})
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: fmt.Sprintf("token/r%d", i), Storage: h.storage})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(h)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/role")
	}
}

// BenchmarkListRolesTenThousand: vault list vendor/roles on a mount of
// 10,000 roles, each read from (in-memory) storage for its key info.
func BenchmarkListRolesTenThousand(b *testing.B) {
	const n = 10000
	h := newHarness(b)
	_, role := h.vendorServer("cyral")
	first, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.CreateOperation, Path: "roles/r0", Data: role, Storage: h.storage})
	if err != nil || first.IsError() {
		b.Fatal(err, first)
	}
	// Copies of one stored role: writing 10,000 through the API would
	// parse the CA 10,000 times before the benchmark starts.
	stored, err := h.storage.Get(context.Background(), "role/r0")
	if err != nil || stored == nil {
		b.Fatal(err)
	}
	for i := 1; i < n; i++ {
		if err := h.storage.Put(context.Background(), &logical.StorageEntry{Key: fmt.Sprintf("role/r%d", i), Value: stored.Value}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ListOperation, Path: "roles/", Storage: h.storage})
		if err != nil || resp.IsError() || len(resp.Data["keys"].([]string)) != n {
			b.Fatal(err, resp)
		}
	}
}
