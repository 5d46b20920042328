// Command load is the benchmark behind `make bench`. It starts a Vault dev
// server with KV-v2, the no-op plugin (scripts/bench/noop) and this plugin,
// plus vendor-sim, and measures in one run:
//
//   - cached token reads against KV-v2 and no-op plugin reads, interleaved,
//     at several client counts: throughput, p50 and p99, and their ratios;
//   - vendor calls for 500 concurrent cold reads of one role;
//   - vendor calls under constant load across several token lifetimes;
//   - the latency a cold mint adds over the vendor's own;
//   - cached read latency with 10 and with 10,000 roles, and the plugin's
//     resident memory with 10,000 roles;
//   - vendors in trouble (trouble.go): a slow vendor under steady load, an
//     outage under load and its recovery, a hanging vendor while a cached
//     token is alive.
//
// -scenarios picks which run (default all), in this order.
//
// It prints a Markdown report. Nothing here is a test: it asserts nothing.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/internal/testvault"
)

var (
	rounds   = flag.Int("rounds", 3, "interleaved rounds per client count")
	roundDur = flag.Duration("round", 2*time.Second, "length of one target's turn in a round")
	levels   = flag.String("clients", "1,8,32", "client counts")
	manyN    = flag.Int("roles", 10000, "roles for the many-roles measurement")
	window   = flag.Duration("window", 24*time.Second, "constant-load window for counting vendor calls")
	picked   = flag.String("scenarios", "all", "comma-separated scenarios to run, or all: "+strings.Join(scenarioNames, ","))
)

// scenarioNames in the order they run.
var scenarioNames = []string{"floors", "stampede", "steady", "cold", "many", "slow", "outage", "hang"}

type bench struct {
	o     *testvault.Owner
	vault *testvault.Server
	sim   *testvault.Sim
	hc    *http.Client
}

func main() {
	flag.Parse()
	run := map[string]bool{}
	for _, name := range strings.Split(*picked, ",") {
		name = strings.TrimSpace(name)
		if name == "all" {
			for _, n := range scenarioNames {
				run[n] = true
			}
			continue
		}
		if !slices.Contains(scenarioNames, name) {
			fmt.Fprintf(os.Stderr, "load: unknown scenario %q; known: %s\n", name, strings.Join(scenarioNames, ", "))
			os.Exit(2)
		}
		run[name] = true
	}
	o := testvault.NewOwner("bench")
	defer o.Close()
	env := testvault.EnvFromOS(o)
	noop := os.Getenv("NOOP_BIN")
	if noop == "" {
		o.Fatal("NOOP_BIN is not set: run through `make bench`")
	}
	b := &bench{o: o}
	b.sim = testvault.StartSim(o, env)
	b.vault = testvault.StartDev(o, env, map[string]string{"vendor": env.Plugin, "noop": noop})
	b.hc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}}

	b.put("secret/data/bench", map[string]any{"data": map[string]any{"value": "kv"}})
	b.writeRole("bench", b.simRole("cyral"))
	b.get("vendor/token/bench")

	fmt.Printf("# Benchmark run\n\n- date: %s\n- machine: %s, %d CPUs, %s\n- Vault: %s (dev server, in-memory storage, log level info)\n- command: `make bench`\n\n",
		time.Now().UTC().Format(time.RFC3339), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), cpuModel(), vaultVersion(env.Vault))
	for _, sc := range []struct {
		name string
		f    func()
	}{
		{"floors", b.throughput}, {"stampede", b.coldStampede}, {"steady", b.steadyLoad}, {"cold", b.coldMintOverhead}, {"many", b.manyRoles},
		{"slow", b.slowVendorLoad}, {"outage", b.outage}, {"hang", b.hangingVendor},
	} {
		if run[sc.name] {
			sc.f()
			if sc.name == "many" {
				fmt.Println() // its report ends without a blank line
			}
		}
	}
}

// ---- requests -------------------------------------------------------------

func (b *bench) req(method, path string, body any) (int, []byte) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.vault.Addr+"/v1/"+path, rd)
	req.Header.Set("X-Vault-Token", b.vault.Token)
	resp, err := b.hc.Do(req)
	if err != nil {
		b.o.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func (b *bench) get(path string) []byte {
	code, raw := b.req(http.MethodGet, path, nil)
	if code != 200 {
		b.o.Fatalf("GET %s: %d %s", path, code, raw)
	}
	return raw
}

func (b *bench) put(path string, body any) {
	if code, raw := b.req(http.MethodPut, path, body); code/100 != 2 {
		b.o.Fatalf("PUT %s: %d %s", path, code, raw)
	}
}

func (b *bench) writeRole(name string, role map[string]any) { b.put("vendor/roles/"+name, role) }

func (b *bench) simRole(vendor string) map[string]any { return b.sim.Role(b.o, vendor) }

// ---- measurements ---------------------------------------------------------

type sample struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
}

func (s *sample) add(o sample) {
	s.n += o.n
	s.elapsed += o.elapsed
	s.lat = append(s.lat, o.lat...)
}

