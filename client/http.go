package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	cleanhttp "github.com/hashicorp/go-cleanhttp"
	retryablehttp "github.com/hashicorp/go-retryablehttp"
)

// Defaults for Options fields left zero.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxBodyBytes = 1 << 20
	DefaultRetryWaitMin = 250 * time.Millisecond
	DefaultRetryWaitMax = 5 * time.Second
)

// Options configure the HTTP layer for one role.
type Options struct {
	// Timeout bounds each attempt.
	Timeout time.Duration
	// MaxRetries is how many times a request is retried after a network
	// error, a 429 or a 5xx. Negative means none.
	MaxRetries int
	// RetryWaitMin and RetryWaitMax bound the backoff; a Retry-After beyond
	// RetryWaitMax is not waited for: the request fails at once.
	RetryWaitMin, RetryWaitMax time.Duration
	// CACertPEM, when set, replaces the system roots.
	CACertPEM string
	// UserAgent is sent on every request.
	UserAgent string
	// MaxBodyBytes caps a response body.
	MaxBodyBytes int64
	// CheckURL, when set, vets every URL before it is called (host policy).
	CheckURL func(*url.URL) error
	// Now is the clock used to read Retry-After dates.
	Now func() time.Time
}

// newTransport is a pooled transport with explicit timeouts that trusts
// only caPEM when it is set.
func newTransport(caPEM string, timeout time.Duration) (*http.Transport, error) {
	tr := cleanhttp.DefaultPooledTransport()
	// Checks every address a connection goes to, after DNS.
	tr.DialContext = newDialer().DialContext
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	// Often shared by many roles of one vendor: keep more than cleanhttp's
	// few idle connections per host, so concurrent mints need no handshakes.
	tr.MaxIdleConnsPerHost = 16
	if caPEM != "" {
		pool, err := ParseCAPEM(caPEM)
		if err != nil {
			return nil, invalid("ca_cert", err.Error())
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return tr, nil
}

// HTTP is the transport one role uses for every vendor call: pooled
// connections, explicit timeouts, bounded retries, no redirects, capped bodies.
type HTTP struct {
	rc       *retryablehttp.Client
	opts     Options
	deadline time.Duration
}

// NewHTTP builds the transport. It fails only on a bad CA bundle.
func NewHTTP(o Options) (*HTTP, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = DefaultRetryWaitMin
	}
	if o.RetryWaitMax <= 0 {
		o.RetryWaitMax = DefaultRetryWaitMax
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}

	tr, err := newTransport(o.CACertPEM, o.Timeout)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		// Token and rotation calls carry credentials: a redirect could hand
		// them to another host, so the 3xx itself is returned.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	h := &HTTP{opts: o}
	h.rc = &retryablehttp.Client{
		HTTPClient:   hc,
		RetryWaitMin: o.RetryWaitMin,
		RetryWaitMax: o.RetryWaitMax,
		RetryMax:     o.MaxRetries,
		CheckRetry:   h.shouldRetry,
		Backoff:      h.backoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	// Every attempt plus every wait, so one call cannot outlive its budget.
	h.deadline = time.Duration(o.MaxRetries+1)*o.Timeout + time.Duration(o.MaxRetries)*o.RetryWaitMax
	return h, nil
}

// Deadline is the longest one call through h can take, retries included.
func (h *HTTP) Deadline() time.Duration { return h.deadline }

// CloseIdle releases pooled connections.
func (h *HTTP) CloseIdle() { h.rc.HTTPClient.CloseIdleConnections() }

// CACert is the PEM the transport trusts, as given.
func (h *HTTP) CACert() string { return h.opts.CACertPEM }

// ParseCAPEM parses one or more PEM certificates into a pool.
func ParseCAPEM(pemText string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pemText)) {
		return nil, errors.New("holds no PEM certificate; paste the vendor's CA as -----BEGIN CERTIFICATE----- ... or use ca_cert=@file.pem")
	}
	return pool, nil
}

// singleAttempt marks a request context whose call must not be retried.
type singleAttempt struct{}

// logonAttempt marks a logon, which is not retried after a 5xx answer.
type logonAttempt struct{}

func (h *HTTP) shouldRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if ctx.Value(singleAttempt{}) != nil {
		return false, nil
	}
	if err != nil {
		// Bad certificates, bad schemes, refused addresses and the like cannot heal.
		var be *BlockedAddressError
		if errors.As(err, &be) {
			return false, nil
		}
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	if resp.StatusCode >= 500 && ctx.Value(logonAttempt{}) != nil {
		return false, nil
	}
	if resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented) {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), h.opts.Now()); ok && d > h.opts.RetryWaitMax {
			// The vendor asks for longer than we may wait: fail now and say so.
			return false, nil
		}
		return true, nil
	}
	return false, nil
}

func (h *HTTP) backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), h.opts.Now()); ok {
			return clampDuration(d, 0, max)
		}
	}
	return Backoff(min, max, attempt)
}

// Backoff doubles from min for each attempt, capped at max.
func Backoff(min, max time.Duration, attempt int) time.Duration {
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	return clampDuration(d, min, max)
}

