package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"golang.org/x/sync/singleflight"

	"github.com/atoauth/atoauth/safehttp"
)

// Limits for identity resolution (notes §10; atproto handle spec).
const (
	// DefaultPLCURL is the public PLC directory.
	DefaultPLCURL = "https://plc.directory"
	// DefaultCacheTTL is the default identity cache lifetime.
	DefaultCacheTTL = 5 * time.Minute
	// MaxCacheTTL caps the identity cache lifetime: the atproto OAuth spec
	// recommends under 10 minutes for auth flows.
	MaxCacheTTL = 9 * time.Minute

	maxHandleBytes         = 10 << 10  // handle well-known and resolveHandle responses
	maxDIDDocBytes         = 512 << 10 // DID documents
	handleWellKnownTimeout = 3 * time.Second
	handleWellKnownPath    = "/.well-known/atproto-did"
	resolveHandlePath      = "/xrpc/com.atproto.identity.resolveHandle"
	handleRedirects        = 3 // the handle spec allows "a reasonable number" of redirects
	cacheCapacity          = 10_000
	errorTTL               = time.Second // failures are kept only long enough to share them with coalesced lookups
)

// DirectoryOptions configures [NewDirectory]. The zero value resolves
// production identities through DNS, HTTPS well-known and plc.directory.
type DirectoryOptions struct {
	// HTTPClient fetches DID documents, handle well-known documents and
	// resolveHandle answers. It should be a safehttp client. Nil means
	// safehttp.NewClient with AllowInsecureDevelopment, allowing up to 3
	// redirects for handle well-known documents; whatever the client,
	// redirects are refused for every other request (DID documents,
	// resolveHandle), response bodies are capped (10 KiB for handle
	// resolution, 512 KiB for DID documents) and handle well-known requests
	// time out after 3 s.
	HTTPClient *http.Client

	// PLCURL is the PLC directory base URL; empty means DefaultPLCURL.
	PLCURL string

	// HandleResolver, when set, is the base URL of a server (typically a
	// development PDS) asked com.atproto.identity.resolveHandle for every
	// handle, instead of DNS and HTTPS well-known. Development networks use
	// it because their .test handles are not in DNS.
	HandleResolver string

	// CacheTTL is how long resolved identities are cached. Zero or negative
	// means DefaultCacheTTL; values above MaxCacheTTL are reduced to it.
	CacheTTL time.Duration

	// AllowInsecureDevelopment permits http:// URLs and non-public addresses
	// in the default client (local development networks only).
	AllowInsecureDevelopment bool

	// LookupTXT looks up the DNS TXT records of a handle
	// ("_atproto.<handle>"). Nil means a resolver of the system's DNS
	// servers that gives each server 3 s.
	LookupTXT func(ctx context.Context, name string) ([]string, error)
}

// NewDirectory returns an identity.Directory for OAuth logins, built on
// indigo's BaseDirectory (given the hardened client) and CacheDirectory.
//
// Lookups verify handles bidirectionally as indigo does (atproto handle
// spec): LookupHandle fails with [ErrHandleMismatch] when the DID document
// does not claim the handle; LookupDID returns an identity whose Handle is
// "handle.invalid" when the declared handle does not resolve back. Results
// are cached for CacheTTL; failures for about a second, so that concurrent
// lookups of one identifier share a single resolution. Purge drops cached
// entries.
//
// Errors are *[ResolveError] values matching this package's sentinels
// (ErrInvalidIdentifier, ErrHandleNotFound, ErrHandleMismatch,
// ErrDIDNotFound, ErrInvalidDIDDocument, ErrUnreachable), with indigo's
// error kept as the cause.
//
// Only did:plc and did:web are supported; did:web always uses https on the
// default port (indigo), so development networks should use did:plc.
//
// The directory is safe for concurrent use. indigo's cache starts background
// goroutines that live as long as the process: create one directory and
// share it.
func NewDirectory(opts DirectoryOptions) identity.Directory {
	client := opts.HTTPClient
	if client == nil {
		client = safehttp.NewClient(safehttp.Options{
			AllowInsecureDevelopment: opts.AllowInsecureDevelopment,
			MaxRedirects:             handleRedirects,
		})
	}
	plcURL := strings.TrimSuffix(opts.PLCURL, "/")
	if plcURL == "" {
		plcURL = DefaultPLCURL
	}
	ttl := opts.CacheTTL
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	ttl = min(ttl, MaxCacheTTL)

	inner := &baseDirectory{
		base: identity.BaseDirectory{
			PLCURL:     plcURL,
			HTTPClient: *identityClient(client),
			// Bluesky-hosted handles resolve only over HTTPS; as in indigo's
			// DefaultDirectory.
			SkipDNSDomainSuffixes: []string{".bsky.social"},
			Resolver: net.Resolver{Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
				d := net.Dialer{Timeout: 3 * time.Second}
				return d.DialContext(ctx, network, address)
			}},
		},
	}
	inner.client = &inner.base.HTTPClient
	inner.lookupTXT = opts.LookupTXT
	if inner.lookupTXT == nil {
		inner.lookupTXT = inner.base.Resolver.LookupTXT
	}
	if opts.HandleResolver != "" {
		inner.handleResolver, inner.handleResolverErr = parseBaseURL(opts.HandleResolver, opts.AllowInsecureDevelopment)
	}
	return &directory{cache: identity.NewCacheDirectory(inner, cacheCapacity, ttl, errorTTL, ttl), inner: inner}
}

