package gateway

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstreamApp is a small upstream application: it records what each
// request carried and, for /app/act, acts for the person through the
// internal listener while serving the request.
type upstreamApp struct {
	e    *env
	mu   sync.Mutex
	seen []http.Header
	act  []string // act tokens received
}

func (u *upstreamApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	h := r.Header.Clone()
	h.Set("X-Test-Host", r.Host)
	u.seen = append(u.seen, h)
	if tok := r.Header.Get(HeaderAct); tok != "" {
		u.act = append(u.act, tok)
	}
	u.mu.Unlock()
	switch r.URL.Path {
	case "/app/act":
		// Acting while the request is in progress.
		tok := r.Header.Get(HeaderAct)
		did := r.Header.Get(HeaderDID)
		resp := u.e.act(http.MethodPost, "/xrpc/com.atproto.repo.createRecord", string(testSecret), tok,
			jsonBody(map[string]any{"repo": did, "collection": "app.bsky.feed.post", "rkey": r.URL.Query().Get("rkey"),
				"record": map[string]any{"$type": "app.bsky.feed.post", "text": "from the upstream", "createdAt": "2026-01-01T00:00:00Z"}}), nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(b)
	case "/app/cookie":
		http.SetCookie(w, &http.Cookie{Name: "atoauth_session", Value: "fixated"})
		http.SetCookie(w, &http.Cookie{Name: "__Host-atoauth_session", Value: "fixated", Path: "/", Secure: true})
		http.SetCookie(w, &http.Cookie{Name: "app_pref", Value: "1"})
		w.WriteHeader(http.StatusOK)
	default:
		_, _ = io.WriteString(w, "page")
	}
}

func (u *upstreamApp) last() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[len(u.seen)-1]
}

func newUpstreamEnv(t *testing.T, o envOptions) (*env, *upstreamApp) {
	app := &upstreamApp{}
	o.upstream = app
	e := newEnv(t, o)
	app.e = e
	return e, app
}

func TestUpstreamHeaders(t *testing.T) {
	e, app := newUpstreamEnv(t, envOptions{})
	spoof := http.Header{
		"X-Atproto-Did":    {"did:plc:victim"},
		"X-Atproto-Handle": {"victim.test"},
		"X-Atproto-Act":    {strings.Repeat("A", 43)},
		"X-Atproto-Other":  {"x"},
		"Authorization":    {"Basic dXNlcjpwYXNz"},
		"Cookie":           {"theme=dark; __Host-atoauth_state=s; ATOAUTH_accounts=x"},
	}
	resp := e.browser(req{path: upstreamPath, as: e.alice, header: spoof})
	if b := readAll(t, resp); resp.StatusCode != http.StatusOK || string(b) != "page" {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	h := app.last()
	if h.Get(HeaderDID) != e.alice.did.String() || h.Get(HeaderHandle) != "alice.test" {
		t.Errorf("identity: %v", h)
	}
	if len(h.Values(HeaderDID)) != 1 || h.Get("X-Atproto-Other") != "" {
		t.Errorf("incoming X-Atproto-* reached the upstream: %v", h)
	}
	if tok := h.Get(HeaderAct); tok == strings.Repeat("A", 43) || len(tok) != 43 {
		t.Errorf("act token %q", tok)
	}
	if c := h.Get("Cookie"); c != "theme=dark" {
		t.Errorf("Cookie to the upstream: %q", c)
	}
	if h.Get("Authorization") != "" {
		t.Error("Authorization reached the upstream")
	}
	if h.Get("X-Test-Host") != strings.TrimPrefix(e.srv.URL, "http://") || h.Get("X-Forwarded-For") == "" {
		t.Errorf("Host / X-Forwarded-For: %v", h)
	}

	// Anonymous: nothing, whatever the browser sends.
	readAll(t, e.browser(req{path: upstreamPath, header: spoof}))
	h = app.last()
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-atproto-") {
			t.Errorf("anonymous request carried %s", k)
		}
	}
	// An unsafe cross-origin request is anonymous too.
	readAll(t, e.browser(req{method: http.MethodPost, path: upstreamPath, as: e.alice, crossSite: true, body: strings.NewReader("x"), contentType: "text/plain"}))
	if h := app.last(); h.Get(HeaderDID) != "" || h.Get(HeaderAct) != "" {
		t.Errorf("cross-origin POST carried the identity: %v", h)
	}
	// A same-origin POST carries it.
	readAll(t, e.browser(req{method: http.MethodPost, path: upstreamPath, as: e.alice, body: strings.NewReader("x"), contentType: "text/plain"}))
	if h := app.last(); h.Get(HeaderDID) != e.alice.did.String() {
		t.Errorf("same-origin POST: %v", h)
	}
	// The upstream cannot set the session layer's cookies.
	resp = e.browser(req{path: "/app/cookie", as: e.alice})
	readAll(t, resp)
	sc := resp.Header.Values("Set-Cookie")
	if len(sc) != 1 || !strings.HasPrefix(sc[0], "app_pref=") {
		t.Errorf("Set-Cookie from the upstream: %q", sc)
	}
	// The gateway's own routes stay the gateway's.
	expectJSON(t, e.browser(req{path: "/api/session", as: e.alice}), http.StatusOK)
}

