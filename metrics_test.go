package vendor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
	"github.com/vendortoken/vault-plugin-secrets-vendor/client/vendortest"
)

// Role names no metric may show.
const (
	metricsRole    = "payroll-zq7-distinctive"
	metricsBadRole = "refused-zq7-distinctive"
)

// metricsJSON reads vendor/metrics as JSON, through JSON as Vault sends it.
func (h *harness) metricsJSON() (map[string]any, string) {
	h.t.Helper()
	data := h.ok(logical.ReadOperation, "metrics", nil)
	raw, err := json.Marshal(data)
	if err != nil {
		h.t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		h.t.Fatal(err)
	}
	return out, string(raw)
}

// metricsText reads vendor/metrics with format=prometheus: a raw body.
func (h *harness) metricsText() string {
	h.t.Helper()
	data := h.ok(logical.ReadOperation, "metrics", map[string]any{"format": "prometheus"})
	if data[logical.HTTPStatusCode] != http.StatusOK || data[logical.HTTPContentType] != "text/plain; version=0.0.4; charset=utf-8" {
		h.t.Fatalf("raw response: status %v, content type %v", data[logical.HTTPStatusCode], data[logical.HTTPContentType])
	}
	body, ok := data[logical.HTTPRawBody].([]byte)
	if !ok {
		h.t.Fatalf("raw body is %T", data[logical.HTTPRawBody])
	}
	return string(body)
}

// promSample is one sample line of the text format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	promSampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	promLabelRE  = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$`)
)

// parseProm reads the text format line by line: every sample must belong
// to a family announced by # HELP and # TYPE lines before it.
func parseProm(t *testing.T, text string) (types map[string]string, samples []promSample) {
	t.Helper()
	types = map[string]string{}
	helped := map[string]bool{}
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("text does not end with a newline: %q", text)
	}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			f := strings.SplitN(strings.TrimPrefix(line, "# HELP "), " ", 2)
			if len(f) != 2 || f[1] == "" {
				t.Fatalf("HELP line without text: %q", line)
			}
			helped[f[0]] = true
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(strings.TrimPrefix(line, "# TYPE "))
			if len(f) != 2 || !helped[f[0]] {
				t.Fatalf("TYPE line not after its HELP: %q", line)
			}
			types[f[0]] = f[1]
		default:
			m := promSampleRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("not a sample line: %q", line)
			}
			s := promSample{name: m[1], labels: map[string]string{}}
			if m[2] != "" {
				for _, pair := range strings.Split(m[2], ",") {
					lm := promLabelRE.FindStringSubmatch(pair)
					if lm == nil {
						t.Fatalf("bad label %q in %q", pair, line)
					}
					s.labels[lm[1]] = lm[2]
				}
			}
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatalf("bad value in %q", line)
			}
			s.value = v
			family := s.name
			if types[family] == "" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if base, ok := strings.CutSuffix(s.name, suffix); ok && types[base] == "histogram" {
						family = base
					}
				}
			}
			if types[family] == "" {
				t.Fatalf("sample before its family's HELP and TYPE: %q", line)
			}
			samples = append(samples, s)
		}
	}
	return types, samples
}

// value is the sample of name with exactly these labels, 0 when absent.
func value(samples []promSample, name string, labels ...string) float64 {
	for _, s := range samples {
		if s.name != name || len(s.labels) != len(labels)/2 {
			continue
		}
		match := true
		for i := 0; i < len(labels); i += 2 {
			if s.labels[labels[i]] != labels[i+1] {
				match = false
			}
		}
		if match {
			return s.value
		}
	}
	return 0
}

