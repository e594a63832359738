// Package gateway lets front-ends and back-ends in any language use a
// signed-in atproto account without ever holding its tokens. It serves,
// for the browser of a signed-in person (Gateway.Handler):
//
//   - GET /api/session: who is signed in, and the CSRF token for procedures;
//   - /xrpc/{nsid}: queries (GET) and procedures (POST) sent through the
//     person's session to their PDS (DPoP, refresh, routing, the
//     permission pre-check of package xrpc), same-origin only, procedures
//     with the header X-CSRF-Token;
//   - GET /auth/check: the answer to a reverse proxy's forward-auth
//     request (nginx auth_request, Caddy forward_auth, Traefik
//     ForwardAuth): 200 with X-Atproto-Did, X-Atproto-Handle and an act
//     token, 401 when not signed in;
//   - every other path, when Options.Upstream is set: a reverse proxy to
//     the upstream application, which receives the same three headers
//     (and never the session cookie).
//
// The upstream acts for the person whose request it serves through the
// internal handler (Gateway.InternalHandler, on a private listener):
// /xrpc/{nsid} with "Authorization: Bearer <shared secret>" and
// "X-Atproto-Act: <act token>". An act token is live only while the
// request it came with is (see the threat model in the README, "The gateway").
//
// The gateway knows nothing of cookies: a Sessions tells it which session
// a request carries. Everything is bounded: request and response sizes,
// time per call, calls in progress per session, live act tokens; server
// text in errors is cleaned and cut; no token, act token, secret or
// session id is ever logged or put in an error.
package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/internal/metrics"
	"github.com/atoauth/atoauth/xrpc"
)

// ErrNotSignedIn is what Sessions.Session returns (or wraps) for a
// request that carries no signed-in session. atoauth.ErrSessionExpired
// counts the same.
var ErrNotSignedIn = errors.New("gateway: not signed in")

// Sessions tells which signed-in session a browser request carries.
type Sessions interface {
	// Session returns the request's signed-in session and its CSRF token
	// (the value procedures must send in X-CSRF-Token), or an error
	// matching ErrNotSignedIn (or atoauth.ErrSessionExpired). Any other
	// error is a failure of the session layer (a store that does not
	// answer). It must only read the request.
	Session(r *http.Request) (sess *atoauth.Session, csrf string, err error)
}

// SessionsFunc adapts a function to Sessions.
type SessionsFunc func(r *http.Request) (*atoauth.Session, string, error)

// Session calls f(r).
func (f SessionsFunc) Session(r *http.Request) (*atoauth.Session, string, error) { return f(r) }

// Defaults of Options.
const (
	DefaultMaxJSONBytes            = 1 << 20
	DefaultMaxBlobBytes            = 50 << 20
	DefaultMaxResponseBytes        = 64 << 20
	DefaultQueryTimeout            = 30 * time.Second
	DefaultProcedureTimeout        = 2 * time.Minute
	DefaultMaxConcurrentPerSession = 6
	// DefaultUpstreamHeaderTimeout bounds the wait for the upstream's
	// response headers.
	DefaultUpstreamHeaderTimeout = 2 * time.Minute
)

// Paths the gateway serves to browsers.
const (
	PathSession = "/api/session"
	PathXRPC    = "/xrpc/"
	PathCheck   = "/auth/check"
)

