package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"golang.org/x/sync/singleflight"

	"github.com/atoauth/atoauth/safehttp"
)

const (
	// DefaultMetadataTTL is the default, and maximum, lifetime of cached
	// protected resource and authorization server metadata.
	DefaultMetadataTTL = 60 * time.Second

	maxMetadataBytes = 512 << 10
	metadataTimeout  = 10 * time.Second
	maxCacheEntries  = 10_000
)

// Resolver discovers the OAuth authorization server for a login and verifies
// issuers, following the atproto OAuth spec ("Identity Authentication",
// "Server Metadata"): handle or DID → DID document → PDS → protected
// resource metadata (RFC 9728) → authorization server metadata (RFC 8414).
//
// Metadata is fetched with GET and Accept: application/json through a client
// that refuses redirects; only a 200 application/json response of at most
// 512 KiB is accepted, within 10 s. Valid metadata is cached for MetadataTTL;
// errors are never cached. Concurrent fetches of the same document share one
// request; a caller whose context ends stops waiting, while the shared fetch
// runs on (bounded by the timeout) for the others.
//
// The zero value is ready to use with production settings. Set the fields
// before the first method call and do not change them afterwards: the
// defaults are filled in lazily on first use. A Resolver is safe for
// concurrent use by multiple goroutines and must not be copied after first
// use.
type Resolver struct {
	// HTTPClient fetches metadata; it should be a safehttp client. Nil means
	// safehttp.NewClient with this Resolver's AllowInsecureDevelopment.
	// Redirects are refused for metadata whatever the client's policy.
	HTTPClient *http.Client

	// Directory resolves handles and DIDs. Nil means NewDirectory with
	// HTTPClient and AllowInsecureDevelopment (production PLC and DNS),
	// created on first use; its cache goroutines then live as long as the
	// process, so share one Resolver rather than creating many.
	Directory identity.Directory

	// MetadataTTL is how long valid metadata is cached. Zero means
	// DefaultMetadataTTL, negative disables caching, and values above
	// DefaultMetadataTTL are reduced to it.
	MetadataTTL time.Duration

	// AllowInsecureDevelopment accepts http:// PDS and authorization server
	// URLs and, in the default clients, non-public addresses (local
	// development networks only).
	AllowInsecureDevelopment bool

	// LookupTXT looks up DNS TXT records, for [Resolver.ResolvePermissionSet].
	// Nil means net.DefaultResolver.LookupTXT.
	LookupTXT func(ctx context.Context, name string) ([]string, error)

	// Clock returns the current time for cache expiry. Nil means time.Now.
	Clock func() time.Time

	// Logger receives debug records of fetches and resolutions. Nil
	// discards them.
	Logger *slog.Logger

	once sync.Once
	st   *resolverState
}

// Target is where a login goes: the authorization server, and what is known
// of the account beforehand.
type Target struct {
	// Identity is the resolved account; nil when the login started from a
	// server URL (the account is then learned from the token's "sub").
	Identity *identity.Identity
	// PDS is the account's PDS origin; "" when the login started from an
	// authorization server (entryway) URL.
	PDS string
	// AuthServer is the validated metadata of the authorization server.
	AuthServer *AuthServerMetadata
	// LoginHint is the handle (lower case, without "@") or DID as typed, for
	// the authorization request's login_hint; "" for URLs.
	LoginHint string
}

type resolverState struct {
	client *http.Client // refuses redirects
	dir    identity.Directory
	ttl    time.Duration // <= 0: no caching
	now    func() time.Time
	log    *slog.Logger
	dev    bool

	group singleflight.Group
	mu    sync.Mutex
	cache map[string]cacheEntry
}

type cacheEntry struct {
	value   any
	expires time.Time
}