// TestMetricsCountAScriptedSequence: reads from the cache and after waits,
// mints that succeed, fail with a 5xx, are refused and are held back, and a
// rotation, each counted where the JSON and the Prometheus text say.
func TestMetricsCountAScriptedSequence(t *testing.T) {
	h := newHarness(t)
	h.ok(logical.UpdateOperation, "config", map[string]any{"max_retries": 0})
	srv, role := h.vendorServer("cyral")
	h.ok(logical.CreateOperation, "roles/"+metricsRole, role)
	path := "token/" + metricsRole

	first := h.ok(logical.ReadOperation, path, nil) // waits for a mint
	h.ok(logical.ReadOperation, path, nil)          // from the cache
	if data, _ := h.metricsJSON(); data["cached_tokens"] != 1.0 {
		t.Fatalf("cached_tokens after one mint: %v", data["cached_tokens"])
	}

	// Past the refresh point the vendor answers 503: the cached token is
	// handed out at once (stale) while the background mint fails, counted
	// as a 5xx; the next read gets it again, with a warning.
	h.clock.Add(time.Duration(intOf(t, first["ttl"])+1) * time.Second)
	srv.Inject("token", vendortest.Fault{Status: 503})
	resp, err := h.do(logical.ReadOperation, path, nil)
	if err != nil || resp.IsError() {
		t.Fatalf("past the refresh point with the vendor down: %v %v", resp, err)
	}
	h.b.waitBackground()
	resp, err = h.do(logical.ReadOperation, path, nil)
	if err != nil || resp.IsError() || len(resp.Warnings) != 1 {
		t.Fatalf("past the refresh point after the failed mint: %v %v", resp, err)
	}
	// Past the expiry, another 503: an error.
	h.clock.Add(time.Duration(intOf(t, first["expires_in"])) * time.Second)
	srv.Inject("token", vendortest.Fault{Status: 503})
	if _, err := h.do(logical.ReadOperation, path, nil); err == nil {
		t.Fatal("expired token and vendor down: no error")
	}
	if data, _ := h.metricsJSON(); data["cached_tokens"] != 0.0 {
		t.Fatalf("cached_tokens after expiry: %v", data["cached_tokens"])
	}

	// Wrong credentials: refused, then held back by the logon guard.
	bad := map[string]any{}
	for k, v := range role {
		bad[k] = v
	}
	bad["client_secret"] = "not-the-secret"
	h.ok(logical.CreateOperation, "roles/"+metricsBadRole, bad)
	h.badRequest(logical.ReadOperation, "token/"+metricsBadRole, nil, "refused")
	h.badRequest(logical.ReadOperation, "token/"+metricsBadRole, nil, "no logon")

	h.clock.Add(time.Minute)
	h.ok(logical.UpdateOperation, "rotate-role/"+metricsRole, nil)

	data, raw := h.metricsJSON()
	want := map[string]any{
		"mints": map[string]any{"cyral": map[string]any{"ok": 1.0, "5xx": 2.0, "refused": 1.0, "held": 1.0}},
		"token_reads": map[string]any{"cyral": map[string]any{
			"wait": 1.0, "cache": 1.0, "stale": 2.0, "error": 3.0}},
		"rotations": map[string]any{"cyral": map[string]any{"manual": map[string]any{"ok": 1.0}}},
	}
	for k, w := range want {
		if got, _ := json.Marshal(data[k]); string(got) != mustMarshal(t, w) {
			t.Errorf("%s: got %s, want %s", k, got, mustMarshal(t, w))
		}
	}
	times, _ := data["mint_duration_seconds"].(map[string]any)["cyral"].(map[string]any)
	if times["count"] != 4.0 { // held calls no vendor
		t.Errorf("mint_duration_seconds: %v", data["mint_duration_seconds"])
	}

	text := h.metricsText()
	types, samples := parseProm(t, text)
	for fam, typ := range map[string]string{
		"vault_vendor_mints_total": "counter", "vault_vendor_mint_duration_seconds": "histogram",
		"vault_vendor_token_reads_total": "counter", "vault_vendor_rotations_total": "counter",
		"vault_vendor_cached_tokens": "gauge",
	} {
		if types[fam] != typ {
			t.Errorf("family %s: TYPE %q, want %q", fam, types[fam], typ)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"vault_vendor_mints_total", []string{"vendor", "cyral", "outcome", "ok"}, 1},
		{"vault_vendor_mints_total", []string{"vendor", "cyral", "outcome", "5xx"}, 2},
		{"vault_vendor_mints_total", []string{"vendor", "cyral", "outcome", "refused"}, 1},
		{"vault_vendor_mints_total", []string{"vendor", "cyral", "outcome", "held"}, 1},
		{"vault_vendor_token_reads_total", []string{"vendor", "cyral", "source", "cache"}, 1},
		{"vault_vendor_token_reads_total", []string{"vendor", "cyral", "source", "wait"}, 1},
		{"vault_vendor_token_reads_total", []string{"vendor", "cyral", "source", "stale"}, 2},
		{"vault_vendor_token_reads_total", []string{"vendor", "cyral", "source", "error"}, 3},
		{"vault_vendor_rotations_total", []string{"vendor", "cyral", "trigger", "manual", "outcome", "ok"}, 1},
		{"vault_vendor_mint_duration_seconds_count", []string{"vendor", "cyral"}, 4},
		{"vault_vendor_mint_duration_seconds_bucket", []string{"vendor", "cyral", "le", "+Inf"}, 4},
	} {
		if got := value(samples, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	checkBuckets(t, samples)

	for _, out := range []string{raw, text} {
		for _, name := range []string{metricsRole, metricsBadRole, "zq7", "not-the-secret", hardSecret} {
			if strings.Contains(out, name) {
				t.Errorf("metrics show %q:\n%s", name, out)
			}
		}
	}
}

// checkBuckets: per vendor, buckets are cumulative (never fall as le
// grows), end with +Inf equal to _count.
func checkBuckets(t *testing.T, samples []promSample) {
	t.Helper()
	last := map[string]float64{}
	lastLe := map[string]float64{}
	for _, s := range samples {
		if s.name != "vault_vendor_mint_duration_seconds_bucket" {
			continue
		}
		v := s.labels["vendor"]
		le, err := strconv.ParseFloat(s.labels["le"], 64) // "+Inf" parses
		if err != nil {
			t.Fatalf("le %q", s.labels["le"])
		}
		if prev, ok := lastLe[v]; ok && le <= prev {
			t.Errorf("%s: le %v after %v", v, le, prev)
		}
		if s.value < last[v] {
			t.Errorf("%s: bucket le=%v holds %v, fewer than the one before (%v): not cumulative", v, le, s.value, last[v])
		}
		last[v], lastLe[v] = s.value, le
	}
	for v, n := range last {
		if !isInf(lastLe[v]) {
			t.Errorf("%s: last bucket is le=%v, not +Inf", v, lastLe[v])
		}
		if c := value(samples, "vault_vendor_mint_duration_seconds_count", "vendor", v); c != n {
			t.Errorf("%s: _count %v, +Inf bucket %v", v, c, n)
		}
	}
}

func isInf(f float64) bool { return f > 1e308 }

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestMetricsHistogramBuckets: each latency lands in the first bucket that
// holds it; the sum is in seconds; the text and the JSON agree.
func TestMetricsHistogramBuckets(t *testing.T) {
	m := newMetrics()
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 7 * time.Millisecond, 300 * time.Millisecond, 2 * time.Second, 45 * time.Second} {
		m.mint("privx", "ok", d)
	}
	m.mint("privx", "held", time.Hour)    // no vendor call: not timed
	m.mint("privx", "invalid", time.Hour) // nor this
	_, samples := parseProm(t, string(m.prometheus()))
	for le, want := range map[string]float64{"0.005": 2, "0.01": 3, "0.25": 3, "0.5": 4, "1": 4, "2.5": 5, "30": 5, "+Inf": 6} {
		if got := value(samples, "vault_vendor_mint_duration_seconds_bucket", "vendor", "privx", "le", le); got != want {
			t.Errorf("le=%s: %v, want %v", le, got, want)
		}
	}
	if got := value(samples, "vault_vendor_mint_duration_seconds_sum", "vendor", "privx"); got < 47.312 || got > 47.314 {
		t.Errorf("sum %v, want 47.313", got)
	}
	checkBuckets(t, samples)
	j, _ := m.json()["mint_duration_seconds"].(map[string]any)["privx"].(map[string]any)
	if buckets, _ := j["buckets"].(map[string]uint64); j["count"] != uint64(6) || buckets["0.01"] != 3 {
		t.Errorf("JSON histogram: %v", j)
	}
}

// TestMetricsLabelsAreBounded: unknown vendors, outcomes, sources and
// triggers count as "other"; fifty roles make no more series than one.
func TestMetricsLabelsAreBounded(t *testing.T) {
	m := newMetrics()
	m.tokenRead("no-such-vendor", "cache")
	m.tokenRead("cyral", "made-up")
	m.mint("cyral", "weird", 0)
	m.rotation("cyral", "whim", "strange")
	_, samples := parseProm(t, string(m.prometheus()))
	for _, c := range [][]string{
		{"vault_vendor_token_reads_total", "vendor", "other", "source", "cache"},
		{"vault_vendor_token_reads_total", "vendor", "cyral", "source", "other"},
		{"vault_vendor_mints_total", "vendor", "cyral", "outcome", "other"},
		{"vault_vendor_rotations_total", "vendor", "cyral", "trigger", "other", "outcome", "other"},
	} {
		if value(samples, c[0], c[1:]...) != 1 {
			t.Errorf("%v not counted", c)
		}
	}

	series := func(roles int) int {
		h := newHarness(t)
		_, role := h.vendorServer("incydr")
		for i := range roles {
			h.ok(logical.CreateOperation, fmt.Sprintf("roles/r%d", i), role)
			h.ok(logical.ReadOperation, fmt.Sprintf("token/r%d", i), nil)
			h.ok(logical.ReadOperation, fmt.Sprintf("token/r%d", i), nil)
		}
		_, samples := parseProm(t, h.metricsText())
		if got := value(samples, "vault_vendor_token_reads_total", "vendor", "incydr", "source", "cache"); got != float64(roles) {
			t.Fatalf("%d roles: %v cached reads", roles, got)
		}
		if got := value(samples, "vault_vendor_cached_tokens"); got != float64(roles) {
			t.Fatalf("%d roles: cached_tokens %v", roles, got)
		}
		return len(samples)
	}
	if one, fifty := series(1), series(50); one != fifty {
		t.Errorf("one role makes %d series, fifty make %d", one, fifty)
	}
}

func TestMintOutcome(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{&errLogonHeld{reason: "x"}, "held"},
		{fmt.Errorf("wrapped: %w", &client.RejectedError{Vendor: "cyral", Op: "token", Status: 401}), "refused"},
		{&inputError{Field: "base_url", Msg: "host not allowed"}, "invalid"},
		{fmt.Errorf("x: %w", client.ErrInvalid), "invalid"},
		{&client.UnavailableError{Class: client.ClassServer}, "5xx"},
		{&client.UnavailableError{Class: client.ClassRateLimited}, "429"},
		{&client.UnavailableError{Class: client.ClassTimeout}, "timeout"},
		{&client.UnavailableError{Class: client.ClassRefused}, "connection_refused"},
		{&client.UnavailableError{Class: client.ClassNetwork}, "network_error"},
		{&client.UnavailableError{Class: client.ClassTLS}, "tls_error"},
		{&client.UnavailableError{Class: client.ClassBadResponse}, "bad_response"},
		{&client.UnavailableError{Class: "new class"}, "other"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("storage down"), "other"},
	} {
		if got := mintOutcome(c.err); got != c.want {
			t.Errorf("mintOutcome(%v) = %q, want %q", c.err, got, c.want)
		}
		m := newMetrics()
		m.mint("cyral", mintOutcome(c.err), 0)
		if m.json()["mints"].(map[string]any)["cyral"].(map[string]uint64)[c.want] != 1 {
			t.Errorf("%q not counted under its own name", c.want)
		}
	}
}