func TestUpstreamDown(t *testing.T) {
	e, _ := newUpstreamEnv(t, envOptions{})
	e.gw.proxy.Transport = roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, io.ErrUnexpectedEOF })
	expectError(t, e.browser(req{path: upstreamPath, as: e.alice}), http.StatusBadGateway, "upstream_unavailable")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestActOnlyDuringRequest(t *testing.T) {
	e, app := newUpstreamEnv(t, envOptions{})
	resp := e.browser(req{path: "/app/act?rkey=during", as: e.alice})
	m := expectJSON(t, resp, http.StatusOK)
	if uri, _ := m["uri"].(string); !strings.HasSuffix(uri, "/during") {
		t.Fatalf("act: %v", m)
	}
	if rec, ok := e.net.Record(e.alice.did, "app.bsky.feed.post", "during"); !ok || !strings.Contains(string(rec), "from the upstream") {
		t.Fatal("the upstream's record is not on the PDS")
	}
	for _, c := range e.pds.calls("/xrpc/com.atproto.repo.createRecord") {
		if a := c.header.Get("Authorization"); !strings.HasPrefix(a, "DPoP ") || c.header.Get(HeaderAct) != "" {
			t.Errorf("the upstream's credentials reached the PDS: %v", c.header)
		}
	}
	// The request is over: its token is dead, long before its TTL.
	if n := e.gw.acts.live(); n != 0 {
		t.Errorf("%d act tokens live after the request", n)
	}
	tok := app.act[len(app.act)-1]
	resp = e.act(http.MethodPost, "/xrpc/com.atproto.repo.createRecord", string(testSecret), tok,
		jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", "replayed", "x")), nil)
	expectError(t, resp, http.StatusForbidden, "act_token_invalid")
	expectError(t, e.act(http.MethodGet, "/api/session", string(testSecret), tok, nil, nil), http.StatusForbidden, "act_token_invalid")
	if _, ok := e.net.Record(e.alice.did, "app.bsky.feed.post", "replayed"); ok {
		t.Error("a replayed act token wrote a record")
	}
}

func TestActSecretAndToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := checkToken(t, e, e.alice)
	path := "/xrpc/com.atproto.server.getSession"
	// The shared secret: missing, wrong, a prefix, another scheme, twice.
	for _, a := range [][]string{nil, {"Bearer wrong-secret-wrong-secret-wrong-secret"}, {"Bearer " + string(testSecret)[:40]},
		{"Basic " + string(testSecret)}, {"Bearer " + string(testSecret), "Bearer " + string(testSecret)}, {"Bearer"}} {
		hr, _ := http.NewRequest(http.MethodGet, e.internal.URL+path, nil)
		hr.Header["Authorization"] = a
		hr.Header.Set(HeaderAct, tok)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%q: no challenge", a)
		}
		expectError(t, resp, http.StatusUnauthorized, "unauthorized")
	}
	// The act token: missing, malformed, unknown, twice.
	expectError(t, e.act(http.MethodGet, path, string(testSecret), "", nil, nil), http.StatusForbidden, "act_token_invalid")
	expectError(t, e.act(http.MethodGet, path, string(testSecret), "not-a-token", nil, nil), http.StatusForbidden, "act_token_invalid")
	expectError(t, e.act(http.MethodGet, path, string(testSecret), strings.Repeat("A", 43), nil, nil), http.StatusForbidden, "act_token_invalid")
	expectError(t, e.act(http.MethodGet, path, string(testSecret), "", nil, http.Header{HeaderAct: {tok, tok}}), http.StatusForbidden, "act_token_invalid")
	// With both: the session's own call.
	m := expectJSON(t, e.act(http.MethodGet, path, string(testSecret), tok, nil, nil), http.StatusOK)
	if m["did"] != e.alice.did.String() {
		t.Errorf("getSession through the act token: %v", m)
	}
	m = expectJSON(t, e.act(http.MethodGet, "/api/session", string(testSecret), tok, nil, nil), http.StatusOK)
	if m["did"] != e.alice.did.String() || m["csrf"] != nil {
		t.Errorf("/api/session on the internal listener: %v", m)
	}
	expectError(t, e.act(http.MethodGet, "/xrpc/not..valid", string(testSecret), tok, nil, nil), http.StatusNotFound, "invalid_nsid")
	// The browser's routes are not on the internal listener, nor the internal on the public.
	expectError(t, e.act(http.MethodGet, "/auth/check", string(testSecret), tok, nil, nil), http.StatusNotFound, "invalid_nsid")
	resp := e.browser(req{path: path, header: http.Header{"Authorization": {"Bearer " + string(testSecret)}, HeaderAct: {tok}}})
	expectError(t, resp, http.StatusUnauthorized, "not_signed_in")
}