// identityClient copies c with the body limits, the handle well-known
// timeout, and a redirect policy that permits redirects (within c's own
// policy) only for handle well-known documents.
func identityClient(c *http.Client) *http.Client {
	cc := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = limitTransport{base: base}
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if via[0].URL.Path != handleWellKnownPath {
			return &safehttp.RedirectError{URL: req.URL.Redacted(), MaxRedirects: 0}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) > handleRedirects {
			return &safehttp.RedirectError{URL: req.URL.Redacted(), MaxRedirects: handleRedirects}
		}
		return nil
	}
	return &cc
}

// limitTransport caps response bodies and bounds handle well-known requests.
type limitTransport struct{ base http.RoundTripper }

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	limit := int64(maxDIDDocBytes)
	cancel := context.CancelFunc(func() {})
	switch req.URL.Path {
	case handleWellKnownPath:
		limit = maxHandleBytes
		var ctx context.Context
		ctx, cancel = context.WithTimeout(req.Context(), handleWellKnownTimeout)
		req = req.WithContext(ctx)
	case resolveHandlePath:
		limit = maxHandleBytes
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, remaining: limit, limit: limit, cancel: cancel, declared: resp.ContentLength}
	return resp, nil
}

// limitedBody fails with safehttp.ErrTooLarge once more than limit bytes are
// read (or at once when Content-Length announces more).
type limitedBody struct {
	rc        io.ReadCloser
	remaining int64
	limit     int64
	declared  int64
	cancel    context.CancelFunc
	err       error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.declared > b.limit {
		b.err = fmt.Errorf("%w: Content-Length %d exceeds the limit of %d bytes", safehttp.ErrTooLarge, b.declared, b.limit)
		return 0, b.err
	}
	if int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.remaining {
		b.err = fmt.Errorf("%w: body exceeds the limit of %d bytes", safehttp.ErrTooLarge, b.limit)
		return int(b.remaining), b.err
	}
	b.remaining -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}

