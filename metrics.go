package vendor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vendortoken/vault-plugin-secrets-vendor/client"
)

// metrics counts what the plugin does with its vendors, for the metrics
// path. Every series is pre-built when the backend is made: labels come
// from the registered vendor names and from fixed sets, never from a role
// name or anything a caller sends, so ten thousand roles make no more
// series than one. Recording is an index lookup and an atomic add.
type metrics struct {
	vendors []string       // registered vendor names, sorted, then "other"
	index   map[string]int // vendor name -> position in vendors

	mints     [][numMintOutcomes]atomic.Uint64
	mintTimes []histogram
	reads     [][numReadSources]atomic.Uint64
	rotations [][numTriggers][numRotationOutcomes]atomic.Uint64

	// cached counts the cached tokens when the metrics are read.
	cached func() int
}

// labelOther stands for any vendor, outcome, source or trigger outside the
// fixed sets.
const labelOther = "other"

// outcomeHeld: a mint the logon guard or the role's backoff held back,
// with no vendor call.
const outcomeHeld = "held"

// Mint outcomes: ok, the vendor's refusal, input refused before any call,
// a logon held back, or an UnavailableError's class.
var mintOutcomes = [...]string{
	"ok", "refused", "invalid", outcomeHeld,
	"timeout", "connection_refused", "network_error", "tls_error", "5xx", "429", "bad_response",
	labelOther,
}

const numMintOutcomes = len(mintOutcomes)

// mintOutcomeIndex takes the outcome names and the client's class strings
// ("TLS error") alike.
var mintOutcomeIndex = func() map[string]int {
	m := map[string]int{}
	for i, o := range mintOutcomes {
		m[o] = i
	}
	for _, c := range []string{client.ClassTimeout, client.ClassRefused, client.ClassNetwork, client.ClassTLS,
		client.ClassServer, client.ClassRateLimited, client.ClassBadResponse} {
		m[c] = m[classLabel(c)]
	}
	return m
}()

// classLabel is an UnavailableError class as a label value.
func classLabel(class string) string {
	return strings.ToLower(strings.ReplaceAll(class, " ", "_"))
}

// Token read sources.
const (
	srcCache = "cache" // a fresh cached token
	srcWait  = "wait"  // the reader waited for a mint
	srcStale = "stale" // a token past its refresh point, or kept through a failed mint
	srcError = "error" // no token
)

var readSources = [...]string{srcCache, srcWait, srcStale, srcError, labelOther}

const numReadSources = len(readSources)

var rotationTriggers = [...]string{triggerManual, triggerScheduled, triggerRecovery, labelOther}

const numTriggers = len(rotationTriggers)

// Rotation outcomes.
const (
	rotOK     = "ok"     // the role switched to a new secret
	rotUndone = "undone" // an unfinished rotation was undone; the role keeps its secret
	rotFailed = "failed" // the rotation failed; the role keeps its secret
	rotLost   = "lost"   // the role's secret is lost
)

var rotationOutcomes = [...]string{rotOK, rotUndone, rotFailed, rotLost, labelOther}

const numRotationOutcomes = len(rotationOutcomes)

// mintBuckets are the upper bounds of the mint latency histogram.
var mintBuckets = []time.Duration{
	5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second, 30 * time.Second,
}

