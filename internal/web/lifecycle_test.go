package web_test

// The session lifecycle in the web app (issue 14): why a session ended
// (the client's events), returning to the page a signed-out visitor
// opened (app state), asking for a missing permission without losing
// what was typed (step-up), and several accounts in one browser.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

const (
	// lifecycleScope is the scope of an app that posts with images and
	// edits profiles; postScope, what its sign-in asks for.
	lifecycleScope = "atproto repo:app.bsky.feed.post?action=create blob:image/* repo:app.bsky.actor.profile?action=create&action=update"
	postScope      = "atproto repo:app.bsky.feed.post?action=create blob:image/*"
)

// authorize completes a login that p (the app's 303 to the
// authorization server) started: the fake server approves as who, and
// the browser follows the redirect to the app's callback.
func (b *browser) authorize(p page, who syntax.DID, opts ...atoauthtest.ApproveOption) page {
	b.t.Helper()
	loc := p.Header.Get("Location")
	if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, b.net.Issuer()) {
		b.t.Fatalf("not a redirect to the authorization server: HTTP %d %s\n%s", p.StatusCode, loc, p.body)
	}
	redirect, err := b.net.Approve(context.Background(), loc, who, opts...)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.get(redirect.Path + "?" + redirect.RawQuery)
}

// setCookie puts a cookie in b's jar, as a browser that was tampered
// with (or a test) would have it.
func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.base)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

func (e *env) scopeOf(id string) string {
	e.t.Helper()
	d, err := e.store.GetSession(context.Background(), id)
	if err != nil {
		e.t.Fatalf("session %s: %v", id, err)
	}
	return d.Scope
}

func TestSignInReturnsToThePage(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	p := b.get("/records/app.bsky.feed.post?cursor=3abc")
	want := "/?next=" + url.QueryEscape("/records/app.bsky.feed.post?cursor=3abc")
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != want {
		t.Fatalf("signed out: HTTP %d %s, want %s", p.StatusCode, p.Header.Get("Location"), want)
	}
	signIn := b.get(want)
	mustContain(t, "sign-in page", signIn.body, `<input type="hidden" name="next" value="/records/app.bsky.feed.post?cursor=3abc">`, `name="identifier"`)

	// The browser's languages go to the server's pages.
	login := b.send("POST", "/login", url.Values{"identifier": {"alice.test"}, "next": {"/records/app.bsky.feed.post?cursor=3abc"}},
		map[string]string{"Sec-Fetch-Site": "same-origin", "Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5,*;q=0.1"})
	par, ok := e.net.LastPushedRequest()
	if !ok || par.Params.Get("ui_locales") != "fr-CA fr en" {
		t.Errorf("ui_locales %q, want the Accept-Language's", par.Params.Get("ui_locales"))
	}
	for k, vs := range par.Params {
		if strings.Contains(strings.Join(vs, " "), "records") {
			t.Errorf("the return path was sent to the server in %s", k)
		}
	}
	cb := b.authorize(login, e.alice)
	if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/records/app.bsky.feed.post?cursor=3abc" {
		t.Fatalf("callback: HTTP %d %s", cb.StatusCode, cb.Header.Get("Location"))
	}

	// A declined sign-in's way back keeps the path.
	other := e.newBrowser()
	login = other.post("/login", url.Values{"identifier": {"alice.test"}, "next": {"/profile"}})
	p = other.authorize(login, e.alice, atoauthtest.Deny())
	mustContain(t, "declined", p.body, "Sign-in cancelled", `href="/?next=%2Fprofile"`)
}

func TestSignInRefusesOpenRedirects(t *testing.T) {
	e := newEnv(t, &envOptions{web: web.Options{SignInLimit: -1}})
	for _, next := range []string{"//evil.com", "/\\evil.com", "\\\\evil.com", "https://evil.com", "https://evil.com/profile", "http:evil.com",
		"/%2F%2Fevil.com", "/%2f%5cevil.com", "/%2e%2e//evil.com", "/..//evil.com", "javascript:alert(1)", "/\t/evil.com", "/\n/evil.com",
		"/\u2215\u2215evil.com", "evil.com", "/" + strings.Repeat("x", 600)} {
		b := e.newBrowser()
		signIn := b.get("/?next=" + url.QueryEscape(next))
		mustNotContain(t, "sign-in page for "+next, signIn.body, `name="next"`, "evil.com")
		cb := b.authorize(b.post("/login", url.Values{"identifier": {"alice.test"}, "next": {next}}), e.alice)
		if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/" {
			t.Errorf("next %q: callback HTTP %d Location %q, want /", next, cb.StatusCode, cb.Header.Get("Location"))
		}
	}
}

