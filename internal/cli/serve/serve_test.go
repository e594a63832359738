package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth/internal/web"
	"github.com/atoauth/atoauth/jwk"
	"github.com/atoauth/atoauth/storecrypt"
	"github.com/atoauth/atoauth/storeurl"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{"ATOAUTH_PLC_URL": "http://localhost:2582", "ATOAUTH_INSECURE_DEV": "1"}
	o, err := ParseFlags([]string{"--addr", "127.0.0.1:9999"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "127.0.0.1:9999" || o.PLCURL != "http://localhost:2582" || !o.InsecureDev || o.Scope != "atproto transition:generic" {
		t.Errorf("options = %+v", o)
	}
	if o.Store != "" || len(o.StoreKeys) != 0 {
		t.Errorf("store %q, %d keys; want the default and none", o.Store, len(o.StoreKeys))
	}
	if _, err := ParseFlags([]string{"--bogus"}, func(string) string { return "" }, io.Discard); !errors.Is(err, ErrUsage) {
		t.Errorf("bad flag: %v", err)
	}
	var help bytes.Buffer
	if _, err := ParseFlags([]string{"--help"}, func(string) string { return "" }, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "Example") {
		t.Errorf("--help: %v %q", err, help.String())
	}
}

func TestParseStoreFlags(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	env := map[string]string{"ATOAUTH_STORE": "postgres://app@db/app", "ATOAUTH_STORE_KEYS": "new:" + secret + ",old:" + secret}
	getenv := func(k string) string { return env[k] }
	o, err := ParseFlags(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Store != "postgres://app@db/app" || len(o.StoreKeys) != 2 || o.StoreKeys[0].ID() != "new" {
		t.Errorf("store %q, keys %v", o.Store, o.StoreKeys)
	}
	if o, _ := ParseFlags([]string{"--store", "/tmp/x.db"}, getenv, io.Discard); o.Store != "/tmp/x.db" {
		t.Errorf("--store did not override ATOAUTH_STORE: %q", o.Store)
	}
	env = map[string]string{"ATOAUTH_CONFIG_DIR": "/etc/app"}
	if o, _ := ParseFlags(nil, getenv, io.Discard); o.Store != filepath.Join("/etc/app", "atoauth.db") {
		t.Errorf("ATOAUTH_CONFIG_DIR: store %q", o.Store)
	}
	env = map[string]string{"ATOAUTH_STORE_KEYS": "k1:" + secret[:20]}
	_, err = ParseFlags(nil, getenv, io.Discard)
	if !errors.Is(err, ErrUsage) || !errors.Is(err, storecrypt.ErrInvalidKey) || strings.Contains(err.Error(), secret[:20]) {
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

// runAndStop starts serve, fetches the home page, stops it and returns
// what it printed.
func runAndStop(t *testing.T, o *Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, &out, io.Discard) }()
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		base = re.FindString(out.String())
	}
	if base == "" {
		t.Fatal("server did not announce its address")
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Sign in") {
		t.Fatalf("home: HTTP %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no graceful shutdown")
	}
	return out.String()
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

func TestParseProductionFlags(t *testing.T) {
	env := map[string]string{"ATOAUTH_PUBLIC_URL": "https://app.example.com", "ATOAUTH_CLIENT_KEY": "new.jwk, old.jwk", "ATOAUTH_TRUST_PROXY": "1"}
	getenv := func(k string) string { return env[k] }
	o, err := ParseFlags(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.PublicURL != "https://app.example.com" || strings.Join(o.ClientKeys, " ") != "new.jwk old.jwk" || !o.TrustProxy {
		t.Errorf("options = %+v", o)
	}
	o, err = ParseFlags([]string{"--client-key", "a.jwk", "--client-key", "b.jwk", "--appview", "did:web:appview.example#bsky_appview"}, getenv, io.Discard)
	if err != nil || strings.Join(o.ClientKeys, " ") != "a.jwk b.jwk" || o.AppView != "did:web:appview.example#bsky_appview" {
		t.Errorf("flags: %+v %v", o, err)
	}
	for _, args := range [][]string{
		{"--public-url", "", "--client-key", "k.jwk"},
		{"--public-url", "http://app.example.com"},
		{"--public-url", "https://app.example.com/sub"},
	} {
		if _, err := ParseFlags(args, func(string) string { return "" }, io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("%q: err = %v, want ErrUsage", args, err)
		}
	}
}

func TestRunConfidentialServesMetadataAndJWKS(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k.jwk")
	k, _ := jwk.Generate()
	data, _ := k.WithKeyID("k1").MarshalPrivate()
	os.WriteFile(key, data, 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &Options{Addr: "127.0.0.1:0", Scope: "atproto", Store: "memory", PublicURL: "https://app.example.com", ClientKeys: []string{key}}, &out, io.Discard)
	}()
	re := regexp.MustCompile(`on (127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no address: %q", out.String())
	}
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
	if !strings.Contains(out.String(), "confidential, new sessions use key k1") {
		t.Errorf("announcement: %q", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// With ATOAUTH_CONFIG_DIR naming a directory that does not exist yet, the
// default store is created in it.
func TestConfigDirIsCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "atoauth")
	o, err := ParseFlags([]string{"--addr", "127.0.0.1:0"}, func(k string) string {
		if k == "ATOAUTH_CONFIG_DIR" {
			return dir
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o, &out, io.Discard) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "serving on") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
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

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &Options{Addr: "127.0.0.1:0", Scope: "atproto", Store: "memory"}, &out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	re := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no address: %q", out.String())
	}
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
