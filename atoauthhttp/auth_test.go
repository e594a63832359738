package atoauthhttp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// TestSignInUseSignOut is the main path: a signed-out visitor of a
// protected page is sent to the sign-in page, which returns there; the
// page sees the session and posts with the CSRF token; sign-out revokes
// the session, so the old cookie no longer works.
func TestSignInUseSignOut(t *testing.T) {
	e := newEnv(t, nil)
	b := e.newBrowser()
	if p := b.get("/"); p.body != "signed out" {
		t.Fatalf("home: %q", p.body)
	}
	p := b.get("/notes?x=1")
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/auth/signin?next=%2Fnotes%3Fx%3D1" {
		t.Fatalf("signed out: HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	form := b.get(p.Header.Get("Location"))
	mustContain(t, "sign-in page", form.body, `<form method="post" action="/auth/signin">`, `name="next" value="/notes?x=1"`, `name="identifier"`)
	if form.Header.Get("Cache-Control") != "no-store" || !strings.Contains(form.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("sign-in page headers: %v", form.Header)
	}

	start := b.startSignIn(e.alice, "/notes?x=1")
	state := setCookie(start, "atoauth_state")
	if state == nil || !state.HttpOnly || state.SameSite != http.SameSiteLaxMode || state.Secure || state.Path != "/" || state.MaxAge <= 0 || state.MaxAge > 600 {
		t.Fatalf("state cookie: %+v", state)
	}
	if strings.Contains(start.Header.Get("Location"), state.Value) {
		t.Error("the state travels in the authorization URL (PAR keeps it server-side)")
	}
	par, _ := e.net.LastPushedRequest()
	if strings.Contains(par.Params.Encode(), "notes") {
		t.Error("the return path was sent to the server")
	}
	cb := b.authorize(start, e.alice)
	if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/notes?x=1" {
		t.Fatalf("callback: HTTP %d %s\n%s", cb.StatusCode, cb.Header.Get("Location"), cb.body)
	}
	sess := setCookie(cb, "atoauth_session")
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || sess.Path != "/" || sess.MaxAge < 13*24*3600 {
		t.Fatalf("session cookie: %+v", sess)
	}
	if c := setCookie(cb, "atoauth_state"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the state cookie was not cleared: %+v", c)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(sess.Value) || sess.Value == state.Value {
		t.Errorf("session cookie value %q", sess.Value)
	}
	if ev := e.lastEvent(); ev.Kind != atoauthhttp.EventSignedIn || ev.Session == nil || ev.Account.DID != e.alice || ev.Redirect != "/notes?x=1" {
		t.Errorf("event %+v", ev)
	}
	if p := b.get("/"); p.body != "signed in as "+e.alice.String() {
		t.Fatalf("home: %q", p.body)
	}
	notes := b.get("/notes")
	mustContain(t, "notes", notes.body, e.alice.String(), `<input type="hidden" name="csrf" value="`)
	mustNotContain(t, "notes", notes.body, sess.Value)

	// A form post with the field, and fetch with the header.
	if p := b.post("/notes", nil); p.StatusCode != http.StatusOK || p.body != "noted by "+e.alice.String() {
		t.Fatalf("form post: HTTP %d %q", p.StatusCode, p.body)
	}
	if p := b.send("POST", "/notes", nil, map[string]string{"X-CSRF-Token": b.csrf(), "Sec-Fetch-Site": "same-origin"}); p.StatusCode != http.StatusOK {
		t.Fatalf("fetch post: HTTP %d %q", p.StatusCode, p.body)
	}

	tokens, err := e.store.GetSession(context.Background(), sess.Value)
	if err != nil {
		t.Fatal(err)
	}
	out := b.post("/auth/signout", nil)
	if out.StatusCode != http.StatusSeeOther || out.Header.Get("Location") != "/" {
		t.Fatalf("sign-out: HTTP %d %s", out.StatusCode, out.Header.Get("Location"))
	}
	if c := setCookie(out, "atoauth_session"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the session cookie was not cleared: %+v", c)
	}
	if ev := e.lastEvent(); ev.Kind != atoauthhttp.EventSignedOut || ev.Account.DID != e.alice || ev.Remaining != 0 || ev.Err != nil {
		t.Errorf("event %+v", ev)
	}
	if e.net.ActiveSessions(e.alice) != 0 || e.net.RefreshTokenValid(tokens.RefreshToken) || e.net.AccessTokenValid(tokens.AccessToken) {
		t.Fatal("sign-out did not revoke the session")
	}
	// The old cookie, replayed, is worth nothing.
	thief := e.newBrowser()
	thief.setCookie("atoauth_session", sess.Value)
	if p := thief.get("/notes"); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("notes with the old cookie: HTTP %d", p.StatusCode)
	}
	// Signing out without a session only clears the cookies.
	if p := b.post("/auth/signout", url.Values{"csrf": {""}}); p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/" {
		t.Errorf("sign-out signed out: HTTP %d", p.StatusCode)
	}
}