func (r *Resolver) state() *resolverState {
	r.once.Do(func() {
		st := &resolverState{
			dir:   r.Directory,
			ttl:   r.MetadataTTL,
			now:   r.Clock,
			log:   r.Logger,
			dev:   r.AllowInsecureDevelopment,
			cache: make(map[string]cacheEntry),
		}
		base := r.HTTPClient
		if base == nil {
			base = safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: st.dev})
		}
		c := *base
		c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			return &safehttp.RedirectError{URL: req.URL.Redacted(), MaxRedirects: 0}
		}
		st.client = &c
		if st.dir == nil {
			st.dir = NewDirectory(DirectoryOptions{HTTPClient: r.HTTPClient, AllowInsecureDevelopment: st.dev})
		}
		switch {
		case st.ttl == 0:
			st.ttl = DefaultMetadataTTL
		case st.ttl > DefaultMetadataTTL:
			st.ttl = DefaultMetadataTTL
		}
		if st.now == nil {
			st.now = time.Now
		}
		if st.log == nil {
			st.log = slog.New(slog.DiscardHandler)
		}
		r.st = st
	})
	return r.st
}

// ResourceMetadata returns the validated protected resource metadata (RFC
// 9728) of the PDS at pdsURL, an http(s) origin URL (https unless
// AllowInsecureDevelopment; a trailing "/" is accepted). See
// [ParseResourceMetadata] for the checks.
func (r *Resolver) ResourceMetadata(ctx context.Context, pdsURL string) (*ResourceMetadata, error) {
	return r.resourceMetadata(ctx, pdsURL, false)
}

// resourceMetadata is ResourceMetadata; fresh skips the cache (and
// refills it).
func (r *Resolver) resourceMetadata(ctx context.Context, pdsURL string, fresh bool) (*ResourceMetadata, error) {
	st := r.state()
	origin, err := parseOrigin(pdsURL, st.dev, false)
	if err != nil {
		return nil, resolveErr(pdsURL, ErrInvalidIdentifier, fmt.Errorf("PDS URL %w", err))
	}
	v, err := st.load(ctx, "resource "+origin, fresh, func(ctx context.Context) (any, error) {
		body, err := st.fetch(ctx, origin+ResourceMetadataPath)
		if err != nil {
			return nil, err
		}
		return ParseResourceMetadata(body, origin, ParseOptions{AllowInsecureDevelopment: st.dev})
	})
	if err != nil {
		return nil, err
	}
	return v.(*ResourceMetadata).clone(), nil
}

// AuthServerMetadata returns the validated authorization server metadata
// (RFC 8414) of issuer, which must be a canonical origin such as
// "https://bsky.social". See [ParseAuthServerMetadata] for the checks.
func (r *Resolver) AuthServerMetadata(ctx context.Context, issuer string) (*AuthServerMetadata, error) {
	st := r.state()
	iss, err := parseOrigin(issuer, st.dev, true)
	if err != nil {
		return nil, resolveErr(issuer, ErrInvalidIdentifier, fmt.Errorf("issuer %w", err))
	}
	v, err := st.load(ctx, "issuer "+iss, false, func(ctx context.Context) (any, error) {
		body, err := st.fetch(ctx, iss+AuthServerMetadataPath)
		if err != nil {
			return nil, err
		}
		return ParseAuthServerMetadata(body, iss, ParseOptions{AllowInsecureDevelopment: st.dev})
	})
	if err != nil {
		return nil, err
	}
	return v.(*AuthServerMetadata).clone(), nil
}

// AuthServerForPDS returns the metadata of the authorization server that the
// PDS at pdsURL designates in its protected resource metadata. If that
// server lists protected_resources (RFC 9728 §4), the PDS must be among them.
func (r *Resolver) AuthServerForPDS(ctx context.Context, pdsURL string) (*AuthServerMetadata, error) {
	st := r.state()
	origin, err := parseOrigin(pdsURL, st.dev, false)
	if err != nil {
		return nil, resolveErr(pdsURL, ErrInvalidIdentifier, fmt.Errorf("PDS URL %w", err))
	}
	rm, err := r.ResourceMetadata(ctx, origin)
	if err != nil {
		return nil, err
	}
	return r.authServerFor(ctx, origin, rm.AuthorizationServers[0])
}

