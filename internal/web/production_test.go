package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/atoauth/atoauth/jwk"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// prodEnv runs the app as in production: a web client at
// https://client.example.com (atoauthtest.ClientHostURL) that serves its
// own client metadata and JWKS, which the fake authorization server
// fetches.
type prodEnv struct {
	t       *testing.T
	net     *atoauthtest.Network
	alice   syntax.DID
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	store   *atoauth.MemoryStore
	dir     string
}

const publicURL = atoauthtest.ClientHostURL

func newProdEnv(t *testing.T) *prodEnv {
	p := &prodEnv{t: t, store: atoauth.NewMemoryStore(), dir: t.TempDir()}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*p.handler.Load()).ServeHTTP(w, r)
	}))
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.net = atoauthtest.NewNetwork(t, atoauthtest.Options{ClientHTTPClient: p.httpClient(nil)})
	p.alice = p.net.CreateAccount("alice.test")
	return p
}

// httpClient reaches the app's TLS server whatever the host name.
func (p *prodEnv) httpClient(jar http.CookieJar) *http.Client {
	tr := p.srv.Client().Transport.(*http.Transport).Clone()
	addr := p.srv.Listener.Addr().String()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (p *prodEnv) key(kid string) string {
	path, _ := keyFile(p.t, p.dir, kid)
	return path
}

// keyFile writes a new private key with key ID kid to dir/kid.jwk and
// returns the file's path and the key.
func keyFile(t *testing.T, dir, kid string) (string, *jwk.Key) {
	t.Helper()
	k, err := jwk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k = k.WithKeyID(kid)
	data, _ := k.MarshalPrivate()
	path := filepath.Join(dir, kid+".jwk")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, k
}

// serve makes the app with these key files the one answering.
func (p *prodEnv) serve(keyFiles ...string) *atoauth.Client {
	cfg, err := web.ClientConfig(web.ClientOptions{PublicURL: publicURL, KeyFiles: keyFiles, ClientName: "Test app",
		PLCURL: p.net.PLC.URL, HandleResolver: p.net.PDS.URL, InsecureDev: true})
	if err != nil {
		p.t.Fatal(err)
	}
	cfg.Store = p.store
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	app, err := web.New(web.Options{Client: client, PublicURL: publicURL})
	if err != nil {
		p.t.Fatal(err)
	}
	var h http.Handler = app
	p.handler.Store(&h)
	return client
}

func (p *prodEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: p.t, base: publicURL, net: p.net, jar: jar, hc: p.httpClient(jar)}
}

// signIn signs alice in through b, checking the state cookie and the
// redirect to the callback.
func (p *prodEnv) signIn(b *browser) page {
	p.t.Helper()
	lp := b.send("POST", "/login", url.Values{"identifier": {"alice.test"}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if lp.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("login: HTTP %d\n%s", lp.StatusCode, lp.body)
	}
	if c := setCookie(lp, "__Host-atoauth_state"); c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		p.t.Errorf("state cookie: %+v", c)
	}
	redirect, err := p.net.Approve(context.Background(), lp.Header.Get("Location"), p.alice)
	if err != nil {
		p.t.Fatal(err)
	}
	if !strings.HasPrefix(redirect.String(), publicURL+web.WebCallbackPath+"?") {
		p.t.Fatalf("redirect %s", redirect)
	}
	return b.get(web.WebCallbackPath + "?" + redirect.RawQuery)
}