// TestMetricsPathShape: the JSON's keys are fixed from the start, an
// unknown format is a 400, and path help describes the families.
func TestMetricsPathShape(t *testing.T) {
	h := newHarness(t)
	data, _ := h.metricsJSON()
	if got := mustMarshal(t, data); got != `{"cached_tokens":0,"mint_duration_seconds":{},"mints":{},"rotations":{},"token_reads":{}}` {
		t.Fatalf("empty metrics: %s", got)
	}
	if text := h.metricsText(); !strings.HasSuffix(text, "vault_vendor_cached_tokens 0\n") || strings.Count(text, "# TYPE ") != 5 {
		t.Fatalf("empty text:\n%s", text)
	}
	h.ok(logical.ReadOperation, "metrics", map[string]any{"format": "json"})
	h.badRequest(logical.ReadOperation, "metrics", map[string]any{"format": "xml"}, `format "xml" is not known`)
	resp, err := h.b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Path: "metrics", Storage: h.storage})
	if err != nil {
		t.Fatal(err)
	}
	help := resp.Data["help"].(string)
	for _, s := range []string{"format", "vault_vendor_mints_total", "vault_vendor_mint_duration_seconds", "vault_vendor_token_reads_total", "vault_vendor_rotations_total", "vault_vendor_cached_tokens"} {
		if !strings.Contains(help, s) {
			t.Errorf("path help lacks %s", s)
		}
	}
}

// TestMetricsRecordingAllocatesNothing: counting a read or a mint on the
// hot path is an index lookup and an atomic add.
func TestMetricsRecordingAllocatesNothing(t *testing.T) {
	m := newMetrics()
	if n := testing.AllocsPerRun(1000, func() { m.tokenRead("cyral", srcCache) }); n != 0 {
		t.Errorf("tokenRead allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.mint("cyral", "5xx", time.Second) }); n != 0 {
		t.Errorf("mint allocates %v times", n)
	}
}

// BenchmarkMetricsTokenRead: what a cached read pays for being counted,
// from every core at once on one counter.
func BenchmarkMetricsTokenRead(b *testing.B) {
	m := newMetrics()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.tokenRead("cyral", srcCache)
		}
	})
}
