package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/atoauth/atoauth/safehttp"
)

var cidRE = regexp.MustCompile(`name="cid" value="([^"]*)"`)

func TestProfileEditor(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)

	form := b.get("/profile")
	mustContain(t, "empty form", form.body, `name="displayName" value=""`, `name="cid" value=""`, `enctype="multipart/form-data"`)
	avatar := pngImage(50, 50)
	p := b.postMultipart("/profile", url.Values{"cid": {""}, "displayName": {"Alice"}, "description": {"line one\r\nline two"}}, file{"avatar", "a.png", avatar})
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/profile?notice=profile-saved" {
		t.Fatalf("first save: HTTP %d\n%s", p.StatusCode, p.body)
	}
	rec := e.record("app.bsky.actor.profile", "self")
	if rec["displayName"] != "Alice" || rec["description"] != "line one\nline two" || rec["avatar"] == nil || rec["createdAt"] == nil {
		t.Fatalf("record: %v", rec)
	}

	form = b.get("/profile?notice=profile-saved")
	mustContain(t, "form", form.body, "Profile saved.", `value="Alice"`, "line one\nline two</textarea>", "com.atproto.sync.getBlob", "Remove the current avatar")
	cid := cidRE.FindStringSubmatch(form.body)[1]
	if cid == "" {
		t.Fatal("no cid in the form")
	}

	// Someone changes the profile elsewhere (another app), keeping a field
	// this app does not know.
	a := e.agent(b)
	if _, err := a.UpdateProfile(context.Background(), func(p *agent.Profile) error {
		p.DisplayName = "Alice (from elsewhere)"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p = b.postMultipart("/profile", url.Values{"cid": {cid}, "displayName": {"Stale edit"}, "description": {"x"}})
	if p.StatusCode != http.StatusConflict {
		t.Fatalf("stale save: HTTP %d", p.StatusCode)
	}
	mustContain(t, "conflict", p.body, "changed elsewhere", `value="Alice (from elsewhere)"`)
	if rec := e.record("app.bsky.actor.profile", "self"); rec["displayName"] != "Alice (from elsewhere)" {
		t.Fatalf("the stale edit overwrote the profile: %v", rec)
	}

	// Saving from the fresh form works, keeps unknown fields, removes the
	// avatar on request.
	cid = cidRE.FindStringSubmatch(p.body)[1]
	if _, err := a.PutRecord(context.Background(), "app.bsky.actor.profile", "self", map[string]any{
		"$type": "app.bsky.actor.profile", "displayName": "Alice (from elsewhere)", "pronouns": "she/her",
		"avatar": rec["avatar"]}, &agent.WriteOptions{SwapRecord: cid}); err != nil {
		t.Fatal(err)
	}
	cid = cidRE.FindStringSubmatch(b.get("/profile").body)[1]
	p = b.postMultipart("/profile", url.Values{"cid": {cid}, "displayName": {"Alice B."}, "description": {""}, "removeAvatar": {"1"}})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("second save: HTTP %d\n%s", p.StatusCode, p.body)
	}
	rec = e.record("app.bsky.actor.profile", "self")
	if rec["displayName"] != "Alice B." || rec["avatar"] != nil || rec["pronouns"] != "she/her" || rec["description"] != nil {
		t.Fatalf("record: %v", rec)
	}

	// Validation.
	for _, tc := range []struct {
		v     url.Values
		files []file
		want  string
	}{
		{url.Values{"cid": {cid}, "displayName": {strings.Repeat("é", 65)}}, nil, "display name is too long"},
		{url.Values{"cid": {cid}, "description": {strings.Repeat("x", 257)}}, nil, "description is too long"},
		{url.Values{"cid": {cid}}, []file{{"avatar", "a.gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")}}, "not a PNG or JPEG picture"},
	} {
		p := b.postMultipart("/profile", tc.v, tc.files...)
		if p.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d", tc.want, p.StatusCode)
		}
		mustContain(t, tc.want, p.body, tc.want)
	}
}