// TestEventsSayWhySignedOut: a session that ends while the browser is
// away — revoked at the server and found so by another request, ended by
// "sign out everywhere" in another browser, its account moved — is
// explained when the browser comes back, from the client's events.
func TestEventsSayWhySignedOut(t *testing.T) {
	ctx := context.Background()
	// refresh makes the app use the session out of band (another page of
	// another browser tab, a background job): the refresh fails and ends
	// it, and the client's event tells the app why.
	refresh := func(e *env, id string) {
		t.Helper()
		s, err := e.client.Session(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Refresh(ctx); !errors.Is(err, atoauth.ErrSessionExpired) {
			t.Fatalf("refresh: %v, want the session ended", err)
		}
	}
	for _, tc := range []struct {
		name   string
		end    func(e *env, b *browser)
		notice string
		says   string
	}{
		{"revoked", func(e *env, b *browser) { e.net.RevokeAll(e.alice); refresh(e, e.sessionID(b)) },
			"session-revoked", "You were signed out because your server revoked this sign-in"},
		{"moved", func(e *env, b *browser) {
			e.net.UpdateTamper(func(tm *atoauthtest.Tamper) {
				tm.ResourceMetadata = func(m map[string]any) { m["authorization_servers"] = []any{"https://elsewhere.example.com"} }
			})
			refresh(e, e.sessionID(b))
		}, "session-moved", "You were signed out because your account moved to another server"},
		{"signed out elsewhere", func(e *env, b *browser) {
			phone := e.newBrowser()
			phone.signIn(e.alice)
			if p := phone.post("/logout/all", nil); p.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign out everywhere: HTTP %d", p.StatusCode)
			}
		}, "session-signed-out", "You were signed out because you signed out in another window or browser"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			b := e.browser
			b.signIn(e.alice)
			tc.end(e, b)
			p := b.get("/profile")
			if want := "/?next=%2Fprofile&notice=" + tc.notice; p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != want {
				t.Fatalf("/profile: HTTP %d %s, want %s", p.StatusCode, p.Header.Get("Location"), want)
			}
			// The cookie went with that answer; a browser that kept it sees
			// the explanation on the start page too.
			b2 := e.newBrowser()
			b2.setCookie("atoauth_session", setCookieOrJar(b, p))
			mustContain(t, "start page", b2.get("/").body, tc.says, `name="identifier"`)
			mustContain(t, "start page after the redirect", b.get(p.Header.Get("Location")).body, tc.says, `name="next" value="/profile"`)
		})
	}

	// Without the client's events the app knows no cause: the generic
	// notice.
	e := newEnv(t, &envOptions{noEvents: true})
	b := e.browser
	b.signIn(e.alice)
	id := e.sessionID(b)
	e.net.RevokeAll(e.alice)
	refresh(e, id)
	mustContain(t, "without events", b.get("/").body, "Your session has ended. Please sign in again.")
}

// setCookieOrJar is the session id b had before p cleared it.
func setCookieOrJar(b *browser, p page) string {
	if c := setCookie(p, "atoauth_session"); c != nil && c.MaxAge < 0 {
		// Cleared: find the id it named in the request's cookie.
		for _, c := range p.Request.Cookies() {
			if c.Name == "atoauth_session" {
				return c.Value
			}
		}
	}
	b.t.Fatal("the session cookie was not cleared")
	return ""
}

func stepUpEnv(t *testing.T) *env {
	return newEnv(t, &envOptions{scope: lifecycleScope, web: web.Options{SignInScope: postScope}})
}