func (r *Resolver) authServerFor(ctx context.Context, pds, issuer string) (*AuthServerMetadata, error) {
	st := r.state()
	asm, err := r.AuthServerMetadata(ctx, issuer)
	if err != nil {
		return nil, err
	}
	if len(asm.ProtectedResources) == 0 {
		return asm, nil
	}
	for _, res := range asm.ProtectedResources {
		if o, err := parseOrigin(res, st.dev, false); err == nil && o == pds {
			return asm, nil
		}
	}
	return nil, &MetadataError{
		URL:    issuer + AuthServerMetadataPath,
		Field:  "protected_resources",
		Reason: fmt.Sprintf("does not include the PDS %q", pds),
	}
}

// ResolveLogin resolves what a person typed to start a login (atproto OAuth
// spec, "Identity Authentication"):
//
//   - a handle, optionally with a leading "@", in any case: resolved and
//     verified bidirectionally, then DID document → PDS → authorization
//     server;
//   - a DID: DID document → PDS → authorization server;
//   - an http(s) URL (only its origin is used): tried as a PDS (protected
//     resource metadata); if that answers 404, tried as an authorization
//     server (entryway) directly.
//
// Errors match ErrInvalidIdentifier, ErrHandleNotFound, ErrHandleMismatch,
// ErrDIDNotFound, ErrInvalidDIDDocument, ErrNoPDS, ErrUnreachable or
// ErrInvalidMetadata (a *MetadataError).
func (r *Resolver) ResolveLogin(ctx context.Context, input string) (*Target, error) {
	st := r.state()
	in := strings.TrimSpace(input)
	if lower := strings.ToLower(in); strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") {
		return r.loginFromURL(ctx, in)
	}
	atid, err := syntax.ParseAtIdentifier(strings.TrimPrefix(in, "@"))
	if err != nil {
		return nil, resolveErr(input, ErrInvalidIdentifier, errors.New("not a handle, DID or http(s) URL"))
	}
	atid = atid.Normalize()
	var ident *identity.Identity
	if h, err := atid.AsHandle(); err == nil {
		ident, err = st.dir.LookupHandle(ctx, h)
		if err != nil {
			return nil, mapError(ctx, atid.String(), err)
		}
	} else {
		ident, err = st.dir.LookupDID(ctx, atid.DID())
		if err != nil {
			return nil, mapError(ctx, atid.String(), err)
		}
	}
	pds, err := pdsOrigin(ident, st.dev)
	if err != nil {
		return nil, err
	}
	asm, err := r.AuthServerForPDS(ctx, pds)
	if err != nil {
		return nil, err
	}
	st.log.DebugContext(ctx, "discovery: resolved login", "input", atid.String(), "did", ident.DID, "pds", pds, "issuer", asm.Issuer)
	return &Target{Identity: ident, PDS: pds, AuthServer: asm, LoginHint: atid.String()}, nil
}

func (r *Resolver) loginFromURL(ctx context.Context, raw string) (*Target, error) {
	st := r.state()
	u, err := url.Parse(raw)
	if err != nil {
		return nil, resolveErr(raw, ErrInvalidIdentifier, errors.New("not a valid URL"))
	}
	u.Path, u.RawPath, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", "", "", false, "", ""
	origin, err := parseOrigin(u.String(), st.dev, false)
	if err != nil {
		return nil, resolveErr(raw, ErrInvalidIdentifier, fmt.Errorf("server URL %w", err))
	}
	rm, err := r.ResourceMetadata(ctx, origin)
	if err == nil {
		asm, err := r.authServerFor(ctx, origin, rm.AuthorizationServers[0])
		if err != nil {
			return nil, err
		}
		st.log.DebugContext(ctx, "discovery: resolved login from PDS URL", "pds", origin, "issuer", asm.Issuer)
		return &Target{PDS: origin, AuthServer: asm}, nil
	}
	var me *MetadataError
	if !errors.As(err, &me) || me.StatusCode != http.StatusNotFound {
		return nil, err
	}
	asm, err := r.AuthServerMetadata(ctx, origin)
	if err != nil {
		return nil, err
	}
	st.log.DebugContext(ctx, "discovery: resolved login from authorization server URL", "issuer", asm.Issuer)
	return &Target{AuthServer: asm}, nil
}

