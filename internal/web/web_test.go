package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/internal/web"
)

func TestSignInPostSignOut(t *testing.T) {
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	alice := n.CreateAccount("alice.test")

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	cfg := atoauth.LoopbackConfig(port, "/callback", "atproto transition:generic")
	cfg.PLCURL, cfg.HandleResolver, cfg.AllowInsecureDevelopment = n.PLC.URL, n.PDS.URL, true
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := web.New(web.Options{Client: client, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", app)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := browser.PostForm(srv.URL+"/login", url.Values{"identifier": {"alice.test"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: HTTP %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "atoauth_state" && (!c.HttpOnly || c.SameSite != http.SameSiteLaxMode) {
			t.Errorf("state cookie attributes: %+v", c)
		}
	}
	redirect, err := n.Approve(context.Background(), resp.Header.Get("Location"), alice)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = browser.Get(srv.URL + "/callback?" + redirect.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: HTTP %d", resp.StatusCode)
	}
	home := get(t, browser, srv.URL+"/")
	if !strings.Contains(home, "alice.test") || !strings.Contains(home, string(alice)) {
		t.Fatalf("home does not show the account:\n%s", home)
	}
	resp, err = browser.PostForm(srv.URL+"/post", url.Values{"text": {"hello from the web app"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("post: HTTP %d", resp.StatusCode)
	}
	resp, err = browser.PostForm(srv.URL+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n.ActiveSessions(alice) != 0 {
		t.Error("sign-out did not revoke")
	}
	if home := get(t, browser, srv.URL+"/"); strings.Contains(home, string(alice)) {
		t.Error("still signed in after sign-out")
	}
}

func TestCallbackInAnotherBrowser(t *testing.T) {
	n := atoauthtest.NewNetwork(t, atoauthtest.Options{})
	cfg := atoauth.LoopbackConfig(8080, "/callback", "")
	cfg.PLCURL, cfg.HandleResolver, cfg.AllowInsecureDevelopment = n.PLC.URL, n.PDS.URL, true
	client, _ := atoauth.NewClient(cfg)
	app, _ := web.New(web.Options{Client: client})
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, httptest.NewRequest("GET", "/callback?state=x&code=y&iss=z", nil))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not started in this browser") {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if rec.Header().Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