func TestActTokenOfAnotherSession(t *testing.T) {
	e := newEnv(t, envOptions{})
	bobTok := checkToken(t, e, e.bob)
	// Bob's token acts for Bob only: it cannot be pointed at Alice.
	resp := e.act(http.MethodPost, "/xrpc/com.atproto.repo.createRecord", string(testSecret), bobTok,
		jsonBody(postRecord(e.bob.did, "app.bsky.feed.post", "b1", "x")), http.Header{HeaderDID: {e.alice.did.String()}})
	expectError(t, resp, http.StatusForbidden, "act_token_invalid")
	resp = e.act(http.MethodPost, "/xrpc/com.atproto.repo.createRecord", string(testSecret), bobTok,
		jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", "into-alice", "x")), nil)
	readAll(t, resp)
	if resp.StatusCode == http.StatusOK {
		t.Error("bob's token wrote into alice's repository")
	}
	if _, ok := e.net.Record(e.alice.did, "app.bsky.feed.post", "into-alice"); ok {
		t.Error("a record appeared in alice's repository")
	}
	m := expectJSON(t, e.act(http.MethodGet, "/xrpc/com.atproto.server.getSession", string(testSecret), bobTok, nil,
		http.Header{HeaderDID: {e.bob.did.String()}}), http.StatusOK)
	if m["did"] != e.bob.did.String() {
		t.Errorf("bob's token answered for %v", m["did"])
	}
}

// checkToken signs a forward-auth request in as a and returns its act token.
func checkToken(t *testing.T, e *env, a *account) string {
	t.Helper()
	resp := e.browser(req{path: "/auth/check", as: a})
	readAll(t, resp)
	tok := resp.Header.Get(HeaderAct)
	if resp.StatusCode != http.StatusOK || tok == "" {
		t.Fatalf("/auth/check: %d, act %q", resp.StatusCode, tok)
	}
	return tok
}

func TestForwardAuth(t *testing.T) {
	e := newEnv(t, envOptions{gw: Options{TrustProxy: true}})
	resp := e.browser(req{path: "/auth/check", as: e.alice})
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderDID) != e.alice.did.String() ||
		resp.Header.Get(HeaderHandle) != "alice.test" || len(resp.Header.Get(HeaderAct)) != 43 {
		t.Fatalf("check: %d %v", resp.StatusCode, resp.Header)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("the check answer may be cached")
	}
	// Not signed in.
	resp = e.browser(req{path: "/auth/check"})
	if resp.Header.Get(HeaderDID) != "" || resp.Header.Get(HeaderAct) != "" {
		t.Errorf("identity for nobody: %v", resp.Header)
	}
	expectError(t, resp, http.StatusUnauthorized, "not_signed_in")
	// Optional mode: 200, and nothing.
	resp = e.browser(req{path: "/auth/check?optional=1"})
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderDID) != "" {
		t.Errorf("optional anonymous: %d %v", resp.StatusCode, resp.Header)
	}
	// Whatever the proxy's method for the subrequest (nginx may keep the original).
	resp = e.browser(req{method: http.MethodPost, path: "/auth/check", as: e.alice})
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderDID) == "" {
		t.Errorf("POST check: %d", resp.StatusCode)
	}
	// The original request was a cross-origin POST (the proxy says so):
	// anonymous. Its Origin matches the forwarded host: signed in.
	hdr := http.Header{"X-Original-Method": {"POST"}, "Origin": {"https://app.example.com"}, "X-Forwarded-Host": {"app.example.com"}}
	resp = e.browser(req{path: "/auth/check", as: e.alice, noFetchMeta: true, header: hdr})
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderDID) == "" {
		t.Errorf("same-origin original POST: %d", resp.StatusCode)
	}
	hdr = http.Header{"X-Forwarded-Method": {"POST"}, "Origin": {evilOrigin}, "X-Forwarded-Host": {"app.example.com"}}
	resp = e.browser(req{path: "/auth/check", as: e.alice, noFetchMeta: true, header: hdr})
	if resp.Header.Get(HeaderDID) != "" || resp.Header.Get(HeaderAct) != "" {
		t.Errorf("cross-origin original POST got the identity")
	}
	expectError(t, resp, http.StatusUnauthorized, "not_signed_in")
	// A cross-site navigation (GET) is signed in: the cookie came with it.
	hdr = http.Header{"X-Forwarded-Method": {"GET"}, "Sec-Fetch-Site": {"cross-site"}}
	resp = e.browser(req{path: "/auth/check", as: e.alice, noFetchMeta: true, header: hdr})
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("cross-site navigation: %d", resp.StatusCode)
	}
	// A failing session layer is not "anonymous".
	e.sessions.mu.Lock()
	e.sessions.fail = io.ErrUnexpectedEOF
	e.sessions.mu.Unlock()
	expectError(t, e.browser(req{path: "/auth/check", as: e.alice}), http.StatusServiceUnavailable, "session_unavailable")
}

