package e2e

// The web app's session lifecycle in a browser against the reference PDS
// (issue 14): why a session ended, the return to the page a signed-out
// visitor opened, a step-up that keeps what was typed, and several
// accounts in one browser. Screenshots go to the artifacts directory.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/testnet"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// webUI is a test's browser on the web app.
type webUI struct {
	t   *testing.T
	b   *testnet.Browser
	app *webApp
}

func (u webUI) step(name string, err error) {
	u.t.Helper()
	if err != nil {
		u.t.Fatal(u.b.Fail(name, err))
	}
}

func (u webUI) js(name, code string) {
	u.t.Helper()
	_, err := testnet.Eval[any](u.b, code)
	u.step(name, err)
}

func (u webUI) shot(name string) {
	u.t.Logf("screenshot %s: %s", name, u.b.Screenshot(name))
}

// has is a JavaScript condition: the page's text contains s.
func has(s string) string { return `document.body.innerText.includes(` + jsString(s) + `)` }

// signIn signs acct in from the app's sign-in page, where the browser is.
func (u webUI) signIn(acct testnet.Account) {
	u.t.Helper()
	u.step("sign-in form", u.b.WaitJS(`!!document.querySelector('input[name=identifier]')`))
	u.step("type handle", u.b.Type(`input[name=identifier]`, acct.Handle))
	u.step("sign in", u.b.ClickButton(`^sign in$`))
	u.pds(acct, false)
}

// pds completes the PDS's pages from where the browser is: the password
// when the PDS asks for it (it may remember the account on this browser
// and skip it), then the consent screen, accepted or denied, until the
// browser is back at the app.
func (u webUI) pds(acct testnet.Account, deny bool) {
	u.t.Helper()
	consent := `[...document.querySelectorAll('button')].some(b => /^(authorize|accept|allow)$/i.test(b.innerText.trim()))`
	u.step("pds page", u.b.WaitJS(`!!document.querySelector('input[type=password]') || `+consent))
	if ok, _ := testnet.Eval[bool](u.b, `!!document.querySelector('input[type=password]')`); ok {
		u.shot("pds-sign-in-" + acct.Name)
		u.step("password", u.b.Type(`input[type=password]`, acct.Password))
		u.js("submit password", `document.querySelector('button[type=submit]').click()`)
		u.step("consent", u.b.WaitJS(`!document.querySelector('input[type=password]') && `+consent))
	}
	u.shot("pds-consent-" + acct.Name)
	label := `^(authorize|accept|allow)$`
	if deny {
		label = `^deny( access)?$`
	}
	u.step("consent", u.b.ClickButton(label))
	u.step("back at the app", u.b.WaitJS(`location.href.startsWith(`+jsString(u.app.url+"/")+`)`))
}

// onlySession is the one session of did in the app's store.
func (app *webApp) onlySession(t *testing.T, did string) atoauth.SessionInfo {
	t.Helper()
	list, err := app.client.Sessions(context.Background(), syntax.DID(did))
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions of %s: %+v %v, want one", did, list, err)
	}
	return list[0]
}