// VerifyIssuer checks that issuer is the authorization server for did
// (atproto OAuth spec, "Identity Authentication"): it resolves the DID
// afresh (purging any cached entry first), takes its PDS, and requires the
// PDS's protected resource metadata (cached up to the metadata TTL) to
// designate issuer, and issuer's metadata to be valid (and to list the PDS
// if it lists protected resources). Use it on a token response's "sub";
// before a refresh, use [Resolver.ReverifyIssuer].
//
// It returns the identity and PDS origin, or a *[IssuerMismatchError]
// (ErrIssuerMismatch) or one of the resolution errors.
func (r *Resolver) VerifyIssuer(ctx context.Context, did syntax.DID, issuer string) (*identity.Identity, string, error) {
	return r.verifyIssuer(ctx, did, issuer, false)
}

// ReverifyIssuer is [Resolver.VerifyIssuer] with the protected resource
// metadata fetched afresh too, as the reference client does before a
// refresh: a session may be months old, and its PDS may have moved to
// another authorization server moments ago.
func (r *Resolver) ReverifyIssuer(ctx context.Context, did syntax.DID, issuer string) (*identity.Identity, string, error) {
	return r.verifyIssuer(ctx, did, issuer, true)
}

// ResolvePDS resolves did afresh (purging any cached entry first) and
// returns its identity and the origin of its PDS (atproto DID spec: the
// service "#atproto_pds"), checked as VerifyIssuer checks it. It is what
// an app-password session, which has no authorization server, can
// verify.
func (r *Resolver) ResolvePDS(ctx context.Context, did syntax.DID) (*identity.Identity, string, error) {
	st := r.state()
	var ident *identity.Identity
	var err error
	if f, ok := st.dir.(freshLookuper); ok {
		ident, err = f.FreshLookupDID(ctx, did)
	} else {
		// Another Directory: drop its cached entry, then look up.
		_ = st.dir.Purge(ctx, did.AtIdentifier()) // fails only for invalid identifiers, which LookupDID reports
		ident, err = st.dir.LookupDID(ctx, did)
	}
	if err != nil {
		return nil, "", mapError(ctx, did.String(), err)
	}
	pds, err := pdsOrigin(ident, st.dev)
	if err != nil {
		return nil, "", err
	}
	return ident, pds, nil
}

func (r *Resolver) verifyIssuer(ctx context.Context, did syntax.DID, issuer string, fresh bool) (*identity.Identity, string, error) {
	st := r.state()
	iss, err := parseOrigin(issuer, st.dev, true)
	if err != nil {
		return nil, "", resolveErr(issuer, ErrInvalidIdentifier, fmt.Errorf("issuer %w", err))
	}
	ident, pds, err := r.ResolvePDS(ctx, did)
	if err != nil {
		return nil, "", err
	}
	rm, err := r.resourceMetadata(ctx, pds, fresh)
	if err != nil {
		return nil, "", err
	}
	if got := rm.AuthorizationServers[0]; got != iss {
		return nil, "", &IssuerMismatchError{DID: did, PDS: pds, Expected: iss, Actual: got}
	}
	if _, err := r.authServerFor(ctx, pds, iss); err != nil {
		return nil, "", err
	}
	return ident, pds, nil
}