// TestSignInByGET: a link can start a sign-in (?identifier=…&next=…).
func TestSignInByGET(t *testing.T) {
	e := newEnv(t, nil)
	b := e.newBrowser()
	p := b.get("/auth/signin?" + url.Values{"identifier": {"@alice.test "}, "next": {"/notes"}}.Encode())
	if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), e.net.Issuer()) {
		t.Fatalf("HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	if cb := b.authorize(p, e.alice); cb.Header.Get("Location") != "/notes" {
		t.Fatalf("callback: %s", cb.Header.Get("Location"))
	}
	// Sign-in errors name the problem in plain words.
	for _, tc := range []struct {
		input string
		code  atoauthhttp.ErrorCode
		says  string
	}{
		{"", atoauthhttp.CodeInvalidIdentifier, "Enter your handle"},
		{"nobody.test", atoauthhttp.CodeInvalidIdentifier, "No account has the handle “nobody.test”"},
		{"not a handle!", atoauthhttp.CodeInvalidIdentifier, "is not a handle"},
		{"<script>x</script>", atoauthhttp.CodeInvalidIdentifier, "&lt;script&gt;"},
	} {
		p := b.get("/auth/signin?" + url.Values{"identifier": {tc.input}, "next": {"/notes"}}.Encode())
		wantError(t, tc.input, p, tc.code, http.StatusBadRequest)
		mustContain(t, tc.input, p.body, tc.says, `href="/notes"`)
		mustNotContain(t, tc.input, p.body, "<script>", "discovery:", "atoauth:")
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	b := e.newBrowser()
	b.signIn(e.alice)
	token := b.csrf()
	other := e.newBrowser()
	other.signIn(e.alice)
	otherToken := other.csrf()
	if token == "" || otherToken == "" || token == otherToken {
		t.Fatalf("tokens %q %q", token, otherToken)
	}
	same := map[string]string{"Sec-Fetch-Site": "same-origin"}
	for _, path := range []string{"/notes", "/auth/signout", "/auth/signout/everywhere", "/auth/signout/accounts", "/auth/switch", "/auth/stepup"} {
		for name, v := range map[string]url.Values{
			"no token":               {"did": {e.alice.String()}},
			"empty token":            {"csrf": {""}},
			"wrong token":            {"csrf": {"wrong"}},
			"longer token":           {"csrf": {token + "x"}},
			"another session's":      {"csrf": {otherToken}},
			"another session's (2x)": {"csrf": {otherToken, token}},
		} {
			p := b.send("POST", path, v, same)
			wantError(t, path+" "+name, p, atoauthhttp.CodeCSRF, http.StatusForbidden)
		}
		// The header, wrong, is not saved by a right field.
		p := b.send("POST", path, url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "same-origin", "X-CSRF-Token": otherToken})
		wantError(t, path+" with a wrong header", p, atoauthhttp.CodeCSRF, http.StatusForbidden)
	}
	if e.net.ActiveSessions(e.alice) != 2 || b.sessionID() == "" {
		t.Fatal("a refused sign-out signed out")
	}
	// JSON for fetch.
	p := b.send("POST", "/notes", nil, map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "empty", "X-CSRF-Token": "nope"})
	var out map[string]string
	if err := json.Unmarshal([]byte(p.body), &out); err != nil || out["error"] != "csrf" || out["message"] == "" || p.Header.Get("Content-Type") != "application/json" {
		t.Errorf("JSON error: HTTP %d %q %v", p.StatusCode, p.body, err)
	}
	// A multipart form carries the token too.
	body := "--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + token + "\r\n--B--\r\n"
	req, _ := http.NewRequest("POST", e.srv.URL+"/notes", strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if p := b.do(req); p.StatusCode != http.StatusOK {
		t.Errorf("multipart form: HTTP %d %s", p.StatusCode, p.body)
	}
}

func TestCrossOrigin(t *testing.T) {
	e := newEnv(t, nil)
	b := e.newBrowser()
	b.signIn(e.alice)
	token := b.csrf()
	sessions := e.net.ActiveSessions(e.alice)
	pars := len(e.net.PushedRequests())
	for _, path := range []string{"/notes", "/auth/signin", "/auth/signout", "/auth/signout/everywhere", "/auth/signout/accounts", "/auth/switch", "/auth/stepup"} {
		v := url.Values{"csrf": {token}, "identifier": {"alice.test"}, "did": {e.alice.String()}, "scope": {"atproto"}}
		for name, hdr := range map[string]map[string]string{
			"Sec-Fetch-Site: cross-site": {"Sec-Fetch-Site": "cross-site"},
			"Sec-Fetch-Site: same-site":  {"Sec-Fetch-Site": "same-site"},
			"a foreign Origin":           {"Origin": "https://evil.example"},
		} {
			p := b.send("POST", path, v, hdr)
			wantError(t, path+" "+name, p, atoauthhttp.CodeCrossOrigin, http.StatusForbidden)
			mustContain(t, path, p.body, "Request refused")
		}
	}
	if e.net.ActiveSessions(e.alice) != sessions || len(e.net.PushedRequests()) != pars {
		t.Fatal("a cross-origin request acted")
	}
	// The handlers that act are POST only, whatever router mounts them.
	for _, h := range []http.HandlerFunc{e.auth.SignOut, e.auth.SignOutEverywhere, e.auth.SignOutAccounts, e.auth.Switch} {
		req := httptest.NewRequest("GET", "/?csrf="+token+"&did="+e.alice.String(), nil)
		req.AddCookie(&http.Cookie{Name: "atoauth_session", Value: b.sessionID()})
		rec := httptest.NewRecorder()
		h(rec, req)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET: HTTP %d", rec.Code)
		}
	}
	if e.net.ActiveSessions(e.alice) != sessions {
		t.Fatal("a GET signed out")
	}
}

