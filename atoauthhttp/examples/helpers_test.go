package examples_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/atoauthtest"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// notes is a page of the app: it greets the signed-in account and hands
// its script the CSRF token (here in a header; in an HTML page, a
// <meta> tag or atoauthhttp.CSRFField in its forms).
func notes(w http.ResponseWriter, r *http.Request) {
	sess, _ := atoauthhttp.SessionFrom(r.Context())
	w.Header().Set(atoauthhttp.CSRFHeader, atoauthhttp.CSRFToken(r.Context()))
	fmt.Fprintf(w, "Hello, %s!", sess.Handle())
}

// addNote is a form or fetch() of the app that changes something: the
// middleware let it through with the CSRF token only.
func addNote(w http.ResponseWriter, r *http.Request) {
	sess, _ := atoauthhttp.SessionFrom(r.Context())
	fmt.Fprintf(w, "Noted, %s.", sess.Handle())
}

// browse plays a person's browser on the app at app: it opens page,
// follows the app's redirects to its sign-in form, submits it as who,
// approves on the fake authorization server, and follows the app's
// redirects back. It returns the browser (its cookies), the text of the
// page it lands on, and the CSRF token that page handed out.
func browse(n *atoauthtest.Network, app, page string, who syntax.DID) (hc *http.Client, text, csrf string) {
	jar, _ := cookiejar.New(nil)
	hc = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), app+"/") {
			return http.ErrUseLastResponse // the authorization server: played by Approve
		}
		return nil
	}}
	form := read(hc.Get(app + page)) // the sign-in form, which returns to page
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
	resp, err = hc.Get(redirect.String())
	return hc, read(resp, err), resp.Header.Get(atoauthhttp.CSRFHeader)
}

// post sends a POST as fetch() would from a page of the app, with the
// CSRF token in its header, and returns the answer's status and text.
func post(hc *http.Client, u, csrf string) string {
	req, _ := http.NewRequest("POST", u, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if csrf != "" {
		req.Header.Set(atoauthhttp.CSRFHeader, csrf)
	}
	resp, err := hc.Do(req)
	return fmt.Sprintf("%d %s", resp.StatusCode, read(resp, err))
}

func read(resp *http.Response, err error) string {
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