// TestStepUpKeepsTheProfileDraft: signed in to post only, a person edits
// the profile; the form comes back with what they typed and a box naming
// the permission; "Allow this", consent, and the form is back, filled in,
// and saves — with the same session id.
func TestStepUpKeepsTheProfileDraft(t *testing.T) {
	e := stepUpEnv(t)
	b := e.browser
	b.signIn(e.alice)
	sid := e.sessionID(b)
	if par, _ := e.net.LastPushedRequest(); par.Params.Get("scope") != postScope {
		t.Fatalf("the sign-in asked for %q, want the sign-in scope", par.Params.Get("scope"))
	}
	form := url.Values{"cid": {""}, "displayName": {"Alice <Stepped> Up"}, "description": {"Two lines\r\nof \"text\" & more"}}
	p := b.postMultipart("/profile", form)
	if p.StatusCode != http.StatusForbidden {
		t.Fatalf("profile without the permission: HTTP %d\n%s", p.StatusCode, p.body)
	}
	mustContain(t, "the form again", p.body, "does not have your permission to do that yet",
		`value="Alice &lt;Stepped&gt; Up"`, ">Two lines\nof &#34;text&#34; &amp; more</textarea>",
		"This needs your permission", "Create and change your profile", `formaction="/stepup"`, ">Allow this</button>",
		`name="stepup_scope" value="repo:app.bsky.actor.profile?action=create&amp;action=update"`, `name="stepup_form" value="profile"`)
	if e.record("app.bsky.actor.profile", "self") != nil {
		t.Fatal("a profile was written")
	}

	// "Allow this" sends the form to /stepup.
	up := url.Values{"cid": {""}, "displayName": {"Alice <Stepped> Up"}, "description": {"Two lines\r\nof \"text\" & more"},
		"stepup_scope": {"repo:app.bsky.actor.profile?action=create&action=update"}, "stepup_form": {"profile"}}
	start := b.postMultipart("/stepup", up)
	if start.StatusCode != http.StatusSeeOther {
		t.Fatalf("/stepup: HTTP %d\n%s", start.StatusCode, start.body)
	}
	draft := setCookie(start, "atoauth_draft")
	if draft == nil || !draft.HttpOnly || draft.SameSite != http.SameSiteLaxMode || draft.Path != "/" || draft.MaxAge <= 0 || draft.MaxAge > 600 {
		t.Fatalf("draft cookie %+v", draft)
	}
	if strings.Contains(start.Header.Get("Location"), "Stepped") {
		t.Fatal("the draft is in a URL")
	}
	par, _ := e.net.LastPushedRequest()
	if got := par.Params.Get("scope"); got != lifecycleScope && strings.Join(strings.Fields(got), " ") != postScope+" repo:app.bsky.actor.profile?action=create&action=update" {
		t.Errorf("the step-up asked for %q", got)
	}
	if par.Params.Get("login_hint") != "alice.test" {
		t.Errorf("login_hint %q", par.Params.Get("login_hint"))
	}
	cb := b.authorize(start, e.alice)
	if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/profile?notice=stepup-granted" {
		t.Fatalf("callback: HTTP %d %s\n%s", cb.StatusCode, cb.Header.Get("Location"), cb.body)
	}
	if e.sessionID(b) != sid {
		t.Fatal("the session id changed")
	}
	if list, _ := e.client.Sessions(context.Background(), e.alice); len(list) != 1 || list[0].ID != sid || !strings.Contains(list[0].Scope, "app.bsky.actor.profile") {
		t.Fatalf("sessions after the step-up: %+v", list)
	}

	back := b.get("/profile?notice=stepup-granted")
	mustContain(t, "the form after consent", back.body, "Permission granted: submit again.",
		`value="Alice &lt;Stepped&gt; Up"`, ">Two lines\nof &#34;text&#34; &amp; more</textarea>")
	mustNotContain(t, "the form after consent", back.body, "Allow this")
	if c := setCookie(back, "atoauth_draft"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the draft cookie was not cleared: %+v", c)
	}
	// Read once: a reload shows the record again.
	mustNotContain(t, "reload", b.get("/profile?notice=stepup-granted").body, "Stepped")

	if p := b.postMultipart("/profile", form); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit again: HTTP %d\n%s", p.StatusCode, p.body)
	}
	rec := e.record("app.bsky.actor.profile", "self")
	if rec["displayName"] != "Alice <Stepped> Up" || rec["description"] != "Two lines\nof \"text\" & more" {
		t.Fatalf("profile record %v", rec)
	}
}

