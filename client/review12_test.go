package client

import (
	"encoding/json"
	"strings"
	"testing"
)

// A stored role whose field holds what Values cannot take fails to
// decode, and the error (logged, or a 500) names the field, never its
// content, which may be a secret.
func TestReview12ValuesDecodeErrorDoesNotQuoteTheValue(t *testing.T) {
	for _, raw := range []string{
		`{"oauth_client_secret":["Secret-Value-1",5]}`,
		`{"oauth_client_secret":{"k":"Secret-Value-1","n":5}}`,
		`{"oauth_client_secret":[["Secret-Value-1"]]}`,
	} {
		var v Values
		err := json.Unmarshal([]byte(raw), &v)
		if err == nil || !strings.Contains(err.Error(), "oauth_client_secret") {
			t.Fatalf("%s: %v", raw, err)
		}
		if strings.Contains(err.Error(), "Secret-Val") {
			t.Errorf("%s: the error quotes the value: %v", raw, err)
		}
	}
}
