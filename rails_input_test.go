package vendor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// gatewayError is a 5xx raw answer as the harness's do returns it.
type gatewayError struct {
	code int
	msg  string
}

func (e *gatewayError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.msg) }

// rawError reads a status-coded error answer: its status, and the text
// Vault's API client shows (the body's "errors"), checked against the
// body's data.error.
func rawError(resp *logical.Response) (int, string, bool) {
	if resp == nil || resp.Data == nil {
		return 0, "", false
	}
	code, ok := resp.Data[logical.HTTPStatusCode].(int)
	if !ok || code < 400 {
		return 0, "", false
	}
	var body struct {
		Errors []string `json:"errors"`
		Data   struct {
			Error string `json:"error"`
		} `json:"data"`
	}
	raw, _ := resp.Data[logical.HTTPRawBody].(string)
	if json.Unmarshal([]byte(raw), &body) != nil || len(body.Errors) != 1 || body.Data.Error != "" {
		return code, "unreadable body: " + raw, true
	}
	return code, body.Errors[0], true
}

// statusIs requires a status-coded error answer of code whose message
// contains every part, and returns the message.
func (h *harness) statusIs(op logical.Operation, path string, data map[string]any, code int, parts ...string) string {
	h.t.Helper()
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: op, Path: path, Data: data, Storage: h.storage, MountPoint: "vendor/"})
	if err != nil {
		h.t.Fatalf("%s %s: want a %d, got error %v", op, path, code, err)
	}
	if resp != nil {
		raw, _ := json.Marshal(resp)
		h.seen = append(h.seen, string(raw))
	}
	got, msg, ok := rawError(resp)
	if !ok || got != code {
		h.t.Fatalf("%s %s: want a %d, got %v", op, path, code, resp)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			h.t.Fatalf("%s %s: message %q lacks %q", op, path, msg, p)
		}
	}
	return msg
}

// exactBad requires a 400 whose message is exactly want.
func (h *harness) exactBad(op logical.Operation, path string, data map[string]any, want string) {
	h.t.Helper()
	if msg := h.badRequest(op, path, data); msg != want {
		h.t.Fatalf("%s %s:\n got %q\nwant %q", op, path, msg, want)
	}
}

// Point 4: a parameter the path does not take is a 400 naming it and the
// ones the path takes, on every path; none reaches a vendor.
func TestUnknownParametersAreRefusedOnEveryPath(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)

	h.exactBad(logical.ReadOperation, "token/c", map[string]any{"min_remanining": "10"},
		"min_remanining is an unknown field; this path takes: min_remaining (check the spelling)")
	if n := srv.Calls("token"); n != 0 {
		t.Fatalf("a refused read called the vendor %d times", n)
	}
	h.exactBad(logical.UpdateOperation, "rotate-role/c", map[string]any{"now": true},
		"now is an unknown field; this path takes no fields: leave them out")
	h.exactBad(logical.ReadOperation, "metrics", map[string]any{"formt": "prometheus"},
		"formt is an unknown field; this path takes: format (check the spelling)")
	h.exactBad(logical.UpdateOperation, "config", map[string]any{"retries": 3},
		"retries is an unknown field; this path takes: allow_http, allowed_hosts, force, max_retries, request_timeout (check the spelling)")
	h.exactBad(logical.ListOperation, "roles/", map[string]any{"after": "a"},
		"after is an unknown field; this path takes no fields: leave them out")
	for _, op := range []logical.Operation{logical.UpdateOperation, logical.PatchOperation} {
		msg := h.badRequest(op, "roles/c", map[string]any{"client_secrett": "x", "ttl": "1h"}, "client_secrett, ttl are unknown fields; this path takes: ", "client_secret, ", "(check the spelling)")
		if strings.Contains(msg, "1h") {
			t.Fatalf("a value was quoted: %q", msg)
		}
	}
	// A read and a delete take less than a write: they say what they take.
	h.exactBad(logical.ReadOperation, "roles/c", map[string]any{"client_secrett": "x", "ttl": "1h"},
		"client_secrett, ttl are unknown fields; a read of this path takes no fields: leave them out")
	h.exactBad(logical.DeleteOperation, "roles/c", map[string]any{"forse": "true"},
		"forse is an unknown field; a delete of this path takes: force (check the spelling)")
	h.exactBad(logical.ReadOperation, "config", map[string]any{"allowed_hosts": "x"},
		"allowed_hosts is an unknown field; a read of this path takes no fields: leave them out")
	h.exactBad(logical.DeleteOperation, "config", map[string]any{"allow_http": "true"},
		"allow_http is an unknown field; a delete of this path takes: force (check the spelling)")
	// A long list is cut at 20 names.
	many := map[string]any{}
	for i := range 25 {
		many[fmt.Sprintf("x%02d", i)] = "v"
	}
	h.badRequest(logical.ReadOperation, "token/c", many, "x00, x01, ", "x19 and 5 more are unknown fields")
	// The role name comes from the path: a request with it is not refused.
	h.ok(logical.ReadOperation, "token/c", map[string]any{"min_remaining": "10"})
	h.ok(logical.ReadOperation, "token/c", nil)
	if resp, err := h.do(logical.ReadOperation, "token/c", nil); err != nil || len(resp.Warnings) != 0 {
		t.Fatalf("a plain read: %v %v", resp, err)
	}
}

