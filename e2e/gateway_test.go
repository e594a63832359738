package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth/internal/cli/serve"
	"github.com/atoauth/atoauth/internal/gateway"
	"github.com/atoauth/atoauth/internal/testnet"
	"github.com/chromedp/chromedp"
)

// gatewaySecret is the internal listener's shared secret of these tests.
const gatewaySecret = "e2e-gateway-secret-0123456789-abcdefghijklmnop"

// startGateway runs `atoauth serve --gateway` in this process on n (a
// loopback client, a SQLite store), with upstream when not "", until the
// test ends; it returns the public and internal base URLs.
func startGateway(t *testing.T, n *testnet.Network, upstream string, trustProxy bool) (public, internal string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs, internals := make(chan string, 1), make(chan string, 1)
	o := &serve.Options{
		Addr: "127.0.0.1:0", Scope: "atproto transition:generic", Store: filepath.Join(t.TempDir(), "atoauth.db"),
		PLCURL: n.PLCURL, HandleResolver: n.PDSURL, InsecureDev: true, TrustProxy: trustProxy,
		Gateway: true, Upstream: upstream, InternalAddr: "127.0.0.1:0", GatewaySecret: gateway.Secret(gatewaySecret),
		Listening:         func(a net.Addr) { addrs <- a.String() },
		InternalListening: func(a net.Addr) { internals <- a.String() },
	}
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, o, io.Discard, testWriter{t}) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("the gateway did not shut down")
		}
	})
	select {
	case a := <-addrs:
		public = "http://" + a
	case err := <-done:
		t.Fatalf("the gateway did not start: %v", err)
	}
	return public, "http://" + <-internals
}

// spaPage is a single-page app served by the upstream through the
// gateway (same origin): it asks /api/session who is signed in and keeps
// the CSRF token for its procedures.
const spaPage = `<!doctype html><meta charset="utf-8"><title>SPA</title>
<p id="who">…</p>
<script>
fetch('/api/session').then(r => r.ok ? r.json() : null).then(s => {
	window.session = s;
	document.getElementById('who').textContent = s ? 'Signed in as ' + s.did + ' (@' + s.handle + ')' : 'Signed out';
});
function createPost(text, withToken) {
	const headers = {'Content-Type': 'application/json'};
	if (withToken) headers['X-CSRF-Token'] = window.session.csrf;
	return fetch('/xrpc/com.atproto.repo.createRecord', {method: 'POST', headers, body: JSON.stringify({
		repo: window.session.did, collection: 'app.bsky.feed.post',
		record: {$type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString()}})}).then(r => r.status);
}
</script>`

// TestGatewayInABrowser: a page served through `atoauth serve --gateway
// --upstream …` signs in through the PDS's pages, then from JavaScript
// reads /api/session and posts through /xrpc/com.atproto.repo.createRecord
// with the CSRF header (the record appears on the PDS); the same post
// without the header is refused.
func TestGatewayInABrowser(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, spaPage)
	}))
	defer upstream.Close()
	base, _ := startGateway(t, n, upstream.URL, false)

	b, step := openBrowser(t, "gateway", 3*time.Minute)
	step("open", b.Navigate(base+"/"))
	step("signed out", b.WaitJS(`document.getElementById('who').textContent === 'Signed out'`))
	step("sign in", b.Navigate(base+"/auth/signin?identifier="+alice.Handle+"&next=/"))
	if _, err := b.SignIn(testnet.AuthorizeOptions{Password: alice.Password, RedirectPrefix: base + "/", Screenshots: true}); err != nil {
		t.Fatal(err)
	}
	step("signed in", b.WaitJS(`location.pathname === '/' && document.getElementById('who').textContent.includes(`+jsString(alice.DID)+`)`))
	t.Logf("screenshot: %s", b.Screenshot("signed-in"))
	if cookies, err := testnet.Eval[string](b, `document.cookie`); err != nil || strings.Contains(cookies, "atoauth") {
		t.Errorf("the session cookie is readable from JavaScript: %q %v", cookies, err)
	}

	post := func(text string, withToken bool) float64 {
		t.Helper()
		status, err := chromedp.Run(b.Context(), chromedp.Evaluate[float64](fmt.Sprintf(`createPost(%s, %v)`, jsString(text), withToken), chromedp.EvalAwaitPromise))
		step("createRecord", err)
		return status
	}
	text := "posted from JavaScript through the gateway " + time.Now().Format(time.RFC3339Nano)
	if status := post(text+" (no token)", false); status != http.StatusForbidden {
		t.Errorf("createRecord without X-CSRF-Token: HTTP %v, want 403", status)
	}
	if status := post(text, true); status != http.StatusOK {
		t.Fatalf("createRecord with X-CSRF-Token: HTTP %v", status)
	}
	if !repoHasPost(t, n, alice.DID, text) {
		t.Fatal("the post made through the gateway is not on the PDS")
	}
	if repoHasPost(t, n, alice.DID, text+" (no token)") {
		t.Fatal("the post without the CSRF header reached the PDS")
	}
}

// startUpstreamPy runs e2e/testdata/upstream.py (an application in
// Python) and returns its URL; it acts through internal with the tests'
// shared secret.
func startUpstreamPy(t *testing.T, internal string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 not found (apt-get install python3)")
	}
	cmd := exec.Command(py, "testdata/upstream.py")
	cmd.Env = append(os.Environ(), "GATEWAY_INTERNAL="+internal, "GATEWAY_SECRET="+gatewaySecret)
	cmd.Stderr = testWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	port, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("upstream.py said %q: %v", line, err)
	}
	return "http://127.0.0.1:" + port
}