// pdsOrigin returns the origin of the identity's PDS: the service
// "#atproto_pds" of type AtprotoPersonalDataServer (atproto DID spec), whose
// endpoint must be an http(s) origin URL (https unless dev).
func pdsOrigin(ident *identity.Identity, dev bool) (string, error) {
	svc, ok := ident.Services["atproto_pds"]
	if !ok {
		return "", resolveErr(ident.DID.String(), ErrNoPDS, errors.New(`no "#atproto_pds" service`))
	}
	if svc.Type != "AtprotoPersonalDataServer" {
		return "", resolveErr(ident.DID.String(), ErrNoPDS, fmt.Errorf(`service "#atproto_pds" has type %s`, quote(svc.Type)))
	}
	origin, err := parseOrigin(svc.URL, dev, false)
	if err != nil {
		return "", resolveErr(ident.DID.String(), ErrNoPDS, fmt.Errorf("PDS endpoint %s %w", quote(svc.URL), err))
	}
	return origin, nil
}

// load returns the cached value for key or runs fetch once for all
// concurrent callers, caching a success until now+ttl. With fresh, the
// cache is not read: the caller joins a fetch under way or starts one.
func (st *resolverState) load(ctx context.Context, key string, fresh bool, fetch func(context.Context) (any, error)) (any, error) {
	if v, ok := st.get(key); ok && !fresh {
		st.log.DebugContext(ctx, "discovery: metadata cache hit", "key", key)
		return v, nil
	}
	flight := key
	if fresh {
		flight = "fresh " + key
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("discovery: fetching %s metadata: %w", key, err)
	}
	// The shared fetch must not fail because the first caller gave up, and
	// keeps the caller's context values; metadataTimeout bounds it.
	detached := context.WithoutCancel(ctx)
	ch := st.group.DoChan(flight, func() (any, error) {
		if v, ok := st.get(key); ok && !fresh { // filled by a flight that just ended
			return v, nil
		}
		fctx, cancel := context.WithTimeout(detached, metadataTimeout)
		defer cancel()
		v, err := fetch(fctx)
		if err != nil {
			return nil, err
		}
		st.put(key, v)
		return v, nil
	})
	select {
	case res := <-ch:
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, fmt.Errorf("discovery: waiting for %s metadata: %w", key, ctx.Err())
	}
}

func (st *resolverState) get(key string) (any, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.cache[key]
	if !ok {
		return nil, false
	}
	if !st.now().Before(e.expires) {
		delete(st.cache, key)
		return nil, false
	}
	return e.value, true
}

func (st *resolverState) put(key string, v any) {
	if st.ttl <= 0 {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	if len(st.cache) >= maxCacheEntries {
		for k, e := range st.cache {
			if !now.Before(e.expires) {
				delete(st.cache, k)
			}
		}
		if len(st.cache) >= maxCacheEntries {
			return // full of live entries: serve this one uncached
		}
	}
	st.cache[key] = cacheEntry{value: v, expires: now.Add(st.ttl)}
}

// fetch GETs a metadata document: 200, application/json, at most 512 KiB,
// no redirects.
func (st *resolverState) fetch(ctx context.Context, u string) ([]byte, error) {
	start := st.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, resolveErr(u, ErrInvalidIdentifier, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := st.client.Do(req)
	if err != nil {
		st.log.DebugContext(ctx, "discovery: metadata fetch failed", "url", u, "err", err)
		if errors.Is(err, safehttp.ErrRedirect) {
			return nil, &MetadataError{URL: u, Reason: "redirects are not allowed", Err: err}
		}
		return nil, resolveErr(u, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &MetadataError{URL: u, StatusCode: resp.StatusCode, Reason: fmt.Sprintf("HTTP status %d, want 200", resp.StatusCode)}
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return nil, &MetadataError{URL: u, Reason: fmt.Sprintf("Content-Type is %s, want application/json", quote(ct))}
	}
	body, err := safehttp.ReadBody(resp, maxMetadataBytes)
	if err != nil {
		if errors.Is(err, safehttp.ErrTooLarge) {
			return nil, &MetadataError{URL: u, Reason: "response too large", Err: err}
		}
		return nil, resolveErr(u, ErrUnreachable, err)
	}
	st.log.DebugContext(ctx, "discovery: fetched metadata", "url", u, "bytes", len(body), "duration", st.now().Sub(start))
	return body, nil
}
