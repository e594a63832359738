package web_test

// Tests of the web app against a hostile PDS (issue 12: every server
// atoauth talks to may be an attacker). A shared web app signs strangers
// in, and each chooses the PDS that the app then talks to: its answers
// may be huge, slow, not JSON, or full of terminal escapes.

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/web"
)

// hostileEnv signs alice in, with a post, a profile and a record of
// another type, and returns the pages to visit (the last one is the
// post's record).
func hostileEnv(t *testing.T, o *envOptions) (*env, []string) {
	t.Helper()
	e := newEnv(t, o)
	b := e.browser
	b.signIn(e.alice)
	if p := b.postMultipart("/post", url.Values{"text": {"hello, world"}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("post: HTTP %d\n%s", p.StatusCode, p.body)
	}
	if p := b.postMultipart("/profile", url.Values{"cid": {""}, "displayName": {"Alice"}, "description": {"Hi there\nSecond line"}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("profile: HTTP %d\n%s", p.StatusCode, p.body)
	}
	m := recordLinkRE.FindStringSubmatch(b.get("/").body)
	if m == nil {
		t.Fatal("no record link on the home page")
	}
	return e, []string{"/", "/profile", "/records", "/records/app.bsky.feed.post", "/records/app.bsky.actor.profile/self", "/session", m[1]}
}

// plainPage checks what a page shown against a hostile PDS must be: an
// answer (never a 500 or a stack), and nothing of the server's own
// non-JSON answer.
func plainPage(t *testing.T, what string, p page) {
	t.Helper()
	switch p.StatusCode {
	case http.StatusOK, http.StatusBadGateway, http.StatusNotFound:
	default:
		t.Errorf("%s: HTTP %d\n%s", what, p.StatusCode, p.body)
	}
	if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") || !strings.Contains(p.body, "</html>") {
		t.Errorf("%s: not a page of the app: %q\n%s", what, p.Header.Get("Content-Type"), p.body)
	}
	mustNotContain(t, what, p.body, "goroutine", "panic", "internal error", "Please sign in to continue", "Sign in to the network")
}

// Each page's calls read at most what the page shows: an answer larger
// than that fails the call, and the page says so in plain words.
func TestHostileHugeAnswers(t *testing.T) {
	e, pages := hostileEnv(t, nil)
	b := e.browser
	// Larger than every cap (the largest is 1 MiB), far smaller than the
	// library's default (64 MiB).
	e.net.UpdateTamper(func(tm *atoauthtest.Tamper) { tm.Hostile = &atoauthtest.Hostile{Pad: 2 << 20} })
	const tooLarge = "far larger than this page shows"
	for _, path := range pages {
		p := b.get(path)
		plainPage(t, path, p)
		switch path {
		case "/session":
			continue // no call to the PDS
		case "/":
			if p.StatusCode != http.StatusOK {
				t.Errorf("%s: HTTP %d", path, p.StatusCode)
			}
			mustContain(t, path, p.body, "Could not load your posts: your server&#39;s answer was "+tooLarge, "far larger timeline than this page shows")
		default:
			if p.StatusCode != http.StatusBadGateway {
				t.Errorf("%s: HTTP %d, want 502", path, p.StatusCode)
			}
			mustContain(t, path, p.body, tooLarge)
		}
		if len(p.body) > 64<<10 {
			t.Errorf("%s: a page of %d bytes", path, len(p.body))
		}
	}
	// Writes read small answers too.
	p := b.postMultipart("/post", url.Values{"text": {"another"}})
	if p.StatusCode != http.StatusBadGateway {
		t.Errorf("post: HTTP %d", p.StatusCode)
	}
	mustContain(t, "post", p.body, "Could not post: your server&#39;s answer was "+tooLarge)
}

// The record page shows the start of a large record, not all of it, and
// deep nesting does not make its indented text grow out of bounds.
func TestRecordPreviewIsBounded(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)
	a := e.agent(b)
	big := strings.Repeat("0123456789", 30_000) // 300 KB, under the record page's cap
	nested := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	for rkey, rec := range map[string]any{
		"big":    map[string]any{"$type": "com.example.note", "text": big},
		"nested": map[string]any{"$type": "com.example.note", "deep": jsonRaw(nested)},
	} {
		if _, err := a.CreateRecord(context.Background(), "com.example.note", rec, &agent.WriteOptions{RKey: rkey}); err != nil {
			t.Fatal(err)
		}
	}
	p := b.get("/records/com.example.note/big")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("big: HTTP %d", p.StatusCode)
	}
	mustContain(t, "big", p.body, "… truncated: the record is 300038 bytes", `&#34;text&#34;: &#34;0123456789`)
	if len(p.body) > 80<<10 {
		t.Errorf("big: a page of %d bytes", len(p.body))
	}
	p = b.get("/records/com.example.note/nested")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("nested: HTTP %d", p.StatusCode)
	}
	mustContain(t, "nested", p.body, "… truncated", "&#34;deep&#34;: [\n    [\n      [")
	if len(p.body) > 80<<10 {
		t.Errorf("nested: a page of %d bytes (an indented preview that grows with the square of the nesting)", len(p.body))
	}
	// A small record is shown whole, indented.
	if _, err := a.CreateRecord(context.Background(), "com.example.note", map[string]any{"$type": "com.example.note", "text": "hi", "list": []any{}, "obj": map[string]any{"k": []int{1, 2}}}, &agent.WriteOptions{RKey: "small"}); err != nil {
		t.Fatal(err)
	}
	p = b.get("/records/com.example.note/small")
	mustContain(t, "small", p.body, "{\n  &#34;$type&#34;: &#34;com.example.note&#34;,\n  &#34;list&#34;: [],\n  &#34;obj&#34;: {\n    &#34;k&#34;: [\n      1,\n      2\n    ]\n  },")
	mustNotContain(t, "small", p.body, "truncated")
}

