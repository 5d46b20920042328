//go:build acceptance

// Package acceptance drives a real Vault server, with the plugin registered
// by sha256 and version, through the vault CLI, the Vault Go API client and
// vault agent, against vendor-sim. Run it with `make acceptance`.
package acceptance

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
	"github.com/vendortoken/vault-plugin-secrets-vendor/internal/testvault"
)

const mount = "vendor"

// world is one Vault and one vendor-sim shared by the tests of this package,
// with a demo role per vendor named after the vendor.
type world struct {
	vault *testvault.Server
	sim   *testvault.Sim
	env   testvault.Env
}

var (
	shared     *world
	sharedOnce sync.Once
)

func setup(t *testing.T) *world {
	t.Helper()
	sharedOnce.Do(func() {
		env := testvault.EnvFromOS(keeper)
		w := &world{env: env}
		// The world outlives the first test: clean up at process exit.
		w.sim = testvault.StartSim(keeper, env)
		w.vault = testvault.Start(keeper, env, mount)
		for vendor, v := range w.sim.Vendors {
			w.vault.MustCLI("write", mount+"/roles/"+vendor, "@"+v.RoleFile, "verify=true")
		}
		shared = w
	})
	if shared == nil {
		t.Fatal("shared setup failed earlier")
	}
	return shared
}

// keeper owns resources that live for the whole package run.
var keeper = &processTB{}

func TestMain(m *testing.M) {
	code := m.Run()
	keeper.cleanup()
	os.Exit(code)
}

// readToken reads a token with the CLI and returns its data.
func (w *world) readToken(t *testing.T, role string, args ...string) map[string]any {
	t.Helper()
	out := w.vault.MustCLI(append([]string{"read", "-format=json", mount + "/token/" + role}, args...)...)
	var secret struct {
		LeaseID       string         `json:"lease_id"`
		LeaseDuration int            `json:"lease_duration"`
		Data          map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(out), &secret); err != nil {
		t.Fatalf("vault read output: %v\n%s", err, out)
	}
	if secret.LeaseID != "" || secret.LeaseDuration != 0 {
		t.Fatalf("token read created a lease: %q %d", secret.LeaseID, secret.LeaseDuration)
	}
	return secret.Data
}

func (w *world) mustBeAccepted(t *testing.T, vendor, authorization string) {
	t.Helper()
	status, err := w.sim.CallAPI(vendor, authorization)
	if err != nil || status != 200 {
		t.Fatalf("%s API answered %d (%v) for the token Vault returned", vendor, status, err)
	}
}

func TestCLIReadsATokenForEveryVendor(t *testing.T) {
	w := setup(t)
	if len(w.sim.Vendors) != len(client.Names()) {
		t.Fatalf("sim serves %d vendors, plugin knows %d", len(w.sim.Vendors), len(client.Names()))
	}
	for vendor := range w.sim.Vendors {
		t.Run(vendor, func(t *testing.T) {
			data := w.readToken(t, vendor)
			for _, f := range []string{"access_token", "token_type", "authorization", "expires_at", "expires_in", "ttl", "rotation_period", "vendor"} {
				if _, ok := data[f]; !ok {
					t.Fatalf("missing %s: %v", f, data)
				}
			}
			w.mustBeAccepted(t, vendor, data["authorization"].(string))
		})
	}
}

func TestRoleReadShowsNoSecret(t *testing.T) {
	w := setup(t)
	secrets := w.sim.RoleSecrets(t)
	for vendor := range w.sim.Vendors {
		out := w.vault.MustCLI("read", "-format=json", mount+"/roles/"+vendor)
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("role read of %s shows a secret", vendor)
			}
		}
		if !strings.Contains(out, `"client_secret_set": true`) {
			t.Fatalf("role read lacks client_secret_set: %s", out)
		}
	}
	list := w.vault.MustCLI("list", "-format=json", mount+"/roles")
	for vendor := range w.sim.Vendors {
		if !strings.Contains(list, `"`+vendor+`"`) {
			t.Fatalf("list lacks %s: %s", vendor, list)
		}
	}
}

func TestGoAPIClientReadsATokenForEveryVendor(t *testing.T) {
	w := setup(t)
	c := w.vault.Client()
	for vendor := range w.sim.Vendors {
		secret, err := c.Logical().Read(mount + "/token/" + vendor)
		if err != nil {
			t.Fatalf("%s: %v", vendor, err)
		}
		if secret.LeaseID != "" || secret.Renewable {
			t.Fatalf("%s: a lease was created", vendor)
		}
		w.mustBeAccepted(t, vendor, secret.Data["authorization"].(string))
		if _, err := secret.Data["ttl"].(json.Number).Int64(); err != nil {
			t.Fatalf("%s: ttl is not a number: %v", vendor, secret.Data["ttl"])
		}
	}
	// Errors reach API clients as Vault errors with the vendor's words.
	_, err := c.Logical().Write(mount+"/roles/bad", map[string]any{"vendor": "cyral", "base_url": w.sim.Vendors["cyral"].BaseURL,
		"client_id": "nobody", "client_secret": "nope", "ca_cert": readFile(t, w.sim.CAFile), "verify": true})
	if err == nil || !strings.Contains(err.Error(), "Code: 400") || !strings.Contains(err.Error(), "cyral refused the token request") {
		t.Fatalf("bad credentials: %v", err)
	}
}

