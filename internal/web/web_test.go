package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// env is the app served by httptest against a fake network, and a
// browser (an http.Client with a cookie jar that does not follow
// redirects).
type env struct {
	t      *testing.T
	net    *atoauthtest.Network
	alice  syntax.DID
	srv    *httptest.Server
	client *atoauth.Client
	app    *web.App
	store  *atoauth.MemoryStore
	logs   *atoauthtest.Buffer
	// requests counts the app's requests in progress.
	requests requestCount
	// browser is the default browser; newBrowser makes more.
	browser *browser
}

type envOptions struct {
	web     web.Options
	network atoauthtest.Options
	scope   string
	// httpClient replaces the client's default HTTP client.
	httpClient *http.Client
	// noEvents leaves the client's events unwired: the app then knows no
	// cause of a session's end.
	noEvents bool
}

func newEnv(t *testing.T, o *envOptions) *env {
	t.Helper()
	if o == nil {
		o = &envOptions{}
	}
	n := atoauthtest.NewNetwork(t, o.network)
	e := &env{t: t, net: n, alice: n.CreateAccount("alice.test"), logs: &atoauthtest.Buffer{}, store: atoauth.NewMemoryStore()}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	port := e.srv.Listener.Addr().(*net.TCPAddr).Port
	cfg, err := web.ClientConfig(web.ClientOptions{Port: port, Scope: o.scope, PLCURL: n.PLC.URL, HandleResolver: n.PDS.URL, InsecureDev: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = e.store
	cfg.HTTPClient = o.httpClient
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The app learns why sessions end from the client's events, as
	// atoauth serve wires it.
	notices := web.NewNotices(logger)
	if !o.noEvents {
		cfg.Events = notices.Events()
	}
	e.client, err = atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wo := o.web
	wo.Client = e.client
	wo.Logger = logger
	wo.Notices = notices
	e.app, err = web.New(wo)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", e.requests.counting(e.app))
	e.browser = e.newBrowser()
	return e
}

// browser is a person's browser on the app at base: a cookie jar, and a
// client that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	net  *atoauthtest.Network
	jar  http.CookieJar
	hc   *http.Client
}

func (e *env) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.srv.URL, net: e.net, jar: jar, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response with its body read.
type page struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp, string(body)}
}

// send sends a request for path with the headers hdr and, unless form
// is nil, the url-encoded form.
func (b *browser) send(method, path string, form url.Values, hdr map[string]string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
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

// post sends a form as the app's own pages do (same-origin), with the
// session's form token unless the values carry one.
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

type file struct {
	field, name string
	data        []byte
}

func (b *browser) postMultipart(path string, v url.Values, files ...file) page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if _, ok := v["csrf"]; !ok {
		v.Set("csrf", b.csrf())
	}
	for k, vs := range v {
		for _, s := range vs {
			mw.WriteField(k, s)
		}
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile(f.field, f.name)
		w.Write(f.data)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", b.base+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// csrf reads the form token from the home page ("" when signed out).
func (b *browser) csrf() string {
	b.t.Helper()
	p := b.get("/")
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return m[1]
}

// signIn goes through the whole sign-in: the app's form, the
// authorization server (played by the fake), the callback.
func (b *browser) signIn(who syntax.DID, opts ...atoauthtest.ApproveOption) page {
	b.t.Helper()
	p := b.post("/login", url.Values{"identifier": {b.net.Handle(who).String()}})
	if p.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login: HTTP %d\n%s", p.StatusCode, p.body)
	}
	redirect, err := b.net.Approve(context.Background(), p.Header.Get("Location"), who, opts...)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.get(redirect.Path + "?" + redirect.RawQuery)
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// agent is an Agent on b's session: another app of the account, acting
// beside the web app.
func (e *env) agent(b *browser) *agent.Agent {
	e.t.Helper()
	sess, err := e.client.Session(context.Background(), e.sessionID(b))
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := agent.New(sess, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) sessionID(b *browser) string { return b.cookieValue("atoauth_session") }

// cookieValue is the value of the cookie name ("" without one).
func (b *browser) cookieValue(name string) string {
	c := b.cookie(name)
	if c == nil {
		return ""
	}
	return c.Value
}

func setCookie(p page, name string) *http.Cookie {
	for _, c := range p.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func pngImage(w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.NRGBA{R: uint8(x), G: 120, B: 200, A: 255})
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

// requestCount counts the requests in progress of a handler.
type requestCount struct {
	mu      sync.Mutex
	n       int
	changed chan struct{} // closed when n changes
}

// counting counts the requests of h.
func (c *requestCount) counting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.add(1)
		defer c.add(-1)
		h.ServeHTTP(w, r)
	})
}

func (c *requestCount) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += d
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// now returns the count and a channel closed at its next change.
func (c *requestCount) now() (int, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.n, c.changed
}

// waitRequests waits (10 s at most) until exactly n requests of the app
// are in progress: the others have ended and released their slots.
func (e *env) waitRequests(n int) {
	e.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		got, changed := e.requests.now()
		if got == n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			e.t.Fatalf("%d requests in progress, want %d", got, n)
		}
	}
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

func (e *env) record(collection, rkey string) map[string]any {
	raw, ok := e.net.Record(e.alice, collection, rkey)
	if !ok {
		return nil
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	return m
}

func rkeyFromURI(uri string) string { return uri[strings.LastIndex(uri, "/")+1:] }

// onlyPost returns the rkey of alice's only post.
func (e *env) onlyPost() string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.net.PDS.URL+"/xrpc/com.atproto.repo.listRecords?"+url.Values{"repo": {e.alice.String()}, "collection": {"app.bsky.feed.post"}}.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Records []struct{ URI string }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	if len(out.Records) != 1 {
		e.t.Fatalf("%d posts, want 1", len(out.Records))
	}
	return rkeyFromURI(out.Records[0].URI)
}
