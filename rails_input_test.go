package vendor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
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
	if json.Unmarshal([]byte(raw), &body) != nil || len(body.Errors) != 1 || body.Errors[0] != body.Data.Error {
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

var _ testing.TB // the tests of this file follow
