package e2e

import (
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/internal/testnet"
	"github.com/bluesky-social/indigo/atproto/syntax"
	"github.com/chromedp/chromedp"
)

// startNotesApp serves, on a loopback port, a small net/http app that
// adds "Sign in with Bluesky" with atoauthhttp (a loopback development
// client): its notes page needs an account, shows the DID and a form
// that posts a note to the account's PDS. It returns the app's URL and
// its client.
func startNotesApp(t *testing.T, n *testnet.Network) (string, *atoauth.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := atoauth.LoopbackConfig("atproto transition:generic")
	cfg.PLCURL, cfg.HandleResolver, cfg.AllowInsecureDevelopment = n.PLCURL, n.PDSURL, true
	cfg.Store, cfg.Logger = atoauth.NewMemoryStore(), logger

	// The app: the package's ten lines, and the app's own pages.
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := atoauthhttp.New(client, &atoauthhttp.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", auth.Handler())
	mux.Handle("/callback", auth.Handler())
	mux.Handle("GET /notes", auth.RequireSession(http.HandlerFunc(notesPage)))
	mux.Handle("POST /notes", auth.RequireSession(http.HandlerFunc(postNote)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>Notes</title><p>Signed out. <a href="/notes">Your notes</a></p>`)
	})

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), client
}

// notesPage shows the signed-in account, a form that posts a note (with
// the CSRF field) and a sign-out button.
func notesPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := atoauthhttp.SessionFrom(r.Context())
	csrf := atoauthhttp.CSRFField(r.Context())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><title>Notes</title>
<p id="who">Signed in as <code>%s</code> (@%s)</p>
<p id="done">%s</p>
<form method="post" action="/notes">%s<input name="text"><button type="submit">Post note</button></form>
<form method="post" action="/auth/signout">%s<button type="submit">Sign out</button></form>`,
		html.EscapeString(sess.DID().String()), html.EscapeString(sess.Handle().String()), html.EscapeString(r.URL.Query().Get("posted")), csrf, csrf)
}

// postNote posts the form's text on the account's PDS, then shows the
// notes page again.
func postNote(w http.ResponseWriter, r *http.Request) {
	sess, _ := atoauthhttp.SessionFrom(r.Context())
	a, err := agent.New(sess, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	res, err := a.Post(r.Context(), r.PostFormValue("text"), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	http.Redirect(w, r, "/notes?posted="+res.URI, http.StatusSeeOther)
}

// TestAtoauthhttpInABrowser: a net/http app with atoauthhttp, used in
// headless Chromium against the reference PDS: the protected page sends
// the visitor to the sign-in form, the PDS's own pages sign in and
// consent, the browser is back on the page, which shows the DID; a form
// with the CSRF field posts a note to the PDS, a fetch() without it is
// refused; signing out revokes the session.
func TestAtoauthhttpInABrowser(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	app, client := startNotesApp(t, n)
	b, step := openBrowser(t, "atoauthhttp", 3*time.Minute)

	step("open", b.Navigate(app+"/notes"))
	step("sign-in form", b.WaitJS(`location.pathname === '/auth/signin' && !!document.querySelector('input[name=identifier]') && document.querySelector('input[name=next]').value === '/notes'`))
	t.Logf("screenshot: %s", b.Screenshot("sign-in"))
	step("type handle", b.Type(`input[name=identifier]`, alice.Handle))
	step("sign in", b.ClickButton(`^sign in$`))
	if _, err := b.SignIn(testnet.AuthorizeOptions{Password: alice.Password, RedirectPrefix: app + "/", Screenshots: true}); err != nil {
		t.Fatal(err)
	}
	step("notes page", b.WaitJS(`location.pathname === '/notes' && document.getElementById('who').innerText.includes(`+jsString(alice.DID)+`)`))
	t.Logf("screenshot: %s", b.Screenshot("notes"))
	sessions, err := client.Sessions(b.Context(), syntax.DID(alice.DID))
	if err != nil || len(sessions) != 1 {
		t.Fatalf("sessions: %v %v", sessions, err)
	}

	// A form with the CSRF field.
	text := "a note through atoauthhttp " + time.Now().Format(time.RFC3339Nano)
	step("type note", b.Type(`input[name=text]`, text))
	step("post note", b.ClickButton(`^post note$`))
	step("posted", b.WaitJS(`document.getElementById('done').innerText.startsWith('at://')`))
	if !repoHasPost(t, n, alice.DID, text) {
		t.Fatal("the note is not on the PDS")
	}
	// The same without the token (a page's script, or another site's
	// form that got through): refused.
	fetch := func(js string) (float64, error) {
		return chromedp.Run(b.Context(), chromedp.Evaluate[float64](js, chromedp.EvalAwaitPromise))
	}
	status, err := fetch(`fetch('/notes', {method: 'POST', body: new URLSearchParams({text: 'forged'})}).then(r => r.status)`)
	step("fetch without the token", err)
	if status != http.StatusForbidden {
		t.Errorf("a POST without the CSRF token: HTTP %v", status)
	}
	// With the header, as a script would send it.
	status, err = fetch(`fetch('/notes', {method: 'POST', redirect: 'manual', headers: {'X-CSRF-Token': document.querySelector('input[name=csrf]').value}, body: new URLSearchParams({text: ` + jsString(text+" (fetch)") + `})}).then(r => r.type === 'opaqueredirect' ? 303 : r.status)`)
	step("fetch with the token", err)
	if status != http.StatusSeeOther || !repoHasPost(t, n, alice.DID, text+" (fetch)") {
		t.Errorf("a POST with the CSRF header: HTTP %v", status)
	}

	// Sign out: back on the app's start page, the session revoked.
	step("sign out", b.ClickButton(`^sign out$`))
	step("signed out", b.WaitJS(`location.pathname === '/' && document.body.innerText.includes('Signed out.')`))
	if list, _ := client.Sessions(b.Context(), syntax.DID(alice.DID)); len(list) != 0 {
		t.Fatalf("sessions after sign-out: %v", list)
	}
	step("notes again", b.Navigate(app+"/notes"))
	step("sign-in form again", b.WaitJS(`location.pathname === '/auth/signin'`))
}
