// Package cmdutil holds what every atoauth command shares: the IO streams,
// the settings (flags, then ATOAUTH_* environment variables, then
// defaults) and the global flags, the session store, the resolver, the
// command-line OAuth client and the current session, the app-password
// session that stands in for it (--app-password-for), and the mapping of
// errors to exit codes.
package cmdutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/password"
	"github.com/atoauth/atoauth/safehttp"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storeurl"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes of the atoauth command.
const (
	ExitOK         = 0
	ExitError      = 1
	ExitUsage      = 2
	ExitNeedsLogin = 4
)

// ErrNeedsLogin reports that there is no usable session: sign in first.
var ErrNeedsLogin = errors.New("not logged in (or the session has ended): run `atoauth login <handle>`")

// ErrAppPasswordRefused reports an app password (--app-password-for) that
// the account's server refused. It also matches password.ErrBadCredentials;
// the exit code is ExitNeedsLogin, as for a session that has ended: the
// command cannot act until a person gives other credentials.
var ErrAppPasswordRefused = errors.New("the server refused the app password")

// UsageError is a mistake on the command line (exit code 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error to the command's exit code.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, ErrNeedsLogin), errors.Is(err, atoauth.ErrSessionExpired), errors.Is(err, atoauth.ErrSessionNotFound),
		errors.Is(err, password.ErrBadCredentials):
		return ExitNeedsLogin
	}
	return ExitError
}

// SessionEndReason says in plain words why a session ended (err matches
// atoauth.ErrSessionExpired).
func SessionEndReason(err error) string {
	var oe *atoauth.OAuthError
	switch {
	case errors.Is(err, atoauth.ErrIdentityMismatch):
		return "your account is now hosted by another server, so the session was ended to keep it safe"
	case errors.Is(err, atoauth.ErrTokenRejected):
		return "your PDS no longer accepts this session (the account may have moved)"
	case errors.Is(err, atoauth.ErrClientKeyRemoved):
		return "the client key this session was made with is no longer configured"
	case errors.As(err, &oe) && oe.Code == "invalid_grant":
		return "your server revoked it (signed out elsewhere, or unused for too long)"
	case errors.As(err, &oe):
		return "your server refused to renew it (" + oe.Code + ")"
	}
	return "it was signed out, or your server no longer accepts it"
}

// IOStreams are a command's input and outputs.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrTTY tells whether ErrOut is a terminal (progress is shown only
	// then, and never with Quiet).
	ErrTTY bool
	// OutTTY tells whether Out is a terminal: bytes a server chose are
	// written raw (blob get -o -, a non-JSON answer of call) only when it
	// is not; see WriteRaw.
	OutTTY bool
	// ReadSecret reads a line from the terminal without echoing it (an
	// app password); nil when standard input is not a terminal.
	ReadSecret func() ([]byte, error)
}

// System returns the process's streams.
func System() *IOStreams {
	ios := &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())), OutTTY: term.IsTerminal(int(os.Stdout.Fd()))}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		ios.ReadSecret = func() ([]byte, error) { return term.ReadPassword(fd) }
	}
	return ios
}

// Test returns streams over buffers, for tests.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: &lockedWriter{w: errOut}}, in, out, errOut
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Settings are the global settings of every command.
type Settings struct {
	Store          string // --store / ATOAUTH_STORE: SQLite file, postgres:// URL or "memory"
	ConfigDir      string // ATOAUTH_CONFIG_DIR
	PLCURL         string // --plc-url / ATOAUTH_PLC_URL
	HandleResolver string // --handle-resolver / ATOAUTH_HANDLE_RESOLVER
	InsecureDev    bool   // --insecure-dev / ATOAUTH_INSECURE_DEV
	Quiet          bool   // --quiet / ATOAUTH_QUIET
	Session        string // --session / ATOAUTH_SESSION: a session id (or prefix) instead of the current one
	Verbose        bool   // --verbose: debug logs on stderr
	AppView        string // --appview / ATOAUTH_APPVIEW: the AppView service reference (did#bsky_appview)
	// Timeout bounds every command except login (which waits for the
	// browser, see its --timeout) and serve: a server that answers one
	// byte a second cannot hold a command longer. Default DefaultTimeout.
	Timeout time.Duration // --request-timeout / ATOAUTH_REQUEST_TIMEOUT
	// AppPasswordFor, when set, makes the commands that act for an
	// account (Factory.Agent, whoami) sign in as this handle or DID with
	// an app password instead of using a stored OAuth session. The
	// password itself is never a setting: see Factory.AppPasswordSession.
	AppPasswordFor string // --app-password-for / ATOAUTH_APP_PASSWORD_FOR

	// getenv is the environment the settings were read from: commands
	// read their own ATOAUTH_* variables (serve's) and the secrets that
	// are never flags (ATOAUTH_STORE_KEYS, ATOAUTH_APP_PASSWORD) through
	// Getenv, when they need them.
	getenv func(string) string
}