// A proxy may rewrite Host: the public origin is trusted.
func TestPublicOriginIsTrusted(t *testing.T) {
	e := newEnv(t, &envOptions{auth: atoauthhttp.Options{PublicURL: "http://app.example"}})
	b := e.newBrowser()
	b.host = "app.example"
	sid := setCookie(b.signIn(e.alice), "atoauth_session").Value
	csrf := csrfRE.FindStringSubmatch(b.get("/notes").body)[1]
	// Behind a proxy that rewrites Host.
	req, _ := http.NewRequest("POST", e.srv.URL+"/notes", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Host = "10.0.0.5:8080"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://app.example")
	req.AddCookie(&http.Cookie{Name: "atoauth_session", Value: sid})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("from the public origin: HTTP %d", resp.StatusCode)
	}
	b.host = "10.0.0.5:8080"
	// GETs for another host go to the canonical one.
	if p := b.get("/notes?a=b"); p.StatusCode != http.StatusTemporaryRedirect || p.Header.Get("Location") != "http://app.example/notes?a=b" {
		t.Errorf("canonical host: HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
}

// A callback with another browser's state, none, or a replayed one
// fails without touching the sign-in in progress; a pending login that
// expired fails too.
func TestCallbackState(t *testing.T) {
	e := newEnv(t, nil)
	b := e.newBrowser()
	start := b.startSignIn(e.alice, "/notes")
	redirect, err := e.net.Approve(context.Background(), start.Header.Get("Location"), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []url.Values{
		{"state": {"bogus"}, "code": {"x"}, "iss": {e.net.Issuer()}},
		{"code": {"x"}, "iss": {e.net.Issuer()}},
		{"state": {""}, "error": {"access_denied"}},
		{"state": {"bogus"}, "error": {"access_denied"}},
	} {
		p := b.send("GET", "/callback?"+q.Encode(), nil, map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
		wantError(t, q.Encode(), p, atoauthhttp.CodeInvalidState, http.StatusBadRequest)
		mustContain(t, "bogus state", p.body, "Sign-in link expired")
		if c := setCookie(p, "atoauth_state"); c != nil {
			t.Errorf("%v: the state cookie was touched: %+v", q, c)
		}
	}
	// Another browser (without the state cookie).
	thief := e.newBrowser()
	p := thief.get(redirect.Path + "?" + redirect.RawQuery)
	wantError(t, "without the state cookie", p, atoauthhttp.CodeInvalidState, http.StatusBadRequest)
	mustContain(t, "without the state cookie", p.body, "Sign-in not recognised")
	if e.net.Counters().CodeExchanges != 0 {
		t.Fatal("a code was exchanged")
	}
	// The real callback, once.
	if p := b.get(redirect.Path + "?" + redirect.RawQuery); p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/notes" {
		t.Fatalf("the real callback: HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	p = b.get(redirect.Path + "?" + redirect.RawQuery)
	wantError(t, "replay", p, atoauthhttp.CodeInvalidState, http.StatusBadRequest)

	// Without a state cookie, the server's error is still explained.
	for code, want := range map[string]atoauthhttp.ErrorCode{"access_denied": atoauthhttp.CodeDenied, "server_error": atoauthhttp.CodeSignInFailed, "<b>new</b>": atoauthhttp.CodeSignInFailed} {
		p := e.newBrowser().get("/callback?" + url.Values{"error": {code}, "error_description": {"<script>alert(1)</script>"}}.Encode())
		wantError(t, code, p, want, http.StatusBadRequest)
		mustNotContain(t, code, p.body, "<script>", "<b>")
		mustContain(t, code, p.body, `href="/auth/signin"`)
	}
}

func TestExpiredPendingLogin(t *testing.T) {
	clock := atoauthtest.NewClock(time.Now())
	e := newEnv(t, &envOptions{clock: clock})
	b := e.newBrowser()
	start := b.startSignIn(e.alice, "/notes")
	redirect, err := e.net.Approve(context.Background(), start.Header.Get("Location"), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	p := b.get(redirect.Path + "?" + redirect.RawQuery)
	wantError(t, "expired", p, atoauthhttp.CodeInvalidState, http.StatusBadRequest)
	mustContain(t, "expired", p.body, "took too long")
	if er := e.lastError(); er.Return != "/notes" || !errors.Is(er, atoauth.ErrInvalidState) {
		t.Errorf("error %+v", er)
	}
	if b.sessionID() != "" || e.net.Counters().CodeExchanges != 0 {
		t.Fatal("an expired login signed in")
	}
}

func TestDeniedKeepsTheWayBack(t *testing.T) {
	e := newEnv(t, nil)
	b := e.newBrowser()
	p := b.authorize(b.startSignIn(e.alice, "/notes"), e.alice, atoauthtest.Deny())
	wantError(t, "denied", p, atoauthhttp.CodeDenied, http.StatusBadRequest)
	mustContain(t, "denied", p.body, "Sign-in cancelled", `href="/auth/signin?next=%2Fnotes"`)
	if b.sessionID() != "" {
		t.Fatal("a session after a denial")
	}
}

// The return path never leaves the app's origin, however it is written.
func TestReturnToAnotherOriginRefused(t *testing.T) {
	e := newEnv(t, &envOptions{auth: atoauthhttp.Options{SignInLimit: -1}})
	for _, next := range []string{"//evil.com", "/\\evil.com", "\\\\evil.com", "https://evil.com", "https://evil.com/notes", "http:evil.com",
		"/%2F%2Fevil.com", "/%2f%5cevil.com", "/%2e%2e//evil.com", "/..//evil.com", "javascript:alert(1)", "/\t/evil.com", "/\n/evil.com",
		"/\u2215\u2215evil.com", "evil.com", "/" + strings.Repeat("x", 600)} {
		b := e.newBrowser()
		form := b.get("/auth/signin?next=" + url.QueryEscape(next))
		mustNotContain(t, "sign-in page for "+next, form.body, `name="next"`, "evil.com")
		cb := b.authorize(b.startSignIn(e.alice, next), e.alice)
		if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/" {
			t.Errorf("next %q: callback HTTP %d Location %q, want /", next, cb.StatusCode, cb.Header.Get("Location"))
		}
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, &envOptions{auth: atoauthhttp.Options{SignInLimit: 3, TrustProxy: true}})
	b := e.newBrowser()
	from := func(ip string) page {
		return b.send("POST", "/auth/signin", url.Values{"identifier": {"nobody.test"}}, map[string]string{"X-Forwarded-For": "203.0.113.9, " + ip})
	}
	for i := range 3 {
		if p := from("198.51.100.1"); p.StatusCode != http.StatusBadRequest {
			t.Fatalf("attempt %d: HTTP %d", i+1, p.StatusCode)
		}
	}
	p := from("198.51.100.1")
	wantError(t, "4th attempt", p, atoauthhttp.CodeRateLimited, http.StatusTooManyRequests)
	if p.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	resolutions := e.net.Counters().HandleResolutions
	from("198.51.100.1")
	if e.net.Counters().HandleResolutions != resolutions {
		t.Error("a limited attempt still resolved the handle")
	}
	// Another address is not limited; the first address of the header
	// (set by the client, not by the proxy) does not count.
	if p := from("198.51.100.2"); p.StatusCode != http.StatusBadRequest {
		t.Fatalf("other address: HTTP %d", p.StatusCode)
	}
	// An IPv6 address counts as its /64.
	for i := range 3 {
		from("2001:db8:1:2::" + string(rune('a'+i)))
	}
	wantError(t, "same /64", from("2001:db8:1:2::ff"), atoauthhttp.CodeRateLimited, http.StatusTooManyRequests)
	mustContain(t, "log", e.logs.String(), `"msg":"sign-in rate limited"`, `"client":"198.51.100.1"`)
}

func TestStepUp(t *testing.T) {
	const all = "atproto repo:app.bsky.feed.post?action=create repo:app.bsky.actor.profile?action=create&action=update"
	e := newEnv(t, &envOptions{scope: all, auth: atoauthhttp.Options{SignInScope: "atproto repo:app.bsky.feed.post?action=create"}})
	b := e.newBrowser()
	b.signIn(e.alice)
	sid := b.sessionID()

	// The page needs more: a 403 with the scope to ask for, as a page
	// with a button or as JSON.
	p := b.get("/profile")
	wantError(t, "profile", p, atoauthhttp.CodeMissingPermission, http.StatusForbidden)
	mustContain(t, "profile", p.body, "This needs your permission", "Change your profile", `action="/auth/stepup"`,
		`name="scope" value="repo:app.bsky.actor.profile?action=create&amp;action=update"`, `name="next" value="/profile"`, `name="csrf" value="`+b.csrf()+`"`, "Allow this")
	p = b.send("GET", "/profile", nil, map[string]string{"Accept": "application/json"})
	var out map[string]string
	if err := json.Unmarshal([]byte(p.body), &out); err != nil || p.StatusCode != http.StatusForbidden || out["error"] != "missing_permission" ||
		out["scope"] != "repo:app.bsky.actor.profile?action=create&action=update" || out["step_up"] != "/auth/stepup" {
		t.Fatalf("JSON: HTTP %d %s", p.StatusCode, p.body)
	}

	// "Allow this": the step-up, for the same account, back to the page.
	start := b.post("/auth/stepup", url.Values{"scope": {out["scope"]}, "next": {"/profile"}})
	if start.StatusCode != http.StatusSeeOther || setCookie(start, "atoauth_stepup") == nil {
		t.Fatalf("step-up: HTTP %d %s", start.StatusCode, start.body)
	}
	par, _ := e.net.LastPushedRequest()
	if par.Params.Get("login_hint") != "alice.test" || !strings.Contains(par.Params.Get("scope"), "app.bsky.actor.profile") {
		t.Errorf("PAR %v", par.Params)
	}
	cb := b.authorize(start, e.alice)
	if cb.StatusCode != http.StatusSeeOther || cb.Header.Get("Location") != "/profile" || b.sessionID() != sid {
		t.Fatalf("callback: HTTP %d %s, session %q (was %q)", cb.StatusCode, cb.Header.Get("Location"), b.sessionID(), sid)
	}
	if ev := e.lastEvent(); ev.Kind != atoauthhttp.EventSteppedUp || ev.Session.ID() != sid {
		t.Errorf("event %+v", ev)
	}
	if p := b.get("/profile"); p.StatusCode != http.StatusOK || p.body != "profile editor" {
		t.Fatalf("after the step-up: HTTP %d %s", p.StatusCode, p.body)
	}
	if list, _ := e.client.Sessions(context.Background(), e.alice); len(list) != 1 || list[0].ID != sid {
		t.Fatalf("sessions %+v", list)
	}

	// What the client does not declare cannot be asked for; what is not a
	// scope is refused; a fetch gets the URL to go to.
	p = b.post("/auth/stepup", url.Values{"scope": {"repo:com.example.note"}})
	wantError(t, "undeclared", p, atoauthhttp.CodeMissingPermission, http.StatusForbidden)
	p = b.post("/auth/stepup", url.Values{"scope": {"not a scope!"}})
	wantError(t, "not a scope", p, atoauthhttp.CodeBadRequest, http.StatusBadRequest)
	p = b.send("POST", "/auth/stepup", url.Values{"scope": {"repo:app.bsky.feed.post?action=create"}},
		map[string]string{"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "empty", "X-CSRF-Token": b.csrf()})
	if err := json.Unmarshal([]byte(p.body), &out); err != nil || p.StatusCode != http.StatusOK || !strings.HasPrefix(out["redirect"], e.net.Issuer()) {
		t.Fatalf("step-up by fetch: HTTP %d %s", p.StatusCode, p.body)
	}
}

// A step-up completes only for the session it was started for, while it
// is still the browser's current one.
func TestStepUpForAnotherSessionIsRefused(t *testing.T) {
	e := newEnv(t, &envOptions{scope: "atproto transition:generic transition:email",
		auth: atoauthhttp.Options{SignInScope: "atproto transition:generic", MaxAccounts: 2}})
	bob := e.net.CreateAccount("bob.test")
	b := e.newBrowser()
	b.signIn(e.alice)
	aliceID := b.sessionID()
	b.signIn(bob)
	bobID := b.sessionID()
	if p := b.post("/auth/switch", url.Values{"did": {e.alice.String()}}); p.StatusCode != http.StatusSeeOther || b.sessionID() != aliceID {
		t.Fatalf("switch: HTTP %d", p.StatusCode)
	}
	start := b.post("/auth/stepup", url.Values{"scope": {"transition:email"}})
	// Switched to bob in between: refused.
	b.post("/auth/switch", url.Values{"did": {bob.String()}})
	cb := b.authorize(start, e.alice)
	wantError(t, "switched", cb, atoauthhttp.CodeInvalidState, http.StatusBadRequest)
	mustContain(t, "switched", cb.body, "Permission request not completed")

	// A browser told that bob's session is the one to replace: the login
	// is alice's, its state names alice's session; refused too.
	b.post("/auth/switch", url.Values{"did": {e.alice.String()}})
	start = b.post("/auth/stepup", url.Values{"scope": {"transition:email"}})
	b.setCookie("atoauth_session", bobID)
	b.setCookie("atoauth_stepup", bobID)
	cb = b.authorize(start, e.alice)
	wantError(t, "tampered", cb, atoauthhttp.CodeInvalidState, http.StatusBadRequest)

	// A step-up's callback without its cookie: the session it created is
	// undone.
	b.setCookie("atoauth_session", aliceID)
	start = b.post("/auth/stepup", url.Values{"scope": {"transition:email"}})
	b.setCookie("atoauth_stepup", "")
	cb = b.authorize(start, e.alice)
	wantError(t, "no step-up cookie", cb, atoauthhttp.CodeInvalidState, http.StatusBadRequest)

	for _, id := range []string{aliceID, bobID} {
		d, err := e.store.GetSession(context.Background(), id)
		if err != nil || strings.Contains(d.Scope, "email") {
			t.Fatalf("session %s: %v, scope %q", id, err, d.Scope)
		}
	}
	if list, _ := e.client.Sessions(context.Background(), e.alice); len(list) != 1 || list[0].ID != aliceID {
		t.Fatalf("alice's sessions: %+v", list)
	}
}

func TestSeveralAccounts(t *testing.T) {
	e := newEnv(t, &envOptions{auth: atoauthhttp.Options{MaxAccounts: 3}})
	bob, carol, dave := e.net.CreateAccount("bob.test"), e.net.CreateAccount("carol.test"), e.net.CreateAccount("dave.test")
	b := e.newBrowser()
	b.signIn(e.alice)
	aliceID := b.sessionID()
	b.signIn(bob)
	bobID := b.sessionID()
	if bobID == aliceID || b.cookie("atoauth_accounts") != aliceID {
		t.Fatalf("cookies: session %q accounts %q", bobID, b.cookie("atoauth_accounts"))
	}
	// The accounts, for a switcher.
	var acc *atoauthhttp.Accounts
	h := e.auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { acc, _ = atoauthhttp.AccountsFrom(r.Context()) }))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "atoauth_session", Value: bobID})
	req.AddCookie(&http.Cookie{Name: "atoauth_accounts", Value: aliceID})
	h.ServeHTTP(httptest.NewRecorder(), req)
	if acc == nil || acc.Current.DID() != bob || len(acc.Others) != 1 || acc.Others[0].DID != e.alice || len(acc.Ended) != 0 {
		t.Fatalf("accounts %+v", acc)
	}

	// Switch: only to an account of this browser.
	for name, v := range map[string]url.Values{
		"unknown DID": {"did": {"did:plc:notinthisbrowser"}},
		"session id":  {"did": {aliceID}},
		"own DID":     {"did": {bob.String()}},
		"no DID":      {},
	} {
		p := b.post("/auth/switch", v)
		wantError(t, "switch with "+name, p, atoauthhttp.CodeAccountNotFound, http.StatusBadRequest)
	}
	p := b.post("/auth/switch", url.Values{"did": {e.alice.String()}, "next": {"/notes"}})
	if p.Header.Get("Location") != "/notes" || b.sessionID() != aliceID || b.cookie("atoauth_accounts") != bobID {
		t.Fatalf("switch: %s, session %q accounts %q", p.Header.Get("Location"), b.sessionID(), b.cookie("atoauth_accounts"))
	}
	if ev := e.lastEvent(); ev.Kind != atoauthhttp.EventSwitched || ev.Account.DID != e.alice {
		t.Errorf("event %+v", ev)
	}

	// Signing alice in again replaces her older session.
	b.signIn(e.alice)
	if b.sessionID() == aliceID || e.net.ActiveSessions(e.alice) != 1 {
		t.Fatal("alice's older session was not replaced")
	}
	aliceID = b.sessionID()
	// A third account; a fourth is refused before anything starts.
	b.signIn(carol)
	pars := len(e.net.PushedRequests())
	p = b.send("POST", "/auth/signin", url.Values{"identifier": {"dave.test"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	wantError(t, "fourth", p, atoauthhttp.CodeTooManyAccounts, http.StatusBadRequest)
	if len(e.net.PushedRequests()) != pars || e.net.ActiveSessions(dave) != 0 {
		t.Fatal("a fourth sign-in started")
	}

	// Sign out: this account only; the next becomes current.
	p = b.post("/auth/signout", nil)
	if ev := e.lastEvent(); ev.Kind != atoauthhttp.EventSignedOut || ev.Account.DID != carol || ev.Remaining != 2 {
		t.Errorf("event %+v", ev)
	}
	if e.net.ActiveSessions(carol) != 0 || e.net.ActiveSessions(e.alice) != 1 || e.net.ActiveSessions(bob) != 1 {
		t.Fatal("sign-out signed out another account")
	}
	if cur := b.sessionID(); cur != aliceID && cur != bobID {
		t.Fatalf("current %q", cur)
	}
	// All accounts of the browser.
	p = b.post("/auth/signout/accounts", nil)
	if p.StatusCode != http.StatusSeeOther || b.sessionID() != "" || b.cookie("atoauth_accounts") != "" {
		t.Fatalf("sign-out of all: HTTP %d", p.StatusCode)
	}
	if e.net.ActiveSessions(e.alice) != 0 || e.net.ActiveSessions(bob) != 0 {
		t.Fatal("sessions left at the server")
	}
}

// With one account per browser (the default), a sign-in replaces the
// browser's account and signs its session out.
func TestOneAccountPerBrowser(t *testing.T) {
	e := newEnv(t, nil)
	bob := e.net.CreateAccount("bob.test")
	b := e.newBrowser()
	b.signIn(e.alice)
	b.signIn(bob)
	if b.cookie("atoauth_accounts") != "" || e.net.ActiveSessions(e.alice) != 0 || e.net.ActiveSessions(bob) != 1 {
		t.Fatalf("accounts %q, alice %d, bob %d", b.cookie("atoauth_accounts"), e.net.ActiveSessions(e.alice), e.net.ActiveSessions(bob))
	}
	if p := b.get("/"); p.body != "signed in as "+bob.String() {
		t.Fatalf("home: %q", p.body)
	}
	// A cookie listing other accounts is ignored.
	b.setCookie("atoauth_accounts", b.sessionID())
	if p := b.post("/auth/switch", url.Values{"did": {e.alice.String()}}); p.code() != string(atoauthhttp.CodeAccountNotFound) {
		t.Errorf("switch: HTTP %d", p.StatusCode)
	}
}

func TestSignOutEverywhere(t *testing.T) {
	e := newEnv(t, &envOptions{auth: atoauthhttp.Options{MaxAccounts: 2}})
	bob := e.net.CreateAccount("bob.test")
	b, phone := e.newBrowser(), e.newBrowser()
	b.signIn(bob)
	b.signIn(e.alice)
	phone.signIn(e.alice)
	p := b.post("/auth/signout/everywhere", nil)
	if p.StatusCode != http.StatusSeeOther || p.Header.Get("Location") != "/" {
		t.Fatalf("HTTP %d %s", p.StatusCode, p.Header.Get("Location"))
	}
	if ev := e.lastEvent(); ev.Kind != atoauthhttp.EventSignedOutEverywhere || ev.Account.DID != e.alice || ev.Remaining != 1 {
		t.Errorf("event %+v", ev)
	}
	if e.net.ActiveSessions(e.alice) != 0 || e.net.ActiveSessions(bob) != 1 {
		t.Fatal("not alice's sessions alone")
	}
	if p := b.get("/"); p.body != "signed in as "+bob.String() {
		t.Errorf("this browser: %q", p.body)
	}
	if p := phone.get("/"); p.body != "signed out" {
		t.Errorf("the phone: %q", p.body)
	}
}

// Sessions that ended while the browser was away are dropped, and said
// so (Accounts.Ended); a form of an account that ended does not act as
// the next one.
func TestEndedSessions(t *testing.T) {
	e := newEnv(t, &envOptions{auth: atoauthhttp.Options{MaxAccounts: 2}})
	bob := e.net.CreateAccount("bob.test")
	b := e.newBrowser()
	b.signIn(bob)
	bobID := b.sessionID()
	b.signIn(e.alice)
	aliceID := b.sessionID()
	token := b.csrf()
	if err := e.client.Logout(context.Background(), aliceID); err != nil {
		t.Fatal(err)
	}
	p := b.send("POST", "/notes", url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	wantError(t, "a form of the ended account", p, atoauthhttp.CodeNotSignedIn, http.StatusUnauthorized)
	if b.sessionID() != bobID || b.cookie("atoauth_accounts") != "" {
		t.Fatalf("cookies: session %q accounts %q", b.sessionID(), b.cookie("atoauth_accounts"))
	}
	var acc *atoauthhttp.Accounts
	h := e.auth.OptionalSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { acc, _ = atoauthhttp.AccountsFrom(r.Context()) }))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "atoauth_session", Value: aliceID})
	req.AddCookie(&http.Cookie{Name: "atoauth_accounts", Value: bobID + ".not-an-id!"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if acc == nil || acc.Current == nil || acc.Current.ID() != bobID || !acc.CurrentEnded || len(acc.Ended) != 1 || acc.Ended[0] != aliceID {
		t.Fatalf("accounts %+v", acc)
	}
	// Everything ended: signed out, cookies cleared.
	if err := e.client.Logout(context.Background(), bobID); err != nil {
		t.Fatal(err)
	}
	p = b.get("/notes")
	if p.StatusCode != http.StatusSeeOther || setCookie(p, "atoauth_session") == nil || setCookie(p, "atoauth_session").MaxAge >= 0 {
		t.Fatalf("all ended: HTTP %d", p.StatusCode)
	}
	// Forget: a session found ended by a page.
	b.signIn(e.alice)
	forget := e.auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.auth.Forget(w, r) }))
	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "atoauth_session", Value: b.sessionID()})
	rec = httptest.NewRecorder()
	forget.ServeHTTP(rec, req)
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].Name != "atoauth_session" || c[0].MaxAge >= 0 {
		t.Fatalf("Forget: %v", c)
	}
}

