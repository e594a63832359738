package atoauthhttp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/scope"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// env is a small app on atoauthhttp, served by httptest against a fake
// network, with a browser (a cookie jar that does not follow
// redirects). Its pages:
//
//	GET  /          OptionalSession: "signed in as DID" or "signed out"
//	GET  /notes     RequireSession: the DID and a form with CSRFField
//	POST /notes     RequireSession: "noted by DID"
//	GET  /profile   RequireSession + RequirePermission(profile update)
type env struct {
	t      *testing.T
	net    *atoauthtest.Network
	alice  syntax.DID
	client *atoauth.Client
	store  *atoauth.MemoryStore
	auth   *atoauthhttp.Auth
	srv    *httptest.Server
	logs   *atoauthtest.Buffer

	mu     sync.Mutex
	events []atoauthhttp.Event
	errs   []*atoauthhttp.Error
}

type envOptions struct {
	auth    atoauthhttp.Options
	network atoauthtest.Options
	scope   string // the client's (default "atoauth transition:generic")
	// onEvent, when set, is called by the app's OnEvent after it records
	// the event.
	onEvent func(w http.ResponseWriter, r *http.Request, e *atoauthhttp.Event) error
	// clock is the client's clock (default time.Now).
	clock *atoauthtest.Clock
}

const defaultScope = "atproto transition:generic"

func newEnv(t *testing.T, o *envOptions) *env {
	t.Helper()
	if o == nil {
		o = &envOptions{}
	}
	n := atoauthtest.NewNetwork(t, o.network)
	e := &env{t: t, net: n, alice: n.CreateAccount("alice.test"), store: atoauth.NewMemoryStore(), logs: &atoauthtest.Buffer{}}
	sc := o.scope
	if sc == "" {
		sc = defaultScope
	}
	cfg := n.ClientConfig(sc)
	cfg.Store = e.store
	if o.clock != nil {
		cfg.Clock = o.clock.Now
	}
	var err error
	if e.client, err = atoauth.NewClient(cfg); err != nil {
		t.Fatal(err)
	}
	opts := o.auth
	opts.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnEvent = func(w http.ResponseWriter, r *http.Request, ev *atoauthhttp.Event) error {
		e.mu.Lock()
		e.events = append(e.events, *ev)
		e.mu.Unlock()
		if o.onEvent != nil {
			return o.onEvent(w, r, ev)
		}
		return nil
	}
	opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, er *atoauthhttp.Error) {
		e.mu.Lock()
		e.errs = append(e.errs, er)
		e.mu.Unlock()
		w.Header().Set("X-Error-Code", string(er.Code)) // for the tests
		e.auth.DefaultError(w, r, er)
	}
	if e.auth, err = atoauthhttp.New(e.client, &opts); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", e.auth.Handler())
	mux.Handle("/callback", e.auth.Handler())
	mux.Handle("GET /{$}", e.auth.OptionalSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := atoauthhttp.SessionFrom(r.Context()); ok {
			fmt.Fprintf(w, "signed in as %s", s.DID())
			return
		}
		io.WriteString(w, "signed out")
	})))
	mux.Handle("GET /notes", e.auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := atoauthhttp.SessionFrom(r.Context())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<p>%s</p><form method="post" action="/notes">%s<button>Note</button></form>`, s.DID(), atoauthhttp.CSRFField(r.Context()))
	})))
	mux.Handle("POST /notes", e.auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := atoauthhttp.SessionFrom(r.Context())
		fmt.Fprintf(w, "noted by %s", s.DID())
	})))
	mux.Handle("GET /profile", e.auth.RequireSession(e.auth.RequirePermission(scope.NeedRepo("app.bsky.actor.profile", "update"))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "profile editor") }))))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// lastError is the last Error the app answered.
func (e *env) lastError() *atoauthhttp.Error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) == 0 {
		return nil
	}
	return e.errs[len(e.errs)-1]
}

// lastEvent is the last Event of the app.
func (e *env) lastEvent() atoauthhttp.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.events) == 0 {
		e.t.Fatal("no event")
	}
	return e.events[len(e.events)-1]
}

// browser is a person's browser on the app.
type browser struct {
	t   *testing.T
	e   *env
	jar http.CookieJar
	hc  *http.Client
	// host, when set, is the Host of every request (the app behind a
	// proxy that rewrites it, say).
	host string
}

func (e *env) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, jar: jar, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response with its body read.
type page struct {
	*http.Response
	body string
}

func (p page) code() string { return p.Header.Get("X-Error-Code") }

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	if b.host != "" {
		req.Host = b.host
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp, string(body)}
}

// send sends a request for path (relative to the app) with the headers
// hdr and, unless form is nil, the url-encoded form.
func (b *browser) send(method, path string, form url.Values, hdr map[string]string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

func (b *browser) get(path string) page {
	b.t.Helper()
	return b.send("GET", path, nil, nil)
}

// post sends a form as a page of the app does (same-origin), with the
// session's CSRF token unless the values carry one.
func (b *browser) post(path string, v url.Values) page {
	b.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if _, ok := v["csrf"]; !ok {
		v.Set("csrf", b.csrf())
	}
	return b.send("POST", path, v, map[string]string{"Sec-Fetch-Site": "same-origin"})
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// csrf reads the CSRF token from the notes page ("" when signed out).
func (b *browser) csrf() string {
	b.t.Helper()
	m := csrfRE.FindStringSubmatch(b.get("/notes").body)
	if m == nil {
		return ""
	}
	return m[1]
}

// startSignIn posts the sign-in form and checks that it goes to the
// authorization server.
func (b *browser) startSignIn(who syntax.DID, next string) page {
	b.t.Helper()
	v := url.Values{"identifier": {b.e.net.Handle(who).String()}}
	if next != "" {
		v.Set("next", next)
	}
	p := b.send("POST", "/auth/signin", v, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), b.e.net.Issuer()) {
		b.t.Fatalf("sign-in: HTTP %d %s\n%s", p.StatusCode, p.Header.Get("Location"), p.body)
	}
	return p
}

// authorize completes the login p started: the fake server approves as
// who, and the browser follows the redirect to the callback.
func (b *browser) authorize(p page, who syntax.DID, opts ...atoauthtest.ApproveOption) page {
	b.t.Helper()
	redirect, err := b.e.net.Approve(context.Background(), p.Header.Get("Location"), who, opts...)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.get(redirect.Path + "?" + redirect.RawQuery)
}

// signIn signs who in through the whole flow.
func (b *browser) signIn(who syntax.DID, opts ...atoauthtest.ApproveOption) page {
	b.t.Helper()
	return b.authorize(b.startSignIn(who, ""), who, opts...)
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.e.srv.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

func (b *browser) sessionID() string { return b.cookie("atoauth_session") }

func setCookie(p page, name string) *http.Cookie {
	for _, c := range p.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, body)
		}
	}
}

func mustNotContain(t *testing.T, what, body string, nots ...string) {
	t.Helper()
	for _, w := range nots {
		if w != "" && strings.Contains(body, w) {
			t.Errorf("%s contains %q", what, w)
		}
	}
}

// wantError checks that p is the app's answer to an Error of code with
// status.
func wantError(t *testing.T, what string, p page, code atoauthhttp.ErrorCode, status int) {
	t.Helper()
	if p.StatusCode != status || p.code() != string(code) {
		t.Errorf("%s: HTTP %d %q, want %d %q\n%s", what, p.StatusCode, p.code(), status, code, p.body)
	}
}
