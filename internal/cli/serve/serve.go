// Package serve implements `atoauth serve`: the web app on the embedded
// defaults (a loopback development client on 127.0.0.1:8080).
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/gateway"
	"github.com/atoauth/atoauth/internal/metrics"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/spf13/cobra"
)

// DefaultAddr is where the app listens unless --addr says.
const DefaultAddr = "127.0.0.1:8080"

// Options are the settings of `atoauth serve`. What every command shares
// (--store and ATOAUTH_STORE_KEYS, --plc-url, --handle-resolver,
// --insecure-dev, --appview, --quiet, --verbose) is the Factory's.
type Options struct {
	// Factory gives the global settings and opens the session store
	// (Factory.Store). Nil: see PLCURL.
	Factory *cmdutil.Factory

	Addr  string // listen address, default DefaultAddr
	Scope string // every scope the app may ask for
	// SignInScope is what a sign-in asks for, a subset of Scope ("": all
	// of Scope); a form that needs more asks for it then (a step-up).
	SignInScope string
	// PublicURL makes the app a web client served at this origin
	// ("https://app.example.com"); "" is the loopback development client.
	PublicURL string
	// ClientKeys are private JWK files (atoauth keygen), newest first:
	// with PublicURL they make the app a confidential client.
	ClientKeys []string
	// ClientName is shown on the consent screen.
	ClientName string
	// TrustProxy believes X-Forwarded-For/-Host of a reverse proxy.
	TrustProxy bool
	// LogJSON writes the logs as JSON lines instead of text.
	LogJSON bool
	// MetricsAddr, when set, is a second listen address that serves
	// /metrics in the Prometheus text format (keep it off the public
	// network: it is not authenticated).
	MetricsAddr string

	// Gateway serves, instead of the web app, the gateway for apps in any
	// language: atoauthhttp's sign-in routes under /auth/, the browser
	// API (/api/session, /xrpc/), forward-auth (/auth/check) and, with
	// Upstream, every other path proxied to the application.
	Gateway bool
	// Upstream is the application the gateway proxies to
	// ("http://127.0.0.1:3000").
	Upstream string
	// InternalAddr is the private listener where the upstream acts for
	// the user of the request it serves (with GatewaySecret and the
	// request's act token); default DefaultInternalAddr.
	InternalAddr string
	// GatewaySecret is the internal listener's shared secret, from
	// ATOAUTH_GATEWAY_SECRET (never a flag). Empty: no act tokens and no
	// internal listener.
	GatewaySecret gateway.Secret

	// Listening, when set, is called with the listening address once the
	// app is ready to serve (before "serving on" is printed): how a
	// caller learns the port of Addr "127.0.0.1:0". MetricsListening is
	// the same for MetricsAddr.
	Listening         func(addr net.Addr)
	MetricsListening  func(addr net.Addr)
	InternalListening func(addr net.Addr)

	// PLCURL, HandleResolver, InsecureDev and Store are the global
	// settings of a Run without a Factory (a program or test that runs the
	// app without the command line), as --plc-url, --handle-resolver,
	// --insecure-dev and --store give them; no environment variable is
	// read then. With a Factory they must be unset: its Settings hold them.
	PLCURL         string
	HandleResolver string
	InsecureDev    bool
	Store          string
}

