package vendor

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// Review of issue 14's input and dependency errors (points 4-6): cases
// that break them.

// Vault wraps any answer that is not an error (err == nil and
// !resp.IsError()) when the request asks for wrapping
// (X-Vault-Wrap-TTL, vault read -wrap-ttl): a raw 404/502/504 answer is
// neither, so the caller would get a 200 with a wrapping token for a
// missing role or an unreachable vendor, and learn of the failure only
// when the token is unwrapped, elsewhere. A wrapped request's failure must
// be an answer Vault does not wrap.
func TestReview14WrappedRequestFailureIsNotWrapped(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0, "request_timeout": "1s"})
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	srv.Inject("token", vendortest.Fault{Status: 503, Body: `{"error":"maintenance"}`})
	for _, c := range []struct {
		op   logical.Operation
		path string
	}{
		{logical.ReadOperation, "token/nope"},
		{logical.ReadOperation, "roles/nope"},
		{logical.UpdateOperation, "rotate-role/nope"},
		{logical.ReadOperation, "token/c"},
	} {
		req := &logical.Request{Operation: c.op, Path: c.path, Storage: h.storage, MountPoint: "vendor/",
			WrapInfo: &logical.RequestWrapInfo{TTL: time.Minute}}
		resp, err := h.b.HandleRequest(context.Background(), req)
		// The condition of vault/request_handling.go for wrapping.
		if err == nil && resp != nil && !resp.IsError() {
			t.Fatalf("%s %s with wrapping asked: Vault would wrap this failure as a 200: %v", c.op, c.path, resp.Data)
		}
		// The message is kept, whichever form carries it.
		text := ""
		if err != nil {
			text = err.Error()
		} else {
			text = resp.Error().Error()
		}
		if !strings.Contains(text, "does not exist at vendor/roles/nope") && !strings.Contains(text, "HTTP 503 (a server error): maintenance") {
			t.Fatalf("%s %s: the message is lost: %q", c.op, c.path, text)
		}
	}
}

// The refusal of a min_remaining beyond the tokens' reach says "ask for at
// most X". X must be a value that is taken: durText rounds to the nearest
// second, so a reach of 66.7s (token_ttl_cap 100s less a third) advises
// 1m7s, which is refused again.
func TestReview14MinRemainingAdviceIsTaken(t *testing.T) {
	h := newHarness(t)
	_, role := h.vendorServer("cyral")
	for _, c := range []struct {
		cap, before any
	}{
		{100, nil}, // reach 100s - 33.3s
		{15, 10},   // reach 15s - 7.5s (refresh_before held to half)
	} {
		data := withFields(role, "token_ttl_cap", c.cap)
		if c.before != nil {
			data["refresh_before"] = c.before
		}
		h.ok(logical.CreateOperation, "roles/c", data)
		msg := h.badRequest(logical.ReadOperation, "token/c", map[string]any{"min_remaining": "99999"}, "ask for at most ")
		m := regexp.MustCompile(`ask for at most (\S+)$`).FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("no advice in %q", msg)
		}
		resp, err := h.do(logical.ReadOperation, "token/c", map[string]any{"min_remaining": m[1]})
		if err != nil || resp == nil || resp.IsError() {
			t.Fatalf("cap %v: the advised min_remaining=%s is refused: %v %v (advice: %q)", c.cap, m[1], err, resp, msg)
		}
		h.roleRailStatus(logical.DeleteOperation, "roles/c", nil, http.StatusNoContent)
	}
}

// A role read shows refresh_before in force for the tokens the answering
// node has minted: an operator who writes a read's values back (vault read
// -format=json, then vault write with the same values) gets the refresh
// point the role had. (A node that has minted no token for the role shows
// the default, 60; written back, that differs for tokens under 3 minutes:
// the help and the README say so.)
func TestReview14ReadWriteRoundTripKeepsRefreshPoint(t *testing.T) {
	h := newHarness(t)
	_, cyral := h.vendorServer("cyral", vendortest.WithLifetime(90*time.Second))
	h.ok(logical.CreateOperation, "roles/cy", cyral)
	ttlBefore := intOf(t, h.ok(logical.ReadOperation, "token/cy", nil)["ttl"])

	read := h.ok(logical.ReadOperation, "roles/cy", nil)
	if intOf(t, read["refresh_before"]) != 30 {
		t.Fatalf("refresh_before of a role whose tokens live 90s reads as %v, want 30 (a third)", read["refresh_before"])
	}
	back := map[string]any{}
	for k, v := range read {
		if _, ok := roleSchema()[k]; ok && v != nil {
			back[k] = v
		}
	}
	h.ok(logical.UpdateOperation, "roles/cy", back)
	h.restart()
	ttlAfter := intOf(t, h.ok(logical.ReadOperation, "token/cy", nil)["ttl"])
	if ttlAfter != ttlBefore {
		t.Fatalf("writing back the read's refresh_before=%v changed the token's ttl from %ds to %ds", read["refresh_before"], ttlBefore, ttlAfter)
	}
}