func TestProductionConfidentialClientAndKeyRotation(t *testing.T) {
	p := newProdEnv(t)
	k1 := p.key("k1")
	client := p.serve(k1)
	b := p.browser()

	// The app serves its metadata and JWKS; the authorization server
	// fetches them.
	md := b.get(web.MetadataPath)
	var doc map[string]any
	if err := json.Unmarshal([]byte(md.body), &doc); err != nil || md.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("metadata: %v %q", err, md.Header.Get("Content-Type"))
	}
	if doc["client_id"] != publicURL+web.MetadataPath || doc["token_endpoint_auth_method"] != "private_key_jwt" ||
		doc["jwks_uri"] != publicURL+web.JWKSPath || doc["redirect_uris"].([]any)[0] != publicURL+web.WebCallbackPath ||
		doc["application_type"] != "web" || doc["client_name"] != "Test app" {
		t.Fatalf("metadata: %v", doc)
	}
	jwks := b.get(web.JWKSPath)
	if !strings.Contains(jwks.body, `"kid": "k1"`) || strings.Contains(jwks.body, `"d"`) {
		t.Fatalf("jwks: %s", jwks.body)
	}

	cb := p.signIn(b)
	if cb.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: HTTP %d\n%s", cb.StatusCode, cb.body)
	}
	sess := setCookie(cb, "__Host-atoauth_session")
	if sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.MaxAge < 300*24*3600 {
		t.Fatalf("session cookie: %+v", sess)
	}
	if p.net.Counters().ClientMetadataFetches == 0 {
		t.Fatal("the authorization server did not fetch the metadata")
	}
	info, err := client.Session(context.Background(), sess.Value)
	if err != nil || info.Info().ClientKeyID != "k1" {
		t.Fatalf("session: %v %v", info, err)
	}
	home := b.get("/session")
	if home.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over https")
	}
	mustContain(t, "session page", home.body, "up to two years", "<code>k1</code>")

	// Rotation: a new key first, the old one kept. The old session keeps
	// refreshing with its key; new sessions use the new one.
	k2 := p.key("k2")
	p.serve(k2, k1)
	p.net.ExpireAccessTokens()
	refreshes := p.net.Counters().Refreshes
	if home := b.get("/"); home.StatusCode != http.StatusOK || !strings.Contains(home.body, "@alice.test") {
		t.Fatalf("old session after rotation: HTTP %d", home.StatusCode)
	}
	if s, _ := p.store.GetSession(context.Background(), sess.Value); s == nil || s.ClientKeyID != "k1" || p.net.Counters().Refreshes != refreshes+1 {
		t.Fatal("no refresh with the old key")
	}
	b2 := p.browser()
	p.signIn(b2)
	if s, _ := p.store.GetSession(context.Background(), b2.cookieValue("__Host-atoauth_session")); s == nil || s.ClientKeyID != "k2" {
		t.Fatalf("new session: %v", s)
	}

	// The old key removed: its sessions end, the new ones go on.
	p.serve(k2)
	p.net.ExpireAccessTokens()
	if r := b.get("/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/?notice=session-key" {
		t.Fatalf("session of a removed key: HTTP %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r := b2.get("/session"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "<code>k2</code>") {
		t.Fatalf("session of the new key: HTTP %d", r.StatusCode)
	}

	// Behind a proxy that rewrites Host, a same-origin form still passes
	// the cross-origin check (the public origin is trusted), and the
	// canonical-host redirect does not loop when the proxy forwards the
	// original host.
	r := b2.send("POST", "/logout", url.Values{"csrf": {csrfOf(b2.get("/").body)}}, map[string]string{"Origin": publicURL, "Host": "10.0.0.5:8080"})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/?notice=signed-out" {
		t.Fatalf("logout through a proxy: HTTP %d %s\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
}

func TestProxyHeaders(t *testing.T) {
	p := newProdEnv(t)
	cfg, err := web.ClientConfig(web.ClientOptions{PublicURL: publicURL, PLCURL: p.net.PLC.URL, HandleResolver: p.net.PDS.URL, InsecureDev: true})
	if err != nil {
		t.Fatal(err)
	}
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, trust := range []bool{false, true} {
		app, err := web.New(web.Options{Client: client, PublicURL: publicURL, TrustProxy: trust})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "http://10.0.0.5:8080/records", nil)
		req.Header.Set("X-Forwarded-Host", "client.example.com")
		req.Header.Set("X-Forwarded-Proto", "https")
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		if trust && rec.Code != http.StatusSeeOther { // to the sign-in page, not to the canonical host
			t.Errorf("trusted proxy: HTTP %d %s", rec.Code, rec.Header().Get("Location"))
		}
		if !trust && (rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != publicURL+"/records") {
			t.Errorf("untrusted proxy: HTTP %d %s", rec.Code, rec.Header().Get("Location"))
		}
	}
}

func csrfOf(body string) string {
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	good, k := keyFile(t, dir, "2026-a")
	data, _ := k.MarshalPrivate()
	var priv struct{ D string }
	json.Unmarshal(data, &priv)
	secretD := priv.D
	nokid := filepath.Join(dir, "nokid.jwk")
	data, _ = k.WithKeyID("").MarshalPrivate()
	os.WriteFile(nokid, data, 0o600)
	public := filepath.Join(dir, "public.jwk")
	pub, _ := json.Marshal(k.PublicJWK())
	os.WriteFile(public, pub, 0o600)

	// Loopback.
	cfg, err := web.ClientConfig(web.ClientOptions{Port: 8080})
	if err != nil || cfg.ClientID != "" || cfg.RedirectURIs[0] != "http://127.0.0.1/callback" || cfg.Scope != web.DefaultScope {
		t.Fatalf("loopback: %+v %v", cfg, err)
	}
	// Public web client.
	cfg, err = web.ClientConfig(web.ClientOptions{PublicURL: "https://App.Example.com/"})
	if err != nil || cfg.ClientID != "https://app.example.com/oauth-client-metadata.json" || cfg.RedirectURIs[0] != "https://app.example.com/oauth/callback" ||
		len(cfg.Keys) != 0 || cfg.JWKSURI != "" || cfg.ClientURI != "https://app.example.com" {
		t.Fatalf("web: %+v %v", cfg, err)
	}
	if _, err := atoauth.NewClient(cfg); err != nil {
		t.Fatalf("NewClient(web): %v", err)
	}
	// Confidential.
	cfg, err = web.ClientConfig(web.ClientOptions{PublicURL: "https://app.example.com", KeyFiles: []string{good}})
	if err != nil || len(cfg.Keys) != 1 || cfg.Keys[0].KeyID() != "2026-a" || cfg.JWKSURI != "https://app.example.com/oauth/jwks.json" {
		t.Fatalf("confidential: %+v %v", cfg, err)
	}
	c, err := atoauth.NewClient(cfg)
	if err != nil || c.Metadata().TokenEndpointAuthMethod != "private_key_jwt" {
		t.Fatalf("NewClient(confidential): %v", err)
	}

	for _, tc := range []struct {
		name string
		o    web.ClientOptions
		want string
	}{
		{"no port", web.ClientOptions{}, "listening port"},
		{"key without public URL", web.ClientOptions{Port: 8080, KeyFiles: []string{good}}, "needs a public URL"},
		{"http", web.ClientOptions{PublicURL: "http://app.example.com"}, "must use https"},
		{"path", web.ClientOptions{PublicURL: "https://app.example.com/app"}, "must not have a path"},
		{"query", web.ClientOptions{PublicURL: "https://app.example.com?x=1"}, "query"},
		{"relative", web.ClientOptions{PublicURL: "app.example.com"}, "not an absolute URL"},
		{"missing key", web.ClientOptions{PublicURL: "https://app.example.com", KeyFiles: []string{filepath.Join(dir, "nope")}}, "no such file"},
		{"no kid", web.ClientOptions{PublicURL: "https://app.example.com", KeyFiles: []string{nokid}}, "no key id"},
		{"public key", web.ClientOptions{PublicURL: "https://app.example.com", KeyFiles: []string{public}}, "public key"},
	} {
		_, err := web.ClientConfig(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secretD) {
			t.Errorf("%s: key material in the error", tc.name)
		}
	}
	// http is allowed for development.
	if cfg, err := web.ClientConfig(web.ClientOptions{PublicURL: "http://127.0.0.1:8080", InsecureDev: true}); err != nil || cfg.ClientID != "http://127.0.0.1:8080/oauth-client-metadata.json" {
		t.Fatalf("dev: %+v %v", cfg, err)
	}
	if _, err := web.New(web.Options{Client: c, AppView: "not a service"}); err == nil {
		t.Error("a bad AppView reference was accepted")
	}
	if _, err := web.New(web.Options{Client: c, PublicURL: "ftp://x"}); err == nil {
		t.Error("a bad public URL was accepted")
	}
}