// TestStepUpKeepsThePostDraft: the composer keeps its text, language and
// alt texts, and says that images must be chosen again.
func TestStepUpKeepsThePostDraft(t *testing.T) {
	e := newEnv(t, &envOptions{scope: lifecycleScope, web: web.Options{SignInScope: "atproto repo:app.bsky.feed.post?action=create"}})
	b := e.browser
	b.signIn(e.alice)
	v := url.Values{"text": {"a post with a picture"}, "lang": {"de"}, "alt2": {"a <small> square"}}
	p := b.postMultipart("/post", v, file{"image2", "sq.png", pngImage(20, 20)})
	if p.StatusCode != http.StatusForbidden {
		t.Fatalf("post without the blob permission: HTTP %d\n%s", p.StatusCode, p.body)
	}
	mustContain(t, "composer again", p.body, ">a post with a picture</textarea>", `<option value="de" selected>`,
		`name="alt2" value="a &lt;small&gt; square"`, "choose your images again", `<details class="images" open>`,
		"Upload", ">Allow this</button>", `name="had_images" value="1"`, `name="stepup_form" value="post"`)

	// /stepup gets the form again, without the images (the page lost them).
	v.Set("stepup_scope", "blob:image/png")
	v.Set("stepup_form", "post")
	v.Set("had_images", "1")
	start := b.postMultipart("/stepup", v)
	if par, _ := e.net.LastPushedRequest(); !strings.Contains(par.Params.Get("scope"), "blob:image/*") {
		t.Errorf("the step-up asked for %q, want the declared blob:image/*", par.Params.Get("scope"))
	}
	cb := b.authorize(start, e.alice)
	if cb.Header.Get("Location") != "/?notice=stepup-granted" {
		t.Fatalf("callback: HTTP %d %s", cb.StatusCode, cb.Header.Get("Location"))
	}
	home := b.get("/?notice=stepup-granted")
	mustContain(t, "home after consent", home.body, "Permission granted: submit again.", ">a post with a picture</textarea>",
		`<option value="de" selected>`, `name="alt2" value="a &lt;small&gt; square"`, "choose your images again")
	if p := b.postMultipart("/post", url.Values{"text": {"a post with a picture"}, "lang": {"de"}, "alt2": {"a <small> square"}},
		file{"image2", "sq.png", pngImage(20, 20)}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("post again: HTTP %d\n%s", p.StatusCode, p.body)
	}
	rec := e.record("app.bsky.feed.post", e.onlyPost())
	if rec["text"] != "a post with a picture" || rec["embed"].(map[string]any)["images"].([]any)[0].(map[string]any)["alt"] != "a <small> square" {
		t.Fatalf("post %v", rec)
	}
}

