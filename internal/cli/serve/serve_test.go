package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/cli/cmdutil"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storeurl"
	"github.com/spf13/cobra"
)

// parse runs `atoauth serve args...` with the environment env up to Run,
// and returns the options Run would get.
func parse(t *testing.T, env map[string]string, args ...string) (*Options, string, error) {
	t.Helper()
	ios, _, out, _ := cmdutil.Test()
	f := &cmdutil.Factory{IO: ios, Settings: cmdutil.DefaultSettings(func(k string) string { return env[k] })}
	t.Cleanup(func() { f.Close() })
	var got *Options
	root := &cobra.Command{Use: "atoauth", SilenceErrors: true, SilenceUsage: true}
	cmdutil.AddGlobalFlags(root, f.Settings)
	root.SetOut(out)
	root.SetErr(out)
	root.AddCommand(NewCmd(f, func(_ context.Context, o *Options) error { got = o; return nil }))
	root.SetArgs(append([]string{"serve"}, args...))
	err := root.Execute()
	return got, out.String(), err
}

func isUsage(err error) bool { return cmdutil.ExitCode(err) == cmdutil.ExitUsage }

func TestParseFlags(t *testing.T) {
	env := map[string]string{"ATOAUTH_PLC_URL": "http://localhost:2582", "ATOAUTH_INSECURE_DEV": "1"}
	o, _, err := parse(t, env, "--addr", "127.0.0.1:9999")
	if err != nil {
		t.Fatal(err)
	}
	s := o.Factory.Settings
	if o.Addr != "127.0.0.1:9999" || s.PLCURL != "http://localhost:2582" || !s.InsecureDev || o.Scope != "atproto transition:generic" {
		t.Errorf("options = %+v, settings = %+v", o, s)
	}
	if keys, err := o.Factory.StoreKeys(); s.Store != "" || len(keys) != 0 || err != nil {
		t.Errorf("store %q, %d keys (%v); want the default and none", s.Store, len(keys), err)
	}
	if o, _, _ := parse(t, nil); o.Addr != "127.0.0.1:8080" || o.Scope != "atproto transition:generic" {
		t.Errorf("defaults: addr %q, scope %q", o.Addr, o.Scope)
	}
	if _, _, err := parse(t, nil, "--bogus"); !isUsage(err) {
		t.Errorf("bad flag: %v", err)
	}
	if _, _, err := parse(t, nil, "extra"); err == nil {
		t.Errorf("an argument: no error")
	}
	o, help, err := parse(t, nil, "--help")
	if err != nil || o != nil || !strings.Contains(help, "Examples:") || !strings.Contains(help, "ATOAUTH_STORE_KEYS") || !strings.Contains(help, "--client-key") {
		t.Errorf("--help: %v %q", err, help)
	}
}

func TestParseStoreFlags(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	env := map[string]string{"ATOAUTH_STORE": "postgres://app@db/app", "ATOAUTH_STORE_KEYS": "new:" + secret + ",old:" + secret}
	o, _, err := parse(t, env)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := o.Factory.StoreKeys()
	if o.Factory.Settings.Store != "postgres://app@db/app" || err != nil || len(keys) != 2 || keys[0].ID() != "new" {
		t.Errorf("store %q, keys %v, %v", o.Factory.Settings.Store, keys, err)
	}
	if o, _, _ := parse(t, env, "--store", "/tmp/x.db"); o.Factory.Settings.StorePath() != "/tmp/x.db" {
		t.Errorf("--store did not override ATOAUTH_STORE: %q", o.Factory.Settings.Store)
	}
	env = map[string]string{"ATOAUTH_CONFIG_DIR": "/etc/app"}
	if o, _, _ := parse(t, env); o.Factory.Settings.StorePath() != filepath.Join("/etc/app", "atoauth.db") {
		t.Errorf("ATOAUTH_CONFIG_DIR: store %q", o.Factory.Settings.StorePath())
	}
	env = map[string]string{"ATOAUTH_STORE_KEYS": "k1:" + secret[:20]}
	_, _, err = parse(t, env)
	if !isUsage(err) || !errors.Is(err, storecrypt.ErrInvalidKey) || strings.Contains(err.Error(), secret[:20]) {
		t.Errorf("bad key: %v", err)
	}
}