// Vault Agent treats data carrying ttl and rotation_period (and no lease) as a
// rotating secret and re-renders at ttl+1s: the rendered token must change to
// a fresh, valid one before the old one expires, cycle after cycle.
func TestAgentReRendersBeforeTheTokenExpires(t *testing.T) {
	w := setup(t)
	// Cyral tokens live 300s; cap them at 24s: refresh_before is 8s, ttl 16s.
	w.vault.MustCLI("write", mount+"/roles/agent", "@"+w.sim.Vendors["cyral"].RoleFile, "token_ttl_cap=24s")

	// At least three renders (the first and two re-renders), each with
	// most of its token's life ahead.
	w.agentRenders(t, "cyral", "agent", 3, 10*time.Second)
	// No lease was created along the way.
	if out, _, err := w.vault.CLI("list", "sys/leases/lookup/"+mount+"/token/agent"); err == nil && strings.TrimSpace(out) != "" {
		t.Fatalf("leases exist: %s", out)
	}
}

func TestPathHelpAndOpenAPIDescribeEveryField(t *testing.T) {
	w := setup(t)
	roleFields := []string{"vendor", "base_url", "token_url", "client_id", "client_secret", "oauth_client_id", "oauth_client_secret",
		"auth_method", "pvwa_app_name", "scopes", "audience", "auth_style", "token_params", "ca_cert", "token_ttl_cap", "refresh_before",
		"rotation_period", "rotation_role", "rotation_allowed_roles", "password_policy", "verify"}
	help := w.vault.MustCLI("path-help", mount+"/roles/x")
	for _, f := range roleFields {
		if !strings.Contains(help, "    "+f+" (") {
			t.Errorf("path-help roles lacks %s", f)
		}
	}
	for path, fields := range map[string][]string{
		"token/x": {"min_remaining", "access_token", "authorization", "expires_at"},
		"config":  {"allowed_hosts", "allow_http", "request_timeout", "max_retries"},
	} {
		help := w.vault.MustCLI("path-help", mount+"/"+path)
		for _, f := range fields {
			if !strings.Contains(help, f) {
				t.Errorf("path-help %s lacks %s", path, f)
			}
		}
	}

	secret, err := w.vault.Client().Logical().Read("sys/internal/specs/openapi")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(secret.Data)
	var doc struct {
		Paths      map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Description string `json:"description"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/" + mount + "/roles/{name}", "/" + mount + "/token/{name}", "/" + mount + "/config", "/" + mount + "/roles/"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("OpenAPI lacks path %s", p)
		}
	}
	found := false
	for name, s := range doc.Components.Schemas {
		_, secret := s.Properties["client_secret"]
		_, vendor := s.Properties["vendor"]
		if !secret || !vendor {
			continue // another engine's schema
		}
		found = true
		for _, f := range roleFields {
			if p, ok := s.Properties[f]; !ok || p.Description == "" {
				t.Errorf("OpenAPI schema %s: field %s missing or undescribed", name, f)
			}
		}
	}
	if !found {
		t.Error("no OpenAPI schema describes the role fields")
	}
}

// Reload and restart last: they keep every role and keep minting.
func TestZPluginReloadAndVaultRestartKeepRoles(t *testing.T) {
	w := setup(t)
	mintAll := func(stage string) {
		for vendor := range w.sim.Vendors {
			data := w.readToken(t, vendor)
			status, err := w.sim.CallAPI(vendor, data["authorization"].(string))
			if err != nil || status != 200 {
				t.Fatalf("after %s, %s token refused: %d %v", stage, vendor, status, err)
			}
		}
	}
	mounts := w.vault.MustCLI("read", "-format=json", "sys/mounts/"+mount)
	if !strings.Contains(mounts, `"running_plugin_version": "`+w.env.Version+`"`) {
		t.Fatalf("plugin does not report version %s: %s", w.env.Version, mounts)
	}
	w.vault.MustCLI("plugin", "reload", "-plugin=vault-plugin-secrets-vendor")
	mintAll("plugin reload")

	// Tokens are cached in memory only: a restart must mint anew from storage.
	before := w.sim.Calls(t)
	w.vault.Restart()
	mintAll("vault restart")
	after := w.sim.Calls(t)
	for vendor := range w.sim.Vendors {
		if after[vendor]["token"] <= before[vendor]["token"] {
			t.Fatalf("%s: no mint after restart (%d -> %d)", vendor, before[vendor]["token"], after[vendor]["token"])
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