// The hot token read, with no parameters, allocates nothing to be checked.
func TestTokenReadInputCheckAllocatesNothing(t *testing.T) {
	h := newHarness(t)
	req := &logical.Request{Operation: logical.ReadOperation, Path: "token/some-role", Storage: h.storage}
	if n := testing.AllocsPerRun(100, func() { _ = h.b.refuseInput(req) }); n != 0 {
		t.Fatalf("refuseInput allocates %v times for a plain token read", n)
	}
}

// Point 4: the token and rotate-role paths answer a missing role with the
// one 404, naming the mount the request came through.
func TestMissingRoleIsOne404OnTokenAndRotate(t *testing.T) {
	h := newHarness(t)
	h.statusIs(logical.ReadOperation, "token/nope", nil, 404,
		`role "nope" does not exist at vendor/roles/nope; list the roles with: vault list vendor/roles`)
	h.statusIs(logical.UpdateOperation, "rotate-role/nope", nil, 404,
		`role "nope" does not exist at vendor/roles/nope; list the roles with: vault list vendor/roles`)
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{
		Operation: logical.UpdateOperation, Path: "rotate-role/nope", Storage: h.storage, MountPoint: "team-a/tokens/"})
	if code, msg, _ := rawError(resp); err != nil || code != 404 || !strings.Contains(msg, "at team-a/tokens/roles/nope; list the roles with: vault list team-a/tokens/roles") {
		t.Fatalf("another mount: %d %q %v", code, msg, err)
	}
}

