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

	"github.com/atoauth/atoauth"
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
	logs   *syncBuffer
	// browser is the default browser; newBrowser makes more.
	browser *browser
}

type envOptions struct {
	web     web.Options
	network atoauthtest.Options
	scope   string
	// httpClient replaces the client's default HTTP client.
	httpClient *http.Client
}

func newEnv(t *testing.T, o *envOptions) *env {
	t.Helper()
	if o == nil {
		o = &envOptions{}
	}
	n := atoauthtest.NewNetwork(t, o.network)
	e := &env{t: t, net: n, alice: n.CreateAccount("alice.test"), logs: &syncBuffer{}, store: atoauth.NewMemoryStore()}
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
	e.client, err = atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wo := o.web
	wo.Client = e.client
	wo.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.app, err = web.New(wo)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", e.app)
	e.browser = e.newBrowser()
	return e
}

type browser struct {
	e   *env
	jar http.CookieJar
	hc  *http.Client
}

func (e *env) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, jar: jar, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response with its body read.
type page struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp, string(body)}
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form as the app's own pages do (same-origin), with the
// session's form token unless the values carry one.
func (b *browser) post(path string, v url.Values) page {
	b.e.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if _, ok := v["csrf"]; !ok {
		v.Set("csrf", b.csrf())
	}
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

type file struct {
	field, name string
	data        []byte
}

func (b *browser) postMultipart(path string, v url.Values, files ...file) page {
	b.e.t.Helper()
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
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]*)"`)

// csrf reads the form token from the home page ("" when signed out).
func (b *browser) csrf() string {
	b.e.t.Helper()
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
	b.e.t.Helper()
	p := b.post("/login", url.Values{"identifier": {b.e.net.Handle(who).String()}})
	if p.StatusCode != http.StatusSeeOther {
		b.e.t.Fatalf("login: HTTP %d\n%s", p.StatusCode, p.body)
	}
	redirect, err := b.e.net.Approve(context.Background(), p.Header.Get("Location"), who, opts...)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.get(redirect.Path + "?" + redirect.RawQuery)
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (e *env) sessionID(b *browser) string {
	c := b.cookie("atoauth_session")
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

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
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