// histogram counts observations per bucket (not cumulative: each in the
// first bucket that holds it, the last slot past every bound) and their sum.
type histogram struct {
	counts []atomic.Uint64
	sumNs  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	i := sort.Search(len(mintBuckets), func(i int) bool { return d <= mintBuckets[i] })
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

func newMetrics() *metrics {
	m := &metrics{vendors: append(client.Names(), labelOther), index: map[string]int{}}
	for i, v := range m.vendors {
		m.index[v] = i
	}
	n := len(m.vendors)
	m.mints = make([][numMintOutcomes]atomic.Uint64, n)
	m.reads = make([][numReadSources]atomic.Uint64, n)
	m.rotations = make([][numTriggers][numRotationOutcomes]atomic.Uint64, n)
	m.mintTimes = make([]histogram, n)
	for i := range m.mintTimes {
		m.mintTimes[i].counts = make([]atomic.Uint64, len(mintBuckets)+1)
	}
	m.cached = func() int { return 0 }
	return m
}

func (m *metrics) vendor(name string) int {
	if i, ok := m.index[name]; ok {
		return i
	}
	return len(m.vendors) - 1
}

// indexOf is s's position in set, or that of "other" (the last).
func indexOf(set []string, s string) int {
	for i, v := range set {
		if v == s {
			return i
		}
	}
	return len(set) - 1
}

// mint counts a mint of vendor's and, when it called the vendor (every
// outcome but held and invalid), its latency. outcome is mintOutcome's.
func (m *metrics) mint(vendor, outcome string, took time.Duration) {
	v := m.vendor(vendor)
	o, ok := mintOutcomeIndex[outcome]
	if !ok {
		o = numMintOutcomes - 1
	}
	m.mints[v][o].Add(1)
	if mintOutcomes[o] != outcomeHeld && mintOutcomes[o] != "invalid" {
		m.mintTimes[v].observe(took)
	}
}

// mintOutcome classes a mint's error as the mints counter labels it.
func mintOutcome(err error) string {
	var ue *client.UnavailableError
	var ie *inputError
	var down *errLogonDown
	switch {
	case err == nil:
		return "ok"
	case isHeld(err), errors.As(err, &down):
		return outcomeHeld
	case vendorRefused(err):
		return "refused"
	case errors.Is(err, client.ErrInvalid), errors.As(err, &ie):
		return "invalid"
	case errors.As(err, &ue):
		if _, ok := mintOutcomeIndex[ue.Class]; ok {
			return classLabel(ue.Class)
		}
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return labelOther
}

// tokenRead counts a token read of vendor's by where its answer came from.
func (m *metrics) tokenRead(vendor, source string) {
	s := numReadSources - 1
	switch source {
	case srcCache:
		s = 0
	case srcWait:
		s = 1
	case srcStale:
		s = 2
	case srcError:
		s = 3
	}
	m.reads[m.vendor(vendor)][s].Add(1)
}

// rotation counts a rotation of vendor's by trigger and outcome.
func (m *metrics) rotation(vendor, trigger, outcome string) {
	m.rotations[m.vendor(vendor)][indexOf(rotationTriggers[:], trigger)][indexOf(rotationOutcomes[:], outcome)].Add(1)
}

// cachedTokens is a no-op kept for callers of the shared API: the cached
// tokens gauge is counted from the roles' caches when the metrics are read
// (m.cached), so that no drop of a role or of all of them can make it drift.
func (m *metrics) cachedTokens(delta int) {}

// countCached is the number of cached tokens not yet expired.
func (b *backend) countCached() int {
	now := b.now()
	n := 0
	b.roles.Range(func(_, v any) bool {
		if t := v.(*roleState).tok.Load(); t != nil && now.Before(t.expiresAt) {
			n++
		}
		return true
	})
	return n
}

// Metric families, as the Prometheus text names them.
const (
	famMints     = "vault_vendor_mints_total"
	famMintTime  = "vault_vendor_mint_duration_seconds"
	famReads     = "vault_vendor_token_reads_total"
	famRotations = "vault_vendor_rotations_total"
	famCached    = "vault_vendor_cached_tokens"
)

// prometheusContentType is the text exposition format's media type.
const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// prometheus writes every family in the text exposition format. A series
// appears once it has counted something; the gauge always does.
func (m *metrics) prometheus() []byte {
	var b strings.Builder
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	family(famMints, "counter", "Token mints by vendor and outcome (ok, refused, invalid, held, or the failure class).")
	for v, vendor := range m.vendors {
		for o := range m.mints[v] {
			if n := m.mints[v][o].Load(); n > 0 {
				fmt.Fprintf(&b, "%s{vendor=%s,outcome=%s} %d\n", famMints, quote(vendor), quote(mintOutcomes[o]), n)
			}
		}
	}
	family(famMintTime, "histogram", "Time of the mints that called the vendor, in seconds, by vendor.")
	for v, vendor := range m.vendors {
		counts, sum := m.mintTimes[v].snapshot()
		total := counts[len(counts)-1]
		if total == 0 {
			continue
		}
		for i, le := range bucketLabels() {
			fmt.Fprintf(&b, "%s_bucket{vendor=%s,le=%s} %d\n", famMintTime, quote(vendor), quote(le), counts[i])
		}
		fmt.Fprintf(&b, "%s_sum{vendor=%s} %s\n", famMintTime, quote(vendor), formatFloat(sum))
		fmt.Fprintf(&b, "%s_count{vendor=%s} %d\n", famMintTime, quote(vendor), total)
	}
	family(famReads, "counter", "Token reads by vendor and source (cache, wait, stale, error).")
	for v, vendor := range m.vendors {
		for s := range m.reads[v] {
			if n := m.reads[v][s].Load(); n > 0 {
				fmt.Fprintf(&b, "%s{vendor=%s,source=%s} %d\n", famReads, quote(vendor), quote(readSources[s]), n)
			}
		}
	}
	family(famRotations, "counter", "Secret rotations by vendor, trigger (manual, scheduled, recovery) and outcome (ok, undone, failed, lost).")
	for v, vendor := range m.vendors {
		for tr := range m.rotations[v] {
			for o := range m.rotations[v][tr] {
				if n := m.rotations[v][tr][o].Load(); n > 0 {
					fmt.Fprintf(&b, "%s{vendor=%s,trigger=%s,outcome=%s} %d\n", famRotations, quote(vendor), quote(rotationTriggers[tr]), quote(rotationOutcomes[o]), n)
				}
			}
		}
	}
	family(famCached, "gauge", "Tokens cached on this node and not yet expired.")
	fmt.Fprintf(&b, "%s %d\n", famCached, m.cached())
	return []byte(b.String())
}

// snapshot returns the cumulative bucket counts, the last being every
// observation (+Inf), and the sum in seconds.
func (h *histogram) snapshot() ([]uint64, float64) {
	counts := make([]uint64, len(h.counts))
	var run uint64
	for i := range h.counts {
		run += h.counts[i].Load()
		counts[i] = run
	}
	return counts, time.Duration(h.sumNs.Load()).Seconds()
}

// bucketLabels are the histogram's le values: each bound in seconds, then +Inf.
func bucketLabels() []string {
	out := make([]string, 0, len(mintBuckets)+1)
	for _, d := range mintBuckets {
		out = append(out, formatFloat(d.Seconds()))
	}
	return append(out, "+Inf")
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// labelEscaper escapes a label value as the text format requires.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// quote is a label value as the text format writes it.
func quote(s string) string { return `"` + labelEscaper.Replace(s) + `"` }

// json is the metrics as the metrics path's JSON answer holds them; a
// series appears once it has counted something, as in the text format.
//
//	cached_tokens           number
//	mints                   {vendor: {outcome: count}}
//	mint_duration_seconds   {vendor: {count, sum, buckets: {le: cumulative count}}}
//	token_reads             {vendor: {source: count}}
//	rotations               {vendor: {trigger: {outcome: count}}}
func (m *metrics) json() map[string]any {
	mints := map[string]any{}
	times := map[string]any{}
	reads := map[string]any{}
	rotations := map[string]any{}
	for v, vendor := range m.vendors {
		if row := nonZero(m.mints[v][:], mintOutcomes[:]); len(row) > 0 {
			mints[vendor] = row
		}
		if counts, sum := m.mintTimes[v].snapshot(); counts[len(counts)-1] > 0 {
			buckets := map[string]uint64{}
			for i, le := range bucketLabels() {
				buckets[le] = counts[i]
			}
			times[vendor] = map[string]any{"count": counts[len(counts)-1], "sum": sum, "buckets": buckets}
		}
		if row := nonZero(m.reads[v][:], readSources[:]); len(row) > 0 {
			reads[vendor] = row
		}
		byTrigger := map[string]any{}
		for tr := range m.rotations[v] {
			if row := nonZero(m.rotations[v][tr][:], rotationOutcomes[:]); len(row) > 0 {
				byTrigger[rotationTriggers[tr]] = row
			}
		}
		if len(byTrigger) > 0 {
			rotations[vendor] = byTrigger
		}
	}
	return map[string]any{
		"cached_tokens":         m.cached(),
		"mints":                 mints,
		"mint_duration_seconds": times,
		"token_reads":           reads,
		"rotations":             rotations,
	}
}

func nonZero(counters []atomic.Uint64, names []string) map[string]uint64 {
	out := map[string]uint64{}
	for i := range counters {
		if n := counters[i].Load(); n > 0 {
			out[names[i]] = n
		}
	}
	return out
}