// Point 5: values that do not parse as their field's type say what the
// field takes, before the framework's generic conversion error.
func TestTypedFieldsSayWhatTheyTake(t *testing.T) {
	h := newHarness(t)
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	_, oauth := h.vendorServer("oauth2")
	h.ok(logical.CreateOperation, "roles/o", oauth)
	before := h.snapshot()

	h.exactBad(logical.UpdateOperation, "roles/c", map[string]any{"rotation_period": "1day"},
		`rotation_period "1day" is not a duration: give seconds (86400) or a number with a unit: s, m, h or d (90s, 15m, 24h, 1d)`)
	h.exactBad(logical.PatchOperation, "roles/c", map[string]any{"token_ttl_cap": "5 min"},
		`token_ttl_cap "5 min" is not a duration: give seconds (86400) or a number with a unit: s, m, h or d (90s, 15m, 24h, 1d)`)
	h.exactBad(logical.UpdateOperation, "roles/c", map[string]any{"refresh_before": -90},
		"refresh_before -1m30s is negative: give 0 or more; give seconds (86400) or a number with a unit: s, m, h or d (90s, 15m, 24h, 1d)")
	h.exactBad(logical.ReadOperation, "token/c", map[string]any{"min_remaining": "2 hours"},
		`min_remaining "2 hours" is not a duration: give seconds (86400) or a number with a unit: s, m, h or d (90s, 15m, 24h, 1d)`)
	h.exactBad(logical.UpdateOperation, "roles/c", map[string]any{"verify": "yes"},
		`verify "yes" is not true or false: give true or false`)
	h.exactBad(logical.UpdateOperation, "config", map[string]any{"max_retries": "three"},
		`max_retries "three" is not a whole number: give a whole number in digits, such as 3`)
	h.exactBad(logical.UpdateOperation, "config", map[string]any{"request_timeout": []any{"5s"}},
		`request_timeout given as a list is not a duration: give seconds (86400) or a number with a unit: s, m, h or d (90s, 15m, 24h, 1d)`)
	// "1d" and the other documented forms are taken.
	h.ok(logical.UpdateOperation, "roles/c", map[string]any{"rotation_period": "1d"})
	h.ok(logical.UpdateOperation, "roles/c", map[string]any{"rotation_period": "0"})
	before = h.snapshot()

	// Lists are comma-separated: an entry with a space is the wrong separator.
	h.exactBad(logical.UpdateOperation, "roles/o", map[string]any{"scopes": "read write"},
		`scopes entry "read write" has a space in it; scopes is comma-separated: give scopes=read,write`)
	h.exactBad(logical.UpdateOperation, "roles/o", map[string]any{"scopes": []any{"read", "write  admin"}},
		`scopes entry "write  admin" has a space in it; scopes is comma-separated: give scopes=write,admin`)
	h.exactBad(logical.UpdateOperation, "config", map[string]any{"allowed_hosts": "*.example.com api.example.net"},
		`allowed_hosts entry "*.example.com api.example.net" has a space in it; allowed_hosts is comma-separated: give allowed_hosts=*.example.com,api.example.net`)
	h.ok(logical.UpdateOperation, "roles/o", map[string]any{"scopes": "read, write"})
	before = h.snapshot()

	// A sensitive field's value is never repeated, whatever its type.
	msg := h.badRequest(logical.UpdateOperation, "roles/c", map[string]any{"client_secret": []any{"Typed-Secret-77"}}, "client_secret must be a string")
	if strings.Contains(msg, "Typed-Secret-77") {
		t.Fatalf("the secret was quoted: %q", msg)
	}
	h.secrets = append(h.secrets, "Typed-Secret-77")
	if after := h.snapshot(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("a refused write changed storage")
	}
	if n := srv.Calls("token"); n != 0 {
		t.Fatalf("refused requests called the vendor %d times", n)
	}
}

// Point 5: a password policy Vault cannot generate with is named, with
// the commands to create and test it, at write and in a rotation's error.
func TestPasswordPolicyErrorsSayHowToCreateAndTestIt(t *testing.T) {
	h := newHarness(t)
	w := h.rotationWorld(rotScenarios[4]) // cyberark-pam, self
	const want = `password_policy "nosuch" cannot generate a password in this Vault (the policy does not exist, or Vault cannot generate with it); ` +
		`create it with: vault write sys/policies/password/nosuch policy=@policy.hcl, and test it with: vault read sys/policies/password/nosuch/generate`
	h.exactBad(logical.UpdateOperation, "roles/r", map[string]any{"password_policy": "nosuch"}, want)

	// A policy that worked at write and breaks later: the rotation's
	// answer and last_rotation_error say the same, never the gRPC text.
	works := true
	h.sys.SetPasswordPolicy("nosuch", func() (string, error) {
		if works {
			return "Policy-Made-Password-42", nil
		}
		return "", errors.New("rpc error: code = Internal desc = failed to generate password")
	})
	h.ok(logical.UpdateOperation, "roles/r", map[string]any{"password_policy": "nosuch"})
	works = false
	h.exactBad(logical.UpdateOperation, "rotate-role/r", nil, want)
	read := h.ok(logical.ReadOperation, "roles/r", nil)
	if got := read["last_rotation_error"]; got != want {
		t.Fatalf("last_rotation_error %q", got)
	}
	if n := w.srv.Calls("rotate"); n != 0 {
		t.Fatalf("the vendor was called %d times", n)
	}
}