// TestDefaultStoreIsSQLite runs serve with no store named: sessions go
// to atoauth/atoauth.db in the user's config directory, mode 0600.
func TestDefaultStoreIsSQLite(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	out := runAndStop(t, &Options{Addr: "127.0.0.1:0", Scope: "atproto"})
	path, err := storeurl.DefaultPath()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "sessions are stored in sqlite:"+path) {
		t.Errorf("output does not name the default store %s:\n%s", path, out)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("default store file: %v, %v", fi, err)
	}
}

func TestRunServesAndShutsDown(t *testing.T) {
	runAndStop(t, &Options{Addr: "127.0.0.1:0", Scope: "atproto", Store: filepath.Join(t.TempDir(), "atoauth.db")})
}

func TestRunFailsOnBadStore(t *testing.T) {
	err := Run(context.Background(), &Options{Addr: "127.0.0.1:0", Scope: "atproto", Store: "mysql://root:hunter2@db/x"}, io.Discard, io.Discard)
	if !errors.Is(err, storeurl.ErrUnsupported) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

// start runs serve with o until the test ends, and returns its listening
// address ("127.0.0.1:port", reported through o.Listening), what it
// prints, and a function that stops it and returns Run's error.
func start(t *testing.T, o *Options) (string, *atoauthtest.Buffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &atoauthtest.Buffer{}
	listening := make(chan string, 1)
	o.Listening = func(a net.Addr) { listening <- a.String() }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, out, io.Discard) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				runErr = errors.New("no graceful shutdown")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	select {
	case addr := <-listening:
		return addr, out, stop
	case err := <-done:
		t.Fatalf("serve did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not report its address")
	}
	return "", nil, nil
}

// runAndStop starts serve, fetches the home page, stops it and returns
// what it printed.
func runAndStop(t *testing.T, o *Options) string {
	t.Helper()
	addr, out, stop := start(t, o)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Sign in") {
		t.Fatalf("home: HTTP %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "serving on http://"+addr+" ") {
		t.Errorf("the announcement does not name %s:\n%s", addr, out.String())
	}
	return out.String()
}