func clampDuration(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		return lo
	}
	if d > hi {
		return hi
	}
	return d
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date,
// either held to a day at most.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	const most = 24 * time.Hour
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return min(time.Duration(min(secs, int64(most/time.Second)))*time.Second, most), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return clampDuration(t.Sub(now), 0, most), true
	}
	return 0, false
}

// request is one vendor call.
type request struct {
	vendor, op string
	method     string
	url        string
	header     http.Header
	body       []byte
	secrets    []string // removed from any text that reaches an error
	once       bool     // not idempotent: one attempt, never retried
	// logon: the call proves a secret. A 5xx answer to it is not retried:
	// the vendor may have counted it as a failed logon already.
	logon bool
	// fresh, when set, makes the body anew for every attempt, in place of
	// body: a signed assertion is good for one use, and a retry that sent
	// it again would be refused as a replay. It returns the credential the
	// body carries, in every form that is secret, kept out of errors like
	// the other secrets. Every body it makes must be of the same length
	// (Content-Length is set once).
	fresh func() (body []byte, credential []string, err error)
}

// do performs r and returns the body of a 2xx answer. Anything else comes
// back as a *RejectedError (the vendor refused) or an *UnavailableError.
func (h *HTTP) do(ctx context.Context, r request) ([]byte, error) {
	if auth := r.header.Get("Authorization"); auth != "" {
		// Whatever credentials this request carries, in the form they
		// travel: a vendor may echo the header.
		r.secrets = append(r.secrets[:len(r.secrets):len(r.secrets)], credentialOf(auth))
	}
	u, err := url.Parse(r.url)
	if err != nil {
		return nil, invalid(FieldBaseURL, "is not a valid URL")
	}
	unavailable := func(class string, status int, detail string) error {
		return &UnavailableError{Vendor: r.vendor, Op: r.op, Class: class, Host: u.Host, Path: redact(clip(u.Path, 200), r.secrets), Status: status,
			Detail: redact(detail, r.secrets), Timeout: h.opts.Timeout}
	}
	if u.RawQuery != "" {
		// Kept out of errors: a token_url's query can hold a key, whole or
		// one value at a time (values too short to be keys are not).
		r.secrets = append(r.secrets[:len(r.secrets):len(r.secrets)], u.RawQuery)
		for k, vs := range u.Query() {
			if strings.Join(vs, "") == "" && len(k) >= minRedact {
				r.secrets = append(r.secrets, k) // a bare ?KEY
			}
			for _, v := range vs {
				if len(v) >= minRedact {
					r.secrets = append(r.secrets, v)
				}
			}
		}
	}
	if h.opts.CheckURL != nil {
		if err := h.opts.CheckURL(u); err != nil {
			return nil, err
		}
	}
	deadline := h.deadline
	if r.once {
		deadline = h.opts.Timeout
		ctx = context.WithValue(ctx, singleAttempt{}, true)
	}
	if r.logon {
		ctx = context.WithValue(ctx, logonAttempt{}, true)
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()

	var body any
	if r.body != nil {
		body = r.body
	}
	if r.fresh != nil {
		body = retryablehttp.ReaderFunc(func() (io.Reader, error) {
			b, credential, err := r.fresh()
			if err != nil {
				return nil, err
			}
			r.secrets = append(r.secrets[:len(r.secrets):len(r.secrets)], credential...)
			return bytes.NewReader(b), nil
		})
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, unavailable(ClassNetwork, 0, withoutQuery(err))
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", h.opts.UserAgent)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}

	resp, err := h.rc.Do(req)
	if err != nil {
		class, detail := classifyNetError(err)
		return nil, unavailable(class, 0, detail)
	}
	defer resp.Body.Close()

	data, err := io.ReadAll(io.LimitReader(resp.Body, h.opts.MaxBodyBytes+1))
	if err != nil {
		class, detail := classifyNetError(err)
		return nil, unavailable(class, resp.StatusCode, "reading the response: "+detail)
	}
	if int64(len(data)) > h.opts.MaxBodyBytes {
		return nil, unavailable(ClassBadResponse, resp.StatusCode, fmt.Sprintf("response body larger than %d bytes", h.opts.MaxBodyBytes))
	}

	ctype := resp.Header.Get("Content-Type")
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return data, nil
	case s >= 300 && s < 400:
		return nil, &RejectedError{Vendor: r.vendor, Op: r.op, Status: s,
			Message: fmt.Sprintf("the vendor redirected to %s; redirects are not followed (they could take the credentials elsewhere), so set the role's URL to the vendor's final address", redirectTarget(u, resp.Header.Get("Location")))}
	case s == http.StatusTooManyRequests:
		detail := vendorDetail(data, ctype, r.secrets)
		d, ok := retryAfter(resp.Header.Get("Retry-After"), h.opts.Now())
		if ok {
			detail = strings.TrimPrefix(detail+"; ", "; ") + fmt.Sprintf("the vendor asks to retry after %s", DurationText(d))
		}
		return nil, withRetryAfter(unavailable(ClassRateLimited, s, detail), d)
	case s == http.StatusRequestTimeout:
		return nil, unavailable(ClassTimeout, s, vendorDetail(data, ctype, r.secrets))
	case s >= 400 && s < 500:
		code, msg := vendorMessage(data, ctype, r.secrets)
		return nil, &RejectedError{Vendor: r.vendor, Op: r.op, Status: s, Code: code, Message: msg}
	default:
		d, _ := retryAfter(resp.Header.Get("Retry-After"), h.opts.Now())
		return nil, withRetryAfter(unavailable(ClassServer, s, vendorDetail(data, ctype, r.secrets)), d)
	}
}

// withRetryAfter records on an *UnavailableError how long the vendor asked
// callers to wait.
func withRetryAfter(err error, d time.Duration) error {
	if ue, ok := err.(*UnavailableError); ok {
		ue.RetryAfter = d
	}
	return err
}

// credentialOf is the credential in an Authorization header value. The
// scheme is not secret, and as the start of a secret it would have every
// "Bearer" in a vendor's message redacted.
func credentialOf(auth string) string {
	if scheme, rest, ok := strings.Cut(auth, " "); ok && (strings.EqualFold(scheme, "Basic") || strings.EqualFold(scheme, "Bearer")) {
		return rest
	}
	return auth
}

// redirectTarget says where a redirect points without quoting it: a
// Location header is the vendor's text and may echo the request.
func redirectTarget(from *url.URL, location string) string {
	if location == "" {
		return "no address"
	}
	to, err := from.Parse(location)
	switch {
	case err != nil:
		return "an address that does not parse"
	case strings.EqualFold(to.Host, from.Host) && to.Scheme == from.Scheme:
		return "another address on the same host"
	}
	return "another host"
}

func vendorDetail(body []byte, contentType string, secrets []string) string {
	code, msg := vendorMessage(body, contentType, secrets)
	if code != "" && msg != "" {
		return code + ": " + msg
	}
	return code + msg
}

// withoutQuery is err's text with the query of the URL that Go's HTTP
// client quotes in it removed: a token_url's query can hold a key.
func withoutQuery(err error) string {
	detail := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		if i := strings.IndexAny(ue.URL, "?#"); i >= 0 {
			bare := ue.URL[:i]
			detail = strings.ReplaceAll(detail, strconv.Quote(ue.URL), strconv.Quote(bare))
			detail = strings.ReplaceAll(detail, ue.URL, bare)
		}
	}
	return detail
}

