package atoauthhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/httpx"
	"github.com/atoauth/atoauth/scope"
)

// Options configures New. The zero value (or nil) suits a loopback
// development client served on 127.0.0.1.
type Options struct {
	// PublicURL is the origin the app is reached at, such as
	// "https://app.example.com" (no path). With https, cookies are Secure
	// and their names carry the __Host- prefix, which browsers accept only
	// from a secure origin, with Path=/ and no Domain (RFC 6265bis,
	// "Cookie Name Prefixes"). The origin is trusted by the cross-origin
	// checks (so a reverse proxy may rewrite Host), and its host is the
	// default CanonicalHost. Sending Strict-Transport-Security is the
	// app's business. Default: none; cookies are not Secure.
	PublicURL string
	// TrustProxy makes the package believe the X-Forwarded-For and
	// X-Forwarded-Host headers of a reverse proxy: the client address
	// (for SignInLimit and the logs) is the last X-Forwarded-For entry,
	// and the host the browser asked for is X-Forwarded-Host. Set it only
	// when every request comes through that proxy.
	TrustProxy bool
	// CanonicalHost is the host[:port] the app must be reached at:
	// cookies are per host, so GET and HEAD requests that the package's
	// handlers and middleware see for another host are redirected there.
	// It is also the host a loopback client's logins redirect to (the
	// client registers its redirect URI without a port; each login names
	// http://CanonicalHost/path). Default: the host of PublicURL; for a
	// loopback client without PublicURL, served on a loopback address or
	// localhost, the host of its redirect URI (127.0.0.1) with the port
	// the request came to — a visit to localhost:8080 goes to
	// 127.0.0.1:8080, where the authorization server sends the browser
	// back.
	CanonicalHost string
	// BasePath is where Handler serves the package's routes (see
	// Handler): a path starting and ending with "/". Default "/auth/".
	BasePath string
	// CookiePrefix starts the names of the package's cookies: session,
	// state, accounts and stepup (with the __Host- prefix before it over
	// https). Default "atoauth_".
	CookiePrefix string
	// SessionMaxAge is the lifetime of the session cookies. Default: 14
	// days for a public client, 365 days for a confidential one (the
	// reference authorization server keeps their sessions at most two
	// weeks and two years).
	SessionMaxAge time.Duration
	// SignInScope is what a sign-in asks for: a part of the client's
	// scope (its metadata's), with "atproto". Default: all of it. Ask for
	// more later with StepUp or RequirePermission.
	SignInScope string
	// MaxAccounts is how many accounts one browser may be signed in to at
	// once (at most 20). Default 1: a sign-in replaces the browser's
	// account, signing its session out. With more, the browser switches
	// between them (Switch), and a sign-in past the limit is refused
	// (CodeTooManyAccounts).
	MaxAccounts int
	// SignInPage is the app's page with a sign-in form (a path of the
	// app, which gets ?next=PATH: post it back to SignIn as the form
	// field next), where the default ErrorHandler sends a signed-out
	// visitor of a page that RequireSession protects. Default:
	// BasePath+"signin", a minimal form of the package's own.
	SignInPage string
	// AfterSignIn is where a sign-in, a step-up and a switch go when they
	// were given no return path; AfterSignOut, where the sign-outs go.
	// Paths of the app (see SafeReturn). Default "/".
	AfterSignIn  string
	AfterSignOut string
	// SignInLimit is how many sign-ins and step-ups one client address
	// (an IPv6 address counts as its /64) may start per minute. Default
	// 10; negative: no limit. The count is per Auth, in memory.
	SignInLimit int
	// Logger receives a record per sign-in, sign-out and refusal (with
	// the request's context: a handler that reads it can add a request
	// id), never a token, a code, a state or a session id. Default:
	// discard.
	Logger *slog.Logger
	// ErrorHandler answers every Error of the package's handlers and
	// middleware. The request it gets carries what the package loaded
	// (SessionFrom, AccountsFrom). Default: Auth.DefaultError, which a
	// handler may also end with for the codes it leaves alone.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, e *Error)
	// OnEvent is called after a sign-in, a step-up, a sign-out or a
	// switch, before the handler's redirect: it may set cookies, and
	// change Event.Redirect. A non-nil error is answered as an Error
	// (as it is when it is an *Error); for a sign-in (EventSignedIn) it
	// also refuses it: the new session is signed out and the browser's
	// accounts are left as they were.
	OnEvent func(w http.ResponseWriter, r *http.Request, e *Event) error
}