func TestParseProductionFlags(t *testing.T) {
	env := map[string]string{"ATOAUTH_PUBLIC_URL": "https://app.example.com", "ATOAUTH_CLIENT_KEY": "new.jwk, old.jwk", "ATOAUTH_TRUST_PROXY": "1",
		"ATOAUTH_CLIENT_NAME": "My App", "ATOAUTH_LOG_JSON": "true", "ATOAUTH_SCOPE": "atproto", "ATOAUTH_ADDR": ":9090",
		"ATOAUTH_METRICS_ADDR": "127.0.0.1:9091"}
	o, _, err := parse(t, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.PublicURL != "https://app.example.com" || strings.Join(o.ClientKeys, " ") != "new.jwk old.jwk" || !o.TrustProxy ||
		o.ClientName != "My App" || !o.LogJSON || o.Scope != "atproto" || o.Addr != ":9090" || o.MetricsAddr != "127.0.0.1:9091" {
		t.Errorf("options = %+v", o)
	}
	o, _, err = parse(t, env, "--client-key", "a.jwk", "--client-key", "b.jwk", "--appview", "did:web:appview.example#bsky_appview")
	if err != nil || strings.Join(o.ClientKeys, " ") != "a.jwk b.jwk" || o.Factory.Settings.AppView != "did:web:appview.example#bsky_appview" {
		t.Errorf("flags: %+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--public-url", "", "--client-key", "k.jwk"},
		{"--public-url", "http://app.example.com"},
		{"--public-url", "https://app.example.com/sub"},
	} {
		if _, _, err := parse(t, nil, args...); !isUsage(err) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	// Run checks them too.
	if err := Run(context.Background(), &Options{Addr: "127.0.0.1:0", ClientKeys: []string{"k.jwk"}}, io.Discard, io.Discard); !isUsage(err) {
		t.Errorf("Run with a key and no public URL: %v", err)
	}
}

func TestRunConfidentialServesMetadataAndJWKS(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.jwk")
	k, _ := jwk.Generate()
	data, _ := k.WithKeyID("k1").MarshalPrivate()
	os.WriteFile(key, data, 0o600)
	addr, out, stop := start(t, &Options{Addr: "127.0.0.1:0", Scope: "atproto", Store: "memory", PublicURL: "https://app.example.com", ClientKeys: []string{key}})
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = "app.example.com"
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/oauth-client-metadata.json"); code != 200 || !strings.Contains(body, `"client_id": "https://app.example.com/oauth-client-metadata.json"`) ||
		!strings.Contains(body, `"token_endpoint_auth_method": "private_key_jwt"`) || !strings.Contains(body, `"jwks_uri": "https://app.example.com/oauth/jwks.json"`) {
		t.Fatalf("metadata: %d %s", code, body)
	}
	if code, body := get("/oauth/jwks.json"); code != 200 || !strings.Contains(body, `"kid": "k1"`) || strings.Contains(body, `"d"`) {
		t.Fatalf("jwks: %d %s", code, body)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "confidential, new sessions use key k1") {
		t.Errorf("announcement: %q", out.String())
	}
}

// With ATOAUTH_CONFIG_DIR naming a directory that does not exist yet, the
// default store is created in it.
func TestConfigDirIsCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "atoauth")
	o, _, err := parse(t, map[string]string{"ATOAUTH_CONFIG_DIR": dir}, "--addr", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, out, stop := start(t, o)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sessions are stored in sqlite:"+filepath.Join(dir, "atoauth.db")) {
		t.Errorf("output: %s", out.String())
	}
	st, err := os.Stat(filepath.Join(dir, "atoauth.db"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("store file: %v %v", st, err)
	}
}

// The server bounds how long a client may take to send its request: one
// that sends its headers and then trickles (or withholds) the body loses
// the connection after the read timeout, instead of holding it (and a
// goroutine) for ever.
func TestServerTimeouts(t *testing.T) {
	s := newServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Errorf("timeouts: header %v, read %v, write %v, idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
	// The slowest legitimate request: the largest body, then a post's
	// calls, then the home page shown again.
	if s.WriteTimeout < s.ReadTimeout+web.DefaultPostTimeout+web.DefaultPageTimeout {
		t.Errorf("write timeout %v is shorter than the slowest page", s.WriteTimeout)
	}

	old := timeouts
	t.Cleanup(func() { timeouts = old })
	timeouts.readHeader, timeouts.read, timeouts.write, timeouts.idle = 300*time.Millisecond, 500*time.Millisecond, 2*time.Second, time.Second

	addr, _, _ := start(t, &Options{Addr: "127.0.0.1:0", Scope: "atproto", Store: "memory"})
	for _, tc := range []struct{ name, send string }{
		{"headers, no body", "POST /login HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nidentifier="},
		{"unfinished headers", "GET / HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: "},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := io.WriteString(conn, tc.send); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = io.Copy(io.Discard, conn) // until the server closes the connection
		conn.Close()
		if err != nil || time.Since(start) > 3*time.Second {
			t.Errorf("%s: the connection was held %v (%v)", tc.name, time.Since(start).Round(time.Millisecond), err)
		}
	}
}

// `atoauth serve` opens its store through the Factory, as every command
// does: the global --store, the keys of ATOAUTH_STORE_KEYS, the opener the
// Factory has.
func TestStoreThroughTheFactory(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	dir := t.TempDir()
	o, _, err := parse(t, map[string]string{"ATOAUTH_STORE_KEYS": "k1:" + secret, "ATOAUTH_CONFIG_DIR": dir}, "--addr", "127.0.0.1:0", "--store", "memory")
	if err != nil {
		t.Fatal(err)
	}
	var spec string
	var nkeys int
	o.Factory.OpenStore = func(ctx context.Context, s string, keys []storecrypt.Key) (atoauth.Store, io.Closer, error) {
		spec, nkeys = s, len(keys)
		return cmdutil.OpenStore(ctx, s, keys)
	}
	out := runAndStop(t, o)
	if spec != "memory" || nkeys != 1 || !strings.Contains(out, "sessions are stored in memory") {
		t.Errorf("opened %q with %d keys; output:\n%s", spec, nkeys, out)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("config directory: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a store other than the default file left %d files in the config directory", len(entries))
	}
	// The global settings belong to the Factory, not to the options too.
	o.PLCURL = "http://localhost:2582"
	if err := Run(context.Background(), o, io.Discard, io.Discard); err == nil {
		t.Error("Run with a Factory and Options.PLCURL: no error")
	}
}

// The app logs requests at info level; --quiet keeps warnings and errors
// only, --verbose adds debug records.
func TestLogLevels(t *testing.T) {
	for _, tc := range []struct {
		quiet, verbose bool
		info, debug    bool
	}{{false, false, true, false}, {true, false, false, false}, {false, true, true, true}} {
		s := cmdutil.DefaultSettings(func(string) string { return "" })
		s.Quiet, s.Verbose = tc.quiet, tc.verbose
		var buf bytes.Buffer
		l := (&Options{LogJSON: true}).logger(s, &buf)
		ctx := context.Background()
		if l.Enabled(ctx, slog.LevelInfo) != tc.info || l.Enabled(ctx, slog.LevelDebug) != tc.debug || !l.Enabled(ctx, slog.LevelWarn) {
			t.Errorf("quiet %v verbose %v: info %v debug %v", tc.quiet, tc.verbose, l.Enabled(ctx, slog.LevelInfo), l.Enabled(ctx, slog.LevelDebug))
		}
	}
}

func TestParseSignInScope(t *testing.T) {
	const all = "atproto repo:app.bsky.feed.post?action=create blob:image/* repo:app.bsky.actor.profile?action=create&action=update"
	const post = "atproto repo:app.bsky.feed.post?action=create blob:image/*"
	o, _, err := parse(t, map[string]string{"ATOAUTH_SCOPE": all, "ATOAUTH_SIGNIN_SCOPE": post})
	if err != nil || o.SignInScope != post || o.Scope != all {
		t.Fatalf("from the environment: %+v %v", o, err)
	}
	o, _, err = parse(t, nil, "--scope", all, "--signin-scope", post)
	if err != nil || o.SignInScope != post {
		t.Fatalf("from flags: %+v %v", o, err)
	}
	if o, _, _ := parse(t, nil); o.SignInScope != "" {
		t.Errorf("default sign-in scope %q, want none (all of --scope)", o.SignInScope)
	}
	for _, tc := range []struct{ scope, signIn, says string }{
		{all, "atproto repo:app.bsky.feed.like", `"repo:app.bsky.feed.like"`},
		{"", "atproto repo:app.bsky.feed.post?action=create", "does not list"},
		{all, "repo:app.bsky.feed.post?action=create", "must include atproto"},
	} {
		args := []string{"--signin-scope", tc.signIn}
		if tc.scope != "" {
			args = append(args, "--scope", tc.scope)
		}
		_, _, err := parse(t, nil, args...)
		if !isUsage(err) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("--signin-scope %q with --scope %q: %v, want a usage error saying %s", tc.signIn, tc.scope, err, tc.says)
		}
	}
	_, help, _ := parse(t, nil, "--help")
	if !strings.Contains(help, "--signin-scope") || !strings.Contains(help, "ATOAUTH_SIGNIN_SCOPE") {
		t.Errorf("--help does not document --signin-scope:\n%s", help)
	}
}

// TestRunWithSignInScope serves an app whose sign-in asks for part of
// its scope: it starts (web.New accepts the sign-in scope).
func TestRunWithSignInScope(t *testing.T) {
	runAndStop(t, &Options{Addr: "127.0.0.1:0", Scope: "atproto transition:generic", SignInScope: "atproto",
		Store: filepath.Join(t.TempDir(), "atoauth.db")})
}