func parseBaseURL(raw string, allowHTTP bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("is not a valid URL")
	}
	if err := checkScheme(u, allowHTTP); err != nil {
		return "", err
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be an http(s) URL with a host and no credentials, query or fragment")
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// directory is the exported Directory: indigo's cache in front of
// baseDirectory, with errors mapped to this package's kinds.
type directory struct {
	cache *identity.CacheDirectory
	inner *baseDirectory
	fresh singleflight.Group // concurrent fresh lookups of one DID share one
}

// FreshLookupDID resolves did without the cache (and verifies its handle),
// for checks that must see the current DID document, such as VerifyIssuer.
// Concurrent calls for one DID share one resolution, detached from the
// callers' contexts (bounded by the HTTP client's timeouts).
func (d *directory) FreshLookupDID(ctx context.Context, did syntax.DID) (*identity.Identity, error) {
	ch := d.fresh.DoChan(did.String(), func() (any, error) {
		return d.inner.LookupDID(context.WithoutCancel(ctx), did)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, mapError(ctx, did.String(), r.Err)
		}
		ident := *r.Val.(*identity.Identity)
		return &ident, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// freshLookuper is a Directory that can bypass its cache.
type freshLookuper interface {
	FreshLookupDID(ctx context.Context, did syntax.DID) (*identity.Identity, error)
}

func (d *directory) LookupHandle(ctx context.Context, h syntax.Handle) (*identity.Identity, error) {
	ident, err := d.cache.LookupHandle(ctx, h.Normalize())
	return ident, mapError(ctx, h.String(), err)
}

func (d *directory) LookupDID(ctx context.Context, did syntax.DID) (*identity.Identity, error) {
	ident, err := d.cache.LookupDID(ctx, did)
	return ident, mapError(ctx, did.String(), err)
}

func (d *directory) Lookup(ctx context.Context, atid syntax.AtIdentifier) (*identity.Identity, error) {
	if h, err := atid.AsHandle(); err == nil {
		return d.LookupHandle(ctx, h)
	}
	if did, err := atid.AsDID(); err == nil {
		return d.LookupDID(ctx, did)
	}
	return nil, resolveErr(atid.String(), ErrInvalidIdentifier, nil)
}

func (d *directory) Purge(ctx context.Context, atid syntax.AtIdentifier) error {
	if err := d.cache.Purge(ctx, atid.Normalize()); err != nil {
		return resolveErr(atid.String(), ErrInvalidIdentifier, err)
	}
	return nil
}

// mapError maps an error from a Directory (this package's, whose errors are
// already *ResolveError except for the cache's own and the caller's
// cancellation, or any other implementation returning indigo's errors) to
// this package's kinds.
func mapError(ctx context.Context, input string, err error) error {
	var re *ResolveError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var kind error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &re):
		return err
	case ctx.Err() != nil:
		return fmt.Errorf("discovery: resolving %q: %w", input, err)
	case errors.Is(err, identity.ErrHandleMismatch):
		kind = ErrHandleMismatch
	case errors.Is(err, identity.ErrHandleNotFound):
		kind = ErrHandleNotFound
	case errors.Is(err, identity.ErrInvalidHandle), errors.Is(err, identity.ErrHandleReservedTLD):
		kind = ErrInvalidIdentifier
	case errors.Is(err, identity.ErrDIDNotFound):
		kind = ErrDIDNotFound
	case isNetworkError(err):
		kind = ErrUnreachable
	case errors.Is(err, identity.ErrHandleResolutionFailed):
		kind = ErrHandleNotFound
	case errors.Is(err, safehttp.ErrTooLarge), errors.As(err, &syn), errors.As(err, &typ):
		kind = ErrInvalidDIDDocument
	default:
		kind = ErrUnreachable
	}
	return resolveErr(input, kind, err)
}

// baseDirectory resolves without caching. It uses indigo's BaseDirectory for
// DID documents and DNS/well-known handle resolution, and adds the
// resolveHandle variant. Its Lookup methods re-implement BaseDirectory's
// bidirectional verification so that the variant is used for it too.
type baseDirectory struct {
	base              identity.BaseDirectory
	client            *http.Client // &base.HTTPClient
	lookupTXT         func(ctx context.Context, name string) ([]string, error)
	handleResolver    string
	handleResolverErr error
}

func (d *baseDirectory) resolveHandle(ctx context.Context, h syntax.Handle) (syntax.DID, error) {
	h = h.Normalize()
	if h.IsInvalidHandle() || !h.AllowedTLD() {
		return "", resolveErr(h.String(), ErrInvalidIdentifier, identity.ErrHandleReservedTLD)
	}
	if d.handleResolverErr != nil {
		return "", resolveErr(h.String(), ErrUnreachable, fmt.Errorf("HandleResolver URL %w", d.handleResolverErr))
	}
	if d.handleResolver != "" {
		return d.resolveHandleXRPC(ctx, h)
	}
	did, err := d.resolveHandleDNSOrWellKnown(ctx, h)
	if err == nil && did == "" {
		err = fmt.Errorf("%w: no DID found for %s", identity.ErrHandleNotFound, h)
	}
	if err == nil {
		return did, nil
	}
	switch {
	case errors.Is(err, errSeveralDIDs):
		return "", resolveErr(h.String(), ErrHandleNotFound, err)
	case errors.Is(err, errCouldNotCheck) && ctx.Err() == nil:
		return "", resolveErr(h.String(), ErrUnreachable, err)
	}
	var kind error
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("discovery: resolving %q: %w", h, err)
	case errors.Is(err, identity.ErrHandleNotFound):
		kind = ErrHandleNotFound
	case errors.Is(err, identity.ErrHandleReservedTLD), errors.Is(err, identity.ErrInvalidHandle):
		kind = ErrInvalidIdentifier
	case isNetworkError(err):
		kind = ErrUnreachable
	default: // ErrHandleResolutionFailed: bad status or no valid DID in the answer
		kind = ErrHandleNotFound
	}
	return "", resolveErr(h.String(), kind, err)
}