// Options configures a Gateway. Only Sessions is required.
type Options struct {
	// Sessions finds the signed-in session of a browser request.
	Sessions Sessions
	// Logger receives warnings and debug events; never a token, act
	// token, secret, cookie or session id. Nil: discard.
	Logger *slog.Logger
	// Metrics, when set, counts requests per route ("session", "xrpc",
	// "auth_check", "upstream", "act") and status class.
	Metrics *metrics.Metrics

	// TrustedOrigins are origins ("https://app.example.com") whose
	// requests count as same-origin although the Host the gateway sees
	// differs (a proxy that rewrites Host). The public URL belongs here.
	TrustedOrigins []string
	// TrustProxy makes the gateway believe the reverse proxy in front of
	// it: X-Forwarded-Host (the host for same-origin checks),
	// X-Forwarded-Proto and X-Forwarded-For (passed on to the upstream),
	// and on /auth/check X-Forwarded-Method / X-Original-Method (the
	// method of the request being authorized). Set it only when every
	// request comes through that proxy.
	TrustProxy bool

	// Services routes XRPC calls as xrpc.Options.Services does (e.g.
	// {"app.bsky.": "did:web:appview.example#bsky_appview"}); a valid
	// atproto-proxy header of the request wins.
	Services map[string]string
	// ProxyMemory is shared by the calls of all sessions (PDSes without a
	// default AppView). Nil: the Gateway keeps one.
	ProxyMemory *xrpc.ProxyMemory

	// MaxJSONBytes caps a JSON request body (application/json); default
	// DefaultMaxJSONBytes. JSON bodies are read whole, so that the
	// permission pre-check sees the record's collection.
	MaxJSONBytes int64
	// MaxBlobBytes caps any other request body (uploadBlob); default
	// DefaultMaxBlobBytes, at most dpop.MaxBufferedBody (the session's
	// transport keeps a copy to replay it on a nonce challenge).
	MaxBlobBytes int64
	// MaxResponseBytes caps an answer streamed back; default
	// DefaultMaxResponseBytes. A larger answer declared by Content-Length
	// is refused with 502; one found larger while streaming is cut (the
	// connection is closed without completing the body).
	MaxResponseBytes int64
	// QueryTimeout and ProcedureTimeout bound one call, reading the
	// request body included; defaults DefaultQueryTimeout and
	// DefaultProcedureTimeout.
	QueryTimeout, ProcedureTimeout time.Duration
	// MaxConcurrentPerSession bounds the XRPC calls (browser and act)
	// in progress per session; more get 429. Default
	// DefaultMaxConcurrentPerSession; negative: no limit.
	MaxConcurrentPerSession int

	// Upstream, when set, is the application the gateway reverse-proxies
	// every other path to.
	Upstream *url.URL
	// UpstreamTransport sends requests to Upstream. Nil: a clone of
	// http.DefaultTransport with DefaultUpstreamHeaderTimeout.
	UpstreamTransport http.RoundTripper
	// PrivateCookies name the session layer's cookies, which never reach
	// the upstream and which the upstream cannot set: exact names, or
	// prefixes written "name*", compared case-insensitively. Nil:
	// DefaultPrivateCookies (atoauthhttp's default cookie prefix; with
	// another prefix P, pass P+"*" and "__Host-"+P+"*").
	PrivateCookies []string
	// ForwardAuthorization passes the browser's Authorization header on
	// to the upstream (by default it is removed).
	ForwardAuthorization bool

	// Secret is the shared secret of the internal listener, from
	// ParseSecret. Empty: no act tokens are issued and InternalHandler
	// is nil.
	Secret Secret
	// ActTTL is the longest life of an act token; default DefaultActTTL.
	ActTTL time.Duration
	// ActMaxCalls is how many calls one act token allows; default
	// DefaultActMaxCalls; negative: no limit.
	ActMaxCalls int
	// Clock returns the time (act token expiry); nil: time.Now.
	Clock func() time.Time
}

// Gateway serves the browser-facing routes, the upstream proxy, and the
// internal handler. Create it with New; it is safe for concurrent use.
type Gateway struct {
	sessions Sessions
	log      *slog.Logger
	metrics  *metrics.Metrics

	cop        *http.CrossOriginProtection
	trustProxy bool

	services                  map[string]string
	memory                    *xrpc.ProxyMemory
	maxJSON, maxBlob, maxResp int64
	queryTimeout, procTimeout time.Duration
	perSession                int
	inflight                  inflight

	proxy        *httputil.ReverseProxy // nil without Upstream
	cookies      cookieMatcher
	forwardAuthz bool

	secretSum [32]byte
	acts      *actRegistry // nil without Secret
}

