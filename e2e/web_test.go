package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/testnet"
	"github.com/atoauth/atoauth/internal/web"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/chromedp/chromedp"
)

// webApp is the web app of internal/web, served on a loopback port
// against the reference network, with a store the test can look into.
type webApp struct {
	url    string
	client *atoauth.Client
	store  *atoauth.MemoryStore
}

// webAppOptions adjust the web app of startWebAppWith.
type webAppOptions struct {
	// Scope is the client's scope (default web.DefaultScope), and
	// SignInScope what a sign-in asks for (web.Options.SignInScope).
	Scope, SignInScope string
}

func startWebApp(t *testing.T, n *testnet.Network) *webApp {
	t.Helper()
	return startWebAppWith(t, n, webAppOptions{})
}

// startWebAppWith serves the web app as atoauth serve does (its client's
// events wired to the app's Notices), adjusted by o.
func startWebAppWith(t *testing.T, n *testnet.Network, o webAppOptions) *webApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	cfg, err := web.ClientConfig(web.ClientOptions{Port: port, Scope: o.Scope, PLCURL: n.PLCURL, HandleResolver: n.PDSURL, InsecureDev: true})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	store := atoauth.NewMemoryStore()
	cfg.Store, cfg.Logger = store, logger
	notices := web.NewNotices(logger)
	cfg.Events = notices.Events()
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// No AppView named: the PDS's own answers the profile card and the
	// timeline, as for an app configured by default.
	opts := web.Options{Client: client, Logger: logger, CanonicalHost: "127.0.0.1:" + strconv.Itoa(port),
		SignInScope: o.SignInScope, Notices: notices}
	app, err := web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &webApp{url: "http://127.0.0.1:" + strconv.Itoa(port), client: client, store: store}
}

// openWebApp starts the web app on n and a headless browser named name;
// both end with t, and the returned context after timeout.
func openWebApp(t *testing.T, n *testnet.Network, name string, timeout time.Duration) (*webApp, *testnet.Browser, context.Context) {
	t.Helper()
	return openWebAppWith(t, n, name, timeout, webAppOptions{})
}