// Getenv reads an environment variable from the environment the settings
// were read from (DefaultSettings); "" for settings made otherwise.
func (s *Settings) Getenv(key string) string {
	if s.getenv == nil {
		return ""
	}
	return s.getenv(key)
}

// DefaultTimeout is how long a command may take talking to servers.
const DefaultTimeout = 2 * time.Minute

// DefaultSettings reads the environment; flags then override the result.
func DefaultSettings(getenv func(string) string) *Settings {
	s := &Settings{
		Store:          getenv("ATOAUTH_STORE"),
		ConfigDir:      getenv("ATOAUTH_CONFIG_DIR"),
		PLCURL:         getenv("ATOAUTH_PLC_URL"),
		HandleResolver: getenv("ATOAUTH_HANDLE_RESOLVER"),
		Session:        getenv("ATOAUTH_SESSION"),
		AppView:        getenv("ATOAUTH_APPVIEW"),
		AppPasswordFor: getenv("ATOAUTH_APP_PASSWORD_FOR"),
		getenv:         getenv,
	}
	s.Timeout = DefaultTimeout
	if d, err := time.ParseDuration(getenv("ATOAUTH_REQUEST_TIMEOUT")); err == nil && d > 0 {
		s.Timeout = d
	}
	s.InsecureDev, _ = strconv.ParseBool(getenv("ATOAUTH_INSECURE_DEV"))
	s.Quiet, _ = strconv.ParseBool(getenv("ATOAUTH_QUIET"))
	if s.ConfigDir == "" {
		if d, err := os.UserConfigDir(); err == nil {
			s.ConfigDir = filepath.Join(d, "atoauth")
		} else {
			s.ConfigDir = ".atoauth"
		}
	}
	return s
}

