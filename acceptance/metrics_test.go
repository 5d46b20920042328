//go:build acceptance

package acceptance

import (
	"encoding/json"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// metricsRole is a role name no metric may show.
const metricsRole = "metrics-zq7-distinctive"

// TestMetricsThroughVaultInBothFormats reads vendor/metrics through the real
// Vault: as JSON with the Go API client, and as Prometheus text with the
// API client's raw read and with `vault read -format=raw`. Token reads move
// the counters; no role name appears in either format.
func TestMetricsThroughVaultInBothFormats(t *testing.T) {
	w := setup(t)
	sim := w.sim.Vendors["cyral"]
	w.vault.MustCLI("write", mount+"/roles/"+metricsRole, "@"+sim.RoleFile)
	t.Cleanup(func() { w.vault.CLI("delete", mount+"/roles/"+metricsRole) })

	beforeJSON := w.metricsJSON(t)
	beforeText := w.metricsText(t)
	const reads = 5
	for range reads {
		w.readToken(t, metricsRole)
	}
	afterJSON := w.metricsJSON(t)
	afterText := w.metricsText(t)

	// JSON: {vendor: {source: n}}; the first read of the new role waits
	// for its mint, the rest come from the cache.
	reads0, reads1 := jsonCount(beforeJSON, "token_reads", "cyral"), jsonCount(afterJSON, "token_reads", "cyral")
	if reads1-reads0 < reads {
		t.Errorf("JSON token_reads for cyral moved %d for %d reads: %v -> %v", reads1-reads0, reads, beforeJSON["token_reads"], afterJSON["token_reads"])
	}
	if m0, m1 := jsonCount(beforeJSON, "mints", "cyral"), jsonCount(afterJSON, "mints", "cyral"); m1 <= m0 {
		t.Errorf("JSON mints for cyral did not move: %v -> %v", beforeJSON["mints"], afterJSON["mints"])
	}
	if n, err := afterJSON["cached_tokens"].(json.Number).Int64(); err != nil || n < 1 {
		t.Errorf("cached_tokens: %v", afterJSON["cached_tokens"])
	}

	// Text: the same counters, as a Prometheus scrape would see them.
	cache0 := promValue(t, beforeText, `vault_vendor_token_reads_total{vendor="cyral",source="cache"}`)
	cache1 := promValue(t, afterText, `vault_vendor_token_reads_total{vendor="cyral",source="cache"}`)
	if cache1-cache0 < reads-1 {
		t.Errorf("text cached reads moved %v for %d reads\n%s", cache1-cache0, reads, afterText)
	}
	for _, fam := range []string{"vault_vendor_mints_total counter", "vault_vendor_mint_duration_seconds histogram",
		"vault_vendor_token_reads_total counter", "vault_vendor_rotations_total counter", "vault_vendor_cached_tokens gauge"} {
		name := strings.Fields(fam)[0]
		if !strings.Contains(afterText, "# TYPE "+fam+"\n") || !strings.Contains(afterText, "# HELP "+name+" ") {
			t.Errorf("text lacks HELP/TYPE of %s", fam)
		}
	}
	if promValue(t, afterText, `vault_vendor_mint_duration_seconds_count{vendor="cyral"}`) !=
		promValue(t, afterText, `vault_vendor_mint_duration_seconds_bucket{vendor="cyral",le="+Inf"}`) {
		t.Errorf("histogram _count is not its +Inf bucket\n%s", afterText)
	}

	// The CLI's raw read gives the same text.
	cli := w.vault.MustCLI("read", "-format=raw", mount+"/metrics", "format=prometheus")
	if !strings.Contains(cli, "# TYPE vault_vendor_token_reads_total counter") || promValue(t, cli, `vault_vendor_token_reads_total{vendor="cyral",source="cache"}`) < cache1 {
		t.Errorf("vault read -format=raw:\n%s", cli)
	}

	raw, _ := json.Marshal(afterJSON)
	for _, out := range []string{string(raw), afterText, cli} {
		if strings.Contains(out, metricsRole) || strings.Contains(out, "zq7") {
			t.Errorf("metrics show the role name:\n%s", out)
		}
	}
}

func (w *world) metricsJSON(t *testing.T) map[string]any {
	t.Helper()
	s, err := w.vault.Client().Logical().Read(mount + "/metrics")
	if err != nil || s == nil {
		t.Fatalf("read metrics: %v", err)
	}
	for _, k := range []string{"cached_tokens", "mints", "mint_duration_seconds", "token_reads", "rotations"} {
		if _, ok := s.Data[k]; !ok {
			t.Fatalf("metrics JSON lacks %s: %v", k, s.Data)
		}
	}
	return s.Data
}

func (w *world) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := w.vault.Client().Logical().ReadRawWithData(mount+"/metrics", map[string][]string{"format": {"prometheus"}})
	if err != nil {
		t.Fatalf("raw read of metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("raw read of metrics: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return string(body)
}

// jsonCount sums the counts under data[key][vendor].
func jsonCount(data map[string]any, key, vendor string) int64 {
	row, _ := data[key].(map[string]any)[vendor].(map[string]any)
	var n int64
	for _, v := range row {
		if c, err := v.(json.Number).Int64(); err == nil {
			n += c
		}
	}
	return n
}

// promValue is the value of the sample named exactly so, 0 when absent.
func promValue(t *testing.T, text, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// TestMetricsPathHelpAndOpenAPI: path-help names the families, and the
// OpenAPI document has the path with its format parameter described.
func TestMetricsPathHelpAndOpenAPI(t *testing.T) {
	w := setup(t)
	help := w.vault.MustCLI("path-help", mount+"/metrics")
	for _, s := range []string{"format (string)", "vault_vendor_mints_total", "vault_vendor_cached_tokens"} {
		if !strings.Contains(help, s) {
			t.Errorf("path-help metrics lacks %q:\n%s", s, help)
		}
	}
	secret, err := w.vault.Client().Logical().Read("sys/internal/specs/openapi")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(secret.Data)
	var doc struct {
		Paths map[string]struct {
			Get *struct {
				OperationID string `json:"operationId"`
				Parameters  []struct {
					Name        string `json:"name"`
					Description string `json:"description"`
				} `json:"parameters"`
			} `json:"get"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	p, ok := doc.Paths["/"+mount+"/metrics"]
	if !ok || p.Get == nil {
		t.Fatalf("OpenAPI lacks GET /%s/metrics", mount)
	}
	described := false
	for _, param := range p.Get.Parameters {
		described = described || (param.Name == "format" && strings.Contains(param.Description, "prometheus"))
	}
	if !described || p.Get.OperationID == "" {
		t.Errorf("OpenAPI GET /%s/metrics: %+v", mount, *p.Get)
	}
}