// openWebAppWith is openWebApp with the app adjusted by o.
func openWebAppWith(t *testing.T, n *testnet.Network, name string, timeout time.Duration, o webAppOptions) (*webApp, *testnet.Browser, context.Context) {
	t.Helper()
	app := startWebAppWith(t, n, o)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	b, err := testnet.NewBrowser(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return app, b, ctx
}

// openBrowser starts a headless browser named name that ends with t, and
// its step function: step(what, err) fails the test on err, with a
// screenshot and the page's address.
func openBrowser(t *testing.T, name string, timeout time.Duration) (*testnet.Browser, func(string, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	b, err := testnet.NewBrowser(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b, stepper(t, b)
}

// stepper is the step function of b: it fails the test on err, with a
// screenshot and the page's address.
func stepper(t *testing.T, b *testnet.Browser) func(string, error) {
	return func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(b.Fail(name, err))
		}
	}
}

// TestWebAppInABrowser uses the web app as a person would, in headless
// Chromium against the reference PDS: sign in through the PDS's own
// pages, post with an image, edit the profile with a new avatar, browse
// the records, look at the session and sign out. Each page is saved as a
// screenshot under artifacts/ (the home page also as web-home.png).
func TestWebAppInABrowser(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	app, b, ctx := openWebApp(t, n, "web", 4*time.Minute)
	step := stepper(t, b)
	js := func(name, code string) {
		t.Helper()
		_, err := testnet.Eval[any](b, code)
		step(name, err)
	}
	shot := func(name string) string {
		p := b.Screenshot(name)
		t.Logf("screenshot %s: %s", name, p)
		return p
	}

	// Sign in through the PDS's pages.
	step("open", b.Navigate(app.url+"/"))
	step("sign-in page", b.WaitJS(`!!document.querySelector('input[name=identifier]') && document.body.innerText.includes('Create an account')`))
	shot("sign-in")
	step("type handle", b.Type(`input[name=identifier]`, alice.Handle))
	step("sign in", b.ClickButton(`^sign in$`))
	if _, err := b.SignIn(testnet.AuthorizeOptions{Password: alice.Password, RedirectPrefix: app.url + "/", Screenshots: true}); err != nil {
		t.Fatal(err)
	}
	step("home", b.WaitJS(`document.body.innerText.includes(`+jsString(alice.DID)+`) && !!document.querySelector('textarea[name=text]')`))
	sessions, err := app.client.Sessions(ctx, syntax.DID(alice.DID))
	if err != nil || len(sessions) != 1 {
		t.Fatalf("sessions in the store: %v %v", sessions, err)
	}
	sid := sessions[0].ID

	// Post with an image, alt text and a language.
	img := testPNG(t)
	imgPath := filepath.Join(t.TempDir(), "picture.png")
	if err := os.WriteFile(imgPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	text := "a picture from the atoauth web app " + time.Now().Format(time.RFC3339Nano)
	js("open images", `document.querySelector('details.images').open = true`)
	step("compose", b.Type(`textarea[name=text]`, text))
	step("attach", chromedp.Do(b.Context(), chromedp.SetUploadFiles(chromedp.CSS(`input[name=image1]`), []string{imgPath})))
	step("alt text", b.Type(`input[name=alt1]`, "a generated test pattern"))
	js("language", `document.querySelector('select[name=lang]').value = 'en'`)
	shot("compose")
	step("post", b.ClickButton(`^post$`))
	step("posted", b.WaitJS(`document.body.innerText.includes('Posted.') && document.body.innerText.includes(`+jsString(text)+`)`))
	shot("posted")

	rec, cid := findPost(t, n, alice.DID, text)
	if rec == nil {
		t.Fatal("the post is not in the repo")
	}
	if got := pdsBlob(t, n, alice.DID, cid); !bytes.Equal(got, img) {
		t.Fatalf("the PDS has %d bytes for blob %s, want the %d uploaded", len(got), cid, len(img))
	}

	// Edit the profile: display name and a new avatar, with swapRecord.
	step("profile page", b.Navigate(app.url+"/profile"))
	step("profile form", b.WaitJS(`!!document.querySelector('input[name=displayName]')`))
	name := "Alice via the web app"
	js("clear name", `document.querySelector('input[name=displayName]').value = ''`)
	step("display name", b.Type(`input[name=displayName]`, name))
	avatarPath := filepath.Join(t.TempDir(), "avatar.png")
	os.WriteFile(avatarPath, testPNG(t), 0o644)
	step("avatar", chromedp.Do(b.Context(), chromedp.SetUploadFiles(chromedp.CSS(`input[name=avatar]`), []string{avatarPath})))
	shot("profile-edit")
	step("save profile", b.ClickButton(`^save profile$`))
	step("profile saved", b.WaitJS(`document.body.innerText.includes('Profile saved.')`))
	shot("profile-saved")
	prof := pdsRecord(t, n, alice.DID, "app.bsky.actor.profile", "self")
	if prof["displayName"] != name || prof["avatar"] == nil {
		t.Fatalf("profile record: %v", prof)
	}

	// Home again: the profile card (the AppView indexes asynchronously,
	// so give it a moment to show the new name and CDN avatar).
	step("home again", b.Navigate(app.url+"/"))
	ready := `document.body.innerText.includes(` + jsString(name) + `) &&
		[...document.querySelectorAll('img.avatar-lg, .timeline .thumbs img')].filter(i => i.complete && i.naturalWidth > 0).length >= 2`
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		ok, _ := testnet.Eval[bool](b, ready)
		if ok || n.AppViewURL == "" {
			break
		}
		time.Sleep(time.Second)
		step("reload", b.Navigate(app.url+"/"))
	}
	step("home card", b.WaitJS(`document.body.innerText.includes(`+jsString(alice.DID)+`)`))
	if n.AppViewURL == "" {
		step("no AppView", b.WaitJS(`document.body.innerText.includes('No timeline here')`))
	}
	homeShot := shot("home")
	if homeShot != "" {
		if data, err := os.ReadFile(homeShot); err == nil {
			os.WriteFile(filepath.Join(testnet.ArtifactsDir(), "web-home.png"), data, 0o644)
		}
	}

	// Record browser: collections, a collection, a record's JSON.
	step("records", b.Navigate(app.url+"/records"))
	step("collections", b.WaitJS(`!!document.querySelector('a[href="/records/app.bsky.feed.post"]')`))
	shot("records")
	js("open collection", `document.querySelector('a[href="/records/app.bsky.feed.post"]').click()`)
	step("collection", b.WaitJS(`!!document.querySelector('table.records a')`))
	shot("collection")
	js("open record", `document.querySelector('table.records a').click()`)
	step("record", b.WaitJS(`!!document.querySelector('pre.json') && document.querySelector('pre.json').innerText.includes('"$type": "app.bsky.feed.post"')`))
	shot("record")

	// Session page, then sign out.
	step("session", b.Navigate(app.url+"/session"))
	step("session page", b.WaitJS(`document.body.innerText.includes('What this app may do') && document.body.innerText.includes('Sign out everywhere')`))
	shot("session")
	before, err := app.store.GetSession(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	step("sign out", b.ClickButton(`^sign out$`))
	step("signed out", b.WaitJS(`document.body.innerText.includes('Signed out.') && !!document.querySelector('input[name=identifier]')`))
	shot("signed-out")

	// The old cookie no longer works…
	req, _ := http.NewRequest("GET", app.url+"/", nil)
	req.AddCookie(&http.Cookie{Name: "atoauth_session", Value: sid})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), alice.DID) || !strings.Contains(string(body), `name="identifier"`) {
		t.Fatal("the old session cookie still signs in")
	}
	// …and the tokens were revoked at the server: restored into the
	// store, the session is refused by the PDS and cannot be refreshed.
	s := restoreSession(t, app.client, before)
	req, _ = http.NewRequest("GET", s.PDS()+"/xrpc/com.atproto.server.getSession", nil)
	refusedAsEnded(t, s, req)
}