// AddGlobalFlags defines the flags of every command on root (persistent
// flags, over s) and makes flag mistakes usage errors (exit code 2).
func AddGlobalFlags(root *cobra.Command, s *Settings) {
	pf := root.PersistentFlags()
	pf.StringVar(&s.Store, "store", s.Store, "session store: a SQLite file, a postgres:// URL or \"memory\" (ATOAUTH_STORE; default atoauth.db in the config directory)")
	pf.StringVar(&s.PLCURL, "plc-url", s.PLCURL, "PLC directory (ATOAUTH_PLC_URL; default https://plc.directory)")
	pf.StringVar(&s.HandleResolver, "handle-resolver", s.HandleResolver, "resolve handles through this host's com.atproto.identity.resolveHandle (ATOAUTH_HANDLE_RESOLVER)")
	pf.BoolVar(&s.InsecureDev, "insecure-dev", s.InsecureDev, "allow http:// and loopback servers, for local development networks (ATOAUTH_INSECURE_DEV=1)")
	pf.StringVar(&s.Session, "session", s.Session, "act with this session (id or prefix) instead of the current one (ATOAUTH_SESSION)")
	pf.StringVar(&s.AppPasswordFor, "app-password-for", s.AppPasswordFor, "legacy: act as this handle or DID with an app password from ATOAUTH_APP_PASSWORD (or asked on the terminal) instead of an OAuth session (ATOAUTH_APP_PASSWORD_FOR)")
	pf.StringVar(&s.AppView, "appview", s.AppView, "AppView for app.bsky.* calls, did#bsky_appview (ATOAUTH_APPVIEW; default: the PDS's own, else Bluesky's)")
	pf.BoolVarP(&s.Quiet, "quiet", "q", s.Quiet, "no progress output (ATOAUTH_QUIET=1)")
	pf.BoolVar(&s.Verbose, "verbose", s.Verbose, "debug logs on stderr")
	pf.DurationVar(&s.Timeout, "request-timeout", s.Timeout, "give up after this long talking to servers; login's wait for the browser has its own --timeout (ATOAUTH_REQUEST_TIMEOUT)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &UsageError{Err: err} })
}

// StoreOpener opens the session store named by spec (see package
// storeurl: a SQLite file path, a postgres:// URL or "memory"), sealing
// tokens and keys at rest with keys (none: not sealed).
type StoreOpener func(ctx context.Context, spec string, keys []storecrypt.Key) (atoauth.Store, io.Closer, error)

// OpenStore is the StoreOpener of the atoauth command: storeurl.Open. Its
// stores describe themselves (fmt.Stringer: "sqlite:/path", a postgres
// URL without its password, "memory").
func OpenStore(ctx context.Context, spec string, keys []storecrypt.Key) (atoauth.Store, io.Closer, error) {
	st, err := storeurl.Open(ctx, spec, &storeurl.Options{Keys: keys})
	if err != nil {
		return nil, nil, err
	}
	return st, st, nil
}

// Factory builds what commands need, lazily. It is made once per process
// (or per test) and shared by the commands.
type Factory struct {
	IO       *IOStreams
	Settings *Settings
	// OpenStore opens the session store; nil means OpenStore.
	OpenStore StoreOpener
	// OpenBrowser opens a URL in the person's browser.
	OpenBrowser func(url string) error
	Now         func() time.Time
	// LookupTXT looks up DNS TXT records (permission-set lexicons); nil
	// means the system resolver.
	LookupTXT func(ctx context.Context, name string) ([]string, error)

	mu       sync.Mutex
	store    atoauth.Store
	closer   io.Closer
	cancels  []context.CancelFunc
	hc       *http.Client
	resolver *discovery.Resolver
	pw       *password.Session
}

// WithTimeout returns ctx bounded by Settings.Timeout; Close cancels it.
func (f *Factory) WithTimeout(ctx context.Context) context.Context {
	if f.Settings.Timeout <= 0 {
		return ctx
	}
	ctx, cancel := context.WithTimeoutCause(ctx, f.Settings.Timeout,
		fmt.Errorf("the command took longer than %s (--request-timeout, ATOAUTH_REQUEST_TIMEOUT)", f.Settings.Timeout))
	f.mu.Lock()
	f.cancels = append(f.cancels, cancel)
	f.mu.Unlock()
	return ctx
}

// Close releases the store, and ends the app-password session at its
// server if there is one (it was made for this command only).
func (f *Factory) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pw != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := f.pw.Logout(ctx); err != nil {
			f.Logger().Debug("ending the app-password session", "err", err)
		}
		cancel()
		f.pw = nil
	}
	for _, c := range f.cancels {
		c()
	}
	f.cancels = nil
	if f.closer != nil {
		err := f.closer.Close()
		f.closer, f.store = nil, nil
		return err
	}
	return nil
}

// StoreKeys are the keys that seal the store's secrets at rest, from
// ATOAUTH_STORE_KEYS (never a flag: argv is public). A malformed value is
// a usage error, whose message holds no secret.
func (f *Factory) StoreKeys() ([]storecrypt.Key, error) {
	keys, err := storecrypt.ParseKeys(f.Settings.Getenv("ATOAUTH_STORE_KEYS"))
	if err != nil {
		return nil, &UsageError{Err: fmt.Errorf("ATOAUTH_STORE_KEYS: %w", err)}
	}
	return keys, nil
}

// StorePath is the store Settings.Store names: itself, or when it is ""
// the SQLite file atoauth.db in the config directory.
func (s *Settings) StorePath() string {
	if s.Store != "" {
		return s.Store
	}
	return filepath.Join(s.ConfigDir, "atoauth.db")
}

// Store opens the session store (once): Settings.Store, or the default
// file in the config directory (created, mode 0700, for it only), with
// the keys of StoreKeys.
func (f *Factory) Store(ctx context.Context) (atoauth.Store, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.store != nil {
		return f.store, nil
	}
	keys, err := f.StoreKeys()
	if err != nil {
		return nil, err
	}
	if f.Settings.Store == "" {
		if err := os.MkdirAll(f.Settings.ConfigDir, 0o700); err != nil {
			return nil, fmt.Errorf("config directory: %w", err)
		}
	}
	open := f.OpenStore
	if open == nil {
		open = OpenStore
	}
	st, closer, err := open(ctx, f.Settings.StorePath(), keys)
	if err != nil {
		return nil, fmt.Errorf("opening the session store: %w", err)
	}
	f.store, f.closer = st, closer
	return st, nil
}