// errSeveralDIDs reports a handle whose DNS TXT records name more than
// one DID.
var errSeveralDIDs = errors.New("the handle's DNS TXT records name several DIDs")

// resolveHandleDNSOrWellKnown resolves h as indigo's
// BaseDirectory.ResolveHandle does — DNS TXT _atproto.<handle> first
// (except for the suffixes it skips), the HTTPS well-known document when
// DNS has no answer — with the atproto handle spec's rule that indigo
// leaves out: when the TXT records name several different DIDs,
// resolution fails (no DID is chosen, and the well-known document is not
// asked either).
func (d *baseDirectory) resolveHandleDNSOrWellKnown(ctx context.Context, h syntax.Handle) (syntax.DID, error) {
	dnsAnswered := false
	if !slices.ContainsFunc(d.base.SkipDNSDomainSuffixes, func(s string) bool { return strings.HasSuffix(h.String(), s) }) {
		records, err := d.lookupTXT(ctx, "_atproto."+h.String())
		if err == nil {
			did, err := didFromTXT(records)
			if err == nil || errors.Is(err, errSeveralDIDs) {
				return did, err
			}
			dnsAnswered = true
		}
		if err := ctx.Err(); err != nil {
			return "", err
		}
	}
	did, err := d.resolveHandleWellKnown(ctx, h)
	if err != nil && dnsAnswered {
		err = fmt.Errorf("%w (its DNS TXT records hold no valid did= entry)", err)
	}
	return did, err
}

// errCouldNotCheck reports a handle whose well-known document could not
// be fetched: its domain does not resolve, the server did not answer or
// failed. Offline, every handle looks like this; it is reported as
// ErrUnreachable, never as a handle that does not exist.
var errCouldNotCheck = errors.New("could not check the handle")

// resolveHandleWellKnown asks https://<handle>/.well-known/atproto-did
// (atproto handle spec, "HTTPS well-known Method") through the identity
// client (10 KiB, 3 s, a few redirects). Only an answer says that the
// handle does not exist (404, or no DID in a 200); a failure to get one —
// DNS, connection, timeout, a server error — says only that it could not
// be checked.
func (d *baseDirectory) resolveHandleWellKnown(ctx context.Context, h syntax.Handle) (syntax.DID, error) {
	u := "https://" + h.String() + "/.well-known/atproto-did"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", identity.ErrHandleResolutionFailed, err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: fetching %s: %w", errCouldNotCheck, u, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return "", fmt.Errorf("%w: %s answered HTTP %d", identity.ErrHandleNotFound, u, resp.StatusCode)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return "", fmt.Errorf("%w: %s answered HTTP %d", errCouldNotCheck, u, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("%w: %s answered HTTP %d", identity.ErrHandleNotFound, u, resp.StatusCode)
	}
	body, err := safehttp.ReadBody(resp, maxHandleBytes)
	if err != nil {
		return "", fmt.Errorf("%w: reading %s: %w", errCouldNotCheck, u, err)
	}
	did, err := syntax.ParseDID(strings.TrimSpace(string(body)))
	if err != nil {
		return "", fmt.Errorf("%w: %s holds no DID", identity.ErrHandleNotFound, u)
	}
	return did, nil
}

// didFromTXT reads the DID of "did=<DID>" TXT record values (atproto
// handle spec, "DNS TXT Method"). Other values are ignored; several
// records naming the same DID count once; several different DIDs are an
// error.
func didFromTXT(records []string) (syntax.DID, error) {
	var found syntax.DID
	for _, r := range records {
		v, ok := strings.CutPrefix(r, "did=")
		if !ok {
			continue
		}
		did, err := syntax.ParseDID(v)
		if err != nil {
			return "", fmt.Errorf("%w: invalid DID in the handle's DNS TXT record: %w", identity.ErrHandleResolutionFailed, err)
		}
		if found != "" && did != found {
			return "", fmt.Errorf("%w: %s and %s", errSeveralDIDs, found, did)
		}
		found = did
	}
	if found == "" {
		return "", identity.ErrHandleNotFound
	}
	return found, nil
}