// NewCmd returns the command. runF, when set, replaces Run (for tests).
func NewCmd(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	s := f.Settings
	o := &Options{
		Factory:      f,
		Addr:         envOr(s, "ATOAUTH_ADDR", DefaultAddr),
		Scope:        envOr(s, "ATOAUTH_SCOPE", cmdutil.DefaultScope),
		SignInScope:  s.Getenv("ATOAUTH_SIGNIN_SCOPE"),
		PublicURL:    s.Getenv("ATOAUTH_PUBLIC_URL"),
		ClientKeys:   splitList(s.Getenv("ATOAUTH_CLIENT_KEY")),
		ClientName:   s.Getenv("ATOAUTH_CLIENT_NAME"),
		MetricsAddr:  s.Getenv("ATOAUTH_METRICS_ADDR"),
		Upstream:     s.Getenv("ATOAUTH_UPSTREAM"),
		InternalAddr: envOr(s, "ATOAUTH_INTERNAL_ADDR", DefaultInternalAddr),
	}
	o.Gateway, _ = strconv.ParseBool(s.Getenv("ATOAUTH_GATEWAY"))
	o.TrustProxy, _ = strconv.ParseBool(s.Getenv("ATOAUTH_TRUST_PROXY"))
	o.LogJSON, _ = strconv.ParseBool(s.Getenv("ATOAUTH_LOG_JSON"))
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the web app (\"Sign in with Bluesky\") on http://127.0.0.1:8080",
		Long: `Serve the atoauth web app: "Sign in with Bluesky", then see who you are and
post. By default it is a loopback development client (no hosting needed) on
http://127.0.0.1:8080, with its sessions in atoauth.db in the config
directory ($ATOAUTH_CONFIG_DIR, else ~/.config/atoauth).

--scope is every permission the app may ask for (its client metadata
declares it); --signin-scope, a part of it, is what a sign-in asks for.
When a form needs a permission the session lacks (say, editing the
profile after signing in to post only), the app names it and asks for it
then, keeping what was typed.

In production, --public-url makes it a web client whose client_id is
URL/oauth-client-metadata.json, which the app serves (and URL/oauth/jwks.json);
--client-key FILE (written by 'atoauth keygen') makes it a confidential client
with long sessions. Repeat --client-key to rotate keys: new sessions use the
first, existing ones keep theirs while it is listed; publish a new key (listed
second) 10 minutes before you list it first (see 'atoauth keygen --help').
Several instances share one --store postgres://… URL: sessions, refresh locks
and the servers' DPoP nonces (one nonce retry per server for the fleet).
--gateway serves, instead of the web app, a gateway for front-ends and
back-ends in any language: sign-in under /auth/ (/auth/signin?next=/),
GET /api/session (who is signed in, and the CSRF token), /xrpc/{nsid}
through the browser's session (same origin; procedures need the
X-CSRF-Token header), GET /auth/check for reverse proxies' forward-auth
(nginx auth_request, Caddy forward_auth), and with --upstream every other
path proxied to your application with X-Atproto-Did and X-Atproto-Handle.
With ATOAUTH_GATEWAY_SECRET set, each signed-in request also carries an
X-Atproto-Act token with which the application acts for that user, only
while the request runs, on the private --internal-addr listener.
--metrics-addr serves Prometheus metrics on a second, private address:
sign-ins, refreshes by outcome, XRPC calls by method family and status,
DPoP nonce challenges, refresh-lock waits (labels never name an account).

Each flag is also read from the environment variable shown. The global
flags apply as to every command: --store (a SQLite file, a postgres:// URL
shared by several instances, or "memory"), --plc-url, --handle-resolver and
--insecure-dev (development networks), --appview (the AppView for timelines
and profiles, reached through the PDS), --verbose (debug logs) and --quiet
(warnings and errors only); --session, --app-password-for and
--request-timeout do not apply.

Environment only:
  ATOAUTH_STORE_KEYS      encrypt tokens and DPoP keys at rest:
                          ID:BASE64SECRET[,ID:BASE64SECRET…], 32-byte secrets
                          (openssl rand -base64 32), newest first
  ATOAUTH_GATEWAY_SECRET  with --gateway: the internal listener's shared
                          secret, at least 32 characters
                          (openssl rand -base64 32)`,
		Example: `  atoauth serve
  atoauth serve --insecure-dev --plc-url http://localhost:2582 --handle-resolver http://localhost:2583
  atoauth serve --store postgres://app@db.internal/app
  atoauth serve --scope 'atproto repo:app.bsky.feed.post?action=create blob:image/* repo:app.bsky.actor.profile?action=create&action=update' \
      --signin-scope 'atproto repo:app.bsky.feed.post?action=create blob:image/*'
  atoauth serve --addr :8080 --public-url https://app.example.com --client-key /etc/atoauth/key.jwk \
      --store postgres://app@db.internal/app --trust-proxy
  ATOAUTH_GATEWAY_SECRET=$(openssl rand -base64 32) atoauth serve --gateway --upstream http://127.0.0.1:3000
  atoauth serve --metrics-addr 127.0.0.1:9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if _, err := f.StoreKeys(); err != nil {
				return err
			}
			if o.Gateway {
				secret, err := gatewaySecret(s.Getenv)
				if err != nil {
					return err
				}
				o.GatewaySecret = secret
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return Run(cmd.Context(), o, f.IO.Out, f.IO.ErrOut)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Addr, "addr", o.Addr, "listen address (ATOAUTH_ADDR)")
	fl.StringVar(&o.Scope, "scope", o.Scope, "scopes the app may ask for (ATOAUTH_SCOPE)")
	fl.StringVar(&o.SignInScope, "signin-scope", o.SignInScope, "what a sign-in asks for: a part of --scope, with atproto; forms ask for the rest when they need it (ATOAUTH_SIGNIN_SCOPE; default: all of --scope)")
	fl.StringVar(&o.PublicURL, "public-url", o.PublicURL, "production: the https origin the app is reached at, e.g. https://app.example.com (ATOAUTH_PUBLIC_URL)")
	fl.StringArrayVar(&o.ClientKeys, "client-key", o.ClientKeys, "with --public-url: a private ES256 JWK file from 'atoauth keygen', newest first; repeat to rotate (ATOAUTH_CLIENT_KEY, comma-separated)")
	fl.StringVar(&o.ClientName, "client-name", o.ClientName, "name shown on the consent screen (ATOAUTH_CLIENT_NAME; default atoauth)")
	fl.BoolVar(&o.TrustProxy, "trust-proxy", o.TrustProxy, "behind a reverse proxy: the client address from the last X-Forwarded-For entry, the host from X-Forwarded-Host (ATOAUTH_TRUST_PROXY=1)")
	fl.BoolVar(&o.LogJSON, "log-json", o.LogJSON, "JSON logs (ATOAUTH_LOG_JSON=1)")
	fl.BoolVar(&o.Gateway, "gateway", o.Gateway, "serve the gateway for apps in any language instead of the web app: sign-in under /auth/, /api/session, /xrpc/ (same origin, CSRF header), /auth/check for reverse proxies (ATOAUTH_GATEWAY=1)")
	fl.StringVar(&o.Upstream, "upstream", o.Upstream, "with --gateway: proxy every other path to this application, with X-Atproto-Did/-Handle/-Act headers (ATOAUTH_UPSTREAM)")
	fl.StringVar(&o.InternalAddr, "internal-addr", o.InternalAddr, "with --gateway and ATOAUTH_GATEWAY_SECRET: the private listener where the upstream acts for the user of a request (ATOAUTH_INTERNAL_ADDR)")
	fl.StringVar(&o.MetricsAddr, "metrics-addr", o.MetricsAddr, "serve /metrics (Prometheus) on this second address, e.g. 127.0.0.1:9090; keep it private (ATOAUTH_METRICS_ADDR)")
	return cmd
}

// validate checks the options as a whole; mistakes are usage errors.
func (o *Options) validate() error {
	if o.Factory != nil && (o.PLCURL != "" || o.HandleResolver != "" || o.InsecureDev || o.Store != "") {
		return errors.New("serve: Options.PLCURL, HandleResolver, InsecureDev and Store are for a Run without a Factory: set them in its Settings")
	}
	if o.SignInScope != "" {
		declared := strings.Fields(o.Scope)
		if o.Scope == "" {
			declared = strings.Fields(web.DefaultScope)
		}
		for _, t := range strings.Fields(o.SignInScope) {
			if !slices.Contains(declared, t) {
				return cmdutil.Usagef("serve: --signin-scope asks for %q, which --scope (%q) does not list: the sign-in scope must be a part of --scope", t, strings.Join(declared, " "))
			}
		}
		if !slices.Contains(strings.Fields(o.SignInScope), "atproto") {
			return cmdutil.Usagef("serve: --signin-scope %q must include atproto, which every sign-in asks for", o.SignInScope)
		}
	}
	if err := o.validateGateway(); err != nil {
		return err
	}
	if len(o.ClientKeys) > 0 && o.PublicURL == "" {
		return cmdutil.Usagef("serve: --client-key needs --public-url (the loopback development client is always public)")
	}
	if o.PublicURL != "" {
		if _, err := web.PublicOrigin(o.PublicURL, o.settings().InsecureDev); err != nil {
			return cmdutil.Usagef("serve: --public-url: %w", err)
		}
	}
	return nil
}

// settings are the global settings: the Factory's, or those of the
// options without one.
func (o *Options) settings() *cmdutil.Settings {
	if o.Factory != nil {
		return o.Factory.Settings
	}
	s := cmdutil.DefaultSettings(func(string) string { return "" })
	s.PLCURL, s.HandleResolver, s.InsecureDev, s.Store = o.PLCURL, o.HandleResolver, o.InsecureDev, o.Store
	return s
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func envOr(s *cmdutil.Settings, k, def string) string {
	if v := s.Getenv(k); v != "" {
		return v
	}
	return def
}

// logger writes the app's logs to w: info by default, debug with
// --verbose, warnings and errors only with --quiet.
func (o *Options) logger(s *cmdutil.Settings, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch {
	case s.Verbose:
		level = slog.LevelDebug
	case s.Quiet:
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	if o.LogJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run serves until ctx is done, then shuts down gracefully. The session
// store is the Factory's (which its owner closes), or without a Factory
// one opened and closed here.
func Run(ctx context.Context, o *Options, stdout, stderr io.Writer) error {
	if err := o.validate(); err != nil {
		return err
	}
	f := o.Factory
	if f == nil {
		f = &cmdutil.Factory{IO: &cmdutil.IOStreams{Out: stdout, ErrOut: stderr}, Settings: o.settings()}
		defer f.Close()
	}
	s := f.Settings
	logger := o.logger(s, stderr)
	addr := o.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer ln.Close()
	var mln net.Listener
	if o.MetricsAddr != "" {
		if mln, err = net.Listen("tcp", o.MetricsAddr); err != nil {
			return fmt.Errorf("serve: metrics: %w", err)
		}
		defer mln.Close()
	}
	port := ln.Addr().(*net.TCPAddr).Port
	store, err := f.Store(ctx)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	cfg, err := web.ClientConfig(web.ClientOptions{
		PublicURL: o.PublicURL, Port: port, KeyFiles: o.ClientKeys, Scope: o.Scope, ClientName: o.ClientName,
		PLCURL: s.PLCURL, HandleResolver: s.HandleResolver, InsecureDev: s.InsecureDev,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	cfg.Store = store
	cfg.Logger = logger
	m := metrics.New()
	cfg.Observer = m.Observer()
	hc := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: s.InsecureDev})
	hc.Transport = m.XRPC(hc.Transport)
	cfg.HTTPClient = hc
	// The app learns from the client's events why sessions end; the
	// client is made first, so the Notices are too.
	notices := web.NewNotices(logger)
	cfg.Events = notices.Events()
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var handler, internal http.Handler
	if o.Gateway {
		handler, internal, err = o.gatewayHandler(client, len(cfg.Keys) > 0, m, logger, s.AppView)
	} else {
		wo := web.Options{Client: client, Logger: logger, PublicURL: o.PublicURL, TrustProxy: o.TrustProxy, AppView: s.AppView, InsecureDev: s.InsecureDev,
			SignInScope: o.SignInScope, Notices: notices}
		if o.PublicURL == "" {
			// The loopback client redirects to 127.0.0.1: keep the browser
			// there (cookies are per host).
			wo.CanonicalHost = "127.0.0.1:" + strconv.Itoa(port)
		}
		handler, err = web.New(wo)
	}
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := newServer(handler)
	if o.Listening != nil {
		o.Listening(ln.Addr())
	}
	if o.PublicURL == "" {
		fmt.Fprintf(stdout, "atoauth: serving on http://127.0.0.1:%d (client_id %s)\n", port, client.ClientID())
	} else {
		kind := "public"
		if len(cfg.Keys) > 0 {
			kind = "confidential, new sessions use key " + cfg.Keys[0].KeyID()
		}
		fmt.Fprintf(stdout, "atoauth: serving %s on %s (client_id %s, %s client)\n", o.PublicURL, ln.Addr(), client.ClientID(), kind)
	}
	fmt.Fprintf(stdout, "atoauth: sessions are stored in %s\n", describe(store))
	servers := []*http.Server{srv}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()
	if internal != nil {
		iln, err := net.Listen("tcp", o.internalAddr())
		if err != nil {
			return fmt.Errorf("serve: internal listener: %w", err)
		}
		defer iln.Close()
		isrv := newServer(internal)
		servers = append(servers, isrv)
		go func() { errc <- isrv.Serve(iln) }()
		if o.InternalListening != nil {
			o.InternalListening(iln.Addr())
		}
		fmt.Fprintf(stdout, "atoauth: gateway internal listener on http://%s (the upstream acts for a request's user with ATOAUTH_GATEWAY_SECRET and its X-Atproto-Act token)\n", iln.Addr())
		if !loopbackAddr(iln.Addr().String()) {
			logger.Warn("the gateway's internal listener is not on a loopback address: keep it on a private network only the upstream reaches", "addr", iln.Addr().String())
		}
	} else if o.Gateway {
		fmt.Fprintf(stdout, "atoauth: gateway without ATOAUTH_GATEWAY_SECRET: no act tokens, no internal listener\n")
	}
	if mln != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		msrv := newServer(mux)
		servers = append(servers, msrv)
		go func() { errc <- msrv.Serve(mln) }()
		if o.MetricsListening != nil {
			o.MetricsListening(mln.Addr())
		}
		fmt.Fprintf(stdout, "atoauth: metrics on http://%s/metrics\n", mln.Addr())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// describe names a store as it describes itself (the stores of
// cmdutil.OpenStore do: "sqlite:/path", a postgres URL without its
// password, "memory").
func describe(store atoauth.Store) string {
	if s, ok := store.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", store)
}

// timeouts are the HTTP server's (see web.ServerReadTimeout and the
// others for why these values):
//   - reading a request's headers: 10 s;
//   - reading a whole request: 2 min, for the largest body (a post with
//     four 1 MB images) at 35 KB/s;
//   - from the end of its headers to the end of its response: 4 min,
//     the body (2 min), the post's calls (1 min) and the home page shown
//     again when they fail (10 s), plus a margin;
//   - an idle keep-alive connection: 2 min.
//
// The app bounds the calls each page makes to the account's servers
// itself (web.DefaultPageTimeout, web.DefaultPostTimeout). A variable, so
// that tests can shorten them.
var timeouts = struct{ readHeader, read, write, idle time.Duration }{
	readHeader: web.ServerReadHeaderTimeout,
	read:       web.ServerReadTimeout,
	write:      web.ServerWriteTimeout,
	idle:       web.ServerIdleTimeout,
}

// newServer is the HTTP server of the app, with its timeouts: a client
// that sends its request, or reads its response, one byte at a time
// holds a connection for a bounded time.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: timeouts.readHeader,
		ReadTimeout:       timeouts.read,
		WriteTimeout:      timeouts.write,
		IdleTimeout:       timeouts.idle,
	}
}

// internalAddr is InternalAddr or its default.
func (o *Options) internalAddr() string {
	if o.InternalAddr == "" {
		return DefaultInternalAddr
	}
	return o.InternalAddr
}
