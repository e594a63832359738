// Package serve implements `atoauth serve`: the web app on the embedded
// defaults (a loopback development client on 127.0.0.1:8080).
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storeurl"
)

// ErrUsage marks errors in the command line (exit code 2).
var ErrUsage = errors.New("usage error")

// Options are the settings of `atoauth serve`.
type Options struct {
	Addr           string // listen address, default 127.0.0.1:8080
	PLCURL         string
	HandleResolver string
	InsecureDev    bool
	Scope          string
	// Store names the session store (see package storeurl): a SQLite file,
	// a postgres:// URL or "memory"; "" is the SQLite file in the
	// config directory.
	Store string
	// ConfigDir, when set, is created (mode 0700) before the store is
	// opened: the default store lives in it.
	ConfigDir string
	// StoreKeys seal tokens and DPoP keys in the store (from
	// ATOAUTH_STORE_KEYS only, never a flag: argv is public).
	StoreKeys []storecrypt.Key
	// PublicURL makes the app a web client served at this origin
	// ("https://app.example.com"); "" is the loopback development client.
	PublicURL string
	// ClientKeys are private JWK files (atoauth keygen), newest first:
	// with PublicURL they make the app a confidential client.
	ClientKeys []string
	// ClientName is shown on the consent screen.
	ClientName string
	// AppView is the atproto-proxy service for app.bsky.* reads.
	AppView string
	// TrustProxy believes X-Forwarded-For/-Host of a reverse proxy.
	TrustProxy bool
	// LogJSON writes the logs as JSON lines instead of text.
	LogJSON bool
}

// Usage is the help text.
const Usage = `Usage: atoauth serve [flags]

Serve the atoauth web app: "Sign in with Bluesky", then see who you are and post.
By default it is a loopback development client (no hosting needed) on
http://127.0.0.1:8080.

Flags (each also read from the environment variable shown):
  --addr ADDR              listen address (ATOAUTH_ADDR; default 127.0.0.1:8080)
  --scope SCOPE            scopes to ask for (ATOAUTH_SCOPE; default "atproto transition:generic")
  --plc-url URL            PLC directory (ATOAUTH_PLC_URL; default https://plc.directory)
  --handle-resolver URL    resolve handles through this host's com.atproto.identity.resolveHandle
                           (ATOAUTH_HANDLE_RESOLVER), for development networks
  --insecure-dev           allow http:// and loopback servers (ATOAUTH_INSECURE_DEV=1); development only
  --public-url URL         production: the https origin the app is reached at (ATOAUTH_PUBLIC_URL), e.g.
                           https://app.example.com; the app becomes a web client whose client_id is
                           URL/oauth-client-metadata.json, served by the app (and URL/oauth/jwks.json)
  --client-key FILE        with --public-url: a private ES256 JWK written by 'atoauth keygen'
                           (ATOAUTH_CLIENT_KEY, comma-separated); makes the app a confidential client
                           with long sessions. Repeat it to rotate keys: new sessions use the first,
                           existing ones keep theirs while it is listed; publish a new key (listed
                           second) 10 minutes before you list it first (see 'atoauth keygen --help')
  --client-name NAME       name shown on the consent screen (ATOAUTH_CLIENT_NAME; default atoauth)
  --appview DID#ID         AppView for timelines and profiles, reached through the PDS (ATOAUTH_APPVIEW;
                           default: the AppView each PDS is configured with, else Bluesky's)
  --trust-proxy            behind a reverse proxy: take the client address from the last
                           X-Forwarded-For entry and the host from X-Forwarded-Host (ATOAUTH_TRUST_PROXY=1)
  --log-json               JSON logs (ATOAUTH_LOG_JSON=1)
  --store STORE            where sessions live (ATOAUTH_STORE): a SQLite file path, a postgres:// URL
                           shared by several instances, or "memory"; default: atoauth.db in
                           $ATOAUTH_CONFIG_DIR or the user's config directory (~/.config/atoauth)

Environment only:
  ATOAUTH_STORE_KEYS       encrypt tokens and DPoP keys at rest: ID:BASE64SECRET[,ID:BASE64SECRET…],
                           32-byte secrets (openssl rand -base64 32), newest first

Example:
  atoauth serve
  atoauth serve --insecure-dev --plc-url http://localhost:2582 --handle-resolver http://localhost:2583
  atoauth serve --store postgres://app@db.internal/app
  atoauth serve --addr :8080 --public-url https://app.example.com --client-key /etc/atoauth/key.jwk \
      --store postgres://app@db.internal/app --trust-proxy
`