// readmeNginx returns the nginx configuration of the README's forward-auth
// section, split into its http-level directives (the cookie maps) and
// its server block's, made to run here: the gateway and the application
// at their test URLs, $http_host for $host (this deployment listens on a
// loopback port, which $host drops), the loopback client's /callback
// among the gateway's routes, and no TLS lines (StartNginx listens).
func readmeNginx(t *testing.T, gatewayURL, appURL string) (httpBlock, server string) {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "#### nginx (`auth_request`)")
	if ok {
		_, after, ok = strings.Cut(after, "```nginx\n")
	}
	conf, _, ok2 := strings.Cut(after, "\n```")
	if !ok || !ok2 {
		t.Fatal("the README has no nginx block under '#### nginx (`auth_request`)'")
	}
	httpBlock, rest, ok := strings.Cut(conf, "\nserver {")
	if !ok || !strings.HasSuffix(strings.TrimSpace(rest), "}") {
		t.Fatal("the README's nginx block has no server { … }")
	}
	rest = strings.TrimSuffix(strings.TrimSpace(rest), "}")
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		f := strings.TrimSpace(l)
		if strings.HasPrefix(f, "listen ") || strings.HasPrefix(f, "server_name ") || strings.HasPrefix(f, "# ssl_") {
			continue
		}
		lines = append(lines, l)
	}
	server = strings.Join(lines, "\n")
	for _, r := range [][2]string{{"http://127.0.0.1:8080", gatewayURL}, {"http://127.0.0.1:3000", appURL}, {"$host", "$http_host"}, {"oauth/|", "oauth/|callback$|"}} {
		if !strings.Contains(server, r[0]) {
			t.Fatalf("the README's nginx server block lacks %q", r[0])
		}
		server = strings.ReplaceAll(server, r[0], r[1])
	}
	return httpBlock, server
}

// upstreamSaw is what upstream.py answers: the identity headers it got.
type upstreamSaw struct {
	Path          string
	DID, Handle   string
	Act, Cookie   bool
	Cookies       []string
	Authorization bool
	Acted         *struct {
		Status int
		Body   json.RawMessage
	}
}

// TestForwardAuthWithNginx puts a real nginx (Debian's, auth_request),
// configured as the README says, in front of the gateway and an
// application in Python: the application
// gets X-Atproto-Did for a signed-in browser and nothing for an anonymous
// one (a forged header is dropped), never the gateway's cookies; the
// sign-in goes through nginx; and during a request the application acts
// for its user through the internal listener with the request's act
// token.
func TestForwardAuthWithNginx(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	gw, internal := startGateway(t, n, "", true)
	app := startUpstreamPy(t, internal)
	httpBlock, server := readmeNginx(t, gw, app)
	front := testnet.StartNginx(t, httpBlock, server)

	b, step := openBrowser(t, "nginx", 3*time.Minute)
	saw := func(path string, header http.Header) upstreamSaw {
		t.Helper()
		var s upstreamSaw
		if header == nil {
			// In the browser, with its cookies.
			body, err := chromedp.Run(b.Context(), chromedp.Evaluate[string](`fetch(`+jsString(path)+`).then(r => r.text())`, chromedp.EvalAwaitPromise))
			step("fetch "+path, err)
			step("decode "+path, json.Unmarshal([]byte(body), &s))
			return s
		}
		req, _ := http.NewRequest("GET", front+path, nil)
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatalf("GET %s through nginx: HTTP %d: %v", path, resp.StatusCode, err)
		}
		return s
	}

	// Anonymous, even with a forged identity header: nothing.
	if s := saw("/whoami", http.Header{"X-Atproto-Did": {"did:plc:forged"}, "X-Atproto-Act": {"forged"}}); s.DID != "" || s.Act || s.Handle != "" {
		t.Fatalf("an anonymous request reached the application as %+v", s)
	}

	// Sign in through nginx.
	step("open", b.Navigate(front+"/auth/signin?identifier="+alice.Handle+"&next=/whoami"))
	if _, err := b.SignIn(testnet.AuthorizeOptions{Password: alice.Password, RedirectPrefix: front + "/", Screenshots: true}); err != nil {
		t.Fatal(err)
	}
	step("back on the application", b.WaitJS(`location.pathname === '/whoami' && document.body.innerText.includes(`+jsString(alice.DID)+`)`))
	t.Logf("screenshot: %s", b.Screenshot("whoami"))

	// The application's own cookie gets through; the gateway's do not.
	_, err := testnet.Eval[string](b, `document.cookie = 'app_pref=dark; path=/'`)
	step("set an application cookie", err)
	s := saw("/whoami", nil)
	if s.DID != alice.DID || s.Handle != alice.Handle || !s.Act || strings.Join(s.Cookies, ",") != "app_pref" {
		t.Fatalf("a signed-in request reached the application as %+v (want the DID, the handle, an act token, only the app's cookie)", s)
	}
	// The application acts for the user of the request it serves.
	s = saw("/act", nil)
	if s.Acted == nil || s.Acted.Status != http.StatusOK || !strings.Contains(string(s.Acted.Body), alice.DID) {
		t.Fatalf("the application acting through the internal listener: %+v", s.Acted)
	}
	// Without the browser's request (no act token), it acts for nobody.
	if s := saw("/act", http.Header{}); s.Acted == nil || s.Acted.Status == http.StatusOK {
		t.Fatalf("the application acted without a signed-in request: %+v", s.Acted)
	}
}
