// Package atoauthhttp adds "Sign in with Bluesky" (any AT Protocol
// account) to a net/http app, as a backend-for-frontend: the tokens stay
// on the server, in the atoauth.Client's store, and the browser holds
// only an opaque session id in an HttpOnly cookie.
//
// New turns an *atoauth.Client into an *Auth, whose Handler serves the
// sign-in, the OAuth callback (atproto OAuth profile,
// https://atproto.com/specs/oauth), the sign-outs, account switching
// and step-up, and whose middleware protects the app's own handlers:
//
//	auth, err := atoauthhttp.New(client, nil)
//	http.Handle("/auth/", auth.Handler())    // sign in, sign out, …
//	http.Handle("/callback", auth.Handler()) // the client's redirect URI
//	http.Handle("/notes", auth.RequireSession(notes))
//
// and in notes, atoauthhttp.SessionFrom(r.Context()) is the signed-in
// *atoauth.Session, whose HTTPClient calls the account's PDS.
//
// # What it does for the app
//
//   - The login is bound to the browser that started it: its state is in
//     an HttpOnly cookie that the callback must match, and a callback with
//     another state (or none) leaves the sign-in in progress alone.
//   - Cookies are HttpOnly and SameSite=Lax; with an https
//     Options.PublicURL they are Secure and named with the __Host- prefix.
//   - Unsafe requests (POST, …) are refused from another origin
//     (http.CrossOriginProtection) and, for a signed-in browser, without
//     the session's CSRF token (see below).
//   - After a sign-in the browser returns to the page it came from, and
//     only to a path of the app (SafeReturn refuses every other origin,
//     however written).
//   - Sign-ins are rate-limited per client address (Options.SignInLimit).
//   - A browser may be signed in to several accounts
//     (Options.MaxAccounts): Accounts lists them for a switcher, Switch
//     changes the current one, SignOut signs one out, SignOutAccounts all
//     of them, SignOutEverywhere every session of the account in every
//     browser. Sessions that ended meanwhile are dropped (Accounts.Ended).
//   - A page that needs more than the sign-in asked for
//     (Options.SignInScope) asks for it when needed: RequirePermission
//     answers CodeMissingPermission with the scope to request, and StepUp
//     starts the step-up and returns to the page, on the same session id.
//   - Every failure is an *Error with a Code from a fixed list and a
//     message in plain words, which Options.ErrorHandler answers (by
//     default a small HTML page, or JSON for a request that wants it).
//     Options.OnEvent sees every sign-in, step-up, sign-out and switch.
//   - Tokens, codes, states and session ids are never logged.
//
// # CSRF
//
// A form that posts carries the token in a hidden field, CSRFField:
//
//	<form method="post" action="/notes">{{.CSRF}} …</form>
//
// with .CSRF set to atoauthhttp.CSRFField(r.Context()). Script sends it
// in the header CSRFHeader instead, with the token from CSRFToken put in
// the page (a <meta> tag, say):
//
//	fetch("/notes", {method: "POST", headers: {"X-CSRF-Token": token}, body: data})
//
// A request that wants JSON (its Accept header, or fetch's
// Sec-Fetch-Dest: empty) gets JSON errors, and {"redirect": URL} instead
// of a redirect from SignIn, SignOut and StepUp: the page navigates
// there itself.
//
// # Routers
//
// The handlers are plain http.HandlerFuncs and the middleware takes an
// http.Handler, so any router works: with Go 1.22 patterns on
// http.ServeMux, with chi (r.Mount("/auth", auth.Handler()),
// r.With(auth.RequireSession)), echo (echo.WrapHandler,
// echo.WrapMiddleware) and gin (gin.WrapH, and a middleware that calls
// the next handler from the wrapped one). The examples module
// (atoauthhttp/examples) has a runnable example for each.
package atoauthhttp