func (s sample) rate() float64 { return float64(s.n) / s.elapsed.Seconds() }

func (s sample) pct(p float64) time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	// Nearest rank: the smallest value with at least p of the samples at or below it.
	i := int(math.Ceil(p*float64(len(s.lat)))) - 1
	return s.lat[max(0, min(i, len(s.lat)-1))]
}

// load runs clients that each read paths(i) in a loop for d.
func (b *bench) load(clients int, d time.Duration, path func(worker, i int) string) sample {
	var wg sync.WaitGroup
	lats := make([][]time.Duration, clients)
	var failed atomic.Int64
	start := time.Now()
	stop := start.Add(d)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				req, _ := http.NewRequest(http.MethodGet, b.vault.Addr+"/v1/"+path(w, i), nil)
				req.Header.Set("X-Vault-Token", b.vault.Token)
				t0 := time.Now()
				resp, err := b.hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.o.Fatalf("%d reads failed", n)
	}
	s := sample{elapsed: time.Since(start)}
	for _, l := range lats {
		s.n += len(l)
		s.lat = append(s.lat, l...)
	}
	return s
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64)
}

func (b *bench) throughput() {
	targets := []struct{ name, path string }{
		{"KV-v2", "secret/data/bench"},
		{"no-op plugin", "noop/data"},
		{"token (cached)", "vendor/token/bench"},
		{"no-op, token-shaped reply", "noop/shaped"},
	}
	fmt.Printf("## Cached token reads against the floors\n\n%d interleaved rounds of %s per target and client count; each round runs the targets in a rotated order.\n\n", *rounds, *roundDur)
	fmt.Println("| clients | KV-v2 reads/s | p50 ms | p99 ms | no-op reads/s | p50 ms | p99 ms | token reads/s | p50 ms | p99 ms | token/no-op | token/KV | shaped no-op reads/s | token/shaped |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, f := range strings.Split(*levels, ",") {
		c, _ := strconv.Atoi(strings.TrimSpace(f))
		res := make([]sample, len(targets))
		for _, t := range targets { // warm-up
			b.load(c, 300*time.Millisecond, func(int, int) string { return t.path })
		}
		for r := range *rounds {
			for k := range targets {
				i := (k + r) % len(targets)
				res[i].add(b.load(c, *roundDur, func(int, int) string { return targets[i].path }))
			}
		}
		kv, noop, tok, shaped := res[0], res[1], res[2], res[3]
		fmt.Printf("| %d | %.0f | %s | %s | %.0f | %s | %s | %.0f | %s | %s | %.2f | %.2f | %.0f | %.2f |\n", c,
			kv.rate(), ms(kv.pct(.5)), ms(kv.pct(.99)), noop.rate(), ms(noop.pct(.5)), ms(noop.pct(.99)),
			tok.rate(), ms(tok.pct(.5)), ms(tok.pct(.99)), tok.rate()/noop.rate(), tok.rate()/kv.rate(), shaped.rate(), tok.rate()/shaped.rate())
	}
	fmt.Println()
}

func (b *bench) calls(vendor string) int { return b.sim.Calls(b.o)[vendor]["token"] }

func (b *bench) coldStampede() {
	const readers = 500
	b.writeRole("stampede", b.simRole("privx"))
	before := b.calls("privx")
	var wg sync.WaitGroup
	gate := make(chan struct{})
	var failed atomic.Int64
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			if code, _ := b.req(http.MethodGet, "vendor/token/stampede", nil); code != 200 {
				failed.Add(1)
			}
		}()
	}
	close(gate)
	wg.Wait()
	fmt.Printf("## Single flight\n\n%d concurrent reads of a cold role: **%d vendor call(s)** (goal 1), %d failed reads.\n\n", readers, b.calls("privx")-before, failed.Load())
}

func (b *bench) steadyLoad() {
	const life = 6
	b.sim.Control(b.o, "/lifetime", map[string]any{"vendor": "incydr", "seconds": life})
	defer b.sim.Control(b.o, "/lifetime", map[string]any{"vendor": "incydr", "seconds": 900})
	b.writeRole("steady", b.simRole("incydr"))
	refresh := math.Min(60, float64(life)/3)
	before := b.calls("incydr")
	s := b.load(8, *window, func(int, int) string { return "vendor/token/steady" })
	got := b.calls("incydr") - before
	want := int(math.Ceil(window.Seconds() / (float64(life) - refresh)))
	fmt.Printf("## Vendor calls under constant load\n\n8 clients read one role for %s (%d reads) with %d s tokens and refresh_before %.0f s: **%d vendor calls** (goal ⌈%s / (%d s − %.0f s)⌉ = %d).\n\n",
		*window, s.n, life, refresh, got, *window, life, refresh, want)
}