// ParseFlags reads args and the environment into Options.
func ParseFlags(args []string, getenv func(string) string, stderr io.Writer) (*Options, error) {
	o := &Options{
		Addr:           envOr(getenv, "ATOAUTH_ADDR", "127.0.0.1:8080"),
		PLCURL:         getenv("ATOAUTH_PLC_URL"),
		HandleResolver: getenv("ATOAUTH_HANDLE_RESOLVER"),
		Scope:          envOr(getenv, "ATOAUTH_SCOPE", "atproto transition:generic"),
		Store:          getenv("ATOAUTH_STORE"),
	}
	if o.Store == "" && getenv("ATOAUTH_CONFIG_DIR") != "" {
		o.ConfigDir = getenv("ATOAUTH_CONFIG_DIR")
		o.Store = filepath.Join(o.ConfigDir, "atoauth.db")
	}
	keys, err := storecrypt.ParseKeys(getenv("ATOAUTH_STORE_KEYS"))
	if err != nil {
		return nil, fmt.Errorf("%w: serve: ATOAUTH_STORE_KEYS: %w", ErrUsage, err)
	}
	o.StoreKeys = keys
	o.InsecureDev, _ = strconv.ParseBool(getenv("ATOAUTH_INSECURE_DEV"))
	o.PublicURL = getenv("ATOAUTH_PUBLIC_URL")
	o.ClientName = getenv("ATOAUTH_CLIENT_NAME")
	o.AppView = getenv("ATOAUTH_APPVIEW")
	o.TrustProxy, _ = strconv.ParseBool(getenv("ATOAUTH_TRUST_PROXY"))
	o.LogJSON, _ = strconv.ParseBool(getenv("ATOAUTH_LOG_JSON"))
	envKeys := splitList(getenv("ATOAUTH_CLIENT_KEY"))
	var flagKeys []string
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, Usage) }
	fs.StringVar(&o.Addr, "addr", o.Addr, "")
	fs.StringVar(&o.Scope, "scope", o.Scope, "")
	fs.StringVar(&o.PLCURL, "plc-url", o.PLCURL, "")
	fs.StringVar(&o.HandleResolver, "handle-resolver", o.HandleResolver, "")
	fs.BoolVar(&o.InsecureDev, "insecure-dev", o.InsecureDev, "")
	fs.StringVar(&o.Store, "store", o.Store, "")
	fs.StringVar(&o.PublicURL, "public-url", o.PublicURL, "")
	fs.Func("client-key", "", func(v string) error { flagKeys = append(flagKeys, v); return nil })
	fs.StringVar(&o.ClientName, "client-name", o.ClientName, "")
	fs.StringVar(&o.AppView, "appview", o.AppView, "")
	fs.BoolVar(&o.TrustProxy, "trust-proxy", o.TrustProxy, "")
	fs.BoolVar(&o.LogJSON, "log-json", o.LogJSON, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, Usage)
		return nil, fmt.Errorf("%w: serve: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	o.ClientKeys = envKeys
	if len(flagKeys) > 0 { // flags replace the environment
		o.ClientKeys = flagKeys
	}
	if len(o.ClientKeys) > 0 && o.PublicURL == "" {
		return nil, fmt.Errorf("%w: serve: --client-key needs --public-url (the loopback development client is always public)", ErrUsage)
	}
	if o.PublicURL != "" {
		if _, err := web.PublicOrigin(o.PublicURL, o.InsecureDev); err != nil {
			return nil, fmt.Errorf("%w: serve: --public-url: %w", ErrUsage, err)
		}
	}
	return o, nil
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

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}

// Run serves until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, o *Options, stdout, stderr io.Writer) error {
	var handler slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	if o.LogJSON {
		handler = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	}
	logger := slog.New(handler)
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if o.ConfigDir != "" {
		if err := os.MkdirAll(o.ConfigDir, 0o700); err != nil {
			return fmt.Errorf("serve: config directory: %w", err)
		}
	}
	store, err := storeurl.Open(ctx, o.Store, &storeurl.Options{Keys: o.StoreKeys})
	if err != nil {
		return fmt.Errorf("serve: opening the session store: %w", err)
	}
	defer store.Close()
	cfg, err := web.ClientConfig(web.ClientOptions{
		PublicURL: o.PublicURL, Port: port, KeyFiles: o.ClientKeys, Scope: o.Scope, ClientName: o.ClientName,
		PLCURL: o.PLCURL, HandleResolver: o.HandleResolver, InsecureDev: o.InsecureDev,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	cfg.Store = store
	cfg.Logger = logger
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	wo := web.Options{Client: client, Logger: logger, PublicURL: o.PublicURL, TrustProxy: o.TrustProxy, AppView: o.AppView, InsecureDev: o.InsecureDev}
	if o.PublicURL == "" {
		// The loopback client redirects to 127.0.0.1: keep the browser
		// there (cookies are per host).
		wo.CanonicalHost = "127.0.0.1:" + strconv.Itoa(port)
	}
	app, err := web.New(wo)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := newServer(app)
	if o.PublicURL == "" {
		fmt.Fprintf(stdout, "atoauth: serving on http://127.0.0.1:%d (client_id %s)\n", port, client.ClientID())
	} else {
		kind := "public"
		if len(cfg.Keys) > 0 {
			kind = "confidential, new sessions use key " + cfg.Keys[0].KeyID()
		}
		fmt.Fprintf(stdout, "atoauth: serving %s on %s (client_id %s, %s client)\n", o.PublicURL, ln.Addr(), client.ClientID(), kind)
	}
	fmt.Fprintf(stdout, "atoauth: sessions are stored in %s\n", store)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
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

// Main runs the command with the process's environment.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := ParseFlags(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	return Run(ctx, o, stdout, stderr)
}
