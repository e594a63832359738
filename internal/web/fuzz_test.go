package web_test

// Fuzz targets for what a browser (or anyone) sends the web app (issue
// 12): the composer's form (text, images, alt text, language), the
// profile editor's, the record browser's paths and query strings, and the
// sign-in and sign-up forms and the callback's query. Each drives the real
// handler (web.New) in-process, signed in once; the app's calls to the
// fake network are served in-process too, so an execution opens no
// socket. Properties: no panic, no 5xx but 502 (the page that explains an
// error of the account's server), and nothing of the input reflected
// unescaped into the HTML.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// fzNetwork is an http.RoundTripper that serves the fake network's
// servers in-process and refuses every other host: nothing a fuzzed
// identifier names (https://bsky.social, did:web:…) is ever dialled.
type fzNetwork map[string]http.Handler // host:port → handler

func (m fzNetwork) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	h := m[r.URL.Host]
	if h == nil || r.URL.Scheme != "http" {
		return nil, fmt.Errorf("fuzz: %s://%s is not part of the fake network (no network while fuzzing)", r.URL.Scheme, r.URL.Host)
	}
	sr := r.Clone(r.Context())
	sr.RequestURI = r.URL.RequestURI()
	sr.URL = &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	sr.Host = r.URL.Host
	sr.RemoteAddr = "127.0.0.1:40000"
	if sr.Body == nil {
		sr.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, sr)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// fzApp is the app signed in as alice, driven without sockets.
type fzApp struct {
	app       *web.App
	net       *atoauthtest.Network
	alice     syntax.DID
	session   *http.Cookie
	csrf      string
	templates string // every template, to tell their markup from reflected input
}

func newFuzzApp(f *testing.F) *fzApp {
	f.Helper()
	n := atoauthtest.NewNetwork(f, atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)})
	z := &fzApp{net: n, alice: n.CreateAccount("alice.test")}
	hosts := fzNetwork{}
	for _, s := range []*httptest.Server{n.AS, n.PDS, n.PLC} {
		u, _ := url.Parse(s.URL)
		hosts[u.Host] = s.Config.Handler
	}
	cfg, err := web.ClientConfig(web.ClientOptions{Port: 8080, PLCURL: n.PLC.URL, HandleResolver: n.PDS.URL, InsecureDev: true})
	if err != nil {
		f.Fatal(err)
	}
	cfg.Store = atoauth.NewMemoryStore()
	cfg.HTTPClient = &http.Client{Transport: hosts, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		f.Fatal(err)
	}
	z.app, err = web.New(web.Options{Client: client, Logger: slog.New(slog.DiscardHandler), SignInLimit: -1, InsecureDev: true})
	if err != nil {
		f.Fatal(err)
	}

	// Sign in: the form, the authorization server (the fake, over
	// loopback, once), the callback.
	resp := z.do(z.form("/login", url.Values{"identifier": {"alice.test"}}), nil)
	if resp.Code != http.StatusSeeOther {
		f.Fatalf("login: HTTP %d\n%s", resp.Code, resp.Body)
	}
	state := fzCookie(resp, "atoauth_state")
	redirect, err := n.Approve(context.Background(), resp.Header().Get("Location"), z.alice)
	if err != nil || state == nil {
		f.Fatalf("approve: %v (state cookie %v)", err, state)
	}
	resp = z.do(httptest.NewRequest(http.MethodGet, redirect.Path+"?"+redirect.RawQuery, nil), state)
	if z.session = fzCookie(resp, "atoauth_session"); z.session == nil {
		f.Fatalf("callback: HTTP %d, no session\n%s", resp.Code, resp.Body)
	}
	home := z.get("/")
	m := regexp.MustCompile(`name="csrf" value="([^"]*)"`).FindStringSubmatch(home.Body.String())
	if m == nil {
		f.Fatalf("no form token on the home page: HTTP %d\n%s", home.Code, home.Body)
	}
	z.csrf = m[1]

	files, _ := filepath.Glob("templates/*.html")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		z.templates += string(b)
	}
	if z.templates == "" {
		f.Fatal("no templates found in templates/")
	}
	return z
}

func fzCookie(resp *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range resp.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// do serves req with the cookies given, as the same-origin browser.
func (z *fzApp) do(req *http.Request, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(c)
		}
	}
	if req.Method == http.MethodPost {
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	rec := httptest.NewRecorder()
	z.app.ServeHTTP(rec, req)
	return rec
}