// Auth is "Sign in with Bluesky" for a net/http app: the handlers of
// sign-in, callback, sign-out and account switching, and the middleware
// that loads the browser's session and checks CSRF. Create it with New;
// it is safe for concurrent use.
type Auth struct {
	client       *atoauth.Client
	log          *slog.Logger
	secure       bool
	host         string // canonical host, "" for none (see canonicalHost)
	trustProxy   bool
	base         string
	signInScope  string
	maxAccounts  int
	signInPage   string
	afterSignIn  string
	afterSignOut string
	errorHandler func(http.ResponseWriter, *http.Request, *Error)
	onEvent      func(http.ResponseWriter, *http.Request, *Event) error
	limiter      *limiter
	cop          *http.CrossOriginProtection
	mux          *http.ServeMux

	// loopback: the client is a loopback development client, whose
	// logins name the redirect URI with the app's port: loopbackHost is
	// the host of its first redirect URI, loopbackPath its path.
	loopback                   bool
	loopbackHost, loopbackPath string

	sessionCookie, stateCookie, accountsCookie, stepUpCookie string
	sessionMaxAge                                            time.Duration
}

// maxMaxAccounts bounds Options.MaxAccounts: the accounts cookie holds
// the other accounts' session ids (44 bytes each) in a cookie's 4 KB.
const maxMaxAccounts = 20

// New returns the Auth of client, configured by opts (nil: defaults). It
// checks the options against the client: the sign-in scope must be part
// of the client's.
func New(client *atoauth.Client, opts *Options) (*Auth, error) {
	if client == nil {
		return nil, errors.New("atoauthhttp: New needs a client")
	}
	if opts == nil {
		opts = &Options{}
	}
	a := &Auth{
		client:       client,
		log:          opts.Logger,
		host:         opts.CanonicalHost,
		trustProxy:   opts.TrustProxy,
		base:         opts.BasePath,
		maxAccounts:  opts.MaxAccounts,
		errorHandler: opts.ErrorHandler,
		onEvent:      opts.OnEvent,
		cop:          http.NewCrossOriginProtection(),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.base == "" {
		a.base = "/auth/"
	}
	if !strings.HasPrefix(a.base, "/") || !strings.HasSuffix(a.base, "/") || SafeReturn(a.base) != a.base || strings.Contains(a.base, "?") {
		return nil, fmt.Errorf("atoauthhttp: Options.BasePath %q is not a path starting and ending with /", opts.BasePath)
	}
	if opts.PublicURL != "" {
		u, err := url.Parse(opts.PublicURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("atoauthhttp: Options.PublicURL %q is not an http(s) origin", opts.PublicURL)
		}
		a.secure = u.Scheme == "https"
		if a.host == "" {
			a.host = u.Host
		}
		if err := a.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("atoauthhttp: Options.PublicURL: %w", err)
		}
	}
	switch {
	case a.maxAccounts == 0:
		a.maxAccounts = 1
	case a.maxAccounts < 0 || a.maxAccounts > maxMaxAccounts:
		return nil, fmt.Errorf("atoauthhttp: Options.MaxAccounts %d is not between 1 and %d", opts.MaxAccounts, maxMaxAccounts)
	}
	var err error
	if a.afterSignIn, err = checkPath("AfterSignIn", opts.AfterSignIn); err != nil {
		return nil, err
	}
	if a.afterSignOut, err = checkPath("AfterSignOut", opts.AfterSignOut); err != nil {
		return nil, err
	}
	if a.signInPage, err = checkPath("SignInPage", opts.SignInPage); err != nil {
		return nil, err
	}
	if opts.SignInPage == "" {
		a.signInPage = a.base + "signin"
	}
	md := client.Metadata()
	if opts.SignInScope != "" {
		if err := checkSignInScope(opts.SignInScope, md.Scope); err != nil {
			return nil, err
		}
		a.signInScope = strings.Join(strings.Fields(opts.SignInScope), " ")
	}
	prefix := opts.CookiePrefix
	if prefix == "" {
		prefix = "atoauth_"
	}
	if strings.IndexFunc(prefix, func(r rune) bool { return !isTokenChar(r) }) >= 0 || strings.HasPrefix(strings.ToLower(prefix), "__") {
		return nil, fmt.Errorf("atoauthhttp: Options.CookiePrefix %q may have only letters, digits and -._ and must not start with __", prefix)
	}
	if a.secure {
		prefix = "__Host-" + prefix
	}
	a.sessionCookie, a.stateCookie = prefix+"session", prefix+"state"
	a.accountsCookie, a.stepUpCookie = prefix+"accounts", prefix+"stepup"
	confidential := md.TokenEndpointAuthMethod == "private_key_jwt"
	a.sessionMaxAge = opts.SessionMaxAge
	if a.sessionMaxAge <= 0 {
		a.sessionMaxAge = 14 * 24 * time.Hour
		if confidential {
			a.sessionMaxAge = 365 * 24 * time.Hour
		}
	}
	if md.TokenEndpointAuthMethod == "none" && strings.HasPrefix(client.ClientID(), atoauth.LoopbackClientID+"?") && len(md.RedirectURIs) > 0 {
		if u, err := url.Parse(md.RedirectURIs[0]); err == nil {
			a.loopback, a.loopbackHost, a.loopbackPath = true, u.Hostname(), u.EscapedPath()
			if strings.Contains(a.loopbackHost, ":") {
				a.loopbackHost = "[" + a.loopbackHost + "]"
			}
		}
	}
	limit := opts.SignInLimit
	if limit == 0 {
		limit = 10
	}
	if limit > 0 {
		a.limiter = newLimiter(limit, time.Minute, time.Now)
	}
	a.routes(md.RedirectURIs)
	return a, nil
}