type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }

// Server text is shown with its controls, bidi overrides and invalid
// UTF-8 escaped, in the raw JSON of the record browser, in error details
// and everywhere else.
func TestHostileControlCharacters(t *testing.T) {
	e, pages := hostileEnv(t, nil)
	b := e.browser
	e.net.UpdateTamper(func(tm *atoauthtest.Tamper) { tm.Hostile = &atoauthtest.Hostile{Strings: atoauthtest.ControlChars} })
	// An error whose message carries them too (the error's name is
	// rewritten as well, so it is no longer RecordNotFound).
	pages = append(pages, "/records/app.bsky.feed.post/nothere")
	c1 := regexp.MustCompile("[\u0080-\u009f]")
	for _, path := range pages {
		p := b.get(path)
		plainPage(t, path, p)
		for _, bad := range []string{"\x1b", "\x07", "\u202e", "\xff"} {
			if strings.Contains(p.body, bad) {
				t.Errorf("%s: the page holds a raw %q", path, bad)
			}
		}
		if c1.MatchString(p.body) || !utf8.ValidString(p.body) {
			t.Errorf("%s: the page holds a C1 control or invalid UTF-8", path)
		}
	}
	// What the server sent is shown, escaped.
	// (In the post's text, decoded from JSON, the invalid byte became
	// U+FFFD; the record's raw JSON keeps it.)
	mustContain(t, "home", b.get("/").body, `hello, world\x1b]52;c;ZXZpbA==\a\x1b]0;pwned\a\x1b[2J\u009b2J\u202eevil`+"\ufffd")
	mustContain(t, "record", b.get(pages[len(pages)-2]).body, `hello, world\u001b]52;c;ZXZpbA==\u0007\u001b]0;pwned\u0007\u001b[2J\u009b2J\u202eevil\xff`)
}

// The profile editor shows escaped text; saving a field that was not
// edited keeps the record's text as it was.
func TestProfileEditorKeepsUneditedText(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)
	a := e.agent(b)
	const name, desc = "\u05e9\u05dc\u05d5\u05dd\u200f Alice", "line one\u202e\nline two"
	if _, err := a.PutRecord(context.Background(), "app.bsky.actor.profile", "self", map[string]any{"$type": "app.bsky.actor.profile", "displayName": name, "description": desc}, nil); err != nil {
		t.Fatal(err)
	}
	form := b.get("/profile")
	mustContain(t, "form", form.body, `value="שלום\u200f Alice"`, "line one\\u202e\nline two</textarea>")
	cid := regexp.MustCompile(`name="cid" value="([^"]*)"`).FindStringSubmatch(form.body)[1]
	// The browser sends the fields back as shown, the description edited.
	p := b.postMultipart("/profile", url.Values{"cid": {cid}, "displayName": {`שלום\u200f Alice`}, "description": {"new text"}})
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: HTTP %d\n%s", p.StatusCode, p.body)
	}
	rec := e.record("app.bsky.actor.profile", "self")
	if rec["displayName"] != name || rec["description"] != "new text" {
		t.Errorf("saved %q, %q", rec["displayName"], rec["description"])
	}
}