// TestStepUpForADeletion: a delete button without the permission gets a
// box of its own, and after consent the deletion is one click away.
func TestStepUpForADeletion(t *testing.T) {
	e := newEnv(t, &envOptions{scope: "atproto repo:app.bsky.feed.post?action=create repo:app.bsky.feed.post",
		web: web.Options{SignInScope: "atproto repo:app.bsky.feed.post?action=create"}})
	b := e.browser
	b.signIn(e.alice)
	if p := b.postMultipart("/post", url.Values{"text": {"delete me"}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("post: HTTP %d", p.StatusCode)
	}
	rkey := e.onlyPost()
	p := b.post("/post/delete", url.Values{"rkey": {rkey}})
	if p.StatusCode != http.StatusForbidden {
		t.Fatalf("delete without the permission: HTTP %d\n%s", p.StatusCode, p.body)
	}
	mustContain(t, "home", p.body, "Could not delete the post", "Delete posts.", `action="/stepup"`, `name="rkey" value="`+rkey+`"`,
		`name="stepup_form" value="delete"`, "Your server will ask you to allow: Create, change and delete posts.")
	start := b.post("/stepup", url.Values{"rkey": {rkey}, "stepup_form": {"delete"}, "stepup_scope": {"repo:app.bsky.feed.post?action=delete"}})
	if par, _ := e.net.LastPushedRequest(); !strings.Contains(" "+par.Params.Get("scope")+" ", " repo:app.bsky.feed.post ") {
		t.Errorf("the step-up asked for %q", par.Params.Get("scope"))
	}
	if cb := b.authorize(start, e.alice); cb.Header.Get("Location") != "/?notice=stepup-granted" {
		t.Fatalf("callback: %s", cb.Header.Get("Location"))
	}
	home := b.get("/?notice=stepup-granted")
	mustContain(t, "home after consent", home.body, "Permission granted: submit again.", "You can delete the post now.", `name="rkey" value="`+rkey+`"`)
	if p := b.post("/post/delete", url.Values{"rkey": {rkey}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete again: HTTP %d", p.StatusCode)
	}
	if e.record("app.bsky.feed.post", rkey) != nil {
		t.Fatal("not deleted")
	}
}

// TestStepUpDeclined: the person declines on the server's page; the form
// comes back with the draft, and the session is as it was.
func TestStepUpDeclined(t *testing.T) {
	e := stepUpEnv(t)
	b := e.browser
	b.signIn(e.alice)
	sid := e.sessionID(b)
	before := e.scopeOf(sid)
	start := b.postMultipart("/stepup", url.Values{"cid": {""}, "displayName": {"Declined Alice"}, "description": {"kept"},
		"stepup_scope": {"repo:app.bsky.actor.profile?action=create&action=update"}, "stepup_form": {"profile"}})
	cb := b.authorize(start, e.alice, atoauthtest.Deny())
	if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/profile?notice=stepup-declined" {
		t.Fatalf("declined: HTTP %d %s\n%s", cb.StatusCode, cb.Header.Get("Location"), cb.body)
	}
	back := b.get("/profile?notice=stepup-declined")
	mustContain(t, "the form", back.body, "You declined the permission, so nothing was changed.", `value="Declined Alice"`, ">kept</textarea>")
	if e.sessionID(b) != sid || e.scopeOf(sid) != before {
		t.Fatal("a declined step-up changed the session")
	}
	// The old session works as before.
	if p := b.postMultipart("/post", url.Values{"text": {"still here"}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("post after a declined step-up: HTTP %d", p.StatusCode)
	}
}

// TestStepUpForAnotherSessionIsRefused: a step-up's callback completes
// only for the browser's current session, the one it was started for.
func TestStepUpForAnotherSessionIsRefused(t *testing.T) {
	e := stepUpEnv(t)
	bob := e.net.CreateAccount("bob.test")
	b := e.browser
	b.signIn(bob)
	bobID := e.sessionID(b)
	b.signIn(e.alice) // another account: alice is current
	aliceID := e.sessionID(b)
	up := url.Values{"cid": {""}, "displayName": {"x"}, "stepup_scope": {"repo:app.bsky.actor.profile?action=create&action=update"}, "stepup_form": {"profile"}}

	// Switched to bob before coming back.
	start := b.postMultipart("/stepup", up)
	if p := b.post("/switch", url.Values{"did": {bob.String()}}); p.StatusCode != http.StatusSeeOther || e.sessionID(b) != bobID {
		t.Fatalf("switch: HTTP %d", p.StatusCode)
	}
	cb := b.authorize(start, e.alice)
	if cb.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback for a session that is not current: HTTP %d %s", cb.StatusCode, cb.Header.Get("Location"))
	}
	mustContain(t, "refusal", cb.body, "Permission request not completed", "no longer the one in use")

	// A browser told that bob's session is the one to replace: the login
	// is alice's, its app state names alice's session; refused too.
	b.post("/switch", url.Values{"did": {e.alice.String()}})
	start = b.postMultipart("/stepup", up)
	b.setCookie("atoauth_session", bobID)
	b.setCookie("atoauth_stepup", bobID)
	cb = b.authorize(start, e.alice)
	if cb.StatusCode != http.StatusBadRequest || !strings.Contains(cb.body, "Permission request not completed") {
		t.Fatalf("tampered step-up: HTTP %d %s", cb.StatusCode, cb.Header.Get("Location"))
	}
	if strings.Contains(e.scopeOf(aliceID), "profile") || strings.Contains(e.scopeOf(bobID), "profile") {
		t.Fatal("a refused step-up widened a session")
	}
	if list, _ := e.client.Sessions(context.Background(), e.alice); len(list) != 1 || list[0].ID != aliceID {
		t.Fatalf("alice's sessions: %+v", list)
	}
	if list, _ := e.client.Sessions(context.Background(), bob); len(list) != 1 || list[0].ID != bobID {
		t.Fatalf("bob's sessions: %+v", list)
	}
}

// TestStepUpRefusesUndeclared: the app asks only for what its client
// metadata declares.
func TestStepUpRefusesUndeclared(t *testing.T) {
	e := newEnv(t, &envOptions{scope: postScope})
	b := e.browser
	b.signIn(e.alice)
	p := b.postMultipart("/profile", url.Values{"cid": {""}, "displayName": {"Alice"}})
	if p.StatusCode != http.StatusForbidden {
		t.Fatalf("HTTP %d", p.StatusCode)
	}
	mustContain(t, "profile", p.body, "not configured to ask for it", "Create and change your profile", `value="Alice"`)
	mustNotContain(t, "profile", p.body, "Allow this")
	pars := len(e.net.PushedRequests())
	p = b.postMultipart("/stepup", url.Values{"cid": {""}, "displayName": {"Alice"}, "stepup_form": {"profile"},
		"stepup_scope": {"repo:app.bsky.actor.profile?action=create&action=update"}})
	if p.StatusCode != http.StatusForbidden {
		t.Fatalf("/stepup for an undeclared permission: HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	mustContain(t, "refusal", p.body, "This app is not configured to ask for this permission", "profile", `value="Alice"`)
	for _, bad := range []url.Values{
		{"stepup_form": {"profile"}, "stepup_scope": {"not a scope!"}},
		{"stepup_form": {"profile"}, "stepup_scope": {""}},
		{"stepup_form": {"other"}, "stepup_scope": {"repo:app.bsky.feed.post?action=create"}},
	} {
		if p := b.postMultipart("/stepup", bad); p.StatusCode != http.StatusBadRequest {
			t.Errorf("/stepup %v: HTTP %d", bad, p.StatusCode)
		}
	}
	if len(e.net.PushedRequests()) != pars || setCookie(p, "atoauth_state") != nil {
		t.Fatal("a refused step-up started a login")
	}
	// Without the form token: refused before anything.
	if p := b.postMultipart("/stepup", url.Values{"csrf": {"wrong"}, "stepup_form": {"profile"}, "stepup_scope": {"atproto"}}); p.StatusCode != http.StatusForbidden {
		t.Errorf("/stepup without the form token: HTTP %d", p.StatusCode)
	}
}

// TestStepUpDraftSize: drafts up to 4 KiB of JSON are kept, in at most
// two cookies; a larger one is refused, clearly, before anything starts.
func TestStepUpDraftSize(t *testing.T) {
	e := stepUpEnv(t)
	b := e.browser
	b.signIn(e.alice)
	up := func(desc string) page {
		return b.postMultipart("/stepup", url.Values{"cid": {""}, "displayName": {"Alice"}, "description": {desc},
			"stepup_scope": {"repo:app.bsky.actor.profile?action=create&action=update"}, "stepup_form": {"profile"}})
	}
	pars := len(e.net.PushedRequests())
	p := up(strings.Repeat("too long ", 500))
	if p.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 4.5 KB draft: HTTP %d", p.StatusCode)
	}
	mustContain(t, "refusal", p.body, "too long to keep", "at most 4 KB", "too long too long", "Allow this")
	if len(e.net.PushedRequests()) != pars || setCookie(p, "atoauth_draft") != nil {
		t.Fatal("a refused draft started a login or was stored")
	}

	long := strings.Repeat("ß", 1700) // 3400 bytes
	p = up(long)
	c1, c2 := setCookie(p, "atoauth_draft"), setCookie(p, "atoauth_draft2")
	if p.StatusCode != http.StatusSeeOther || c1 == nil || c2 == nil || c2.MaxAge <= 0 {
		t.Fatalf("a 3.4 KB draft: HTTP %d, cookies %v %v", p.StatusCode, c1, c2)
	}
	for _, c := range []*http.Cookie{c1, c2} {
		if len(c.Name)+len(c.Value) > 4000 || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("draft cookie %s: %d bytes, %+v", c.Name, len(c.Value), c)
		}
	}
	b.authorize(p, e.alice)
	back := b.get("/profile?notice=stepup-granted")
	mustContain(t, "restored", back.body, ">"+long+"</textarea>")
	if c := setCookie(back, "atoauth_draft2"); c == nil || c.MaxAge >= 0 {
		t.Error("the second draft cookie was not cleared")
	}
}

// TestSeveralAccounts: two accounts in one browser, switched from the
// header; each signs out alone; then all at once.
func TestSeveralAccounts(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.net.CreateAccount("bob.test")
	b := e.browser
	b.signIn(e.alice)
	aliceID := e.sessionID(b)
	home := b.get("/")
	mustContain(t, "one account", home.body, `href="/accounts/add"`, "Add another account")
	mustNotContain(t, "one account", home.body, `action="/switch"`, "Sign out of all accounts")

	add := b.get("/accounts/add")
	mustContain(t, "add page", add.body, "Add another account", `name="identifier"`, "@alice.test")
	cb := b.signIn(bob)
	if cb.StatusCode != http.StatusSeeOther {
		t.Fatalf("second sign-in: HTTP %d", cb.StatusCode)
	}
	bobID := e.sessionID(b)
	if bobID == aliceID || b.cookieValue("atoauth_accounts") != aliceID {
		t.Fatalf("cookies: session %q, accounts %q", bobID, b.cookieValue("atoauth_accounts"))
	}
	accounts := setCookie(cb, "atoauth_accounts")
	if accounts == nil || !accounts.HttpOnly || accounts.SameSite != http.SameSiteLaxMode || accounts.Path != "/" || accounts.MaxAge < 24*3600 {
		t.Fatalf("accounts cookie %+v", accounts)
	}
	if e.net.ActiveSessions(e.alice) != 1 || e.net.ActiveSessions(bob) != 1 {
		t.Fatal("adding an account signed the other out")
	}
	home = b.get("/")
	mustContain(t, "bob's home", home.body, `<span class="who" title="`+bob.String()+`">@bob.test</span>`, `action="/switch"`,
		`name="did" value="`+e.alice.String()+`"`, ">@alice.test</button>", "Sign out of all accounts")
	for _, id := range []string{aliceID, bobID} {
		mustNotContain(t, "bob's home", home.body, id, id[:20])
	}

	// A post while bob is current is bob's.
	if p := b.postMultipart("/post", url.Values{"text": {"from bob"}}); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("bob's post: HTTP %d", p.StatusCode)
	}
	if _, ok := e.net.Record(bob, "app.bsky.feed.post", ""); ok {
		t.Log("listing by empty rkey")
	}
	if n := len(listPosts(t, e, bob)); n != 1 || len(listPosts(t, e, e.alice)) != 0 {
		t.Fatalf("bob has %d posts, alice %d", n, len(listPosts(t, e, e.alice)))
	}

	// Switching: only to an account of this browser, with bob's token.
	for name, v := range map[string]url.Values{
		"unknown DID":    {"did": {"did:plc:notinthisbrowser"}},
		"session id":     {"did": {aliceID}},
		"no DID":         {},
		"own DID":        {"did": {bob.String()}},
		"another person": {"did": {e.net.CreateAccount("carol.test").String()}},
	} {
		if p := b.post("/switch", v); p.StatusCode != http.StatusBadRequest || e.sessionID(b) != bobID {
			t.Errorf("switch with %s: HTTP %d, current %q", name, p.StatusCode, e.sessionID(b))
		}
	}
	if p := b.post("/switch", url.Values{"did": {e.alice.String()}, "csrf": {"wrong"}}); p.StatusCode != http.StatusForbidden || e.sessionID(b) != bobID {
		t.Errorf("switch without bob's form token: HTTP %d", p.StatusCode)
	}
	if p := b.send("POST", "/switch", url.Values{"did": {e.alice.String()}, "csrf": {b.csrf()}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); p.StatusCode != http.StatusForbidden || e.sessionID(b) != bobID {
		t.Errorf("cross-site switch: HTTP %d", p.StatusCode)
	}
	p := b.post("/switch", url.Values{"did": {e.alice.String()}})
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/?notice=switched" || e.sessionID(b) != aliceID || b.cookieValue("atoauth_accounts") != bobID {
		t.Fatalf("switch to alice: HTTP %d %s, session %q accounts %q", p.StatusCode, p.Header.Get("Location"), e.sessionID(b), b.cookieValue("atoauth_accounts"))
	}
	mustContain(t, "alice's home", b.get("/?notice=switched").body, "Switched account.", `title="`+e.alice.String()+`">@alice.test</span>`, ">@bob.test</button>")

	// Signing alice in again replaces her older session in the list.
	b.get("/accounts/add")
	b.signIn(e.alice)
	newAlice := e.sessionID(b)
	if newAlice == aliceID || b.cookieValue("atoauth_accounts") != bobID {
		t.Fatalf("alice again: session %q, accounts %q", newAlice, b.cookieValue("atoauth_accounts"))
	}
	if _, err := e.client.Session(context.Background(), aliceID); !errors.Is(err, atoauth.ErrSessionNotFound) || e.net.ActiveSessions(e.alice) != 1 {
		t.Fatalf("alice's older session: %v, %d at the server", err, e.net.ActiveSessions(e.alice))
	}

	// Sign out: this account only; bob becomes current, still signed in.
	p = b.post("/logout", nil)
	if p.Header.Get("Location") != "/?notice=signed-out-switched" || e.sessionID(b) != bobID || b.cookieValue("atoauth_accounts") != "" {
		t.Fatalf("sign out alice: %s, session %q accounts %q", p.Header.Get("Location"), e.sessionID(b), b.cookieValue("atoauth_accounts"))
	}
	if e.net.ActiveSessions(e.alice) != 0 || e.net.ActiveSessions(bob) != 1 {
		t.Fatal("sign out did not sign out alice alone")
	}
	mustContain(t, "bob again", b.get("/?notice=signed-out-switched").body, "Signed out of that account", "@bob.test")

	// Sign out of all accounts.
	b.signIn(e.alice)
	p = b.post("/logout/accounts", nil)
	if p.Header.Get("Location") != "/?notice=signed-out-accounts" || e.sessionID(b) != "" || b.cookieValue("atoauth_accounts") != "" {
		t.Fatalf("sign out of all: %s", p.Header.Get("Location"))
	}
	if e.net.ActiveSessions(e.alice) != 0 || e.net.ActiveSessions(bob) != 0 {
		t.Fatal("sessions left at the server")
	}
	mustContain(t, "signed out", b.get("/?notice=signed-out-accounts").body, "Signed out of every account in this browser.", `name="identifier"`)
}