// checkPath checks an Options path: "" is "/", anything else must be a
// path of the app SafeReturn keeps.
func checkPath(name, p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if SafeReturn(p) != p {
		return "", fmt.Errorf("atoauthhttp: Options.%s %q is not a path of the app (see SafeReturn)", name, p)
	}
	return p, nil
}

// checkSignInScope checks that a sign-in scope is a subset of the
// client's scope (as tokens, as atoauth.Client.Start does) with
// "atproto".
func checkSignInScope(signIn, client string) error {
	if _, err := scope.Parse(signIn); err != nil {
		return fmt.Errorf("atoauthhttp: Options.SignInScope: %w", err)
	}
	declared := strings.Fields(client)
	var missing []string
	for _, t := range strings.Fields(signIn) {
		if !slices.Contains(declared, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("atoauthhttp: Options.SignInScope asks for %q, which the client's scope %q does not declare: a sign-in may ask only for part of the client's scope", strings.Join(missing, " "), client)
	}
	if !slices.Contains(strings.Fields(signIn), "atproto") {
		return fmt.Errorf("atoauthhttp: Options.SignInScope %q lacks \"atproto\", which every sign-in asks for", signIn)
	}
	return nil
}

func isTokenChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// routes builds the mux of Handler.
func (a *Auth) routes(redirectURIs []string) {
	m := http.NewServeMux()
	b := a.base
	m.HandleFunc("GET "+b+"signin", a.SignIn)
	m.HandleFunc("POST "+b+"signin", a.SignIn)
	m.HandleFunc("POST "+b+"signout", a.SignOut)
	m.HandleFunc("POST "+b+"signout/everywhere", a.SignOutEverywhere)
	m.HandleFunc("POST "+b+"signout/accounts", a.SignOutAccounts)
	m.HandleFunc("POST "+b+"switch", a.Switch)
	m.HandleFunc("POST "+b+"stepup", a.stepUpRoute)
	var callbacks []string
	for _, r := range redirectURIs {
		if u, err := url.Parse(r); err == nil && u.Path != "" && !slices.Contains(callbacks, u.Path) {
			callbacks = append(callbacks, u.Path)
			m.HandleFunc("GET "+u.Path, a.Callback)
		}
	}
	a.mux = m
}

// Handler serves every route of the package, at these paths under
// Options.BasePath (by default /auth/):
//
//	GET, POST signin             SignIn (GET ?identifier=…&next=…, or a form)
//	POST      signout            SignOut
//	POST      signout/everywhere SignOutEverywhere
//	POST      signout/accounts   SignOutAccounts
//	POST      switch             Switch (form field did)
//	POST      stepup             StepUp (form fields scope and next)
//
// and GET at the path of each of the client's redirect URIs, Callback.
// It routes on the request's whole path, so mount it at BasePath and at
// the redirect path (http.Handle("/auth/", h) and
// http.Handle("/callback", h)), or mount it once at "/" of a mux whose
// other patterns are the app's. Other paths get 404.
func (a *Auth) Handler() http.Handler { return a.mux }

// Cookies. Every cookie of the package is HttpOnly, SameSite=Lax (sent
// on a top-level navigation from another site, as the authorization
// server's redirect to the callback is), Path=/, and Secure with the
// __Host- prefix over https.

func (a *Auth) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	httpx.SetCookie(w, name, value, maxAge, a.secure)
}