// Answers that are not the JSON the app expects (a captive portal's HTML
// page, a wrong content type, duplicate keys, deep nesting, a redirect to
// another host) give plain pages, never a 500, a stack or the server's
// own text, and never hang.
func TestHostileAnswers(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    atoauthtest.Hostile
	}{
		{"html", atoauthtest.Hostile{HTML: true}},
		{"text/html content type", atoauthtest.Hostile{ContentType: "text/html; charset=utf-8"}},
		{"no content type", atoauthtest.Hostile{ContentType: "application/octet-stream"}},
		{"duplicate keys", atoauthtest.Hostile{DuplicateKeys: true}},
		{"duplicate keys with controls", atoauthtest.Hostile{DuplicateKeys: true, Strings: atoauthtest.ControlChars}},
		{"deep nesting", atoauthtest.Hostile{Nest: 20000}},
		{"moderate nesting", atoauthtest.Hostile{Nest: 5000}},
		{"redirect elsewhere", atoauthtest.Hostile{Redirect: func(r *http.Request) string { return "http://127.0.0.1:1/evil" }}},
		{"redirect loop", atoauthtest.Hostile{Redirect: func(r *http.Request) string { return r.URL.Path }}},
		{"only the AppView", atoauthtest.Hostile{HTML: true, Only: func(nsid string) bool { return strings.HasPrefix(nsid, "app.bsky.") }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, pages := hostileEnv(t, nil)
			b := e.browser
			h := tc.h
			e.net.UpdateTamper(func(tm *atoauthtest.Tamper) { tm.Hostile = &h })
			for _, path := range pages {
				start := time.Now()
				p := b.get(path)
				plainPage(t, path, p)
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("%s: %v", path, d)
				}
			}
			p := b.postMultipart("/post", url.Values{"text": {"again"}})
			if p.StatusCode != http.StatusSeeOther {
				plainPage(t, "post", p)
			}
		})
	}
}

// A PDS that trickles its answers one byte a second holds a page for
// the page's timeout at most; the page then says the server did not
// answer in time.
func TestHostileSlowServer(t *testing.T) {
	const pageTimeout, postTimeout = 300 * time.Millisecond, 500 * time.Millisecond
	e, pages := hostileEnv(t, &envOptions{web: web.Options{PageTimeout: pageTimeout, PostTimeout: postTimeout}})
	b := e.browser
	e.net.UpdateTamper(func(tm *atoauthtest.Tamper) { tm.Hostile = &atoauthtest.Hostile{Trickle: time.Second} })
	const slack = time.Second
	for _, path := range pages {
		start := time.Now()
		p := b.get(path)
		d := time.Since(start)
		plainPage(t, path, p)
		if d > pageTimeout+slack {
			t.Errorf("%s took %v, want at most %v", path, d.Round(time.Millisecond), pageTimeout)
		}
		if path != "/session" && path != "/" {
			mustContain(t, path, p.body, "did not answer in time")
		}
		if path == "/" {
			mustContain(t, path, p.body, "Could not load your posts: your server did not answer in time", "did not answer in time. Reload the page")
		}
	}
	// A form that writes: its calls, then the home page shown again.
	csrf := b.csrf()
	start := time.Now()
	p := b.postMultipart("/post", url.Values{"text": {"slowly"}, "csrf": {csrf}})
	if d := time.Since(start); d > postTimeout+pageTimeout+slack {
		t.Errorf("post took %v", d.Round(time.Millisecond))
	}
	mustContain(t, "post", p.body, "Could not post: your server did not answer in time")
	// Signing out gives up on a slow revocation too (the authorization
	// server is another server; here only the PDS is slow, and the
	// session is gone either way).
	if p := b.post("/logout", nil); p.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: HTTP %d", p.StatusCode)
	}
}