// TestSignOutEverywhereKeepsOtherAccounts: "sign out everywhere" is the
// current account's; the browser's other account stays.
func TestSignOutEverywhereKeepsOtherAccounts(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.net.CreateAccount("bob.test")
	b, phone := e.browser, e.newBrowser()
	b.signIn(bob)
	b.signIn(e.alice)
	phone.signIn(e.alice)
	if p := b.post("/logout/all", nil); p.Header.Get("Location") != "/?notice=signed-out-all" {
		t.Fatalf("sign out everywhere: %s", p.Header.Get("Location"))
	}
	if e.net.ActiveSessions(e.alice) != 0 || e.net.ActiveSessions(bob) != 1 {
		t.Fatal("not alice's sessions alone")
	}
	mustContain(t, "bob's home", b.get("/").body, "@bob.test")
	mustContain(t, "the phone", phone.get("/").body, "you signed out in another window or browser")
}

// TestAccountListDropsGoneSessions: accounts whose sessions ended while
// the browser was away leave its list, with the reason when known.
func TestAccountListDropsGoneSessions(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.net.CreateAccount("bob.test")
	b := e.browser
	b.signIn(e.alice)
	aliceID := e.sessionID(b)
	b.signIn(bob)
	bobID := e.sessionID(b)

	// Alice's session is revoked and found so elsewhere: the list drops
	// her, and says why.
	e.net.RevokeAll(e.alice)
	s, _ := e.client.Session(context.Background(), aliceID)
	s.Refresh(context.Background())
	home := b.get("/")
	mustContain(t, "home", home.body, "You were signed out because your server revoked this sign-in", "@bob.test")
	mustNotContain(t, "home", home.body, "@alice.test", `action="/switch"`)
	if c := setCookie(home, "atoauth_accounts"); c == nil || c.MaxAge >= 0 || e.sessionID(b) != bobID {
		t.Fatalf("accounts cookie %+v", c)
	}

	// The current session gone: the next account becomes current.
	b.signIn(e.alice)
	newAlice := e.sessionID(b)
	if err := e.client.Logout(context.Background(), newAlice); err != nil {
		t.Fatal(err)
	}
	p := b.get("/session")
	if p.StatusCode != http.StatusOK || e.sessionID(b) != bobID || b.cookieValue("atoauth_accounts") != "" {
		t.Fatalf("/session with the current account gone: HTTP %d, session %q", p.StatusCode, e.sessionID(b))
	}
	mustContain(t, "bob's session page", p.body, "you signed out in another window or browser", "@bob.test", bob.String())
	// A form of the gone account does not act as bob.
	b.signIn(e.alice)
	token := b.csrf()
	e.client.Logout(context.Background(), e.sessionID(b))
	if p := b.post("/post", url.Values{"text": {"as whom?"}, "csrf": {token}}); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/?notice=") {
		t.Fatalf("a form of the gone account: HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	if len(listPosts(t, e, bob)) != 0 {
		t.Fatal("the form was sent as the next account")
	}

	// Malformed entries in the cookie are ignored.
	b.setCookie("atoauth_accounts", "not an id.."+bobID+".x<y>")
	if p := b.get("/"); p.StatusCode != http.StatusOK || !strings.Contains(p.body, "@bob.test") {
		t.Fatalf("home with a malformed accounts cookie: HTTP %d", p.StatusCode)
	}
}