func TestForwardAuthIgnoresProxyHeadersUntrusted(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Without TrustProxy, X-Forwarded-Method cannot make a cross-site
	// POST look safe, nor a forged X-Forwarded-Host make it same-origin.
	hdr := http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Host": {"evil.example"}}
	resp := e.browser(req{method: http.MethodPost, path: "/auth/check", as: e.alice, crossSite: true, header: hdr})
	expectError(t, resp, http.StatusUnauthorized, "not_signed_in")
}

func TestActTokenTTL(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := checkToken(t, e, e.alice)
	path := "/xrpc/com.atproto.server.getSession"
	e.clock.Advance(DefaultActTTL - time.Second)
	expectJSON(t, e.act(http.MethodGet, path, string(testSecret), tok, nil, nil), http.StatusOK)
	e.clock.Advance(time.Second)
	expectError(t, e.act(http.MethodGet, path, string(testSecret), tok, nil, nil), http.StatusForbidden, "act_token_invalid")
	if n := e.gw.acts.live(); n != 0 {
		t.Errorf("%d tokens live after their TTL", n)
	}
}

func TestActTokenBudgetAndBounds(t *testing.T) {
	e := newEnv(t, envOptions{gw: Options{ActMaxCalls: 2, ActTTL: 10 * time.Second}})
	tok := checkToken(t, e, e.alice)
	path := "/xrpc/com.atproto.server.getSession"
	// /api/session does not spend a call.
	expectJSON(t, e.act(http.MethodGet, "/api/session", string(testSecret), tok, nil, nil), http.StatusOK)
	expectJSON(t, e.act(http.MethodGet, path, string(testSecret), tok, nil, nil), http.StatusOK)
	expectJSON(t, e.act(http.MethodGet, path, string(testSecret), tok, nil, nil), http.StatusOK)
	m := expectError(t, e.act(http.MethodGet, path, string(testSecret), tok, nil, nil), http.StatusForbidden, "act_token_invalid")
	if !strings.Contains(m["message"].(string), "2 calls") {
		t.Errorf("message: %v", m)
	}
	e.clock.Advance(11 * time.Second)
	// One session holds at most maxActPerSession live tokens: the oldest go.
	var toks []string
	for range maxActPerSession + 3 {
		toks = append(toks, checkToken(t, e, e.alice))
	}
	if n := e.gw.acts.live(); n != maxActPerSession {
		t.Errorf("%d live tokens, want %d", n, maxActPerSession)
	}
	expectError(t, e.act(http.MethodGet, path, string(testSecret), toks[0], nil, nil), http.StatusForbidden, "act_token_invalid")
	expectJSON(t, e.act(http.MethodGet, path, string(testSecret), toks[len(toks)-1], nil, nil), http.StatusOK)
	// Another session's tokens are untouched by that.
	bobTok := checkToken(t, e, e.bob)
	for range maxActPerSession {
		checkToken(t, e, e.alice)
	}
	expectJSON(t, e.act(http.MethodGet, path, string(testSecret), bobTok, nil, nil), http.StatusOK)
}

