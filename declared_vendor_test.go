package vendor

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// A vendor declared here, in this one file, gets role CRUD, token reads,
// path-help and OpenAPI fields from the plugin with no other file touched.

// kiteVendor takes a region (with a default) and a secret api_key besides
// the common fields, and refuses a client id with a space.
type kiteVendor struct{}

func init() { client.Register(kiteVendor{}) }

const kiteAPIKey = "Kite-Api-Key-8c1f"

func (kiteVendor) Name() string { return "kite-test" }

func (kiteVendor) Fields() []client.Field {
	return []client.Field{
		{Name: client.FieldClientID, Description: "the kite user", Check: func(v any) error {
			if strings.Contains(v.(string), " ") {
				return errSpace
			}
			return nil
		}},
		{Name: "region", Kind: client.KindLowerString, Default: "eu", Allowed: []string{"eu", "us"},
			Description: "The kite region."},
		{Name: "api_key", Secret: true, Required: true, Description: "The kite account's API key."},
	}
}

type constError string

func (e constError) Error() string { return string(e) }

const errSpace = constError("must not hold a space")

func (v kiteVendor) Token(ctx context.Context, h *client.HTTP, c client.Creds) (client.Token, error) {
	region := c.Fields.String("region")
	if region == "" {
		region = "eu"
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID},
		"client_secret": {c.ClientSecret}, "region": {region}}
	return h.OAuthToken(ctx, v.Name(), strings.TrimRight(c.BaseURL, "/")+"/token", form, "Key "+c.Fields.String("api_key"), c)
}

// kiteServer issues tokens to one client, naming the region in the token.
func kiteServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/token" || r.ParseForm() != nil {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Key "+kiteAPIKey || r.PostForm.Get("client_id") != "kite-user" || r.PostForm.Get("client_secret") != hardSecret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "kite-token-" + r.PostForm.Get("region"), "token_type": "Bearer", "expires_in": 600})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAVendorDeclaredInOneFileGetsEverything(t *testing.T) {
	h := newHarness(t)
	h.secrets = append(h.secrets, kiteAPIKey)
	h.ok(logical.UpdateOperation, "config", map[string]any{"allow_http": true})
	srv := kiteServer(t)
	role := map[string]any{"vendor": "kite-test", "base_url": srv.URL, "client_id": "kite-user", "client_secret": hardSecret, "api_key": kiteAPIKey}

	// Validation comes from the declaration.
	h.badRequest(logical.CreateOperation, "roles/k", withFields(role, "api_key", nil), "api_key is required for vendor kite-test")
	h.badRequest(logical.CreateOperation, "roles/k", withFields(role, "region", "mars"), "region", "eu, us")
	h.badRequest(logical.CreateOperation, "roles/k", withFields(role, "client_id", "kite user"), "client_id must not hold a space")
	h.badRequest(logical.CreateOperation, "roles/k", withFields(role, "scopes", "read"), "scopes does not apply to vendor kite-test")
	h.badRequest(logical.CreateOperation, "roles/k", withFields(role, "token_url", srv.URL), "token_url does not apply to vendor kite-test; set base_url instead")

	// Create and read: the common fields and the vendor's own, the
	// secret as api_key_set, the default shown.
	h.ok(logical.CreateOperation, "roles/k", role)
	got := h.ok(logical.ReadOperation, "roles/k", nil)
	for k, want := range map[string]any{"vendor": "kite-test", "base_url": srv.URL, "client_id": "kite-user",
		"client_secret_set": true, "api_key_set": true, "region": "eu"} {
		if got[k] != want {
			t.Errorf("read %s = %#v, want %#v", k, got[k], want)
		}
	}
	for _, k := range []string{"api_key", "client_secret", "token_url", "scopes", "oauth_client_id", "auth_method"} {
		if _, ok := got[k]; ok {
			t.Errorf("read shows %s: %v", k, got)
		}
	}

	// A token, minted by the vendor's own Token with the default region.
	if tok := h.ok(logical.ReadOperation, "token/k", nil); tok["access_token"] != "kite-token-eu" {
		t.Fatalf("token %v", tok)
	}

	// Update one field: the token follows it, the secret stays.
	h.ok(logical.UpdateOperation, "roles/k", map[string]any{"region": "US"})
	if got := h.ok(logical.ReadOperation, "roles/k", nil); got["region"] != "us" || got["api_key_set"] != true {
		t.Fatalf("after update: %v", got)
	}
	if tok := h.ok(logical.ReadOperation, "token/k", map[string]any{"min_remaining": 590}); tok["access_token"] != "kite-token-us" {
		t.Fatalf("token after update %v", tok)
	}

	// path-help and the OpenAPI document describe the vendor's fields.
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: "roles/k", Storage: h.storage})
	if err != nil {
		t.Fatal(err)
	}
	help, _ := resp.Data["help"].(string)
	for _, want := range []string{"api_key", "The kite account's API key.", "region", "Applies to vendor kite-test", "kite-test: the kite user"} {
		if !strings.Contains(help, want) {
			t.Errorf("path-help lacks %q", want)
		}
	}
	h.sys.PluginEnvironment = &logical.PluginEnvironment{VaultVersion: "v1.21.0"}
	resp, err = h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Storage: h.storage})
	if err != nil {
		t.Fatal(err)
	}
	doc := resp.Data["openapi"].(*framework.OASDocument)
	raw, _ := json.Marshal(doc)
	var oas struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Description string `json:"description"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &oas); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, s := range oas.Components.Schemas {
		for name, p := range s.Properties {
			if name == "api_key" || name == "region" {
				found[name] = p.Description
			}
		}
	}
	if !strings.Contains(found["api_key"], "Applies to vendor kite-test") || !strings.Contains(found["api_key"], "Write-only") ||
		!strings.Contains(found["region"], "Default: eu") {
		t.Fatalf("OpenAPI fields: %v", found)
	}

	// Delete.
	h.ok(logical.DeleteOperation, "roles/k", nil)
	h.missingRole404(logical.ReadOperation, "k", nil)
}