// Point 5: a vendor that cannot be reached is a 502 (504 on a timeout)
// naming vendor, host, the failure in plain words and what to check; no
// "1 error occurred" wrapper, no raw "dial tcp" text. last_mint_error
// says the same.
func TestUnreachableVendorIsA502SayingWhatToCheck(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0, "request_timeout": "1s"})
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", role)
	host := strings.TrimPrefix(role["base_url"].(string), "https://")
	noRaw := func(msg string) {
		t.Helper()
		for _, bad := range []string{"dial tcp", "1 error occurred", "Post \"", "rpc error"} {
			if strings.Contains(msg, bad) {
				t.Fatalf("message quotes %q: %q", bad, msg)
			}
		}
	}

	// A 5xx and a 429 are the vendor's trouble: 502 (Vault's own 429 and
	// 503 mean its quotas and a sealed node).
	srv.Inject("token", vendortest.Fault{Status: 503, Body: `{"error":"maintenance"}`})
	noRaw(h.statusIs(logical.ReadOperation, "token/c", nil, 502,
		"cyral token request to "+host+"/v1/users/oidc/token failed: the vendor answered HTTP 503 (a server error): maintenance; the vendor's service is failing: retry later, or check the vendor's status"))
	h.clock.Add(time.Minute) // past the role's backoff and the logon guard's hold
	srv.Inject("token", vendortest.Fault{Status: 429, RetryAfter: "30"})
	h.statusIs(logical.ReadOperation, "token/c", nil, 502, "HTTP 429 (too many requests)", "retry after 30s", "wait before retrying")

	// A timeout: 504.
	h.clock.Add(time.Minute)
	srv.Inject("token", vendortest.Fault{Delay: 1500 * time.Millisecond})
	noRaw(h.statusIs(logical.ReadOperation, "token/c", nil, 504,
		"cyral token request to "+host+"/v1/users/oidc/token failed: timed out after 1s without an answer; check the role's base_url, that the Vault node can reach that host (firewall, proxy), or raise request_timeout in the mount's config"))

	// An untrusted certificate (the write ends the role's backoff).
	h.clock.Add(time.Minute)
	h.ok(logical.UpdateOperation, "roles/c", map[string]any{"ca_cert": ""})
	noRaw(h.statusIs(logical.ReadOperation, "token/c", nil, 502,
		"cyral token request to "+host+"/v1/users/oidc/token failed: TLS certificate not trusted", "set the role's ca_cert to the CA that issued the vendor's certificate"))

	// Nothing listening: connection refused, and the same text on the role.
	srv.Close()
	h.ok(logical.UpdateOperation, "roles/c", map[string]any{"ca_cert": role["ca_cert"]})
	msg := h.statusIs(logical.ReadOperation, "token/c", nil, 502,
		"cyral token request to "+host+"/v1/users/oidc/token failed: connection refused: nothing accepts connections at that host and port; check the host and port in the role's base_url and that the vendor's service is up")
	noRaw(msg)
	if got := h.ok(logical.ReadOperation, "roles/c", nil)["last_mint_error"]; got != msg {
		t.Fatalf("last_mint_error %q\nthe read said %q", got, msg)
	}
	// A held-back read says when the next attempt is, with the same status.
	h.statusIs(logical.ReadOperation, "token/c", nil, 502, msg, "next attempt at")
	// verify=true on a write says the same, and saves nothing.
	h.statusIs(logical.UpdateOperation, "roles/c", map[string]any{"verify": true, "client_secret": "Other-Secret-88"}, 502,
		"verify failed, role not saved: cyral token request to "+host)
	h.secrets = append(h.secrets, "Other-Secret-88")
	// The harness's do sees a 5xx answer as an error, as callers do.
	if _, err := h.do(logical.ReadOperation, "token/c", nil); err == nil {
		t.Fatal("do returned no error for a 502")
	}
}

// A host name that does not resolve, on a port nothing serves: the
// failure is described, never quoted from Go's dialer.
func TestUnresolvableHostIsDescribed(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0, "request_timeout": "2s"})
	_, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/c", withFields(role, "base_url", "https://no-such-host.invalid"))
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.ReadOperation, Path: "token/c", Storage: h.storage})
	code, msg, _ := rawError(resp)
	if err != nil || (code != 502 && code != 504) || !strings.HasPrefix(msg, "cyral token request to no-such-host.invalid/v1/users/oidc/token failed: ") ||
		!strings.Contains(msg, "check the role's base_url") ||
		strings.Contains(msg, "dial tcp") || strings.Contains(msg, "lookup ") {
		t.Fatalf("%d %q %v", code, msg, err)
	}
}