// TestWebAppDeniedConsent: declining on the PDS's consent page lands on
// the app's friendly error page, with a way back.
func TestWebAppDeniedConsent(t *testing.T) {
	n := testnet.Get(t)
	bob := n.Account("bob")
	app, b, ctx := openWebApp(t, n, "web-denied", 2*time.Minute)
	if err := b.Navigate(app.url + "/"); err != nil {
		t.Fatal(b.Fail("open", err))
	}
	if err := b.WaitJS(`!!document.querySelector('input[name=identifier]')`); err != nil {
		t.Fatal(b.Fail("sign-in page", err))
	}
	b.Type(`input[name=identifier]`, bob.Handle)
	b.ClickButton(`^sign in$`)
	if _, err := b.SignIn(testnet.AuthorizeOptions{Password: bob.Password, RedirectPrefix: app.url + "/", Deny: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitJS(`document.body.innerText.includes('Sign-in cancelled') && !!document.querySelector('a.button[href="/"]')`); err != nil {
		t.Fatal(b.Fail("error page", err))
	}
	t.Logf("screenshot: %s", b.Screenshot("access-denied"))
	if list, _ := app.client.Sessions(ctx, syntax.DID(bob.DID)); len(list) != 0 {
		t.Fatal("a session after a denial")
	}
}

// findPost finds the post with text in the repo and returns it and the
// CID of its first image.
func findPost(t *testing.T, n *testnet.Network, did, text string) (map[string]any, string) {
	t.Helper()
	post := postWithText(t, n, did, text)
	if post == nil {
		return nil, ""
	}
	embed, _ := post["embed"].(map[string]any)
	images, _ := embed["images"].([]any)
	if len(images) != 1 {
		t.Fatalf("post embed: %v", embed)
	}
	im := images[0].(map[string]any)
	if im["alt"] != "a generated test pattern" {
		t.Errorf("alt text %v", im["alt"])
	}
	if langs, _ := post["langs"].([]any); len(langs) != 1 || langs[0] != "en" {
		t.Errorf("langs %v", post["langs"])
	}
	ref, _ := im["image"].(map[string]any)["ref"].(map[string]any)
	cid, _ := ref["$link"].(string)
	return post, cid
}

func pdsBlob(t *testing.T, n *testnet.Network, did, cid string) []byte {
	t.Helper()
	resp, err := http.Get(n.PDSURL + "/xrpc/com.atproto.sync.getBlob?" + url.Values{"did": {did}, "cid": {cid}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("getBlob: HTTP %d %s", resp.StatusCode, b)
	}
	return b
}

func pdsRecord(t *testing.T, n *testnet.Network, did, collection, rkey string) map[string]any {
	t.Helper()
	q := url.Values{"repo": {did}, "collection": {collection}, "rkey": {rkey}}
	resp, err := http.Get(n.PDSURL + "/xrpc/com.atproto.repo.getRecord?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Value map[string]any `json:"value"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return out.Value
}