func TestRecordBrowser(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)
	a := e.agent(b)
	for i := range 30 {
		if _, err := a.CreateRecord(context.Background(), "com.example.note", map[string]any{"$type": "com.example.note", "text": fmt.Sprintf("note %02d <b>", i)}, &agent.WriteOptions{RKey: fmt.Sprintf("n%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	b.postMultipart("/post", url.Values{"text": {"a post"}})

	list := b.get("/records")
	mustContain(t, "collections", list.body, `href="/records/app.bsky.feed.post"`, `href="/records/com.example.note"`, e.alice.String())

	first := b.get("/records/com.example.note")
	if n := strings.Count(first.body, `<tr><td>`); n != 25 {
		t.Fatalf("first page: %d rows", n)
	}
	mustContain(t, "first page", first.body, "note 29 &lt;b&gt;", `href="/records/com.example.note/n29"`, "Next page")
	next := regexp.MustCompile(`href="([^"]*)" rel="next"`).FindStringSubmatch(first.body)
	if next == nil {
		t.Fatal("no next link")
	}
	second := b.get(html.UnescapeString(next[1]))
	if n := strings.Count(second.body, `<tr><td>`); n != 5 {
		t.Fatalf("second page: %d rows", n)
	}
	mustContain(t, "second page", second.body, "note 00", "First page")
	mustNotContain(t, "second page", second.body, "Next page", "note 29")

	rec := b.get("/records/com.example.note/n07")
	mustContain(t, "record", rec.body, "at://"+e.alice.String()+"/com.example.note/n07", `&#34;text&#34;: &#34;note 07`, `href="/records/com.example.note"`)

	for path, status := range map[string]int{
		"/records/com.example.note/missing":   http.StatusNotFound,
		"/records/not..an.nsid":               http.StatusNotFound,
		"/records/com.example.note/bad%20key": http.StatusNotFound,
	} {
		if p := b.get(path); p.StatusCode != status {
			t.Errorf("%s: HTTP %d", path, p.StatusCode)
		}
	}
	missing := b.get("/records/com.example.note/missing")
	mustContain(t, "missing record", missing.body, "Record not found", "Back to your records", `name="csrf" value="`+b.csrf()+`"`)
}

func TestSessionPageAndSignOutEverywhere(t *testing.T) {
	e := newEnv(t, nil)
	b, phone := e.browser, e.newBrowser()
	b.signIn(e.alice)
	phone.signIn(e.alice)
	if e.net.ActiveSessions(e.alice) != 2 {
		t.Fatal("two sessions expected")
	}
	p := b.get("/session")
	mustContain(t, "session page", p.body, "@alice.test", e.net.PDS.URL, e.net.Issuer(), "Access token expires",
		"Know who you are", "Create, change and delete any records", "<code class=\"scope\">transition:generic</code>",
		"up to two weeks", "also signed in to this app in 1 other place", `action="/logout/all"`, "Sign out everywhere")

	p = b.post("/logout/all", nil)
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?notice=signed-out-all" {
		t.Fatalf("HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	if e.net.ActiveSessions(e.alice) != 0 {
		t.Fatal("sessions left at the server")
	}
	if list, _ := e.client.Sessions(context.Background(), e.alice); len(list) != 0 {
		t.Fatal("sessions left in the store")
	}
	if p := phone.get("/"); !strings.Contains(p.body, `name="identifier"`) {
		t.Fatal("the other browser is still signed in")
	}
}

// parRecorder records the forms sent to a PAR endpoint.
type parRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	forms []url.Values
}

func (p *parRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/par") && r.GetBody != nil {
		body, _ := r.GetBody()
		b, _ := io.ReadAll(body)
		v, _ := url.ParseQuery(string(b))
		p.mu.Lock()
		p.forms = append(p.forms, v)
		p.mu.Unlock()
	}
	return p.next.RoundTrip(r)
}

func TestSignUpAsksTheServerToCreateAnAccount(t *testing.T) {
	rec := &parRecorder{}
	hc := safehttp.NewClient(safehttp.Options{AllowInsecureDevelopment: true})
	rec.next = hc.Transport
	hc.Transport = rec
	e := newEnv(t, &envOptions{httpClient: hc, web: web.Options{SignUpServer: "https://pds.example"}})
	b := e.browser
	mustContain(t, "sign-up page", b.get("/signup").body, `name="server" value="https://pds.example"`)
	mustContain(t, "sign-up page", b.get("/signup").body, "Create account", `href="/"`)
	resp := b.post("/signup", url.Values{"server": {e.net.PDS.URL}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), e.net.Issuer()) {
		t.Fatalf("HTTP %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), resp.body)
	}
	if len(rec.forms) == 0 {
		t.Fatal("no PAR")
	}
	for _, f := range rec.forms { // the first is sent again with a DPoP nonce
		if f.Get("prompt") != "create" || f.Get("login_hint") != "" {
			t.Fatalf("PAR form: %v", f)
		}
	}
	// An unreachable server is explained on the page.
	resp = b.post("/signup", url.Values{"server": {"http://127.0.0.1:1"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unreachable: HTTP %d", resp.StatusCode)
	}
	mustContain(t, "unreachable", resp.body, "could not be reached", `value="http://127.0.0.1:1"`)
}

func TestStaticHealthMetadataNotFound(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	if p := b.get("/healthz"); p.StatusCode != http.StatusOK || p.body != "ok\n" {
		t.Errorf("healthz: HTTP %d %q", p.StatusCode, p.body)
	}
	home := b.get("/")
	css := regexp.MustCompile(`href="(/static/app\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(home.body)
	if css == nil {
		t.Fatal("no stylesheet link")
	}
	p := b.get(css[1])
	if p.StatusCode != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/css") || !strings.Contains(p.Header.Get("Cache-Control"), "immutable") || !strings.Contains(p.body, "--accent") {
		t.Errorf("app.css: HTTP %d %q %q", p.StatusCode, p.Header.Get("Content-Type"), p.Header.Get("Cache-Control"))
	}
	if p := b.get("/static/app.js"); p.StatusCode != http.StatusOK || !strings.Contains(p.Header.Get("Content-Type"), "javascript") {
		t.Errorf("app.js: HTTP %d %q", p.StatusCode, p.Header.Get("Content-Type"))
	}
	if p := b.get("/static/nope.css"); p.StatusCode != http.StatusNotFound {
		t.Errorf("missing asset: HTTP %d", p.StatusCode)
	}
	if p := b.get("/oauth-client-metadata.json"); p.StatusCode != http.StatusOK || !strings.Contains(p.body, `"client_id"`) {
		t.Errorf("metadata: HTTP %d", p.StatusCode)
	}
	if p := b.get("/oauth/jwks.json"); p.StatusCode != http.StatusNotFound {
		t.Errorf("JWKS of a public client: HTTP %d", p.StatusCode)
	}
	p = b.get("/no/such/page")
	if p.StatusCode != http.StatusNotFound {
		t.Errorf("404: HTTP %d", p.StatusCode)
	}
	mustContain(t, "404", p.body, "Page not found", `href="/"`)
	// Pages that need a session send visitors to the sign-in page, which
	// returns to them.
	for _, path := range []string{"/profile", "/records", "/session", "/records/app.bsky.feed.post"} {
		if p := b.get(path); p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?next="+url.QueryEscape(path) {
			t.Errorf("%s signed out: HTTP %d %s", path, p.StatusCode, p.Header.Get("Location"))
		}
	}
	if p := b.post("/post", url.Values{"text": {"x"}}); p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?notice=session-ended" {
		t.Errorf("post signed out: HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
}

func TestNewNeedsAClient(t *testing.T) {
	if _, err := web.New(web.Options{}); err == nil {
		t.Fatal("no error without a client")
	}
}
