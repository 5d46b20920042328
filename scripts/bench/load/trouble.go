package main

// Vendors in trouble, through the real Vault: a slow vendor under steady
// load, an outage under load, and a vendor that hangs while a cached token
// is still alive. Each scenario has a vendor of its own, so that its fault
// and its call counter concern its role alone.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	slowDelay    = flag.Duration("slow-delay", 3*time.Second, "slow vendor: how long it holds every token answer")
	slowTTL      = flag.Duration("slow-ttl", 20*time.Second, "slow vendor: token_ttl_cap of its role (at least 10s)")
	slowRefresh  = flag.Duration("slow-refresh-before", 8*time.Second, "slow vendor: refresh_before of its role")
	slowLives    = flag.Int("slow-lifetimes", 3, "slow vendor: token lifetimes to read for")
	slowClients  = flag.Int("slow-clients", 2, "slow vendor: clients reading")
	outageLen    = flag.Duration("outage", 30*time.Second, "outage: how long the vendor answers 503 to every token call")
	outageCl     = flag.Int("outage-clients", 2, "outage: clients reading")
	recoveryWait = flag.Duration("recovery-wait", 2*time.Minute, "outage: how long to wait after it for the first token")
	hangTTL      = flag.Duration("hang-ttl", 20*time.Second, "hanging vendor: token_ttl_cap of its role (at least 10s)")
	hangRefresh  = flag.Duration("hang-refresh-before", 10*time.Second, "hanging vendor: refresh_before of its role (at most half of -hang-ttl)")
	hangClients  = flag.Int("hang-clients", 2, "hanging vendor: clients reading")
)

const (
	slowVendor   = "cyberark"
	outageVendor = "privx"
	hangVendor   = "cyberark-pam"
	// expiryMargin: reads of the hanging vendor's role stop this long
	// before its cached token expires, so every read has a live token.
	expiryMargin = 3 * time.Second
	// overrun: a read still waiting this long after its scenario's window
	// is abandoned and reported as such.
	overrun = 2 * time.Second
)

// read is one token read: when it started, how long it took, Vault's
// status (0: abandoned or no answer) and the token it got.
type read struct {
	at   time.Time
	lat  time.Duration
	code int
	tok  string
}

// watch runs clients that read path in a loop until stop closes; a read
// still waiting overrun after that is abandoned (code 0, its wait so far).
// done, when set, is called with every finished read and may close stop.
func (b *bench) watch(clients int, path string, stop <-chan struct{}, done func(read)) []read {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-stop
		select {
		case <-time.After(overrun):
			cancel()
		case <-ctx.Done():
		}
	}()
	hc := &http.Client{Transport: b.hc.Transport} // no timeout: the context ends a read
	var mu sync.Mutex
	var reads []read
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := b.timedRead(ctx, hc, path)
				mu.Lock()
				reads = append(reads, r)
				if done != nil {
					done(r)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(reads, func(i, j int) bool { return reads[i].at.Before(reads[j].at) })
	return reads
}

func (b *bench) timedRead(ctx context.Context, hc *http.Client, path string) read {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.vault.Addr+"/v1/"+path, nil)
	req.Header.Set("X-Vault-Token", b.vault.Token)
	r := read{at: time.Now()}
	resp, err := hc.Do(req)
	if err != nil {
		r.lat = time.Since(r.at)
		return r
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.lat, r.code = time.Since(r.at), resp.StatusCode
	if r.code == http.StatusOK {
		var body struct {
			Data struct {
				AccessToken string `json:"access_token"`
			} `json:"data"`
		}
		json.Unmarshal(raw, &body)
		r.tok = body.Data.AccessToken // compared, never printed
	}
	return r
}

// callLog samples a vendor's token call counter every few milliseconds, so
// that calls can be placed in time (to the sampling period).
type callLog struct {
	mu    sync.Mutex
	at    []time.Time
	count []int
	stop  chan struct{}
	done  chan struct{}
}

const callSampling = 50 * time.Millisecond

func (b *bench) logCalls(vendor string) *callLog {
	l := &callLog{stop: make(chan struct{}), done: make(chan struct{})}
	sample := func() {
		n := b.calls(vendor)
		l.mu.Lock()
		l.at, l.count = append(l.at, time.Now()), append(l.count, n)
		l.mu.Unlock()
	}
	sample()
	go func() {
		defer close(l.done)
		t := time.NewTicker(callSampling)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				sample()
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return l
}

func (l *callLog) close() { close(l.stop); <-l.done }

// at is the count sampled last at or before t.
func (l *callLog) countAt(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.at), func(i int) bool { return l.at[i].After(t) })
	return l.count[max(i-1, 0)]
}