func (b *bench) coldMintOverhead() {
	const n = 100
	const delay = 20
	role := b.simRole("oauth2")
	for i := range n {
		b.writeRole(fmt.Sprintf("cold-%d", i), role)
		b.writeRole(fmt.Sprintf("instant-%d", i), role)
	}
	// First with a vendor that answers at once: what the cold path itself costs.
	var instant sample
	for i := range n {
		t0 := time.Now()
		b.get(fmt.Sprintf("vendor/token/instant-%d", i))
		instant.lat = append(instant.lat, time.Since(t0))
	}
	b.sim.Control(b.o, "/fault", map[string]any{"vendor": "oauth2", "endpoint": "token", "delay_ms": delay, "times": -1})
	defer b.sim.Control(b.o, "/clear", map[string]any{})

	// The vendor's own latency, on a warm connection as the plugin's pool has.
	direct := b.directOAuth2(role, n)
	var cold sample
	for i := range n {
		t0 := time.Now()
		b.get(fmt.Sprintf("vendor/token/cold-%d", i))
		cold.lat = append(cold.lat, time.Since(t0))
	}
	cached := b.load(1, time.Second, func(int, int) string { return "vendor/token/bench" })
	fmt.Printf("## Cold mint overhead\n\nThe simulated vendor holds each token answer %d ms. %d cold reads (first read of a new role) against %d direct token calls:\n\n", delay, n, n)
	fmt.Println("| | p50 ms | p99 ms |\n|---|---|---|")
	fmt.Printf("| vendor, called directly | %s | %s |\n| cold token read through Vault | %s | %s |\n| cold token read, vendor answering at once | %s | %s |\n| cached token read (1 client) | %s | %s |\n\n",
		ms(direct.pct(.5)), ms(direct.pct(.99)), ms(cold.pct(.5)), ms(cold.pct(.99)), ms(instant.pct(.5)), ms(instant.pct(.99)), ms(cached.pct(.5)), ms(cached.pct(.99)))
	fmt.Printf("Added by Vault and the plugin: **%s ms at p50** (goal ≤ 2 ms).\n\n", ms(cold.pct(.5)-direct.pct(.5)))
}

// directOAuth2 calls the simulated oauth2 token endpoint as the plugin does.
func (b *bench) directOAuth2(role map[string]any, n int) sample {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(role["ca_cert"].(string)))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {role["scopes"].(string)}}
	call := func() time.Duration {
		req, _ := http.NewRequest(http.MethodPost, role["token_url"].(string), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(role["client_id"].(string)), url.QueryEscape(role["client_secret"].(string)))
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			b.o.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.o.Fatalf("direct token call: %s", resp.Status)
		}
		return time.Since(t0)
	}
	call() // open the connection
	var s sample
	for range n {
		s.lat = append(s.lat, call())
	}
	return s
}

func (b *bench) manyRoles() {
	role := b.simRole("cyral")
	const few = 10
	for i := range few {
		b.writeRole(fmt.Sprintf("many-%d", i), role)
	}
	readAll := func(n int) sample {
		return b.load(8, 3*time.Second, func(w, i int) string { return fmt.Sprintf("vendor/token/many-%d", (w*7919+i)%n) })
	}
	b.parallel(few, func(i int) { b.get(fmt.Sprintf("vendor/token/many-%d", i)) })
	small := readAll(few)
	rssFew := b.pluginRSS()

	start := time.Now()
	b.parallel(*manyN, func(i int) {
		if i >= few {
			b.writeRole(fmt.Sprintf("many-%d", i), role)
		}
	})
	wrote := time.Since(start)
	start = time.Now()
	b.parallel(*manyN, func(i int) { b.get(fmt.Sprintf("vendor/token/many-%d", i)) })
	warmed := time.Since(start)
	large := readAll(*manyN)
	rssMany := b.pluginRSS()
	fmt.Printf("## Many roles\n\nCached reads by 8 clients spread over every role, 3 s each. Writing %d roles took %s; their first reads (a mint each) %s.\n\n", *manyN-few, wrote.Round(time.Millisecond), warmed.Round(time.Millisecond))
	fmt.Println("| roles | reads/s | p50 ms | p99 ms | plugin RSS |\n|---|---|---|---|---|")
	fmt.Printf("| %d | %.0f | %s | %s | %s |\n| %d | %.0f | %s | %s | %s |\n\n", few, small.rate(), ms(small.pct(.5)), ms(small.pct(.99)), rssFew,
		*manyN, large.rate(), ms(large.pct(.5)), ms(large.pct(.99)), rssMany)
	fmt.Printf("p50 with %d roles is **%.0f %%** of p50 with %d (goal within 10 %%); RSS goal ≤ 64 MB.\n", *manyN, 100*float64(large.pct(.5))/float64(small.pct(.5)), few)
}

func (b *bench) parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func (b *bench) pluginRSS() string {
	pid, err := b.vault.PluginPID("vault-plugin-secrets-vendor")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.Fields(rest)[0])
			return fmt.Sprintf("%.1f MB", float64(kb)/1024)
		}
	}
	return "unknown"
}

func cpuModel() string {
	raw, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}

func vaultVersion(bin string) string {
	out, _ := execOutput(bin, "version")
	return strings.TrimSpace(out)
}

func execOutput(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).Output()
	return string(out), err
}