// A hook may refuse a sign-in: the new session is signed out, and the
// browser's account left as it was. It may change where the browser
// goes.
func TestOnEventRefusesASignIn(t *testing.T) {
	var bob syntax.DID
	e := newEnv(t, &envOptions{onEvent: func(w http.ResponseWriter, r *http.Request, ev *atoauthhttp.Event) error {
		switch {
		case ev.Kind == atoauthhttp.EventSignedIn && ev.Account.DID == bob:
			return errors.New("not on the list")
		case ev.Kind == atoauthhttp.EventSignedIn:
			ev.Redirect = "/welcome?new=1"
		}
		return nil
	}})
	bob = e.net.CreateAccount("bob.test")
	b := e.newBrowser()
	if cb := b.signIn(e.alice); cb.Header.Get("Location") != "/welcome?new=1" {
		t.Fatalf("callback: %s", cb.Header.Get("Location"))
	}
	aliceID := b.sessionID()
	p := b.signIn(bob)
	wantError(t, "refused", p, atoauthhttp.CodeDenied, http.StatusForbidden)
	if e.net.ActiveSessions(bob) != 0 || b.sessionID() != aliceID || e.net.ActiveSessions(e.alice) != 1 {
		t.Fatalf("bob %d sessions, browser %q (alice %q)", e.net.ActiveSessions(bob), b.sessionID(), aliceID)
	}
}

