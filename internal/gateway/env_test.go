package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

const (
	testScope    = "atproto transition:generic"
	cookieName   = "atoauth_session"
	testSecret   = Secret("test-shared-secret-0123456789abcdefghijklmnop")
	evilOrigin   = "https://evil.example"
	upstreamPath = "/app/page"
)

// account is a signed-in browser: its session, cookie and CSRF token.
type account struct {
	did    syntax.DID
	sess   *atoauth.Session
	cookie string
	csrf   string
}

// cookieSessions is the test's session layer: a cookie → session map.
type cookieSessions struct {
	mu   sync.Mutex
	byID map[string]*account
	fail error // returned for every lookup when set
}

func (c *cookieSessions) Session(r *http.Request) (*atoauth.Session, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return nil, "", c.fail
	}
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, "", ErrNotSignedIn
	}
	a := c.byID[ck.Value]
	if a == nil {
		return nil, "", ErrNotSignedIn
	}
	return a.sess, a.csrf, nil
}

// pdsRecorder keeps the headers of every request sent to the PDS.
type pdsRecorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path string
	header       http.Header
}

func (p *pdsRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasPrefix(r.URL.Path, "/xrpc/") {
		p.mu.Lock()
		p.reqs = append(p.reqs, recorded{r.Method, r.URL.Path, r.Header.Clone()})
		p.mu.Unlock()
	}
	return p.base.RoundTrip(r)
}

func (p *pdsRecorder) calls(path string) []recorded {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []recorded
	for _, r := range p.reqs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

type env struct {
	t        *testing.T
	net      *atoauthtest.Network
	client   *atoauth.Client
	pds      *pdsRecorder
	sessions *cookieSessions
	clock    *atoauthtest.Clock
	logs     *bytes.Buffer
	gw       *Gateway
	srv      *httptest.Server // the public listener: gw.Handler()
	internal *httptest.Server // the private listener: gw.InternalHandler()
	alice    *account
	bob      *account
	seq      int
}

type envOptions struct {
	net      atoauthtest.Options
	gw       Options
	upstream http.Handler // nil: no upstream
	scope    string       // client scope (default testScope)
	grant    string       // what alice grants (default: everything)
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, net: atoauthtest.NewNetwork(t, o.net), sessions: &cookieSessions{byID: map[string]*account{}},
		clock: atoauthtest.NewClock(time.Now()), logs: &bytes.Buffer{}}
	scope := o.scope
	if scope == "" {
		scope = testScope
	}
	cfg := e.net.ClientConfig(scope)
	e.pds = &pdsRecorder{base: http.DefaultTransport}
	cfg.HTTPClient = &http.Client{Transport: e.pds, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.client = client
	var aliceOpts []atoauthtest.ApproveOption
	if o.grant != "" {
		aliceOpts = append(aliceOpts, atoauthtest.GrantScope(o.grant))
	}
	e.alice = e.signIn("alice.test", aliceOpts...)
	e.bob = e.signIn("bob.test")

	opts := o.gw
	opts.Sessions = e.sessions
	if opts.Secret == "" {
		opts.Secret = testSecret
	}
	if opts.Clock == nil {
		opts.Clock = e.clock.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var up *httptest.Server
	if o.upstream != nil {
		up = httptest.NewServer(o.upstream)
		t.Cleanup(up.Close)
		u, _ := url.Parse(up.URL)
		opts.Upstream = u
	}
	e.gw, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.gw.Handler())
	t.Cleanup(e.srv.Close)
	e.internal = httptest.NewServer(e.gw.InternalHandler())
	t.Cleanup(e.internal.Close)
	return e
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

func (e *env) logText() string {
	return e.logs.String()
}

func (e *env) signIn(handle string, opts ...atoauthtest.ApproveOption) *account {
	e.t.Helper()
	did := e.net.CreateAccount(handle)
	sess, err := e.net.Login(context.Background(), e.client, did, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.seq++
	a := &account{did: did, sess: sess, cookie: fmt.Sprintf("cookie-%s-%d", handle, e.seq), csrf: "csrf-" + handle + "-token"}
	e.sessions.mu.Lock()
	e.sessions.byID[a.cookie] = a
	e.sessions.mu.Unlock()
	return a
}

// req describes a browser request to the public listener.
type req struct {
	method, path string
	body         io.Reader
	contentType  string
	as           *account // nil: no session cookie
	csrf         string   // X-CSRF-Token; "" none
	header       http.Header
	crossSite    bool // Sec-Fetch-Site: cross-site and Origin evil
	noFetchMeta  bool // neither Sec-Fetch-Site nor Origin
}

// browser sends r as a same-origin fetch() would, unless told otherwise.
func (e *env) browser(r req) *http.Response {
	e.t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, r.body)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case r.noFetchMeta:
	case r.crossSite:
		hr.Header.Set("Sec-Fetch-Site", "cross-site")
		hr.Header.Set("Origin", evilOrigin)
	default:
		hr.Header.Set("Sec-Fetch-Site", "same-origin")
		if r.method != http.MethodGet {
			hr.Header.Set("Origin", e.srv.URL)
		}
	}
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	}
	for k, vs := range r.header {
		hr.Header[k] = vs
	}
	if r.as != nil {
		hr.AddCookie(&http.Cookie{Name: cookieName, Value: r.as.cookie})
	}
	if r.csrf != "" {
		hr.Header.Set(HeaderCSRF, r.csrf)
	}
	resp, err := noRedirect.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// act calls the internal listener.
func (e *env) act(method, path, secret, token string, body io.Reader, header http.Header) *http.Response {
	e.t.Helper()
	hr, err := http.NewRequest(method, e.internal.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if secret != "" {
		hr.Header.Set("Authorization", "Bearer "+secret)
	}
	if token != "" {
		hr.Header.Set(HeaderAct, token)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		hr.Header[k] = vs
	}
	resp, err := noRedirect.Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// readAll reads and closes a response body.
func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return b
}

// expectJSON checks the status and decodes a JSON answer.
func expectJSON(t *testing.T, resp *http.Response, status int) map[string]any {
	t.Helper()
	b := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON: %s", ct, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return m
}

// expectError checks an error answer's status and error code.
func expectError(t *testing.T, resp *http.Response, status int, code string) map[string]any {
	t.Helper()
	m := expectJSON(t, resp, status)
	if m["error"] != code {
		t.Fatalf("error %v, want %q (%v)", m["error"], code, m)
	}
	return m
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func postRecord(did syntax.DID, collection, rkey, text string) map[string]any {
	return map[string]any{"repo": did.String(), "collection": collection, "rkey": rkey,
		"record": map[string]any{"$type": collection, "text": text, "createdAt": "2026-01-01T00:00:00Z"}}
}
