package atoauthhttp_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/atoauth/atoauth/scope"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Add "Sign in with Bluesky" to a net/http app: mount the handler, wrap
// the pages that need an account. Here the app runs against a fake
// network (atoauthtest), and a browser (browse, below) opens /notes,
// signs in as alice.test and lands back on /notes.
func Example() {
	n := atoauthtest.Start(atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)})
	defer n.Close()
	alice := n.CreateAccount("alice.test")

	// The app. In production: your hosted client's atoauth.Config, with a
	// persistent Store (sqlite.Open, postgres.Open).
	client, err := atoauth.NewClient(n.ClientConfig("atproto transition:generic"))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := atoauthhttp.New(client, nil)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", auth.Handler())    // sign in, sign out, step-up
	mux.Handle("/callback", auth.Handler()) // the client's redirect URI
	mux.Handle("/notes", auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := atoauthhttp.SessionFrom(r.Context()) // sess.HTTPClient() calls the account's PDS
		fmt.Fprintf(w, "Hello, %s!", sess.Handle())
	})))

	srv := httptest.NewServer(mux)
	defer srv.Close()
	_, page := browse(n, srv.URL, "/notes", alice)
	fmt.Println(page)
	// Output: Hello, alice.test!
}

// A page that needs a permission the sign-in did not ask for answers
// 403 missing_permission with the scope to ask for; a page of the app
// posts it to the step-up route (a form, or fetch with the CSRF header),
// which returns to the page with the permission granted.
func ExampleAuth_RequirePermission() {
	n := atoauthtest.Start(atoauthtest.Options{Logger: slog.New(slog.DiscardHandler)})
	defer n.Close()
	alice := n.CreateAccount("alice.test")

	cfg := n.ClientConfig("atproto repo:app.bsky.feed.post?action=create repo:app.bsky.actor.profile?action=create&action=update")
	client, err := atoauth.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := atoauthhttp.New(client, &atoauthhttp.Options{SignInScope: "atproto repo:app.bsky.feed.post?action=create"})
	if err != nil {
		log.Fatal(err)
	}
	editProfile := auth.RequirePermission(scope.NeedRepo("app.bsky.actor.profile", "update"))
	mux := http.NewServeMux()
	mux.Handle("/auth/", auth.Handler())
	mux.Handle("/callback", auth.Handler())
	mux.Handle("/profile", auth.RequireSession(editProfile(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the profile editor")
	}))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	hc, _ := browse(n, srv.URL, "/profile", alice) // lands on a page asking for the permission
	req, _ := http.NewRequest("GET", srv.URL+"/profile", nil)
	req.Header.Set("Accept", "application/json") // as fetch would ask
	resp, err := hc.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output: 403 {"error":"missing_permission","message":"This app does not have your permission to do that yet (Change your profile). Allow it, then try again.","scope":"repo:app.bsky.actor.profile?action=create\u0026action=update","step_up":"/auth/stepup"}
}

// Only paths of the app are followed after a sign-in.
func ExampleSafeReturn() {
	for _, next := range []string{"/notes?page=2", "//evil.example/", "https://evil.example/", "/%2F%2Fevil.example"} {
		fmt.Println(atoauthhttp.SafeReturn(next))
	}
	// Output:
	// /notes?page=2
	// /
	// /
	// /
}

// browse plays a person's browser on the app at app: it opens page,
// follows the app's redirects to its sign-in form, submits it as who,
// approves on the fake authorization server, and follows the app's
// redirects back. It returns the browser (its cookies) and the text of
// the page it lands on.
func browse(n *atoauthtest.Network, app, page string, who syntax.DID) (*http.Client, string) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), app+"/") {
			return http.ErrUseLastResponse // the authorization server: played by Approve
		}
		return nil
	}}
	text := func(resp *http.Response, err error) string {
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	form := text(hc.Get(app + page)) // the sign-in form, which returns to page
	if !strings.Contains(form, `name="identifier"`) {
		log.Fatalf("not the sign-in form: %s", form)
	}
	resp, err := hc.PostForm(app+"/auth/signin", url.Values{"identifier": {n.Handle(who).String()}, "next": {page}})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	redirect, err := n.Approve(context.Background(), resp.Header.Get("Location"), who)
	if err != nil {
		log.Fatal(err)
	}
	return hc, text(hc.Get(redirect.String()))
}