func TestNotSignedInJSON(t *testing.T) {
	e := newEnv(t, nil)
	b := e.newBrowser()
	p := b.send("GET", "/notes?a=1", nil, map[string]string{"Accept": "application/json"})
	var out map[string]string
	if err := json.Unmarshal([]byte(p.body), &out); err != nil || p.StatusCode != http.StatusUnauthorized || out["error"] != "not_signed_in" || out["sign_in"] != "/auth/signin?next=%2Fnotes%3Fa%3D1" {
		t.Fatalf("HTTP %d %s", p.StatusCode, p.body)
	}
	// A POST signed out: 401, never a redirect.
	p = b.send("POST", "/notes", url.Values{}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	wantError(t, "post signed out", p, atoauthhttp.CodeNotSignedIn, http.StatusUnauthorized)
	// Session without middleware.
	req := httptest.NewRequest("GET", "/", nil)
	var er *atoauthhttp.Error
	if _, _, err := e.auth.Session(req); !errors.As(err, &er) || er.Code != atoauthhttp.CodeNotSignedIn {
		t.Errorf("Session: %v", err)
	}
	b.signIn(e.alice)
	req.AddCookie(&http.Cookie{Name: "atoauth_session", Value: b.sessionID()})
	if s, csrf, err := e.auth.Session(req); err != nil || s.DID() != e.alice || csrf != b.csrf() {
		t.Errorf("Session: %v, csrf %q, want %q", err, csrf, b.csrf())
	}
	if atoauthhttp.CSRFToken(req.Context()) != "" || atoauthhttp.CSRFField(req.Context()) != "" {
		t.Error("a CSRF token without the middleware")
	}
}

// Over https the cookies are Secure and __Host- prefixed.
func TestSecureCookies(t *testing.T) {
	host := atoauthtest.NewClientHost(t)
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{ClientHTTPClient: host.HTTPClient()})
	alice := n.CreateAccount("alice.test")
	cfg := n.ClientConfig(defaultScope)
	cfg.ClientID = atoauthtest.ClientHostURL + "/oauth-client-metadata.json"
	cfg.RedirectURIs = []string{atoauthtest.ClientHostURL + "/oauth/callback"}
	cfg.ClientName = "Test"
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host.Handle("/oauth-client-metadata.json", client.MetadataHandler())
	auth, err := atoauthhttp.New(client, &atoauthhttp.Options{PublicURL: atoauthtest.ClientHostURL})
	if err != nil {
		t.Fatal(err)
	}
	do := func(req *http.Request, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req.Host = "client.example.com"
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		auth.Handler().ServeHTTP(rec, req)
		return rec
	}
	rec := do(httptest.NewRequest("GET", "https://client.example.com/auth/signin?identifier=alice.test", nil))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: HTTP %d %s", rec.Code, rec.Body)
	}
	state := rec.Result().Cookies()[0]
	if state.Name != "__Host-atoauth_state" || !state.Secure || !state.HttpOnly || state.SameSite != http.SameSiteLaxMode || state.Path != "/" || state.Domain != "" {
		t.Fatalf("state cookie %+v", state)
	}
	redirect, err := n.Approve(context.Background(), rec.Header().Get("Location"), alice)
	if err != nil {
		t.Fatal(err)
	}
	rec = do(httptest.NewRequest("GET", redirect.String(), nil), &http.Cookie{Name: state.Name, Value: state.Value})
	var sess *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "__Host-atoauth_session" {
			sess = c
		}
	}
	if rec.Code != http.StatusSeeOther || sess == nil || !sess.Secure || !sess.HttpOnly || sess.Path != "/" || sess.MaxAge < 13*24*3600 {
		t.Fatalf("callback: HTTP %d, session cookie %+v", rec.Code, sess)
	}
}