func (a *Auth) clearCookie(w http.ResponseWriter, name string) { a.setCookie(w, name, "", -1) }

// canonicalHost is the host the browser must use ("" when any will do):
// Options.CanonicalHost, PublicURL's host, or for a loopback client on a
// loopback host the host of its redirect URI with the request's port.
func (a *Auth) canonicalHost(r *http.Request) string {
	if a.host != "" || !a.loopback {
		return a.host
	}
	host := httpx.RequestHost(r, a.trustProxy)
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.Trim(host, "[]"), ""
	}
	if ip := net.ParseIP(name); name != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return ""
	}
	if port == "" {
		return a.loopbackHost
	}
	return a.loopbackHost + ":" + port
}

// toCanonical redirects a GET or HEAD request for another host than the
// canonical one there, and tells whether it did.
func (a *Auth) toCanonical(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	want := a.canonicalHost(r)
	if want == "" || strings.EqualFold(httpx.RequestHost(r, a.trustProxy), want) {
		return false
	}
	http.Redirect(w, r, a.origin(want)+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	return true
}

func (a *Auth) origin(host string) string {
	if a.secure {
		return "https://" + host
	}
	return "http://" + host
}

// unsafeMethod tells whether a request may change state (RFC 9110
// §9.2.1): every method but GET, HEAD, OPTIONS and TRACE.
func unsafeMethod(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// checkOrigin refuses an unsafe request from another origin.
func (a *Auth) checkOrigin(r *http.Request) *Error {
	if err := a.cop.Check(r); err != nil {
		a.log.InfoContext(r.Context(), "cross-origin request refused", "path", r.URL.Path)
		return errCrossOrigin(err)
	}
	return nil
}

// wantsJSON tells whether a request wants a JSON answer: its Accept
// header names JSON before any HTML, or it names no HTML and comes from
// fetch or XMLHttpRequest (Sec-Fetch-Dest: empty).
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			return true
		case mt == "text/html" || mt == "application/xhtml+xml":
			return false
		}
	}
	return r.Header.Get("Sec-Fetch-Dest") == "empty"
}

// redirect sends the browser to target, a path of the app or the
// authorization server: a 303, or for a request that wants JSON, 200
// {"redirect": target} (fetch cannot follow a redirect to another
// origin: the page navigates itself).
func (a *Auth) redirect(w http.ResponseWriter, r *http.Request, target string) {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]string{"redirect": target})
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers e through the error handler.
func (a *Auth) fail(w http.ResponseWriter, r *http.Request, e *Error) {
	if e.Status == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "60")
	}
	if a.errorHandler != nil {
		a.errorHandler(w, r, e)
		return
	}
	a.DefaultError(w, r, e)
}

// WriteError answers err as the package's handlers answer their errors,
// with Options.ErrorHandler: an *Error as it is, any other error as
// CodeServer. Use it for the error of StepUp or StartSignIn.
func (a *Auth) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	a.fail(w, r, asError(err))
}