// classifyNetError names the failure class of a transport error and
// describes it in plain words: Go's own text ("Post ...: dial tcp ...")
// says little to an operator and quotes the URL.
func classifyNetError(err error) (string, string) {
	var ne net.Error
	var de *net.DNSError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var be *BlockedAddressError
	switch {
	case errors.As(err, &be):
		return ClassBlocked, be.Error()
	case errors.As(err, &de) && de.IsNotFound:
		return ClassNetwork, fmt.Sprintf("host name %s not found (DNS)", strconv.Quote(de.Name))
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout, ""
	case errors.As(err, &de):
		return ClassNetwork, "DNS lookup failed: " + de.Err
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused, ""
	case errors.As(err, &ue):
		return ClassTLS, "TLS certificate not trusted (signed by an authority this role does not trust)"
	case errors.As(err, &he):
		return ClassTLS, "TLS certificate not valid for " + strconv.Quote(he.Host) + " (it was issued for another name)"
	case errors.As(err, &ie) && ie.Reason == x509.Expired:
		return ClassTLS, "TLS certificate expired or not yet valid"
	case errors.As(err, &ie):
		return ClassTLS, "TLS certificate not accepted: " + innermost(err)
	case errors.As(err, &rh):
		return ClassTLS, "the server did not answer in TLS (an http server on that port?)"
	case errors.Is(err, syscall.ECONNRESET):
		return ClassNetwork, "connection reset (by the vendor or a proxy between)"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ClassNetwork, "no route to the host"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassNetwork, "the connection closed before an answer"
	}
	var ce *tls.CertificateVerificationError
	if detail := innermost(err); errors.As(err, &ce) || strings.Contains(detail, "x509:") || strings.Contains(detail, "tls:") {
		return ClassTLS, "TLS handshake failed: " + detail
	}
	return ClassNetwork, "network error: " + innermost(err)
}

// innermost is the text of the deepest error err wraps, which holds the
// cause without the request line Go's HTTP client puts in front of it.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return clip(withoutQuery(err), 200)
}

// postForm sends an application/x-www-form-urlencoded body.
func postForm(form url.Values) (http.Header, []byte) {
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(form.Encode())
}

// basicRaw builds a Basic header from id and secret exactly as given. Go's
// SetBasicAuth does the same; x/oauth2 URL-escapes them first, which PrivX and
// Code42 reject.
func basicRaw(id, secret string) string {
	req := http.Request{Header: http.Header{}}
	req.SetBasicAuth(id, secret)
	return req.Header.Get("Authorization")
}

// jsonBody marks a JSON request body.
func jsonBody(b []byte) (http.Header, []byte) {
	return http.Header{"Content-Type": {"application/json"}}, b
}
