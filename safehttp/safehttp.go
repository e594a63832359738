// Package safehttp provides the hardened HTTP client used for every request
// whose target was discovered from user input: handle well-known documents,
// DID documents, protected resource metadata (RFC 9728), authorization server
// metadata (RFC 8414), and the PAR, token and revocation endpoints they name.
//
// The atproto OAuth specification ("Security Considerations") asks clients to
// treat these URLs as attacker-chosen. A client from [NewClient]:
//
//   - refuses to connect to non-public addresses ([IsPublicAddr]). The check
//     runs at dial time, on the address actually being connected to after DNS
//     resolution, so DNS rebinding cannot bypass it;
//   - never uses a proxy (an environment proxy would dial on our behalf and
//     bypass the address check);
//   - accepts only https URLs, on the first request and on every redirect hop;
//   - refuses redirects unless [Options.MaxRedirects] allows them, and strips
//     credentials when a redirect leaves the original origin;
//   - bounds every request with a whole-request timeout.
//
// [ReadBody] caps the size of response bodies.
//
// [Options.AllowInsecureDevelopment] lifts the scheme and address checks for
// local development networks (for example a PDS and PLC on 127.0.0.1).
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults used by [NewClient] for zero [Options] fields.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultUserAgent = "atoauth"
)

var (
	// ErrForbiddenAddress is returned (wrapped, see [AddressError]) when a
	// request would connect to an address that is not public.
	ErrForbiddenAddress = errors.New("safehttp: forbidden address")
	// ErrInsecureURL is returned (wrapped) for a URL whose scheme is not
	// https (http is allowed only with AllowInsecureDevelopment) or that has
	// no host.
	ErrInsecureURL = errors.New("safehttp: insecure URL")
	// ErrRedirect is returned (wrapped, see [RedirectError]) when a response
	// redirects and the redirect is not allowed.
	ErrRedirect = errors.New("safehttp: redirect refused")
	// ErrTooLarge is returned (wrapped) by [ReadBody] when a body exceeds the
	// limit.
	ErrTooLarge = errors.New("safehttp: response body too large")
)

// AddressError reports a refused connection to a non-public address.
// It matches [ErrForbiddenAddress] with errors.Is.
type AddressError struct {
	// Addr is the refused address, usually "ip:port".
	Addr string
}

func (e *AddressError) Error() string {
	return "safehttp: refusing to connect to non-public address " + e.Addr
}

// Unwrap returns [ErrForbiddenAddress].
func (e *AddressError) Unwrap() error { return ErrForbiddenAddress }

// RedirectError reports a refused redirect. It matches [ErrRedirect] with
// errors.Is.
type RedirectError struct {
	// URL is the redirect target (with any password redacted).
	URL string
	// MaxRedirects is the number of redirects that were allowed.
	MaxRedirects int
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("safehttp: refusing redirect to %q (at most %d redirects allowed)", e.URL, e.MaxRedirects)
}

// Unwrap returns [ErrRedirect].
func (e *RedirectError) Unwrap() error { return ErrRedirect }

// Options configures [NewClient]. The zero value is a production-safe
// configuration.
type Options struct {
	// AllowInsecureDevelopment permits http:// URLs and connections to
	// loopback, private, link-local and other non-public addresses. It is off
	// by default and is meant for local development networks only: never
	// enable it for a service reachable by others.
	AllowInsecureDevelopment bool

	// Timeout bounds each whole request, including redirects and reading the
	// body. Zero or negative means DefaultTimeout (10s).
	Timeout time.Duration

	// MaxRedirects is the number of redirects followed. Zero (the default)
	// refuses every redirect, as RFC 9728, RFC 8414 and the atproto OAuth
	// profile require for metadata, PAR and token requests. Each followed hop
	// is checked again (scheme and address).
	MaxRedirects int

	// UserAgent is sent when a request has no User-Agent header. Empty means
	// DefaultUserAgent ("atoauth").
	UserAgent string

	// Transport, when set, is cloned and used as the base transport (tests use
	// it to trust an httptest TLS certificate). Its Proxy is always cleared
	// and the address check is always added: to the dialer when the
	// transport has no dial function of its own, otherwise by checking the
	// remote address of each connection its dial functions return (before
	// any byte is written). Deprecated Dial/DialTLS hooks are converted to
	// DialContext/DialTLSContext so they are checked too. The value passed in
	// is not modified.
	Transport *http.Transport
}

// NewClient returns an *http.Client hardened as described in the package
// documentation. The client is safe for concurrent use, like any
// *http.Client; create one and reuse it so connections are pooled.
func NewClient(opts Options) *http.Client {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var t *http.Transport
	if opts.Transport != nil {
		t = opts.Transport.Clone()
	} else {
		t = &http.Transport{
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           100,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    10 * time.Second,
			ExpectContinueTimeout:  time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}
	}
	t.Proxy = nil
	t.GetProxyConnectHeader = nil
	t.OnProxyConnectResponse = nil
	secureDial(t, timeout, !opts.AllowInsecureDevelopment)
	return newClient(opts, t, timeout)
}