// get serves a signed-in GET of path.
func (z *fzApp) get(path string) *httptest.ResponseRecorder {
	return z.do(httptest.NewRequest(http.MethodGet, path, nil), z.session)
}

// form is a urlencoded POST.
func (z *fzApp) form(path string, v url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// multipartForm is a multipart POST with files (field → content).
func (z *fzApp) multipartForm(path string, v url.Values, files map[string][]byte) *http.Request {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range v {
		for _, s := range vs {
			_ = mw.WriteField(k, s)
		}
	}
	for field, data := range files {
		w, _ := mw.CreateFormFile(field, field+".png")
		_, _ = w.Write(data)
	}
	_ = mw.Close()
	req := httptest.NewRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

// signedInPost sends a form of the signed-in person, with the form token.
func (z *fzApp) signedInPost(path string, v url.Values, multi bool, files map[string][]byte) *httptest.ResponseRecorder {
	v.Set("csrf", z.csrf)
	if multi {
		return z.do(z.multipartForm(path, v, files), z.session)
	}
	return z.do(z.form(path, v), z.session)
}

// submit sends a form of the signed-in person (multipart with file as
// the field named field when multi and file is not empty) and checks the
// answer against inputs; a success must redirect to success (or to sign
// in again, when the fuzzed session is gone). It tells whether the form
// succeeded.
func (z *fzApp) submit(t *testing.T, path string, v url.Values, multi bool, field string, file []byte, success string, inputs ...string) bool {
	t.Helper()
	var files map[string][]byte
	if multi && len(file) > 0 {
		files = map[string][]byte{field: file}
	}
	resp := z.signedInPost(path, v, multi, files)
	z.check(t, "POST "+path, resp, inputs...)
	if resp.Code != http.StatusSeeOther {
		return false
	}
	if loc := resp.Header().Get("Location"); loc != success && !strings.HasPrefix(loc, "/?notice=session") {
		t.Fatalf("POST %s: redirected to %q", path, loc)
	}
	return true
}

var (
	// fzTagRE finds what starts a tag, a comment or a declaration.
	fzTagRE = regexp.MustCompile(`<[A-Za-z!/?][^<>]{0,62}>?`)
	// fzAttrRE finds what closes a quoted attribute and starts another.
	fzAttrRE = regexp.MustCompile(`["'][\t\n\f\r /]*[A-Za-z_:][-A-Za-z0-9_:.]*[\t\n\f\r ]*=`)
)

// check asserts the properties of every answer: a status below 500 but
// 502 (the app's page for an error of the account's server), the
// security headers, and no markup of the inputs in the body unless the
// templates have it too (html/template escapes every '<' and quote of the
// data, so markup in a page comes from the templates or was reflected).
func (z *fzApp) check(t *testing.T, what string, resp *httptest.ResponseRecorder, inputs ...string) {
	t.Helper()
	if resp.Code >= 500 && resp.Code != http.StatusBadGateway {
		t.Fatalf("%s: HTTP %d\n%s", what, resp.Code, resp.Body)
	}
	if resp.Header().Get("Content-Security-Policy") == "" || resp.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: HTTP %d without the security headers: %v", what, resp.Code, resp.Header())
	}
	body := resp.Body.String()
	for _, in := range inputs {
		for _, re := range []*regexp.Regexp{fzTagRE, fzAttrRE} {
			for _, s := range re.FindAllString(in, -1) {
				if strings.Contains(body, s) && !strings.Contains(z.templates, s) {
					t.Fatalf("%s: HTTP %d: the input %q is in the page unescaped (%q):\n%s", what, resp.Code, in, s, body)
				}
			}
		}
	}
}

// cleanUpPosts deletes alice's posts through the app (POST /post/delete),
// so that the home page and the fake's timeline stay small.
func (z *fzApp) cleanUpPosts(t *testing.T) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/xrpc/com.atproto.repo.listRecords?"+url.Values{
		"repo": {z.alice.String()}, "collection": {"app.bsky.feed.post"}, "limit": {"100"}}.Encode(), nil)
	rec := httptest.NewRecorder()
	z.net.PDS.Config.Handler.ServeHTTP(rec, req)
	var out struct {
		Records []struct {
			URI string `json:"uri"`
		} `json:"records"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("listRecords: HTTP %d %v", rec.Code, err)
	}
	for _, r := range out.Records {
		rkey := r.URI[strings.LastIndex(r.URI, "/")+1:]
		resp := z.signedInPost("/post/delete", url.Values{"rkey": {rkey}}, false, nil)
		z.check(t, "delete", resp)
		if resp.Code != http.StatusSeeOther {
			t.Fatalf("deleting post %s: HTTP %d", rkey, resp.Code)
		}
	}
}

func fzPNG() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 3))
	img.Set(1, 1, color.NRGBA{R: 200, A: 255})
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

func fzJPEG() []byte {
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 2, 2)), nil)
	return buf.Bytes()
}

func fzGIF() []byte {
	var buf bytes.Buffer
	_ = gif.Encode(&buf, image.NewPaletted(image.Rect(0, 0, 1, 1), color.Palette{color.Black}), nil)
	return buf.Bytes()
}

// FuzzComposer posts the composer's form: text, language, one image and
// its alt text (multipart, as the page sends it, or urlencoded), then
// deletes a post by the fuzzed record key.
func FuzzComposer(f *testing.F) {
	f.Add("hello world", "en", "", []byte(nil), true, "3kabcdefgh2xy")
	f.Add("hi @alice.test #tag https://example.com/x?y=1", "", "", []byte(nil), false, "self")
	f.Add("", "ja", "a red dot", fzPNG(), true, "x")
	f.Add("a photo", "pt-BR", `"><img src=x onerror=alert(1)>`, fzJPEG(), true, "..")
	f.Add("gif", "zz-Latn-x-private", "alt", fzGIF(), true, "")
	f.Add("<script>alert(1)</script>", `"><script>alert(1)</script>`, "", []byte(nil), false, `"><b>x`)
	f.Add(strings.Repeat("long ", 700), "en", "", []byte(nil), false, "a:b")
	f.Add("\x00\x1b[2J\u202e text", "not a tag!", "", []byte("GIF89a not really"), true, "\xff")
	f.Add("", "", "", []byte("<svg onload=alert(1)>"), true, "%2F")
	z := newFuzzApp(f)
	f.Fuzz(func(t *testing.T, text, lang, alt string, img []byte, multi bool, rkey string) {
		v := url.Values{"text": {text}, "lang": {lang}, "alt1": {alt}}
		if z.submit(t, "/post", v, multi, "image1", img, "/?notice=posted", text, lang, alt) {
			z.cleanUpPosts(t)
		}
		resp := z.signedInPost("/post/delete", url.Values{"rkey": {rkey}}, false, nil)
		z.check(t, "POST /post/delete", resp, rkey)
	})
}