// httpClient is the client for everything discovered from user input
// (handles, DID documents, servers): a safehttp client, shared.
func (f *Factory) httpClient() *http.Client {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hc == nil {
		f.hc = safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: f.Settings.InsecureDev})
	}
	return f.hc
}

// Resolver resolves handles, DIDs and server metadata with the settings
// (--plc-url, --handle-resolver, --insecure-dev), as atoauth.NewClient
// builds its own: the command line's OAuth clients and its app-password
// sign-in share this one.
func (f *Factory) Resolver() *discovery.Resolver {
	hc := f.httpClient()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resolver == nil {
		s := f.Settings
		f.resolver = &discovery.Resolver{
			HTTPClient: hc,
			Directory: discovery.NewDirectory(discovery.DirectoryOptions{
				HTTPClient: hc, PLCURL: s.PLCURL, HandleResolver: s.HandleResolver, AllowInsecureDevelopment: s.InsecureDev,
			}),
			AllowInsecureDevelopment: s.InsecureDev,
			LookupTXT:                f.LookupTXT,
			Clock:                    f.Now,
			Logger:                   f.Logger(),
		}
	}
	return f.resolver
}

// Logger logs to stderr: debug with --verbose, warnings otherwise.
func (f *Factory) Logger() *slog.Logger {
	level := slog.LevelWarn
	if f.Settings.Verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: level}))
}

// DefaultScope is what `atoauth login` asks for unless --scope says.
const DefaultScope = "atproto transition:generic"

// Client returns the command line's OAuth client that declares scope: the
// loopback client atoauth.LoopbackConfig(scope), whose redirect URI names
// no port (each login listens on a free one), so that its client_id, and
// with it every session it makes, is the same for every login of that
// scope — and the same as `atoauth serve`'s loopback client of that scope.
func (f *Factory) Client(ctx context.Context, scope string) (*atoauth.Client, error) {
	return f.newClient(ctx, atoauth.LoopbackConfig(scope))
}

// SessionClient returns the client that made session d, rebuilt from its
// client_id (a loopback client_id carries its scope): a session can be
// refreshed and revoked only by its own client. A session stored before
// sessions recorded their client (ClientID "") gets the client of
// DefaultScope, which adopts it. A session made by a client the command
// line cannot act as (a hosted web app sharing the store) gives an error
// that matches ErrNeedsLogin.
func (f *Factory) SessionClient(ctx context.Context, d *atoauth.SessionData) (*atoauth.Client, error) {
	if d.ClientID == "" {
		return f.Client(ctx, DefaultScope)
	}
	cfg, err := atoauth.ParseLoopbackClientID(d.ClientID)
	if err != nil {
		return nil, fmt.Errorf("session %s (%s) was made by the client %s, which the command line cannot act as: %w",
			ShortID(d.ID), d.Handle, d.ClientID, ErrNeedsLogin)
	}
	return f.newClient(ctx, cfg)
}

// newClient completes a client configuration with the command's store
// and settings.
func (f *Factory) newClient(ctx context.Context, cfg atoauth.Config) (*atoauth.Client, error) {
	st, err := f.Store(ctx)
	if err != nil {
		return nil, err
	}
	cfg.Store = st
	// The resolver carries --plc-url and --handle-resolver.
	cfg.Resolver = f.Resolver()
	cfg.AllowInsecureDevelopment = f.Settings.InsecureDev
	cfg.HTTPClient = f.httpClient()
	cfg.Logger = f.Logger()
	if f.Now != nil {
		cfg.Clock = f.Now
	}
	return atoauth.NewClient(cfg)
}

// ShortID shortens a session id for display (the id is a credential).
func ShortID(id string) string { return id[:min(8, len(id))] }

// Progress prints a step on stderr when it is a terminal and not --quiet.
func (f *Factory) Progress(format string, args ...any) {
	if f.IO.ErrTTY && !f.Settings.Quiet {
		Fprintf(f.IO.ErrOut, "• "+format+"\n", args...)
	}
}

// State is the command line's own small state: the current session.
// Each session records the client that made it in the store
// (SessionData.ClientID), so State keeps nothing per session.
type State struct {
	Current string `json:"current,omitempty"`
}

// legacyState is what cli.json held before sessions recorded their
// client: for every session the command line created, the scope its
// loopback client_id declared (a refresh must present the same
// client_id).
type legacyState struct {
	Sessions map[string]struct {
		ClientScope string `json:"client_scope"`
	} `json:"sessions"`
}

