package serve

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/gateway"
)

// TestRunGateway runs `atoauth serve --gateway --upstream …` with a secret
// on the fake network, signs in through /auth/signin as a browser would,
// and uses every route: the browser API (with and without the CSRF
// header), forward-auth, the upstream proxy and the upstream acting for
// the user through the internal listener during its request.
func TestRunGateway(t *testing.T) {
	ctx := context.Background()
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	alice := n.CreateAccount("alice.test")

	var internalURL string
	secret := strings.Repeat("s3cret-", 6)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := map[string]any{"did": r.Header.Get(gateway.HeaderDID), "cookie": r.Header.Get("Cookie") != ""}
		if r.URL.Path == "/act" {
			req, _ := http.NewRequest("GET", internalURL+"/xrpc/com.atproto.server.getSession", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set(gateway.HeaderAct, r.Header.Get(gateway.HeaderAct))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			info["acted"], info["acted_body"] = resp.StatusCode, string(body)
		}
		_ = json.NewEncoder(w).Encode(info)
	}))
	defer upstream.Close()

	internalAddr := make(chan string, 1)
	o := &Options{Addr: "127.0.0.1:0", Scope: "atproto transition:generic", Store: filepath.Join(t.TempDir(), "atoauth.db"),
		PLCURL: n.PLC.URL, HandleResolver: n.PDS.URL, InsecureDev: true,
		Gateway: true, Upstream: upstream.URL, InternalAddr: "127.0.0.1:0", GatewaySecret: gateway.Secret(secret),
		InternalListening: func(a net.Addr) { internalAddr <- a.String() }}
	addr, out, _ := start(t, o)
	internalURL = "http://" + <-internalAddr
	base := "http://" + addr
	if !strings.Contains(out.String(), "gateway internal listener on "+internalURL) || strings.Contains(out.String(), secret) {
		t.Errorf("serve printed:\n%s", out.String())
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, header http.Header) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	// Signed out: the browser API says so in JSON, forward-auth 401s.
	if code, body := get("/api/session", nil); code != http.StatusUnauthorized || !strings.Contains(body, "not_signed_in") {
		t.Fatalf("/api/session signed out: %d %s", code, body)
	}
	if code, _ := get("/auth/check", nil); code != http.StatusUnauthorized {
		t.Fatalf("/auth/check signed out: %d", code)
	}

	// Sign in: /auth/signin?identifier=… → the authorization server → the
	// callback, as the browser follows it.
	resp, err := browser.Get(base + "/auth/signin?identifier=alice.test&next=/app")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	redirect, err := n.Approve(ctx, resp.Header.Get("Location"), alice)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = browser.Get(redirect.String()); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/app" {
		t.Fatalf("callback: %d to %q", resp.StatusCode, loc)
	}

	code, body := get("/api/session", nil)
	var who struct{ DID, Handle, CSRF string }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &who) != nil || who.DID != alice.String() || who.CSRF == "" {
		t.Fatalf("/api/session: %d %s", code, body)
	}
	if code, _ := get("/auth/check", nil); code != http.StatusOK {
		t.Fatalf("/auth/check signed in: %d", code)
	}

	// A procedure through /xrpc/: refused without the CSRF header, done
	// with it.
	post := func(csrf string) int {
		t.Helper()
		rec := `{"repo":"` + alice.String() + `","collection":"app.bsky.feed.post","record":{"$type":"app.bsky.feed.post","text":"through the gateway","createdAt":"2026-12-01T00:00:00Z"}}`
		req, _ := http.NewRequest("POST", base+"/xrpc/com.atproto.repo.createRecord", strings.NewReader(rec))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if csrf != "" {
			req.Header.Set(gateway.HeaderCSRF, csrf)
		}
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusForbidden {
		t.Fatalf("createRecord without the CSRF header: %d", code)
	}
	if code := post(who.CSRF); code != http.StatusOK {
		t.Fatalf("createRecord with the CSRF header: %d", code)
	}

	// The upstream: who the user is, no cookie; acting during its request.
	code, body = get("/act", nil)
	var up struct {
		DID       string
		Cookie    bool
		Acted     int
		ActedBody string `json:"acted_body"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &up) != nil || up.DID != alice.String() || up.Cookie ||
		up.Acted != http.StatusOK || !strings.Contains(up.ActedBody, alice.String()) {
		t.Fatalf("upstream /act: %d %s", code, body)
	}
	// The secret alone acts for nobody.
	req, _ := http.NewRequest("GET", internalURL+"/xrpc/com.atproto.server.getSession", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Fatalf("internal call without an act token: %d, want 401 or 403", resp.StatusCode)
	}

	// The client metadata is served; unknown paths go to the upstream.
	if code, _ := get("/healthz", nil); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if code, body := get("/elsewhere", nil); code != http.StatusOK || !strings.Contains(body, alice.String()) {
		t.Errorf("/elsewhere: %d %s", code, body)
	}
}

func TestGatewayOptions(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Upstream: "http://127.0.0.1:3000"}, "--upstream needs --gateway"},
		{Options{Gateway: true, Upstream: "ftp://x"}, "must be an http(s) URL"},
		{Options{Gateway: true, Upstream: "http://u:p@x"}, "must be an http(s) URL"},
	} {
		if err := tc.o.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
	if err := (&Options{Gateway: true, Upstream: "http://127.0.0.1:3000"}).validate(); err != nil {
		t.Errorf("a good upstream: %v", err)
	}
	if _, err := gatewaySecret(func(string) string { return "short" }); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("a short secret: %v", err)
	}
	if s, err := gatewaySecret(func(string) string { return "" }); err != nil || s != "" {
		t.Errorf("no secret: %q %v", s, err)
	}
	if !loopbackAddr("127.0.0.1:8081") || !loopbackAddr("[::1]:1") || !loopbackAddr("localhost:1") || loopbackAddr("0.0.0.0:8081") || loopbackAddr(":8081") {
		t.Error("loopbackAddr")
	}
}