// FuzzProfileEditor saves the profile editor's form: display name,
// description, the version it was filled from (the current one or a
// fuzzed one), removing the avatar, a new avatar.
func FuzzProfileEditor(f *testing.F) {
	f.Add("Alice", "Hello 👋\r\nSecond line", "", false, []byte(nil), true, true)
	f.Add("Alice", "", "bafyreia", false, []byte(nil), false, false)
	f.Add("", "", "", true, fzPNG(), true, true)
	f.Add(`"><script>alert(1)</script>`, "<b>bold</b> & \"quotes\"", `" onfocus="x`, false, fzJPEG(), true, true)
	f.Add(strings.Repeat("x", 65), strings.Repeat("é", 257), "", false, []byte(nil), true, false)
	f.Add("\u202eevil\x00", "\x1b]52;c;cGF3bmVk\x07", "", true, fzGIF(), true, true)
	z := newFuzzApp(f)
	cidRE := regexp.MustCompile(`name="cid" value="([^"]*)"`)
	f.Fuzz(func(t *testing.T, displayName, description, cid string, removeAvatar bool, avatar []byte, currentCID, multi bool) {
		if currentCID {
			page := z.get("/profile")
			z.check(t, "GET /profile", page)
			m := cidRE.FindStringSubmatch(page.Body.String())
			if page.Code != http.StatusOK || m == nil {
				t.Fatalf("GET /profile: HTTP %d, no cid field\n%s", page.Code, page.Body)
			}
			cid = m[1]
		}
		v := url.Values{"displayName": {displayName}, "description": {description}, "cid": {cid}}
		if removeAvatar {
			v.Set("removeAvatar", "1")
		}
		if z.submit(t, "/profile", v, multi, "avatar", avatar, "/profile?notice=profile-saved", displayName, description, cid) {
			z.check(t, "GET /profile after a save", z.get("/profile"), displayName, description)
		}
	})
}

