package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/web"
)

func TestCookies(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	p := b.post("/login", url.Values{"identifier": {"alice.test"}})
	state := setCookie(p, "atoauth_state")
	if state == nil || !state.HttpOnly || state.SameSite != http.SameSiteLaxMode || state.Secure || state.Path != "/" || state.MaxAge <= 0 || state.MaxAge > 600 {
		t.Fatalf("state cookie: %+v", state)
	}
	loc, _ := url.Parse(p.Header.Get("Location"))
	if strings.Contains(loc.RawQuery, state.Value) {
		t.Error("the state travels in the authorization URL (PAR should keep it server-side)")
	}
	redirect, err := e.net.Approve(context.Background(), p.Header.Get("Location"), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	cb := b.get(redirect.Path + "?" + redirect.RawQuery)
	sess := setCookie(cb, "atoauth_session")
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || sess.Path != "/" || sess.MaxAge < 24*3600 {
		t.Fatalf("session cookie: %+v", sess)
	}
	if c := setCookie(cb, "atoauth_state"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the state cookie was not cleared: %+v", c)
	}
	// The cookie is a random id: 256 bits, nothing else.
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(sess.Value) || sess.Value == state.Value {
		t.Errorf("session cookie value %q", sess.Value)
	}
	d, err := e.store.GetSession(context.Background(), sess.Value)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{d.AccessToken, d.RefreshToken} {
		if strings.Contains(sess.Value, secret) {
			t.Error("a token is in the cookie")
		}
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	b.signIn(e.alice)
	token := b.csrf()
	if token == "" {
		t.Fatal("no form token on the home page")
	}

	send := func(path string, v url.Values, hdr map[string]string) page {
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, val := range hdr {
			req.Header.Set(k, val)
		}
		return b.do(req)
	}
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site"}
	otherOrigin := map[string]string{"Origin": "https://evil.example"}
	for _, path := range []string{"/post", "/post/delete", "/profile", "/logout", "/logout/all", "/login", "/signup"} {
		v := url.Values{"csrf": {token}, "text": {"forged"}, "identifier": {"alice.test"}, "rkey": {"x"}}
		for name, hdr := range map[string]map[string]string{"Sec-Fetch-Site": crossSite, "Origin": otherOrigin} {
			if p := send(path, v, hdr); p.StatusCode != http.StatusForbidden || !strings.Contains(p.body, "Request refused") {
				t.Errorf("%s with a cross-site %s: HTTP %d", path, name, p.StatusCode)
			}
		}
	}
	// Same-origin requests need the session's form token too.
	for _, path := range []string{"/post", "/post/delete", "/logout", "/logout/all"} {
		for _, tok := range []string{"", "wrong", token + "x"} {
			p := send(path, url.Values{"csrf": {tok}, "text": {"forged"}, "rkey": {"x"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
			if p.StatusCode != http.StatusForbidden || !strings.Contains(p.body, "This form has expired") {
				t.Errorf("%s with token %q: HTTP %d", path, tok, p.StatusCode)
			}
		}
	}
	if e.net.ActiveSessions(e.alice) != 1 || e.sessionID(b) == "" {
		t.Fatal("a refused sign-out signed out")
	}
	if c := e.net.Counters(); c.PDSRequests > 0 {
		// Only reads may have happened; no record was written.
		if _, ok := e.net.Record(e.alice, "app.bsky.feed.post", ""); ok {
			t.Fatal("a forged post was written")
		}
	}
	// A token of another session does not work either.
	other := e.newBrowser()
	other.signIn(e.alice)
	if p := send("/post", url.Values{"csrf": {other.csrf()}, "text": {"x"}}, nil); p.StatusCode != http.StatusForbidden {
		t.Errorf("another session's token: HTTP %d", p.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	check := func(name string, p page) {
		t.Helper()
		h := p.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", name, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q", name, k, h.Get(k))
			}
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", name)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS over http", name)
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Cache-Control %q", name, h.Get("Cache-Control"))
			}
			// Nothing inline that the CSP would block.
			for _, m := range regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(p.body, -1) {
				if !strings.Contains(m[1], " src=") || strings.TrimSpace(m[2]) != "" {
					t.Errorf("%s: inline script %q", name, m[0])
				}
			}
			for _, re := range []*regexp.Regexp{regexp.MustCompile(`<style`), regexp.MustCompile(`\sstyle=`), regexp.MustCompile(`\son[a-z]+=`), regexp.MustCompile(`javascript:`)} {
				if loc := re.FindStringIndex(p.body); loc != nil {
					t.Errorf("%s: inline code at %q", name, p.body[loc[0]:min(len(p.body), loc[1]+40)])
				}
			}
		}
	}
	check("sign-in", b.get("/"))
	check("sign-up", b.get("/signup"))
	check("404", b.get("/nope"))
	check("healthz", b.get("/healthz"))
	b.signIn(e.alice)
	for _, path := range []string{"/", "/profile", "/records", "/records/app.bsky.actor.profile", "/session"} {
		p := b.get(path)
		if p.StatusCode != http.StatusOK {
			t.Errorf("%s: HTTP %d", path, p.StatusCode)
		}
		check(path, p)
	}
}

func TestSignInErrors(t *testing.T) {
	e := newEnv(t, nil)
	e.net.CreateForeignAccount("moved.test", "http://127.0.0.1:1")
	b := e.browser
	for _, tc := range []struct{ input, want string }{
		{"", "Enter your handle"},
		{"nobody.test", "No account has the handle “nobody.test”"},
		{"not a handle!", "is not a handle"},
		{"did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "No account with the DID"},
		{"moved.test", "could not be reached"},
	} {
		p := b.post("/login", url.Values{"identifier": {tc.input}})
		if p.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: HTTP %d", tc.input, p.StatusCode)
		}
		mustContain(t, tc.input, p.body, tc.want, `name="identifier"`)
		mustNotContain(t, tc.input, p.body, "goroutine", "discovery:", "atoauth:")
		if tc.input != "" && !strings.Contains(p.body, `value="`+tc.input+`"`) && tc.input != "not a handle!" {
			t.Errorf("%q: the input is not kept", tc.input)
		}
	}
	// A leading @ and spaces are forgiven.
	if p := b.post("/login", url.Values{"identifier": {"  @alice.test "}}); p.StatusCode != http.StatusSeeOther {
		t.Errorf("@alice.test: HTTP %d", p.StatusCode)
	}
}

func TestSignInRateLimit(t *testing.T) {
	e := newEnv(t, &envOptions{web: web.Options{SignInLimit: 3, TrustProxy: true}})
	b := e.browser
	from := func(ip string) page {
		req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader("identifier=nobody.test"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", "203.0.113.9, "+ip)
		return b.do(req)
	}
	for i := range 3 {
		if p := from("198.51.100.1"); p.StatusCode != http.StatusBadRequest {
			t.Fatalf("attempt %d: HTTP %d", i+1, p.StatusCode)
		}
	}
	p := from("198.51.100.1")
	if p.StatusCode != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt: HTTP %d, Retry-After %q", p.StatusCode, p.Header.Get("Retry-After"))
	}
	mustContain(t, "429 page", p.body, "Too many sign-in attempts")
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
	// Sign-up shares the limit.
	req, _ := http.NewRequest("POST", e.srv.URL+"/signup", strings.NewReader("server=https://example.com"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	if p := b.do(req); p.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("sign-up: HTTP %d", p.StatusCode)
	}
	// The proxy's request id is kept.
	req, _ = http.NewRequest("GET", e.srv.URL+"/healthz", nil)
	req.Header.Set("X-Request-Id", "proxy-req-12345")
	if p := b.do(req); p.Header.Get("X-Request-Id") != "proxy-req-12345" {
		t.Errorf("request id %q", p.Header.Get("X-Request-Id"))
	}
	req.Header.Set("X-Request-Id", "bad id <script>")
	if p := b.do(req); p.Header.Get("X-Request-Id") == "" || strings.Contains(p.Header.Get("X-Request-Id"), " ") {
		t.Errorf("request id %q", p.Header.Get("X-Request-Id"))
	}
	// The log names the client address as the proxy saw it.
	mustContain(t, "log", e.logs.String(), `"client":"198.51.100.1"`)
	mustNotContain(t, "log", e.logs.String(), `"client":"203.0.113.9"`)
}

func TestCallbackErrors(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser

	// Declined on the consent screen.
	p := b.signIn(e.alice, atoauthtest.Deny())
	if p.StatusCode != http.StatusBadRequest {
		t.Fatalf("denied: HTTP %d", p.StatusCode)
	}
	mustContain(t, "denied", p.body, "Sign-in cancelled", "You declined", `href="/"`, "Back to sign-in", "Reference:")
	if e.sessionID(b) != "" {
		t.Fatal("a session after a denial")
	}

	// A callback for a login started in another browser.
	other := e.newBrowser()
	lp := other.post("/login", url.Values{"identifier": {"alice.test"}})
	redirect, err := e.net.Approve(context.Background(), lp.Header.Get("Location"), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	p = b.get(redirect.Path + "?" + redirect.RawQuery)
	mustContain(t, "other browser", p.body, "Sign-in not recognised", "not started in this browser")
	// With a state cookie of its own login, the stolen callback fails too.
	b.post("/login", url.Values{"identifier": {"alice.test"}})
	p = b.get(redirect.Path + "?" + redirect.RawQuery)
	if p.StatusCode != http.StatusBadRequest {
		t.Fatalf("mismatched state: HTTP %d", p.StatusCode)
	}
	mustContain(t, "mismatched state", p.body, "Sign-in link expired", "another browser or tab")
	if e.net.Counters().CodeExchanges != 0 {
		t.Fatal("a foreign code was exchanged")
	}

	// The rightful browser completes it once; a replay fails.
	if p := other.get(redirect.Path + "?" + redirect.RawQuery); p.StatusCode != http.StatusSeeOther {
		t.Fatalf("rightful callback: HTTP %d\n%s", p.StatusCode, p.body)
	}
	p = other.get(redirect.Path + "?" + redirect.RawQuery)
	mustContain(t, "replay", p.body, "Sign-in not recognised")

	// Every error code the server may send has a page with a way back.
	for _, code := range []string{"access_denied", "login_required", "consent_required", "interaction_required", "invalid_request",
		"unauthorized_client", "invalid_scope", "server_error", "temporarily_unavailable", "something_new"} {
		p := e.newBrowser().get("/callback?" + url.Values{"error": {code}, "error_description": {"<script>alert(1)</script>"}}.Encode())
		if p.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d", code, p.StatusCode)
		}
		mustContain(t, code, p.body, `class="button primary" href="/"`)
		mustNotContain(t, code, p.body, "<script>alert")
	}
}

func TestLogsHaveRequestIDsAndNoSecrets(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser
	lp := b.post("/login", url.Values{"identifier": {"alice.test"}})
	state := setCookie(lp, "atoauth_state").Value
	redirect, err := e.net.Approve(context.Background(), lp.Header.Get("Location"), e.alice)
	if err != nil {
		t.Fatal(err)
	}
	code := redirect.Query().Get("code")
	b.get(redirect.Path + "?" + redirect.RawQuery)
	sid := e.sessionID(b)
	b.postMultipart("/post", url.Values{"text": {"hi"}})
	e.net.ExpireAccessTokens() // a refresh, too
	home := b.get("/session")
	d, err := e.store.GetSession(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	b.post("/logout", nil)

	logs := e.logs.String()
	mustContain(t, "logs", logs, `"msg":"request"`, `"path":"/callback"`, `"status":303`, `"id":"`+home.Header.Get("X-Request-Id")+`"`, `"msg":"signed in"`)
	mustNotContain(t, "logs", logs, state, code, sid, d.AccessToken, d.RefreshToken, d.DPoPKey.Thumbprint())
	for _, body := range []string{home.body} {
		mustNotContain(t, "session page", body, sid, d.AccessToken, d.RefreshToken)
	}
}

func TestCanonicalHost(t *testing.T) {
	e := newEnv(t, nil)
	u, _ := url.Parse(e.srv.URL)
	app, err := web.New(web.Options{Client: e.client, CanonicalHost: u.Host})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(u.Host, ":")
	req, _ := http.NewRequest("GET", "http://localhost:"+port+"/records?x=1", nil)
	rec := &recorder{header: http.Header{}}
	app.ServeHTTP(rec, req)
	if rec.status != http.StatusTemporaryRedirect || rec.header.Get("Location") != "http://"+u.Host+"/records?x=1" {
		t.Fatalf("HTTP %d %s", rec.status, rec.header.Get("Location"))
	}
	// Health checks come from anywhere.
	req, _ = http.NewRequest("GET", "http://10.0.0.7:"+port+"/healthz", nil)
	rec = &recorder{header: http.Header{}}
	app.ServeHTTP(rec, req)
	if rec.status != http.StatusOK {
		t.Fatalf("healthz: HTTP %d", rec.status)
	}
}

type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