func (f *Factory) statePath() string { return filepath.Join(f.Settings.ConfigDir, "cli.json") }

// LoadState reads the state file (empty when there is none). A file from
// before sessions recorded their client is migrated first: see
// migrateState.
func (f *Factory) LoadState(ctx context.Context) (*State, error) {
	st := &State{}
	b, err := os.ReadFile(f.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s: %w", f.statePath(), err)
	}
	var old legacyState
	if err := json.Unmarshal(b, &old); err != nil {
		return nil, fmt.Errorf("%s: %w", f.statePath(), err)
	}
	if old.Sessions != nil {
		if err := f.migrateState(ctx, &old); err != nil {
			return nil, fmt.Errorf("%s: moving the scope of each session into the session store: %w", f.statePath(), err)
		}
		if err := f.SaveState(st); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// migrateState moves the old per-session table of cli.json into the
// store: every session it names whose row records no client (ClientID
// "") gets the client_id of the loopback client built from the scope the
// table gives, the one it was made with, under the session's refresh
// lock (so that a refresh in another process is not overwritten).
// Sessions no longer in the store are skipped; the caller then writes
// cli.json without the table.
func (f *Factory) migrateState(ctx context.Context, old *legacyState) error {
	if len(old.Sessions) == 0 {
		return nil
	}
	store, err := f.Store(ctx)
	if err != nil {
		return err
	}
	for id, s := range old.Sessions {
		scope := s.ClientScope
		if scope == "" {
			scope = DefaultScope
		}
		c, err := atoauth.NewClient(atoauth.LoopbackConfig(scope))
		if err != nil {
			continue // no client has it: the session is left to DefaultScope's, as before
		}
		if err := adoptSession(ctx, store, id, c.ClientID()); err != nil {
			return fmt.Errorf("session %s: %w", ShortID(id), err)
		}
	}
	return nil
}

// adoptSession records clientID as the client of session id, unless the
// session records one already or is gone.
func adoptSession(ctx context.Context, store atoauth.Store, id, clientID string) error {
	unlock, err := store.LockSession(ctx, id, 30*time.Second)
	if err != nil {
		return err
	}
	defer unlock()
	d, err := store.GetSession(ctx, id)
	if errors.Is(err, atoauth.ErrStoreNotFound) {
		return nil
	}
	if err != nil || d.ClientID != "" {
		return err
	}
	d.ClientID = clientID
	return store.SaveSession(ctx, d)
}

// SaveState writes the state file, readable by its owner only (session
// ids are credentials).
func (f *Factory) SaveState(st *State) error {
	if err := os.MkdirAll(f.Settings.ConfigDir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := f.statePath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, f.statePath())
}

// ResolveSessionID picks the session: --session (an id or a unique
// prefix) or the current one.
func (f *Factory) ResolveSessionID(ctx context.Context, st *State) (string, error) {
	want := f.Settings.Session
	if want == "" {
		if st.Current == "" {
			return "", ErrNeedsLogin
		}
		return st.Current, nil
	}
	store, err := f.Store(ctx)
	if err != nil {
		return "", err
	}
	all, err := store.ListSessions(ctx, "")
	if err != nil {
		return "", err
	}
	var match []string
	for _, s := range all {
		if s.ID == want {
			return s.ID, nil
		}
		if strings.HasPrefix(s.ID, want) {
			match = append(match, s.ID)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("no session %q: %w", want, ErrNeedsLogin)
	case 1:
		return match[0], nil
	}
	return "", Usagef("session prefix %q matches %d sessions; give more of it", want, len(match))
}

// Session loads the OAuth session to act with, through the client that
// made it (see SessionClient). With --app-password-for there is none to
// load: see Auth.
func (f *Factory) Session(ctx context.Context) (*atoauth.Session, error) {
	if f.Settings.AppPasswordFor != "" {
		return nil, Usagef("--app-password-for (ATOAUTH_APP_PASSWORD_FOR) acts with an app password, not a stored OAuth session")
	}
	st, err := f.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	id, err := f.ResolveSessionID(ctx, st)
	if err != nil {
		return nil, err
	}
	store, err := f.Store(ctx)
	if err != nil {
		return nil, err
	}
	d, err := store.GetSession(ctx, id)
	if errors.Is(err, atoauth.ErrStoreNotFound) {
		return nil, ErrNeedsLogin
	}
	if err != nil {
		return nil, fmt.Errorf("loading the session: %w", err)
	}
	client, err := f.SessionClient(ctx, d)
	if err != nil {
		return nil, err
	}
	s, err := client.Session(ctx, id)
	if errors.Is(err, atoauth.ErrSessionNotFound) {
		return nil, ErrNeedsLogin
	}
	return s, err
}

// Auth is what the command acts with: the app-password session with
// --app-password-for, else the stored OAuth session (Session).
func (f *Factory) Auth(ctx context.Context) (auth.Auth, error) {
	if f.Settings.AppPasswordFor != "" {
		return f.AppPasswordSession(ctx)
	}
	return f.Session(ctx)
}

// AppPasswordSession signs in as Settings.AppPasswordFor (a handle or a
// DID) with an app password (com.atproto.server.createSession), once per
// command; Close ends it. The password comes from ATOAUTH_APP_PASSWORD,
// else is asked on the terminal without echo; it is never a flag (argv is
// public), never stored, never printed. This is the legacy path: an app
// password gives almost full access to the account to whoever holds it,
// and its Bearer tokens are bound to no key. A refused password matches
// ErrAppPasswordRefused and password.ErrBadCredentials (exit code 4).
func (f *Factory) AppPasswordSession(ctx context.Context) (*password.Session, error) {
	id := strings.TrimPrefix(strings.TrimSpace(f.Settings.AppPasswordFor), "@")
	if id == "" {
		return nil, Usagef("--app-password-for needs a handle or a DID")
	}
	if f.Settings.Session != "" {
		return nil, Usagef("--session picks a stored OAuth session and --app-password-for signs in with an app password: give one of them (ATOAUTH_SESSION, ATOAUTH_APP_PASSWORD_FOR)")
	}
	f.mu.Lock()
	pw := f.pw
	f.mu.Unlock()
	if pw != nil {
		return pw, nil
	}
	secret, from, err := f.appPassword(id)
	if err != nil {
		return nil, err
	}
	f.Progress("signing in as %s with the app password %s", id, from)
	pw, err = password.Login(ctx, id, secret, &password.Options{
		Resolver:                 f.Resolver(),
		HTTPClient:               f.httpClient(),
		AllowInsecureDevelopment: f.Settings.InsecureDev,
		Clock:                    f.Now,
	})
	if errors.Is(err, password.ErrBadCredentials) {
		return nil, fmt.Errorf("%w %s for %s: check it, or make a new one in your account's settings; better, sign in with `atoauth login %s`\n(%w)",
			ErrAppPasswordRefused, from, id, id, err)
	}
	if err != nil {
		return nil, fmt.Errorf("signing in as %s with an app password: %w", id, err)
	}
	f.mu.Lock()
	f.pw = pw
	f.mu.Unlock()
	return pw, nil
}

// appPassword returns the app password, and where it came from.
func (f *Factory) appPassword(id string) (secret, from string, err error) {
	if pw := f.Settings.Getenv("ATOAUTH_APP_PASSWORD"); pw != "" {
		return pw, "from ATOAUTH_APP_PASSWORD", nil
	}
	if f.IO.ReadSecret == nil {
		return "", "", Usagef("--app-password-for %s: set ATOAUTH_APP_PASSWORD, or run on a terminal to be asked (the password is never a flag)", id)
	}
	Fprintf(f.IO.ErrOut, "App password for %s (not shown): ", id)
	b, err := f.IO.ReadSecret()
	fmt.Fprintln(f.IO.ErrOut)
	if err != nil {
		return "", "", fmt.Errorf("reading the app password: %w", err)
	}
	secret = strings.TrimSpace(string(b))
	clear(b)
	if secret == "" {
		return "", "", Usagef("--app-password-for %s: no app password given", id)
	}
	return secret, "you typed", nil
}

// Agent returns an agent for what the command acts with (Auth).
func (f *Factory) Agent(ctx context.Context) (*agent.Agent, error) {
	s, err := f.Auth(ctx)
	if err != nil {
		return nil, err
	}
	var opts agent.Options
	if f.Settings.AppView != "" {
		opts.XRPC.Services = map[string]string{"app.bsky.": f.Settings.AppView}
	}
	return agent.New(s, &opts)
}

// ReadInput reads a file argument, "-" meaning standard input, capped at
// max bytes.
func ReadInput(streams *IOStreams, name string, max int64) ([]byte, error) {
	var r io.Reader = streams.In
	if name != "-" {
		fh, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}