// resolveHandleXRPC asks the configured server (atproto lexicon
// com.atproto.identity.resolveHandle).
func (d *baseDirectory) resolveHandleXRPC(ctx context.Context, h syntax.Handle) (syntax.DID, error) {
	u := d.handleResolver + resolveHandlePath + "?handle=" + url.QueryEscape(h.String())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", resolveErr(h.String(), ErrUnreachable, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("discovery: resolving %q: %w", h, err)
		}
		return "", resolveErr(h.String(), ErrUnreachable, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusBadRequest, http.StatusNotFound:
		// The reference PDS answers 400 InvalidRequest / HandleNotFound.
		return "", resolveErr(h.String(), ErrHandleNotFound, fmt.Errorf("resolveHandle: HTTP status %d", resp.StatusCode))
	default:
		return "", resolveErr(h.String(), ErrUnreachable, fmt.Errorf("resolveHandle: HTTP status %d", resp.StatusCode))
	}
	body, err := safehttp.ReadBody(resp, maxHandleBytes)
	if err != nil {
		return "", resolveErr(h.String(), ErrUnreachable, err)
	}
	var out struct {
		DID string `json:"did"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", resolveErr(h.String(), ErrHandleNotFound, fmt.Errorf("resolveHandle: %w", err))
	}
	did, err := syntax.ParseDID(out.DID)
	if err != nil {
		return "", resolveErr(h.String(), ErrHandleNotFound, fmt.Errorf("resolveHandle: %w", err))
	}
	return did, nil
}

func (d *baseDirectory) resolveDID(ctx context.Context, did syntax.DID) (*identity.Identity, error) {
	switch did.Method() {
	case "plc":
	case "web":
		h, err := syntax.ParseHandle(did.Identifier())
		if err != nil || !h.AllowedTLD() {
			return nil, resolveErr(did.String(), ErrInvalidIdentifier, errors.New("did:web identifier must be a public host name"))
		}
	default:
		return nil, resolveErr(did.String(), ErrInvalidIdentifier, fmt.Errorf("unsupported DID method %q", did.Method()))
	}
	doc, err := d.base.ResolveDID(ctx, did)
	if err != nil {
		var kind error
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("discovery: resolving %q: %w", did, err)
		case errors.Is(err, identity.ErrDIDNotFound):
			kind = ErrDIDNotFound
		case errors.Is(err, safehttp.ErrTooLarge), errors.As(err, &syn), errors.As(err, &typ):
			kind = ErrInvalidDIDDocument
		case isNetworkError(err), errors.Is(err, identity.ErrDIDResolutionFailed):
			kind = ErrUnreachable
		default: // indigo: "document ID did not match DID"
			kind = ErrInvalidDIDDocument
		}
		return nil, resolveErr(did.String(), kind, err)
	}
	ident := identity.ParseIdentity(doc)
	return &ident, nil
}

func isNetworkError(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

func (d *baseDirectory) LookupHandle(ctx context.Context, h syntax.Handle) (*identity.Identity, error) {
	h = h.Normalize()
	did, err := d.resolveHandle(ctx, h)
	if err != nil {
		return nil, err
	}
	ident, err := d.resolveDID(ctx, did)
	if err != nil {
		return nil, err
	}
	declared, err := ident.DeclaredHandle()
	if err != nil || declared != h {
		if err == nil {
			err = fmt.Errorf("DID document %s claims %q", did, declared)
		}
		return nil, resolveErr(h.String(), ErrHandleMismatch, fmt.Errorf("%w: %w", identity.ErrHandleMismatch, err))
	}
	ident.Handle = declared
	return ident, nil
}

func (d *baseDirectory) LookupDID(ctx context.Context, did syntax.DID) (*identity.Identity, error) {
	ident, err := d.resolveDID(ctx, did)
	if err != nil {
		return nil, err
	}
	declared, err := ident.DeclaredHandle()
	if err != nil {
		return ident, nil // Handle stays handle.invalid
	}
	resolved, err := d.resolveHandle(ctx, declared)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, err
	case err == nil && resolved == did:
		ident.Handle = declared
	}
	return ident, nil
}

func (d *baseDirectory) Lookup(ctx context.Context, atid syntax.AtIdentifier) (*identity.Identity, error) {
	if h, err := atid.AsHandle(); err == nil {
		return d.LookupHandle(ctx, h)
	}
	if did, err := atid.AsDID(); err == nil {
		return d.LookupDID(ctx, did)
	}
	return nil, resolveErr(atid.String(), ErrInvalidIdentifier, nil)
}

// Purge is a no-op: baseDirectory does not cache.
func (d *baseDirectory) Purge(context.Context, syntax.AtIdentifier) error { return nil }