// New checks opts and returns a Gateway.
func New(opts Options) (*Gateway, error) {
	if opts.Sessions == nil {
		return nil, errors.New("gateway: Options.Sessions is required")
	}
	g := &Gateway{
		sessions:     opts.Sessions,
		log:          opts.Logger,
		metrics:      opts.Metrics,
		cop:          http.NewCrossOriginProtection(),
		trustProxy:   opts.TrustProxy,
		memory:       opts.ProxyMemory,
		maxJSON:      orDefault(opts.MaxJSONBytes, DefaultMaxJSONBytes),
		maxBlob:      orDefault(opts.MaxBlobBytes, DefaultMaxBlobBytes),
		maxResp:      orDefault(opts.MaxResponseBytes, DefaultMaxResponseBytes),
		queryTimeout: orDefault(opts.QueryTimeout, DefaultQueryTimeout),
		procTimeout:  orDefault(opts.ProcedureTimeout, DefaultProcedureTimeout),
		perSession:   opts.MaxConcurrentPerSession,
		forwardAuthz: opts.ForwardAuthorization,
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.memory == nil {
		g.memory = &xrpc.ProxyMemory{}
	}
	if g.perSession == 0 {
		g.perSession = DefaultMaxConcurrentPerSession
	}
	if g.maxBlob > dpop.MaxBufferedBody {
		return nil, fmt.Errorf("gateway: Options.MaxBlobBytes is larger than dpop.MaxBufferedBody (%d)", dpop.MaxBufferedBody)
	}
	for _, o := range opts.TrustedOrigins {
		if err := g.cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("gateway: Options.TrustedOrigins: %w", err)
		}
	}
	if len(opts.Services) > 0 {
		// Checked once here, as every call's client would.
		pub, err := auth.Public("https://example.invalid", http.DefaultClient)
		if err != nil {
			return nil, err
		}
		if _, err := xrpc.NewClient(xrpc.Options{Auth: pub, Services: opts.Services}); err != nil {
			return nil, fmt.Errorf("gateway: Options.Services: %w", err)
		}
		g.services = make(map[string]string, len(opts.Services))
		for k, v := range opts.Services {
			g.services[k] = v
		}
	}
	private := opts.PrivateCookies
	if private == nil {
		private = DefaultPrivateCookies()
	}
	g.cookies = newCookieMatcher(private)
	if opts.Secret != "" {
		if _, err := ParseSecret(string(opts.Secret)); err != nil {
			return nil, err
		}
		g.secretSum = sumSecret(string(opts.Secret))
		now := opts.Clock
		if now == nil {
			now = time.Now
		}
		maxCalls := opts.ActMaxCalls
		if maxCalls == 0 {
			maxCalls = DefaultActMaxCalls
		}
		g.acts = newActRegistry(now, orDefault(opts.ActTTL, DefaultActTTL), maxCalls)
	}
	if opts.Upstream != nil {
		if err := g.setUpstream(opts.Upstream, opts.UpstreamTransport); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Handler serves the browser-facing routes: GET /api/session,
// /xrpc/{nsid}, /auth/check, and with Options.Upstream every other path
// through the upstream proxy (without it, 404). Mount it at "/" of the
// public listener, next to the session layer's routes (sign-in,
// callback, sign-out), which are more specific.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PathSession, g.SessionHandler())
	mux.Handle(PathXRPC, g.XRPCHandler())
	mux.Handle(PathCheck, g.CheckHandler())
	if g.proxy != nil {
		mux.Handle("/", g.UpstreamHandler())
	} else {
		mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			secureHeaders(w)
			writeError(w, http.StatusNotFound, "not_found", "no such route")
		}))
	}
	return mux
}

// route wraps a handler with the metrics of its route, and aborts the
// connection afterwards when the handler asks (an answer cut while
// streaming must not look complete).
func (g *Gateway) route(name string, h func(w http.ResponseWriter, r *http.Request) (abort bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		abort := false
		var inner http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { abort = h(w, r) })
		if g.metrics != nil {
			inner = g.metrics.Gateway(name, inner)
		}
		inner.ServeHTTP(w, r)
		if abort {
			panic(http.ErrAbortHandler)
		}
	})
}