// TestWebAppSaysWhySignedOut: the session is revoked at the server out
// of band, the app finds out on its next use of it (a refresh the server
// refuses), and the browser's next page says why it was signed out.
func TestWebAppSaysWhySignedOut(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	app, b, ctx := openWebApp(t, n, "web-events", 3*time.Minute)
	u := webUI{t, b, app}
	u.step("open", b.Navigate(app.url+"/"))
	u.signIn(alice)
	u.step("home", b.WaitJS(has(alice.DID)+` && !!document.querySelector('textarea[name=text]')`))
	sid := app.onlySession(t, alice.DID).ID

	// Out of band: the same tokens, restored from a copy (a backup, another
	// app), are revoked at the authorization server's revocation endpoint.
	d, err := app.store.GetSession(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	restored := restoreSession(t, app.client, d)
	if err := app.client.Logout(ctx, restored.ID()); err != nil {
		t.Fatalf("revoking the copy: %v", err)
	}
	// The app uses the session (a background job, another tab): the
	// server refuses the refresh, the session is deleted, and the event
	// says why.
	s, err := app.client.Session(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); !errors.Is(err, atoauth.ErrSessionExpired) {
		t.Fatalf("refresh after the revocation: %v, want the session ended", err)
	}

	u.step("profile", b.Navigate(app.url+"/profile"))
	u.step("told why", b.WaitJS(has("You were signed out because your server revoked this sign-in")+` && !!document.querySelector('input[name=identifier]')`))
	u.shot("signed-out-because")
	if ok, _ := testnet.Eval[bool](b, `location.pathname === '/' && new URLSearchParams(location.search).get('next') === '/profile'`); !ok {
		t.Error("the sign-in page does not return to /profile")
	}
}

// TestWebAppReturnsToThePage: a signed-out visitor opens a page that
// needs an account, signs in, and lands on that page.
func TestWebAppReturnsToThePage(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	app, b, _ := openWebApp(t, n, "web-return", 3*time.Minute)
	u := webUI{t, b, app}
	u.step("open", b.Navigate(app.url+"/records/app.bsky.feed.post"))
	u.step("sign-in page", b.WaitJS(`!!document.querySelector('input[name=identifier]') && document.querySelector('input[name=next]').value === '/records/app.bsky.feed.post'`))
	u.shot("sign-in-with-next")
	u.signIn(alice)
	u.step("back on the page", b.WaitJS(`location.pathname === '/records/app.bsky.feed.post' && !!document.querySelector('h1 code') && document.querySelector('h1 code').innerText === 'app.bsky.feed.post'`))
	u.shot("returned")
}

// TestWebAppStepUp: signed in to post only, alice edits her profile; the
// form says what is missing and keeps the text, "Allow this" takes her
// to the PDS's consent page, and she comes back to the form, filled in;
// saving then works, on the same session.
func TestWebAppStepUp(t *testing.T) {
	n := testnet.Get(t)
	alice := n.Account("alice")
	app, b, _ := openWebAppWith(t, n, "web-stepup", 4*time.Minute, webAppOptions{
		Scope:       "atproto repo:app.bsky.feed.post?action=create blob:image/* repo:app.bsky.actor.profile?action=create&action=update",
		SignInScope: "atproto repo:app.bsky.feed.post?action=create blob:image/*",
	})
	u := webUI{t, b, app}
	u.step("open", b.Navigate(app.url+"/"))
	u.signIn(alice)
	u.step("home", b.WaitJS(has(alice.DID)))
	before := app.onlySession(t, alice.DID)
	if strings.Contains(before.Scope, "app.bsky.actor.profile") {
		t.Fatalf("signed in with %q: already allowed to edit the profile", before.Scope)
	}

	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	name, desc := "Alice stepped up "+stamp, "Typed before the step-up ("+stamp+")"
	u.step("profile page", b.Navigate(app.url+"/profile"))
	u.step("profile form", b.WaitJS(`!!document.querySelector('input[name=displayName]')`))
	u.js("clear", `document.querySelector('input[name=displayName]').value = ''; document.querySelector('textarea[name=description]').value = ''`)
	u.step("display name", b.Type(`input[name=displayName]`, name))
	u.step("description", b.Type(`textarea[name=description]`, desc))
	u.step("save", b.ClickButton(`^save profile$`))
	kept := fmt.Sprintf(`document.querySelector('input[name=displayName]').value === %s && document.querySelector('textarea[name=description]').value === %s`, jsString(name), jsString(desc))
	u.step("permission box", b.WaitJS(has("This needs your permission")+` && `+has("Allow this")+` && `+kept))
	u.shot("permission-needed")

	u.step("allow", b.ClickButton(`^allow this$`))
	u.pds(alice, false)
	u.step("back on the form", b.WaitJS(`location.pathname === '/profile' && `+has("Permission granted: submit again.")+` && `+kept))
	u.shot("permission-granted")
	after := app.onlySession(t, alice.DID)
	if after.ID != before.ID || !strings.Contains(after.Scope, "repo:app.bsky.actor.profile") {
		t.Fatalf("after the step-up: session %s scope %q; want the same session %s with the profile permission", after.ID, after.Scope, before.ID)
	}

	u.step("save again", b.ClickButton(`^save profile$`))
	u.step("saved", b.WaitJS(has("Profile saved.")))
	u.shot("profile-saved")
	prof := pdsRecord(t, n, alice.DID, "app.bsky.actor.profile", "self")
	if prof["displayName"] != name || prof["description"] != desc {
		t.Fatalf("profile record: %v", prof)
	}
	if s := app.onlySession(t, alice.DID); s.ID != before.ID {
		t.Fatal("the session id changed")
	}
}

// TestWebAppAccountSwitcher: alice, then bob added in the same browser;
// switching from the header; a post made while bob is current is bob's;
// signing out one leaves the other; then out of all.
func TestWebAppAccountSwitcher(t *testing.T) {
	n := testnet.Get(t)
	alice, bob := n.Account("alice"), n.Account("bob")
	app, b, ctx := openWebApp(t, n, "web-accounts", 5*time.Minute)
	u := webUI{t, b, app}
	current := func(a testnet.Account) string {
		return `!!document.querySelector('.who') && document.querySelector('.who').title === ` + jsString(a.DID)
	}
	menu := func() { u.js("open the accounts menu", `document.querySelector('details.accounts').open = true`) }

	u.step("open", b.Navigate(app.url+"/"))
	u.signIn(alice)
	u.step("alice", b.WaitJS(current(alice)))

	menu()
	u.shot("menu-one-account")
	u.js("add another account", `document.querySelector('a[href="/accounts/add"]').click()`)
	u.step("add page", b.WaitJS(has("Add another account")+` && !!document.querySelector('input[name=identifier]')`))
	u.shot("add-account")
	u.signIn(bob)
	u.step("bob", b.WaitJS(current(bob)+` && !!document.querySelector('textarea[name=text]')`))
	menu()
	u.step("alice in the menu", b.WaitJS(`[...document.querySelectorAll('.account-menu button')].some(b => b.innerText.trim() === '@'+`+jsString(alice.Handle)+`)`))
	u.shot("menu-two-accounts")
	app.onlySession(t, alice.DID)
	app.onlySession(t, bob.DID)

	text := "posted while bob is current " + strconv.FormatInt(time.Now().UnixNano(), 36)
	u.step("compose", b.Type(`textarea[name=text]`, text))
	u.step("post", b.ClickButton(`^post$`))
	u.step("posted", b.WaitJS(has("Posted.")))
	if !repoHasPost(t, n, bob.DID, text) || repoHasPost(t, n, alice.DID, text) {
		t.Fatal("the post is not in bob's repo alone")
	}

	menu()
	u.step("switch to alice", b.ClickButton(`^@`+alice.Handle+`$`))
	u.step("alice current", b.WaitJS(current(alice)+` && `+has("Switched account.")))
	u.shot("switched-to-alice")
	menu()
	u.step("switch to bob", b.ClickButton(`^@`+bob.Handle+`$`))
	u.step("bob current", b.WaitJS(current(bob)+` && `+has("Switched account.")))

	// Sign out bob only: alice is current again, still signed in.
	u.step("sign out bob", b.ClickButton(`^sign out$`))
	u.step("alice left", b.WaitJS(current(alice)+` && `+has("Signed out of that account")))
	u.shot("signed-out-one")
	if list, _ := app.client.Sessions(ctx, syntax.DID(bob.DID)); len(list) != 0 {
		t.Fatal("bob's session is still stored")
	}
	app.onlySession(t, alice.DID)

	// Bob again, then out of all accounts.
	menu()
	u.js("add bob again", `document.querySelector('a[href="/accounts/add"]').click()`)
	u.signIn(bob)
	u.step("bob again", b.WaitJS(current(bob)))
	menu()
	u.step("sign out of all", b.ClickButton(`^sign out of all accounts$`))
	u.step("signed out of all", b.WaitJS(has("Signed out of every account in this browser.")+` && !!document.querySelector('input[name=identifier]')`))
	u.shot("signed-out-all-accounts")
	for _, a := range []testnet.Account{alice, bob} {
		if list, _ := app.client.Sessions(ctx, syntax.DID(a.DID)); len(list) != 0 {
			t.Fatalf("%s still has sessions", a.Name)
		}
	}
}