// newClient assembles the client around base; tests inject a fake base.
func newClient(opts Options, base http.RoundTripper, timeout time.Duration) *http.Client {
	ua := opts.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	return &http.Client{
		Transport:     &checkTransport{base: base, dev: opts.AllowInsecureDevelopment, userAgent: ua},
		CheckRedirect: checkRedirect(max(opts.MaxRedirects, 0)),
		Timeout:       timeout,
	}
}

// secureDial installs the dial-time address check on t.
func secureDial(t *http.Transport, timeout time.Duration, check bool) {
	//lint:ignore SA1019 the deprecated hooks must be checked as well.
	if dial := t.Dial; dial != nil {
		t.Dial = nil
		if t.DialContext == nil {
			t.DialContext = func(_ context.Context, network, addr string) (net.Conn, error) { return dial(network, addr) }
		}
	}
	//lint:ignore SA1019 the deprecated hooks must be checked as well.
	if dial := t.DialTLS; dial != nil {
		t.DialTLS = nil
		if t.DialTLSContext == nil {
			t.DialTLSContext = func(_ context.Context, network, addr string) (net.Conn, error) { return dial(network, addr) }
		}
	}
	if t.DialContext == nil {
		d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
		if check {
			d.Control = controlAddr
		}
		t.DialContext = d.DialContext
	} else if check {
		t.DialContext = checkedDial(t.DialContext)
	}
	if t.DialTLSContext != nil && check {
		t.DialTLSContext = checkedDial(t.DialTLSContext)
	}
}

// controlAddr runs after DNS resolution, before connecting, for every address
// the dialer tries.
func controlAddr(network, address string, _ syscall.RawConn) error {
	return checkAddr(network, address)
}

func checkAddr(network, address string) error {
	if !strings.HasPrefix(network, "tcp") {
		return &AddressError{Addr: network + " " + address}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !IsPublicAddr(ap.Addr()) {
		return &AddressError{Addr: address}
	}
	return nil
}

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// checkedDial wraps a custom dial function: the connection's remote address
// is checked before it is handed to the transport.
func checkedDial(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		ra := c.RemoteAddr()
		if ra == nil {
			c.Close()
			return nil, &AddressError{Addr: addr}
		}
		if err := checkAddr(ra.Network(), ra.String()); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
}

// checkTransport checks the URL of every request, including redirect hops,
// and sets the User-Agent.
type checkTransport struct {
	base      http.RoundTripper
	dev       bool
	userAgent string
}

func (t *checkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkURL(req.URL, t.dev); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.userAgent)
	}
	return t.base.RoundTrip(req)
}

func checkURL(u *url.URL, dev bool) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !dev {
			return fmt.Errorf("%w: %q (https is required)", ErrInsecureURL, u.Redacted())
		}
	default:
		return fmt.Errorf("%w: %q (unsupported scheme)", ErrInsecureURL, u.Redacted())
	}
	if u.Host == "" {
		return fmt.Errorf("%w: %q (no host)", ErrInsecureURL, u.Redacted())
	}
	if !dev {
		// Refuse literal addresses early; names are checked at dial time.
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !IsPublicAddr(ip) {
			return &AddressError{Addr: u.Host}
		}
	}
	return nil
}

// credentialHeaders are removed from a redirected request whose origin
// differs from the original request's (atproto OAuth: credentials go only to
// the origin they were issued for).
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "DPoP", "Cookie"}

func checkRedirect(maxRedirects int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return &RedirectError{URL: req.URL.Redacted(), MaxRedirects: maxRedirects}
		}
		if origin(req.URL) != origin(via[0].URL) {
			for _, h := range credentialHeaders {
				req.Header.Del(h)
			}
		}
		return nil
	}
}

func origin(u *url.URL) string {
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}

// ReadBody reads resp.Body and returns at most limit bytes. If the body is
// longer, or resp.ContentLength announces more than limit bytes (checked
// before reading anything), it returns an error wrapping [ErrTooLarge].
//
// ReadBody does not close the body: callers keep their own
// "defer resp.Body.Close()". After ErrTooLarge the rest of the body is left
// unread, so closing it discards the connection instead of draining a
// possibly huge body.
func ReadBody(resp *http.Response, limit int64) ([]byte, error) {
	limit = max(limit, 0)
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: Content-Length %d exceeds the limit of %d bytes", ErrTooLarge, resp.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, min(limit, math.MaxInt64-1)+1))
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: body exceeds the limit of %d bytes", ErrTooLarge, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("safehttp: reading response body: %w", err)
	}
	return b, nil
}
