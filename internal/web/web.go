// Package web is the atoauth web app: "Sign in with Bluesky" done as a
// backend-for-frontend. Tokens stay on the server; the browser holds only
// an opaque, random session id in an HttpOnly cookie. Signing in and
// out, the browser's accounts, CSRF, the return path and the start of a
// step-up are atoauthhttp's; this package has the pages, the drafts kept
// through a step-up, and the notices.
//
// The app signs people in (and up, with prompt=create), shows their
// profile, lets them post with images, delete posts, edit their profile,
// browse their repository and read their timeline through their PDS, and
// explains the session it holds for them. Pages are server-rendered and
// work without JavaScript. Every POST is protected against cross-site
// requests twice (by atoauthhttp): by http.CrossOriginProtection and by a
// per-session form token.
//
// Anyone can run a PDS and sign in, so every server the app talks to on
// someone's behalf may be an attacker. Each page reads at most a bounded
// answer from the account's PDS (256 KiB to 1 MiB, fitted to what the page
// shows), shows a bounded part of it (lists of at most 10 to 25 items, the
// first 64 KiB of a record's JSON) with control characters, bidi overrides
// and invalid UTF-8 escaped, and waits for its calls at most
// Options.PageTimeout (Options.PostTimeout for a form that writes).
// Requests in progress are limited per session and per client address
// (Options.MaxConcurrentPerSession, MaxConcurrentPerClient). Serve the app
// with the timeouts ServerReadHeaderTimeout, ServerReadTimeout,
// ServerWriteTimeout and ServerIdleTimeout.
//
// ClientConfig builds the OAuth client configuration (loopback
// development client, or a web client served from a public URL, public or
// confidential); New builds the handler.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/internal/httpx"
	"github.com/atoauth/atoauth/xrpc"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures New. Client is required; the rest has defaults.
type Options struct {
	// Client is the OAuth client (see ClientConfig).
	Client *atoauth.Client
	// Logger receives one record per request (request id, method, path,
	// status, duration; never a query string, cookie, token or code) and
	// the app's warnings. Default: discard.
	Logger *slog.Logger
	// CanonicalHost, when set, is the host[:port] the app must be reached
	// at (cookies are per host): GET requests for another host are
	// redirected there. A loopback client redirects to 127.0.0.1:<port>,
	// so visits to localhost:<port> are sent there. Default: the host of
	// PublicURL.
	CanonicalHost string
	// PublicURL is the origin the app is reached at in production
	// ("https://app.example.com"), as given to ClientConfig. It makes
	// cookies Secure (with the __Host- prefix) when https, sets
	// CanonicalHost, trusts that origin for cross-origin checks (so a
	// proxy may rewrite Host) and sends Strict-Transport-Security.
	PublicURL string
	// TrustProxy makes the app believe the X-Forwarded-For and
	// X-Forwarded-Host headers of a reverse proxy in front of it: the
	// client address (for the sign-in rate limit and the logs) is the
	// last X-Forwarded-For entry, and the host is X-Forwarded-Host. Set it
	// only when every request comes through that proxy.
	TrustProxy bool
	// InsecureDev says that the servers the app talks to may speak plain
	// http (a local development network, as with the client's
	// AllowInsecureDevelopment): the Content-Security-Policy then lets
	// the sign-in form go to an http authorization server and pages show
	// http images even when the app itself is served over https. Never in
	// production.
	InsecureDev bool
	// AppView is the service reference of the AppView the PDS forwards
	// app.bsky.* reads to, such as "did:web:api.bsky.app#bsky_appview".
	// Default: none is named, and each PDS uses the AppView it is
	// configured with (Bluesky's when it has none; see xrpc.Client).
	AppView string
	// SignInLimit is how many sign-in attempts one client address may
	// start per minute (default 10; negative: no limit).
	SignInLimit int
	// SignUpServer is the server the "create account" page suggests
	// (default "https://bsky.social").
	SignUpServer string
	// SignInScope is what a sign-in asks for: a subset of the client's
	// scope (the client metadata's), with "atproto". Default: the
	// client's whole scope. A form that needs more shows what is missing
	// and asks for it then (a step-up), keeping what was typed.
	SignInScope string
	// Notices, whose Events must be the client's Config.Events, tells
	// the app why sessions ended, for the "You were signed out because …"
	// notices (see Notices). Default: the app knows no causes, and says
	// only that a session has ended.
	Notices *Notices

	// PageTimeout bounds all the calls a page that reads makes to the
	// account's PDS and, through it, the AppView: a slow server holds the
	// page no longer, and the page then says it did not answer in time
	// (default DefaultPageTimeout, 10 s).
	PageTimeout time.Duration
	// PostTimeout bounds all the calls of a form that writes: a post with
	// its images, the profile, a deletion, signing out (default
	// DefaultPostTimeout, 60 s).
	PostTimeout time.Duration
	// MaxConcurrentPerSession is how many requests of one session may be
	// in progress at once, and MaxConcurrentPerClient how many of one
	// client address (see TrustProxy; an IPv6 address counts as its /64).
	// Static files and health checks do not count. Past either, a request
	// gets 429 Too Many Requests with Retry-After. Defaults
	// DefaultMaxConcurrentPerSession (4) and DefaultMaxConcurrentPerClient
	// (16); negative: no limit.
	MaxConcurrentPerSession int
	MaxConcurrentPerClient  int
}