// countAfter is the count sampled first after t (or last): it holds every
// call the vendor had received by t.
func (l *callLog) countAfter(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := sort.Search(len(l.at), func(i int) bool { return l.at[i].After(t) })
	return l.count[min(i, len(l.count)-1)]
}

// times lists when the count rose in (from, to], as offsets from from.
func (l *callLog) times(from, to time.Time) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(l.at); i++ {
		if l.at[i].After(from) && !l.at[i].After(to) {
			for range l.count[i] - l.count[i-1] {
				out = append(out, l.at[i].Sub(from))
			}
		}
	}
	return out
}

// stats of a set of reads.
type stats struct {
	n, ok, failed, abandoned int
	codes                    map[int]int
	all, bad                 sample // latencies of every read, of the failed ones
	tokens                   map[string]bool
}

func summarize(reads []read, keep func(read) bool) stats {
	s := stats{codes: map[int]int{}, tokens: map[string]bool{}}
	for _, r := range reads {
		if keep != nil && !keep(r) {
			continue
		}
		s.n++
		s.all.lat = append(s.all.lat, r.lat)
		switch {
		case r.code == http.StatusOK:
			s.ok++
			s.tokens[r.tok] = true
		case r.code == 0:
			s.abandoned++
		default:
			s.failed++
			s.codes[r.code]++
			s.bad.lat = append(s.bad.lat, r.lat)
		}
	}
	return s
}

func (s sample) slowest() time.Duration {
	var m time.Duration
	for _, l := range s.lat {
		m = max(m, l)
	}
	return m
}

func (s sample) over(d time.Duration) int {
	n := 0
	for _, l := range s.lat {
		if l >= d {
			n++
		}
	}
	return n
}