// TestAccountLimit: at most five accounts in one browser.
func TestAccountLimit(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)
	for _, h := range []string{"b.test", "c.test", "d.test", "e.test"} {
		b.signIn(e.net.CreateAccount(h))
	}
	if n := len(strings.Split(b.cookieValue("atoauth_accounts"), ".")); n != 4 {
		t.Fatalf("%d other accounts", n)
	}
	home := b.get("/")
	mustNotContain(t, "home", home.body, `href="/accounts/add"`)
	if p := b.get("/accounts/add"); p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "signed in to 5 accounts") {
		t.Errorf("add page: HTTP %d", p.StatusCode)
	}
	sixth := e.net.CreateAccount("f.test")
	p := b.post("/login", url.Values{"identifier": {"f.test"}})
	if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.body, "signed in to 5 accounts") {
		t.Errorf("sixth sign-in: HTTP %d", p.StatusCode)
	}
	if e.net.ActiveSessions(sixth) != 0 {
		t.Fatal("a sixth account signed in")
	}
}

// listPosts lists the posts of did's repo.
func listPosts(t *testing.T, e *env, did syntax.DID) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.net.PDS.URL+"/xrpc/com.atproto.repo.listRecords?"+url.Values{"repo": {did.String()}, "collection": {"app.bsky.feed.post"}}.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Records []struct{ URI string }
	}
	json.NewDecoder(resp.Body).Decode(&out)
	var uris []string
	for _, r := range out.Records {
		uris = append(uris, r.URI)
	}
	return uris
}