// App is the web app, an http.Handler. Create it with New.
type App struct {
	client       *atoauth.Client
	log          *slog.Logger
	secure       bool
	hsts         bool
	host         string
	trustProxy   bool
	services     map[string]string
	proxyMemory  xrpc.ProxyMemory // PDSes without a default AppView, for every session
	signUpServer string
	confidential bool
	notices      *Notices

	pages     map[string]*template.Template
	asset     string // version of the static files, for cache busting
	static    http.Handler
	mux       *http.ServeMux
	auth      *atoauthhttp.Auth
	callbacks []string // the paths of the client's redirect URIs
	csp       string

	sessionCookie string // atoauthhttp's, for the concurrency limits
	draftCookie   string // what a form held during a step-up

	pageTimeout, postTimeout time.Duration
	perSession, perClient    int
	inflight                 inflight
}

// Cookie names; with Secure cookies they carry the __Host- prefix, which
// browsers only accept from https with Path=/ and no Domain. atoauthhttp
// names its cookies (session, state, accounts, stepup) with cookiePrefix.
const (
	cookiePrefix    = "atoauth_"
	draftCookieName = "atoauth_draft" // and atoauth_draft2
)

// New checks opts and returns the app.
func New(opts Options) (*App, error) {
	if opts.Client == nil {
		return nil, errors.New("web: Options.Client is required")
	}
	a := &App{
		client:       opts.Client,
		log:          opts.Logger,
		host:         opts.CanonicalHost,
		trustProxy:   opts.TrustProxy,
		signUpServer: opts.SignUpServer,
		notices:      opts.Notices,
		mux:          http.NewServeMux(),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.signUpServer == "" {
		a.signUpServer = "https://bsky.social"
	}
	a.pageTimeout, a.postTimeout = opts.PageTimeout, opts.PostTimeout
	if a.pageTimeout <= 0 {
		a.pageTimeout = DefaultPageTimeout
	}
	if a.postTimeout <= 0 {
		a.postTimeout = DefaultPostTimeout
	}
	a.perSession, a.perClient = opts.MaxConcurrentPerSession, opts.MaxConcurrentPerClient
	if a.perSession == 0 {
		a.perSession = DefaultMaxConcurrentPerSession
	}
	if a.perClient == 0 {
		a.perClient = DefaultMaxConcurrentPerClient
	}
	if opts.PublicURL != "" {
		u, err := url.Parse(opts.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("web: Options.PublicURL %q is not an http(s) origin", opts.PublicURL)
		}
		if u.Scheme == "https" {
			a.secure, a.hsts = true, true
		}
		if a.host == "" {
			a.host = u.Host
		}
	}
	if opts.AppView != "" {
		if err := xrpc.CheckServiceRef(opts.AppView); err != nil {
			return nil, fmt.Errorf("web: Options.AppView: %w", err)
		}
		a.services = map[string]string{"app.bsky.": opts.AppView}
	}
	md := a.client.Metadata()
	a.confidential = md.TokenEndpointAuthMethod == "private_key_jwt"
	if a.notices == nil {
		a.notices = NewNotices(a.log)
	}
	prefix := ""
	if a.secure {
		prefix = "__Host-"
	}
	a.sessionCookie, a.draftCookie = prefix+cookiePrefix+"session", prefix+draftCookieName
	// The sessions' cookies last as long as the reference server keeps
	// the sessions (atoauthhttp's default): two weeks for a public
	// client, up to two years for a confidential one.
	auth, err := atoauthhttp.New(a.client, &atoauthhttp.Options{
		PublicURL:     opts.PublicURL,
		TrustProxy:    a.trustProxy,
		CanonicalHost: a.host,
		CookiePrefix:  cookiePrefix,
		SignInScope:   opts.SignInScope,
		MaxAccounts:   maxAccounts,
		SignInPage:    "/",
		AfterSignOut:  "/?notice=signed-out",
		SignInLimit:   opts.SignInLimit,
		Logger:        slog.New(idHandler{a.log.Handler()}),
		ErrorHandler:  a.authError,
		OnEvent:       a.authEvent,
	})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	a.auth = auth

	if err := a.loadTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	a.asset = assetVersion(static)
	a.static = http.StripPrefix("/static/", http.FileServerFS(static))

	a.csp = contentSecurityPolicy(a.secure && !opts.InsecureDev)
	a.routes(md.RedirectURIs)
	return a, nil
}

func (a *App) routes(redirectURIs []string) {
	m := a.mux
	m.Handle("GET /{$}", a.auth.OptionalSession(http.HandlerFunc(a.home)))
	m.HandleFunc("POST /login", a.auth.SignIn)
	m.HandleFunc("GET /signup", a.signupPage)
	m.HandleFunc("POST /signup", a.signup)
	for _, r := range redirectURIs {
		if u, err := url.Parse(r); err == nil && u.Path != "" && !slices.Contains(a.callbacks, u.Path) {
			a.callbacks = append(a.callbacks, u.Path)
			m.HandleFunc("GET "+u.Path, a.auth.Callback)
		}
	}
	m.Handle("POST /post", a.signedIn(a.post))
	m.Handle("POST /post/delete", a.signedIn(a.deletePost))
	m.Handle("GET /profile", a.signedIn(a.profilePage))
	m.Handle("POST /profile", a.signedIn(a.saveProfile))
	m.Handle("GET /records", a.signedIn(a.collections))
	m.Handle("GET /records/{collection}", a.signedIn(a.records))
	m.Handle("GET /records/{collection}/{rkey}", a.signedIn(a.record))
	m.Handle("GET /session", a.signedIn(a.sessionPage))
	m.Handle("POST /stepup", a.signedIn(a.stepUp))
	m.Handle("GET /accounts/add", a.signedIn(a.addAccountPage))
	m.HandleFunc("POST /switch", a.auth.Switch)
	m.HandleFunc("POST /logout", a.auth.SignOut)
	m.HandleFunc("POST /logout/all", a.auth.SignOutEverywhere)
	m.HandleFunc("POST /logout/accounts", a.auth.SignOutAccounts)
	m.HandleFunc("GET /healthz", a.healthz)
	m.Handle("GET /static/", a.staticHandler())
	m.Handle("GET "+MetadataPath, a.client.MetadataHandler())
	if a.confidential {
		m.Handle("GET "+JWKSPath, a.client.JWKSHandler())
	}
	m.HandleFunc("/", a.notFound)
}

// contentSecurityPolicy allows nothing inline: styles and scripts come
// from /static only. Images may come from any https host (AppView CDN
// avatars, blobs on the PDS). The sign-in form's redirect goes to the
// account's authorization server, anywhere on https. Unless httpsOnly
// (the app over plain http, or Options.InsecureDev), http hosts are
// allowed for images and the sign-in redirect too, since a local PDS
// speaks http.
func contentSecurityPolicy(httpsOnly bool) string {
	remote := "https:"
	if !httpsOnly {
		remote = "https: http:"
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: " + remote +
		"; connect-src 'self'; form-action 'self' " + remote + "; frame-ancestors 'none'; base-uri 'none'"
}

// ServeHTTP gives the request an id, logs it, sets the security headers,
// sends visitors to the canonical host and dispatches (atoauthhttp
// applies cross-origin protection to every unsafe request).
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := newRequestID()
	if a.trustProxy {
		// Keep the proxy's request id, so that its logs and ours match.
		if pid := r.Header.Get("X-Request-Id"); requestIDRE.MatchString(pid) {
			id = pid
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		a.log.LogAttrs(r.Context(), level, "request",
			slog.String("id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path), // never the query: a callback's carries the code
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("client", httpx.ClientAddr(r, a.trustProxy)),
		)
	}()

	h := rec.Header()
	h.Set("X-Request-Id", id)
	h.Set("Content-Security-Policy", a.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
	if a.hsts {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if host := httpx.RequestHost(r, a.trustProxy); a.host != "" && host != a.host && r.URL.Path != "/healthz" &&
		(r.Method == http.MethodGet || r.Method == http.MethodHead) {
		u := *r.URL
		u.Scheme, u.Host = "http", a.host
		if a.secure {
			u.Scheme = "https"
		}
		http.Redirect(rec, r, u.String(), http.StatusTemporaryRedirect)
		return
	}
	if counted(r.URL.Path) {
		release, ok := a.acquire(r)
		if !ok {
			a.tooManyAtOnce(rec, r)
			return
		}
		defer release()
	}
	a.mux.ServeHTTP(rec, r)
}

// counted tells whether a request counts against the concurrency limits:
// pages and forms do, static files, health checks and the client's
// metadata do not.
func counted(path string) bool {
	return !strings.HasPrefix(path, "/static/") && path != "/healthz" && path != MetadataPath && path != JWKSPath
}

// acquire takes a slot of the request's session (when it names one) and
// one of its client address, both or neither.
func (a *App) acquire(r *http.Request) (release func(), ok bool) {
	sid, perSession := httpx.CookieValue(r, a.sessionCookie), a.perSession
	if sid == "" {
		perSession = 0
	}
	if len(sid) > 64 { // session ids are 43 characters
		sid = sid[:64]
	}
	return a.inflight.acquire([]string{"session " + sid, "client " + httpx.LimitKey(httpx.ClientAddr(r, a.trustProxy))}, []int{perSession, a.perClient})
}

// tooManyAtOnce answers a request past a concurrency limit.
func (a *App) tooManyAtOnce(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "2")
	a.logger(r).Warn("too many requests at once", "client", httpx.ClientAddr(r, a.trustProxy))
	a.renderError(w, r, http.StatusTooManyRequests, errorPage{
		Heading: "Too many pages at once",
		Message: "Several of your pages are still loading. Wait a moment for them to finish, then try again.",
	}, nil)
}

type requestIDKey struct{}

// requestIDRE is what a request id from a trusted proxy may look like.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestID returns the id ServeHTTP gave the request.
func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

// logger returns the app's logger with the request's id.
func (a *App) logger(r *http.Request) *slog.Logger { return a.log.With("id", requestID(r)) }

// statusRecorder remembers the status and size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, "ok\n")
}

func (a *App) staticHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == a.asset {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		a.static.ServeHTTP(w, r)
	})
}

// assetVersion hashes the static files, so that their URLs change when
// they do.
func assetVersion(fsys fs.FS) string {
	h := sha256.New()
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(fsys, p)
			io.WriteString(h, p)
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// setCookie sets one of the app's cookies (see httpx.SetCookie).
func (a *App) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	httpx.SetCookie(w, name, value, maxAge, a.secure)
}

func (a *App) clearCookie(w http.ResponseWriter, name string) { a.setCookie(w, name, "", -1) }
