package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/internal/testnet"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/atoauth/atoauth/sqlite"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// TestConfidentialClientOnTheReferenceServer runs `atoauth serve` as a
// production app is run: a confidential web client (private_key_jwt) at
// https://<a real-looking name>, its client metadata and JWKS fetched by
// the reference PDS over https (a certificate from the test CA the PDS
// trusts), behind a TLS-terminating reverse proxy on port 443. It signs in
// through the PDS's pages in Chromium and posts; shows that the PDS treats
// the client as confidential (a refresh without a client assertion is
// refused, one with it succeeds); then rotates the key as the README
// says: the new key, published second beforehand, is put first — old
// sessions keep refreshing with their key, new ones use the new key. A key
// the PDS has not seen published yet is refused (the reference server
// caches a client's JWKS for 10 minutes).
func TestConfidentialClientOnTheReferenceServer(t *testing.T) {
	n := testnet.Get(t)
	if os.Getenv("ATOAUTH_E2E_SKIP_CONFIDENTIAL") != "" {
		t.Skip("ATOAUTH_E2E_SKIP_CONFIDENTIAL is set (scripts/test sets it when not run as root: this test listens on port 443)")
	}
	if n.ConfidentialClientHost == "" || n.TestCA == nil {
		t.Fatal("the network was started without a test CA (NODE_EXTRA_CA_CERTS and ATOAUTH_TESTENV_CA_KEY) or without the confidential client host; scripts/test and testnet.Start give it both")
	}
	host := n.ConfidentialClientHost
	publicURL := "https://" + host
	alice, bob := n.Account("alice"), n.Account("bob")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The reverse proxy: TLS on 127.0.0.1:443 with a certificate for host.
	ca, err := testnet.LoadCA(n.TestCA.Cert, n.TestCA.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, spki, err := ca.Issue(host)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:443")
	if err != nil {
		t.Fatalf("listening on 127.0.0.1:443 (a client_id has no port; run as root, or set ATOAUTH_E2E_SKIP_CONFIDENTIAL=1): %v", err)
	}
	proxy := &reverseProxy{}
	front := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go front.ServeTLS(ln, "", "")
	defer front.Close()

	// Three keys, made with atoauth keygen: k1 signs at first, k2 is
	// published beside it, k3 is never published. The reference server
	// caches the client's JWKS for 10 minutes, so the keys live as long as
	// the network (beside its CA): a second run against the same network
	// must not present other keys under the same JWKS URL.
	dir := t.TempDir()
	keyDir := filepath.Join(filepath.Dir(n.TestCA.Cert), "confidential-client-keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := atoauthBinary(t)
	keys := map[string]string{}
	for _, kid := range []string{"k1", "k2", "k3"} {
		keys[kid] = filepath.Join(keyDir, kid+".jwk")
		if _, err := os.Stat(keys[kid]); err == nil {
			continue
		}
		if out, err := exec.Command(bin, "keygen", "--kid", kid, keys[kid]).CombinedOutput(); err != nil {
			t.Fatalf("keygen: %v\n%s", err, out)
		}
		if st, err := os.Stat(keys[kid]); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file %s: %v %v", kid, st, err)
		}
	}
	storePath := filepath.Join(dir, "sessions.db")
	serveWith := func(kids ...string) (stop func()) {
		t.Helper()
		args := []string{"serve", "--addr", "127.0.0.1:0", "--public-url", publicURL, "--trust-proxy",
			"--store", storePath, "--plc-url", n.PLCURL, "--handle-resolver", n.PDSURL, "--insecure-dev"}
		for _, k := range kids {
			args = append(args, "--client-key", keys[k])
		}
		cmd := exec.Command(bin, args...)
		cmd.Stderr = testWriter{t}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		addr := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				t.Log("serve: " + sc.Text())
				if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
					addr <- m[1]
				}
			}
		}()
		select {
		case a := <-addr:
			proxy.set(a)
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Fatal("atoauth serve did not start")
		}
		return func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	}
	// A client like the app's, on the same store: the test's view of the
	// sessions, and a second instance able to refresh them.
	store, err := sqlite.Open(ctx, storePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	appClient := func(kids ...string) *atoauth.Client {
		t.Helper()
		var files []string
		for _, k := range kids {
			files = append(files, keys[k])
		}
		cfg, err := web.ClientConfig(web.ClientOptions{PublicURL: publicURL, KeyFiles: files, PLCURL: n.PLCURL, HandleResolver: n.PDSURL, InsecureDev: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Store = store
		c, err := atoauth.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	browser := func(name string) *testnet.Browser {
		t.Helper()
		b, err := testnet.NewBrowserWith(ctx, name, testnet.BrowserOptions{Loopback: []string{host}, TrustSPKI: []string{spki}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	signInAndPost := func(b *testnet.Browser, acct testnet.Account, text string) {
		t.Helper()
		step := stepper(t, b)
		step("open", b.Navigate(publicURL+"/"))
		step("sign-in form", b.WaitJS(`!!document.querySelector('input[name=identifier]')`))
		step("handle", b.Type(`input[name=identifier]`, acct.Handle))
		step("sign in", b.ClickButton(`^sign in$`))
		if _, err := b.SignIn(testnet.AuthorizeOptions{Password: acct.Password, RedirectPrefix: publicURL + "/", Screenshots: true}); err != nil {
			t.Fatal(err)
		}
		step("home", b.WaitJS(`document.body.innerText.includes(`+jsString(acct.DID)+`) && !!document.querySelector('textarea[name=text]')`))
		composePost(t, b, publicURL, text)
		if !repoHasPost(t, n, acct.DID, text) {
			t.Fatalf("the post %q is not in %s's repo", text, acct.Handle)
		}
	}
	sessionOf := func(did string) *atoauth.SessionData {
		t.Helper()
		list, err := store.ListSessions(ctx, syntax.DID(did))
		if err != nil || len(list) != 1 {
			t.Fatalf("sessions of %s: %v %v", did, list, err)
		}
		return list[0]
	}

	// 1. Sign in and post; the session is bound to k1.
	stop := serveWith("k1", "k2")
	b1 := browser("confidential-alice")
	defer b1.Close()
	signInAndPost(b1, alice, "from a confidential client "+time.Now().Format(time.RFC3339Nano))
	b1.Screenshot("confidential-home")
	d := sessionOf(alice.DID)
	if d.ClientKeyID != "k1" {
		t.Fatalf("the session is bound to %q, want k1", d.ClientKeyID)
	}

	// 2. The PDS treats the client as confidential: a refresh without a
	// client assertion is refused (before the refresh token is looked at,
	// so nothing is spent), one with it succeeds.
	code, desc := refreshWithoutAssertion(t, ctx, publicURL+web.MetadataPath, d)
	if code != "invalid_request" && code != "invalid_client" {
		t.Fatalf("a refresh without client assertion: %s (%s), want it refused", code, desc)
	}
	t.Logf("refresh without a client assertion: %s (%s)", code, desc)
	s, err := appClient("k1", "k2").Session(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatalf("a refresh with the client assertion: %v", err)
	}

	// 3. Rotate: k2 first, k1 kept. The old session refreshes with k1 and
	// still works in the browser; a new session uses k2.
	stop()
	stop = serveWith("k2", "k1")
	defer func() { stop() }()
	// The app refreshes the old session itself: its token is made to look
	// expired, so the next page refreshes before it calls the PDS.
	before := sessionOf(alice.DID)
	before.ExpiresAt = time.Now().Add(-time.Second)
	if err := store.SaveSession(ctx, before); err != nil {
		t.Fatal(err)
	}
	composePost(t, b1, publicURL, "after the rotation "+time.Now().Format(time.RFC3339Nano))
	after := sessionOf(alice.DID)
	if after.RefreshToken == before.RefreshToken || after.ClientKeyID != "k1" {
		t.Fatalf("the old session after the rotation: refreshed %v, bound to %q; want refreshed with k1", after.RefreshToken != before.RefreshToken, after.ClientKeyID)
	}
	b2 := browser("confidential-bob")
	defer b2.Close()
	signInAndPost(b2, bob, "a new session after the rotation "+time.Now().Format(time.RFC3339Nano))
	if got := sessionOf(bob.DID).ClientKeyID; got != "k2" {
		t.Fatalf("the new session is bound to %q, want k2", got)
	}

	// 4. A key the PDS has not seen in the client's JWKS yet is refused:
	// the reference server caches a client's JWKS (and metadata) for 10
	// minutes, which is why a new key must be published before it signs.
	_, err = appClient("k3", "k2", "k1").Start(ctx, alice.Handle, nil)
	var oe *atoauth.OAuthError
	if !errors.As(err, &oe) || (oe.Code != "invalid_client" && oe.Code != "invalid_client_metadata") {
		t.Fatalf("a login signed with an unpublished key: %v, want the PDS to refuse it", err)
	}
	t.Logf("a login signed with an unpublished key: %v", err)
}

var servingRE = regexp.MustCompile(`serving https://\S+ on (127\.0\.0\.1:[0-9]+)`)

// composePost writes text with the web app's composer at app.
func composePost(t *testing.T, b *testnet.Browser, app, text string) {
	t.Helper()
	if err := b.Navigate(app + "/"); err != nil {
		t.Fatal(b.Fail("home", err))
	}
	if err := b.WaitJS(`!!document.querySelector('textarea[name=text]')`); err != nil {
		t.Fatal(b.Fail("composer", err))
	}
	if err := b.Type(`textarea[name=text]`, text); err != nil {
		t.Fatal(b.Fail("compose", err))
	}
	if err := b.ClickButton(`^post$`); err != nil {
		t.Fatal(b.Fail("post", err))
	}
	if err := b.WaitJS(`document.body.innerText.includes('Posted.') && document.body.innerText.includes(` + jsString(text) + `)`); err != nil {
		t.Fatal(b.Fail("posted", err))
	}
}

// refreshWithoutAssertion sends the session's refresh token to the token
// endpoint as a public client would (DPoP, client_id, no assertion) and
// returns the error code the server answers ("" for a success).
func refreshWithoutAssertion(t *testing.T, ctx context.Context, clientID string, d *atoauth.SessionData) (code, desc string) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {d.RefreshToken}, "client_id": {clientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Transport: &dpop.Transport{Key: d.DPoPKey}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return "", ""
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error, e.Description
}

// reverseProxy forwards to the app's current address, as nginx would
// (X-Forwarded-For, -Host, -Proto).
type reverseProxy struct {
	mu     sync.Mutex
	target *url.URL
}

func (p *reverseProxy) set(addr string) {
	u, _ := url.Parse("http://" + addr)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = u
}

func (p *reverseProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.SetXForwarded()
		pr.Out.Host = pr.In.Host
	}}
	rp.ServeHTTP(w, r)
}