func codeList(codes map[int]int) string {
	if len(codes) == 0 {
		return "none"
	}
	keys := make([]int, 0, len(codes))
	for c := range codes {
		keys = append(keys, c)
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, c := range keys {
		parts[i] = fmt.Sprintf("%d × %d", codes[c], c)
	}
	return strings.Join(parts, ", ")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func offsets(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1f", d.Seconds())
	}
	return strings.Join(parts, ", ") + " s"
}

func (b *bench) fault(vendor string, f map[string]any) {
	f["vendor"], f["endpoint"] = vendor, "token"
	b.sim.Control(b.o, "/fault", f)
}

func (b *bench) clearFaults() { b.sim.Control(b.o, "/clear", map[string]any{}) }

func afterDelay(d time.Duration) <-chan struct{} {
	c := make(chan struct{})
	time.AfterFunc(d, func() { close(c) })
	return c
}

// slowVendorLoad: a vendor that answers every token call after slowDelay,
// under steady load for a few token lifetimes. Refresh ahead would keep
// every read on a cached token and make one call per token.
func (b *bench) slowVendorLoad() {
	role := b.simRole(slowVendor)
	role["token_ttl_cap"], role["refresh_before"] = int(slowTTL.Seconds()), int(slowRefresh.Seconds())
	b.writeRole("slow", role)
	b.fault(slowVendor, map[string]any{"delay_ms": slowDelay.Milliseconds(), "times": -1})
	defer b.clearFaults()
	t0 := time.Now()
	var first struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	json.Unmarshal(b.get("vendor/token/slow"), &first)
	cold := time.Since(t0)

	window := time.Duration(*slowLives) * *slowTTL
	before := b.calls(slowVendor)
	reads := b.watch(*slowClients, "vendor/token/slow", afterDelay(window), nil)
	calls := b.calls(slowVendor) - before
	s := summarize(reads, nil)
	delete(s.tokens, first.Data.AccessToken)
	// As the plugin takes refresh_before: at most half the token's life.
	refresh := min(*slowRefresh, *slowTTL/2)
	bound := int(math.Ceil(window.Seconds() / (*slowTTL - refresh).Seconds()))
	fmt.Printf("## Slow vendor under steady load\n\nThe simulated %s answers every token call after %s. Role: token_ttl_cap %s, refresh_before %s. "+
		"After its first (cold) read, which took %s ms, %d clients read it for %s (%d token lifetimes).\n\n",
		slowVendor, *slowDelay, *slowTTL, *slowRefresh, ms(cold), *slowClients, window, *slowLives)
	fmt.Println("| reads | failed | p50 ms | p99 ms | slowest ms | reads ≥ 50 ms | reads ≥ 1 s | vendor calls | calls per lifetime | new tokens served |\n|---|---|---|---|---|---|---|---|---|---|")
	fmt.Printf("| %d | %d | %s | %s | %s | %d | %d | %d | %.2f | %d |\n\n", s.n, s.failed+s.abandoned, ms(s.all.pct(.5)), ms(s.all.pct(.99)),
		ms(s.all.slowest()), s.all.over(50*time.Millisecond), s.all.over(time.Second), calls, float64(calls)/float64(*slowLives), len(s.tokens))
	fmt.Printf("Slowest read **%s ms** (goal < 50 ms); **%d vendor calls** for %d new tokens served in %d lifetimes "+
		"(goal: one call per token, never more than ⌈%s / (%s − %s)⌉ = %d).\n\n",
		ms(s.all.slowest()), calls, len(s.tokens), *slowLives, window, *slowTTL, refresh, bound)
}

// outage: a role with no cached token while the vendor answers 503 to
// every token call, read under load; then the vendor recovers.
func (b *bench) outage() {
	b.writeRole("outage", b.simRole(outageVendor))
	// One good mint, so that the plugin knows the credential works; then a
	// role write drops the cached token.
	b.get("vendor/token/outage")
	b.writeRole("outage", b.simRole(outageVendor))

	log := b.logCalls(outageVendor)
	b.fault(outageVendor, map[string]any{"status": http.StatusServiceUnavailable, "body": `{"error":"temporarily_unavailable"}`, "times": -1})
	start := time.Now()
	stop := make(chan struct{})
	var mu sync.Mutex
	var end, recovered time.Time
	var callsIn int
	var once sync.Once
	time.AfterFunc(*outageLen, func() {
		n := b.calls(outageVendor) - log.countAt(start)
		b.clearFaults()
		mu.Lock()
		end, callsIn = time.Now(), n
		mu.Unlock()
		time.AfterFunc(*recoveryWait, func() { once.Do(func() { close(stop) }) })
	})
	reads := b.watch(*outageCl, "vendor/token/outage", stop, func(r read) {
		mu.Lock()
		defer mu.Unlock()
		if done := r.at.Add(r.lat); r.code == http.StatusOK && recovered.IsZero() && !end.IsZero() && done.After(end) {
			recovered = done
			once.Do(func() { close(stop) })
		}
	})
	b.clearFaults()
	log.close()
	mu.Lock()
	defer mu.Unlock()

	in := summarize(reads, func(r read) bool { return r.at.Before(end) })
	fmt.Printf("## Vendor outage under load\n\nA %s role with no cached token (its credential minted once before); the simulated vendor answers 503 to every token call for %s while %d clients read the role.\n\n",
		outageVendor, *outageLen, *outageCl)
	fmt.Println("| reads | failed | answered 200 | failed p50 ms | failed p99 ms | failed max ms | failed ≥ 10 ms | vendor calls |\n|---|---|---|---|---|---|---|---|")
	fmt.Printf("| %d | %d | %d | %s | %s | %s | %d | %d |\n\n", in.n, in.failed+in.abandoned, in.ok, ms(in.bad.pct(.5)), ms(in.bad.pct(.99)), ms(in.bad.slowest()),
		in.bad.over(10*time.Millisecond), callsIn)
	fmt.Printf("Failed reads' statuses: %s. Vendor calls at (s after the outage began, to %s): %s.\n\n", codeList(in.codes), callSampling, offsets(log.times(start, end)))
	fmt.Printf("**%d vendor calls** in the outage (goal: the backoff's, from 1 s, at most 12); failing reads answered in **%s ms at p99, %s ms at most** (goal < 10 ms).\n\n",
		callsIn, ms(in.bad.pct(.99)), ms(in.bad.slowest()))
	if recovered.IsZero() {
		after := summarize(reads, func(r read) bool { return !r.at.Before(end) })
		fmt.Printf("Recovery: **no token within %s** after the outage ended (%d reads, statuses %s; %d vendor call(s)).\n\n",
			*recoveryWait, after.n, codeList(after.codes), log.countAfter(time.Now())-log.countAt(end))
		return
	}
	after := summarize(reads, func(r read) bool {
		return r.code != http.StatusOK && !r.at.Before(end) && r.at.Add(r.lat).Before(recovered)
	})
	fmt.Printf("Recovery: the first token came **%s** after the outage ended, after %d failed reads and %d vendor call(s) (at %s after the end).\n\n",
		secs(recovered.Sub(end)), after.n, log.countAfter(recovered)-log.countAt(end), offsets(log.times(end, recovered.Add(callSampling))))
}

// hangingVendor: the vendor never answers a token call while the role's
// cached token is alive: reads before and past its refresh point.
func (b *bench) hangingVendor() {
	role := b.simRole(hangVendor)
	role["token_ttl_cap"], role["refresh_before"] = int(hangTTL.Seconds()), int(hangRefresh.Seconds())
	b.writeRole("hang", role)
	var first struct {
		Data struct {
			ExpiresIn int64 `json:"expires_in"`
			TTL       int64 `json:"ttl"`
		} `json:"data"`
	}
	minted := time.Now()
	json.Unmarshal(b.get("vendor/token/hang"), &first)
	got := time.Now()
	// The vendor gives session tokens no lifetime: token_ttl_cap is theirs.
	// The token was minted between minted and got (milliseconds apart):
	// its expiry and refresh point are taken at their earliest.
	expires := minted.Add(*hangTTL)
	refreshAt := minted.Add(*hangTTL - min(*hangRefresh, *hangTTL/2))
	if d := got.Add(time.Duration(first.Data.TTL)*time.Second).Sub(refreshAt) + time.Second; d < -time.Second/2 || d > 2*time.Second {
		b.o.Fatalf("hang: the plugin's ttl %d s does not match token_ttl_cap %s and refresh_before %s", first.Data.TTL, *hangTTL, *hangRefresh)
	}
	if expires.Sub(got) <= expiryMargin {
		b.o.Fatalf("hang: token expires in %s: raise -hang-ttl", expires.Sub(got))
	}
	b.fault(hangVendor, map[string]any{"delay_ms": (10 * time.Minute).Milliseconds(), "times": -1})
	defer b.clearFaults()
	before := b.calls(hangVendor)
	readFrom := time.Now()
	window := expires.Add(-expiryMargin).Sub(readFrom)
	reads := b.watch(*hangClients, "vendor/token/hang", afterDelay(window), nil)
	calls := b.calls(hangVendor) - before
	all := summarize(reads, nil)
	// By when a read ended: one that began a moment before the refresh
	// point may reach the plugin after it.
	fresh := summarize(reads, func(r read) bool { return r.at.Add(r.lat).Before(refreshAt) })
	past := summarize(reads, func(r read) bool { return !r.at.Add(r.lat).Before(refreshAt) })
	fmt.Printf("## Hanging vendor, live cached token\n\nA %s role (token_ttl_cap %s, refresh_before %s) minted a token; then the simulated vendor stopped answering token calls. "+
		"%d clients read the role for %s, from %s after the mint to %s before the token expires (a read still waiting %s after that is abandoned).\n\n",
		hangVendor, *hangTTL, *hangRefresh, *hangClients, window.Round(100*time.Millisecond), secs(readFrom.Sub(minted)), expiryMargin, overrun)
	fmt.Println("| reads | count | failed | abandoned | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|")
	for _, row := range []struct {
		name string
		s    stats
	}{{"ended before the refresh point", fresh}, {"ended at or past it", past}, {"all", all}} {
		fmt.Printf("| %s | %d | %d | %d | %s | %s | %s |\n", row.name, row.s.n, row.s.failed, row.s.abandoned,
			ms(row.s.all.pct(.5)), ms(row.s.all.pct(.99)), ms(row.s.all.slowest()))
	}
	fmt.Printf("\nFailed reads' statuses: %s. Vendor token calls started meanwhile: %d. An abandoned read counts with its wait until then.\n\n", codeList(all.codes), calls)
	atLeast := ""
	if all.abandoned > 0 {
		atLeast = "≥ " // an abandoned read was still waiting
	}
	fmt.Printf("Slowest read **%s%s ms** (goal: every read < 50 ms).\n\n", atLeast, ms(all.all.slowest()))
}