// FuzzRecordBrowser opens the record browser, the home page and the
// collections with fuzzed path segments and query strings (cursor,
// notice, anything).
func FuzzRecordBrowser(f *testing.F) {
	f.Add(uint8(0), "app.bsky.feed.post", "", "cursor=3kabc")
	f.Add(uint8(1), "app.bsky.actor.profile", "self", "")
	f.Add(uint8(1), "com.example.note", "..", "x=%ZZ&&;=")
	f.Add(uint8(0), "not an nsid", "", "cursor="+strings.Repeat("c", 600))
	f.Add(uint8(2), "", "", "notice=posted")
	f.Add(uint8(2), "", "", `notice=<script>alert(1)</script>`)
	f.Add(uint8(3), "", "", "cursor=%22%3E%3Cimg%20src%3Dx%3E")
	f.Add(uint8(0), "a.b.c", "", "cursor=\"><svg/onload=alert(1)>")
	f.Add(uint8(1), "app.bsky.feed.post", "<b>", "")
	f.Add(uint8(4), "", "", "")
	z := newFuzzApp(f)
	f.Fuzz(func(t *testing.T, op uint8, collection, rkey, rawQuery string) {
		var path string
		switch op % 5 {
		case 0:
			path = "/records/" + url.PathEscape(collection)
		case 1:
			path = "/records/" + url.PathEscape(collection) + "/" + url.PathEscape(rkey)
		case 2:
			path = "/"
		case 3:
			path = "/records"
		case 4:
			path = "/profile"
		}
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.URL.RawQuery = rawQuery
		resp := z.do(req, z.session)
		inputs := []string{collection, rkey, rawQuery}
		q, _ := url.ParseQuery(rawQuery)
		for _, vs := range q {
			inputs = append(inputs, vs...)
		}
		z.check(t, "GET "+path, resp, inputs...)
	})
}

// FuzzSignIn sends the sign-in form's identifier, the sign-up form's
// server, and a callback's query string (without the state cookie of a
// login started here).
func FuzzSignIn(f *testing.F) {
	for _, id := range []string{"alice.test", "@alice.test ", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "bob.test", "https://bsky.social",
		"did:web:evil.example", `"><script>alert(1)</script>`, "\x00\x1b[2J\u202e"} {
		f.Add(uint8(0), id, "")
	}
	f.Add(uint8(1), "bsky.social", "")
	f.Add(uint8(1), "http://127.0.0.1:1/<b>", "")
	for _, q := range []string{"error=access_denied&state=x&iss=http://127.0.0.1", "error=%3Cscript%3E&error_description=%22%3E%3Cimg%3E", "code=abc&state=def&iss=x"} {
		f.Add(uint8(2), "", q)
	}
	z := newFuzzApp(f)
	// The PDS's URL is a server address that signs in too.
	f.Add(uint8(0), z.net.PDS.URL, "")
	f.Fuzz(func(t *testing.T, op uint8, input, rawQuery string) {
		switch op % 3 {
		case 0:
			resp := z.do(z.form("/login", url.Values{"identifier": {input}}))
			z.check(t, "POST /login", resp, input)
			if resp.Code == http.StatusSeeOther && !strings.HasPrefix(resp.Header().Get("Location"), z.net.Issuer()+"/") {
				t.Fatalf("POST /login: redirected to %q", resp.Header().Get("Location"))
			}
		case 1:
			resp := z.do(z.form("/signup", url.Values{"server": {input}}))
			z.check(t, "POST /signup", resp, input)
			if resp.Code == http.StatusSeeOther && !strings.HasPrefix(resp.Header().Get("Location"), z.net.Issuer()+"/") {
				t.Fatalf("POST /signup: redirected to %q", resp.Header().Get("Location"))
			}
		case 2:
			req := httptest.NewRequest(http.MethodGet, web.LoopbackCallbackPath, nil)
			req.URL.RawQuery = rawQuery
			resp := z.do(req)
			inputs := []string{rawQuery}
			q, _ := url.ParseQuery(rawQuery)
			for _, vs := range q {
				inputs = append(inputs, vs...)
			}
			z.check(t, "GET "+web.LoopbackCallbackPath, resp, inputs...)
		}
	})
}