func noAbort(h func(w http.ResponseWriter, r *http.Request)) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool { h(w, r); return false }
}

// SessionHandler serves GET /api/session: 200 with
// {"did","handle","pds","scopes","csrf"} for a signed-in browser, 401
// {"error":"not_signed_in"} otherwise. Same-origin only.
func (g *Gateway) SessionHandler() http.Handler {
	return g.route("session", noAbort(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		if err := g.checkOrigin(r, false); err != nil {
			writeError(w, http.StatusForbidden, "cross_origin", "cross-origin requests are refused")
			return
		}
		sess, csrf, ok := g.browserSession(w, r)
		if !ok {
			return
		}
		writeJSON(w, http.StatusOK, sessionInfo(sess, csrf))
	}))
}

// sessionJSON is the answer of GET /api/session.
type sessionJSON struct {
	DID    string   `json:"did"`
	Handle string   `json:"handle"`
	PDS    string   `json:"pds"`
	Scopes []string `json:"scopes"`
	CSRF   string   `json:"csrf,omitempty"`
}

func sessionInfo(sess *atoauth.Session, csrf string) sessionJSON {
	scopes := strings.Fields(sess.Scope())
	if scopes == nil {
		scopes = []string{}
	}
	return sessionJSON{DID: sess.DID().String(), Handle: sess.Handle().String(), PDS: sess.PDS(), Scopes: scopes, CSRF: csrf}
}

// browserSession finds the request's session, answering 401 (not signed
// in) or 503 (the session layer failed) when there is none.
func (g *Gateway) browserSession(w http.ResponseWriter, r *http.Request) (*atoauth.Session, string, bool) {
	sess, csrf, err := g.lookup(r)
	switch {
	case err == nil:
		return sess, csrf, true
	case errors.Is(err, ErrNotSignedIn):
		writeError(w, http.StatusUnauthorized, "not_signed_in", "sign in first")
	default:
		g.log.Warn("gateway: the session layer failed", "error", err.Error())
		writeError(w, http.StatusServiceUnavailable, "session_unavailable", "sessions cannot be read right now; try again")
	}
	return nil, "", false
}

// lookup asks Sessions, folding the ways of not being signed in into
// ErrNotSignedIn.
func (g *Gateway) lookup(r *http.Request) (*atoauth.Session, string, error) {
	sess, csrf, err := g.sessions.Session(r)
	switch {
	case err == nil && sess == nil:
		return nil, "", ErrNotSignedIn
	case err == nil:
		return sess, csrf, nil
	case errors.Is(err, ErrNotSignedIn), errors.Is(err, atoauth.ErrSessionExpired):
		return nil, "", ErrNotSignedIn
	}
	return nil, "", err
}

// XRPCHandler serves /xrpc/{nsid} for the signed-in browser: GET is a
// query, POST a procedure (which needs X-CSRF-Token), both sent through
// the browser's session. Same-origin only.
func (g *Gateway) XRPCHandler() http.Handler {
	return g.route("xrpc", func(w http.ResponseWriter, r *http.Request) bool {
		secureHeaders(w)
		nsid, ok := nsidFromPath(r.URL.Path)
		if !ok {
			writeError(w, http.StatusBadRequest, "invalid_nsid", "the path is not /xrpc/ followed by a valid NSID")
			return false
		}
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			methodNotAllowed(w, "GET, POST")
			return false
		}
		procedure := r.Method == http.MethodPost
		if err := g.checkOrigin(r, procedure); err != nil {
			writeError(w, http.StatusForbidden, "cross_origin", "cross-origin requests are refused")
			return false
		}
		sess, csrf, ok := g.browserSession(w, r)
		if !ok {
			return false
		}
		if procedure && !csrfMatches(r.Header.Values(HeaderCSRF), csrf) {
			writeError(w, http.StatusForbidden, "csrf_failed", "procedures need the header "+HeaderCSRF+" with the csrf of "+PathSession)
			return false
		}
		return g.passthrough(w, r, sess, nsid)
	})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "allowed: "+allow)
}