// Tokens, codes, states and session ids never reach the logs.
func TestLogsHaveNoSecrets(t *testing.T) {
	e := newEnv(t, nil)
	b := e.newBrowser()
	start := b.startSignIn(e.alice, "")
	state := setCookie(start, "atoauth_state").Value
	redirect, err := e.net.Approve(context.Background(), start.Header.Get("Location"), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	b.get(redirect.Path + "?" + redirect.RawQuery)
	sid := b.sessionID()
	d, err := e.store.GetSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	b.post("/notes", url.Values{"csrf": {"wrong"}})
	csrf := b.csrf()
	b.post("/auth/signout", nil)
	logs := e.logs.String()
	mustContain(t, "logs", logs, `"msg":"signed in"`, `"msg":"signed out"`, `"msg":"CSRF token mismatch"`, e.alice.String())
	mustNotContain(t, "logs", logs, state, redirect.Query().Get("code"), sid, csrf, d.AccessToken, d.RefreshToken, d.DPoPKey.Thumbprint())
}

// A loopback client's logins come back to the port the app is on, at
// 127.0.0.1 (cookies are per host): visits to localhost go there.
func TestLoopbackHost(t *testing.T) {
	e := newEnv(t, nil)
	u, _ := url.Parse(e.srv.URL)
	port := u.Port()
	rec := httptest.NewRecorder()
	e.auth.RequireSession(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost:"+port+"/notes?a=1", nil))
	if rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != "http://127.0.0.1:"+port+"/notes?a=1" {
		t.Fatalf("GET on localhost: HTTP %d %s", rec.Code, rec.Header().Get("Location"))
	}
	req := httptest.NewRequest("POST", "http://localhost:"+port+"/auth/signin", strings.NewReader("identifier=alice.test&next=%2Fnotes"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	e.auth.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "http://127.0.0.1:"+port+"/auth/signin?identifier=alice.test&next=%2Fnotes" {
		t.Fatalf("POST on localhost: HTTP %d %s", rec.Code, rec.Header().Get("Location"))
	}
	// An app with its own sign-in page gets the browser there.
	own, err := atoauthhttp.New(e.client, &atoauthhttp.Options{SignInPage: "/"})
	if err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest("POST", "http://localhost:"+port+"/auth/signin", strings.NewReader("identifier=alice.test&next=%2Fnotes"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	own.SignIn(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "http://127.0.0.1:"+port+"/?next=%2Fnotes" {
		t.Fatalf("POST on localhost, own sign-in page: HTTP %d %s", rec.Code, rec.Header().Get("Location"))
	}
	b := e.newBrowser()
	start := b.startSignIn(e.alice, "")
	if par, _ := e.net.LastPushedRequest(); par.Params.Get("redirect_uri") != "http://127.0.0.1:"+port+"/callback" {
		t.Errorf("redirect_uri %q", par.Params.Get("redirect_uri"))
	}
	if redirect, err := e.net.Approve(context.Background(), start.Header.Get("Location"), e.alice); err != nil || !strings.HasPrefix(redirect.String(), e.srv.URL+"/callback?") {
		t.Errorf("the authorization server redirects to %v (%v), not to the app's port", redirect, err)
	}
	// Another host (a test's example.com) is left alone.
	rec = httptest.NewRecorder()
	e.auth.RequireSession(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com/notes", nil))
	if rec.Code != http.StatusSeeOther {
		t.Errorf("GET on example.com: HTTP %d %s", rec.Code, rec.Header().Get("Location"))
	}
}

func TestNewChecksOptions(t *testing.T) {
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	client, err := atoauth.NewClient(n.ClientConfig(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]atoauthhttp.Options{
		"PublicURL with a path":   {PublicURL: "https://app.example.com/app"},
		"PublicURL not http":      {PublicURL: "ftp://app.example.com"},
		"BasePath without slash":  {BasePath: "/auth"},
		"BasePath relative":       {BasePath: "auth/"},
		"MaxAccounts too many":    {MaxAccounts: 21},
		"MaxAccounts negative":    {MaxAccounts: -1},
		"AfterSignIn elsewhere":   {AfterSignIn: "https://evil.example/"},
		"SignInPage elsewhere":    {SignInPage: "//evil.example"},
		"SignInScope undeclared":  {SignInScope: "atproto transition:email"},
		"SignInScope no atproto":  {SignInScope: "transition:generic"},
		"CookiePrefix with space": {CookiePrefix: "a b"},
		"CookiePrefix __":         {CookiePrefix: "__Secure-x"},
	} {
		if _, err := atoauthhttp.New(client, &o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := atoauthhttp.New(nil, nil); err == nil {
		t.Error("no client: no error")
	}
	if _, err := atoauthhttp.New(client, nil); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