// Requests in progress are limited per session and per client address;
// static files and health checks do not count.
func TestConcurrencyLimits(t *testing.T) {
	e, _ := hostileEnv(t, &envOptions{web: web.Options{PageTimeout: time.Minute, TrustProxy: true, MaxConcurrentPerClient: 6}})
	b := e.browser
	// describeRepo answers one byte every 100 ms: the records page waits.
	// Each call tells on reached when it reaches the PDS.
	reached := make(chan struct{}, 16)
	e.net.UpdateTamper(func(tm *atoauthtest.Tamper) {
		tm.Hostile = &atoauthtest.Hostile{Trickle: 100 * time.Millisecond, Only: func(nsid string) bool {
			if nsid != "com.atproto.repo.describeRepo" {
				return false
			}
			reached <- struct{}{}
			return true
		}}
	})
	from := func(br *browser, ctx context.Context, path, addr string) (int, http.Header, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
		req.Header.Set("X-Forwarded-For", addr)
		resp, err := br.hc.Do(req)
		if err != nil {
			return 0, nil, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	// want asks for path once and checks the answer's status.
	want := func(br *browser, path, addr string, status int) (http.Header, string) {
		t.Helper()
		code, h, body := from(br, context.Background(), path, addr)
		if code != status {
			t.Errorf("%s from %s: HTTP %d, want %d\n%s", path, addr, code, status, body)
		}
		return h, body
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	held := 0
	// hold starts n records pages of br, which stay in progress until
	// ctx ends. It starts them once only the pages held before are in
	// progress (so none is refused), and returns once each has reached
	// the PDS, holding its slots.
	hold := func(br *browser, addr string, n int) {
		t.Helper()
		e.waitRequests(held)
		for range n {
			wg.Go(func() {
				if code, _, body := from(br, ctx, "/records", addr); ctx.Err() == nil {
					t.Errorf("a held page ended: HTTP %d\n%s", code, body)
				}
			})
		}
		for range n {
			select {
			case <-reached:
			case <-time.After(10 * time.Second):
				t.Fatalf("%d held pages did not reach the PDS", n)
			}
		}
		held += n
	}
	defer func() { cancel(); wg.Wait() }()

	// Four pages of one session: a fifth request of that session waits.
	hold(b, "198.51.100.1", 4)
	h, body := want(b, "/session", "198.51.100.1", http.StatusTooManyRequests)
	if h.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	mustContain(t, "429", body, "Too many pages at once")
	mustNotContain(t, "429", body, "goroutine")
	// Static files and health checks still load; another session of the
	// same address too, and the same session from elsewhere does not.
	for _, path := range []string{"/static/app.css", "/healthz"} {
		want(b, path, "198.51.100.1", http.StatusOK)
	}
	other := e.newBrowser()
	other.signIn(e.alice)
	want(other, "/session", "198.51.100.1", http.StatusOK)
	want(b, "/session", "198.51.100.2", http.StatusTooManyRequests)
	// Two more pages of the other session: the address holds six, its
	// limit; a third session from it waits, one from elsewhere does not.
	hold(other, "198.51.100.1", 2)
	third := e.newBrowser()
	want(third, "/", "198.51.100.1", http.StatusTooManyRequests)
	want(third, "/", "198.51.100.3", http.StatusOK)
	// When the pages end, their slots are free again.
	cancel()
	wg.Wait()
	e.waitRequests(0)
	want(b, "/session", "198.51.100.1", http.StatusOK)
	want(third, "/", "198.51.100.1", http.StatusOK)
}

// A cross-site navigation to the callback with a state of its own (or
// none) must not cancel the sign-in in progress: only the callback of
// that sign-in consumes its state cookie.
func TestForeignCallbackKeepsPendingSignIn(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	lp := b.post("/login", url.Values{"identifier": {"alice.test"}})
	if lp.StatusCode != http.StatusSeeOther || setCookie(lp, "atoauth_state") == nil {
		t.Fatalf("login: HTTP %d", lp.StatusCode)
	}
	redirect, err := e.net.Approve(context.Background(), lp.Header.Get("Location"), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []url.Values{
		{"state": {"bogus"}, "code": {"x"}, "iss": {e.net.Issuer()}},
		{"code": {"x"}, "iss": {e.net.Issuer()}},
		{"state": {""}, "error": {"access_denied"}},
		{"state": {"bogus"}, "error": {"access_denied"}},
	} {
		// A top-level cross-site navigation: the SameSite=Lax state
		// cookie goes along.
		req, _ := http.NewRequest("GET", e.srv.URL+redirect.Path+"?"+q.Encode(), nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		p := b.do(req)
		if p.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: HTTP %d", q, p.StatusCode)
		}
		mustContain(t, "foreign callback", p.body, "Sign-in link expired")
		if c := setCookie(p, "atoauth_state"); c != nil {
			t.Errorf("%v: the state cookie was touched: %+v", q, c)
		}
	}
	if e.net.Counters().CodeExchanges != 0 {
		t.Fatal("a code was exchanged")
	}
	// The real callback still completes the sign-in.
	p := b.get(redirect.Path + "?" + redirect.RawQuery)
	if p.StatusCode != http.StatusSeeOther || e.sessionID(b) == "" {
		t.Fatalf("the real callback: HTTP %d\n%s", p.StatusCode, p.body)
	}
	if c := setCookie(p, "atoauth_state"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the real callback did not consume the state cookie: %+v", c)
	}
}