func TestNoActTokensWithoutSecret(t *testing.T) {
	e := newEnv(t, envOptions{})
	g, err := New(Options{Sessions: e.sessions})
	if err != nil {
		t.Fatal(err)
	}
	if g.InternalHandler() != nil || g.UpstreamHandler() != nil {
		t.Error("handlers without Secret / Upstream")
	}
	hr, _ := http.NewRequest(http.MethodGet, "/auth/check", nil)
	hr.AddCookie(&http.Cookie{Name: cookieName, Value: e.alice.cookie})
	rec := newRecorder()
	g.CheckHandler().ServeHTTP(rec, hr)
	if rec.code != http.StatusOK || rec.Header().Get(HeaderDID) == "" || rec.Header().Get(HeaderAct) != "" {
		t.Errorf("check without a secret: %d %v", rec.code, rec.Header())
	}
}

type recorder struct {
	h    http.Header
	code int
	body strings.Builder
}

func newRecorder() *recorder                    { return &recorder{h: http.Header{}} }
func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) WriteHeader(c int)           { r.code = c }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func TestSignOutEndsActing(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := checkToken(t, e, e.alice)
	if err := e.client.Logout(t.Context(), e.alice.sess.ID()); err != nil {
		t.Fatal(err)
	}
	resp := e.act(http.MethodPost, "/xrpc/com.atproto.repo.createRecord", string(testSecret), tok,
		jsonBody(postRecord(e.alice.did, "app.bsky.feed.post", "after", "x")), nil)
	expectError(t, resp, http.StatusUnauthorized, "not_signed_in")
	if _, ok := e.net.Record(e.alice.did, "app.bsky.feed.post", "after"); ok {
		t.Error("a signed-out session wrote a record")
	}
}
