package atoauthhttp

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/httpx"
)

// Timeouts of the calls a sign-in makes.
const (
	// signInTimeout bounds starting a sign-in or a step-up (resolving
	// the account, its server's metadata, the pushed authorization
	// request).
	signInTimeout = 30 * time.Second
	// callbackTimeout bounds completing one (the token request, checking
	// the account's identity, ending a previous session).
	callbackTimeout = 60 * time.Second
)

// StartOptions adjusts a sign-in started by StartSignIn, or a step-up
// started by StepUp.
type StartOptions struct {
	// Next is the path of the app to return to once done (see
	// SafeReturn; another is ignored). Default: Options.AfterSignIn.
	Next string
	// AppState is the app's own data for this sign-in — what the person
	// was doing, say —, kept with the pending login (sealed in stores
	// that seal secrets, never sent to a server) and given back in
	// Event.AppState, or in Error.AppState when the callback fails. At
	// most about 3 KB (atoauth.MaxAppState with the package's own state).
	AppState string
	// Prompt is sent as the prompt parameter: "login", "consent",
	// "select_account", or "create" (a sign-up: StartSignIn with the URL
	// of the server that creates the account).
	Prompt string
}

// SignIn starts a sign-in: a GET with ?identifier=…&next=…, or a POST of
// a form with the fields identifier (a handle, a DID, or a server's
// address) and next (the path to return to; see SafeReturn). It sends
// the browser to the account's authorization server (see StartSignIn).
// A GET without identifier shows a minimal sign-in form, or redirects to
// Options.SignInPage when the app has its own.
func (a *Auth) SignIn(w http.ResponseWriter, r *http.Request) {
	var identifier, next string
	switch r.Method {
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		identifier, next = r.PostFormValue("identifier"), r.PostFormValue("next")
		if want := a.canonicalHost(r); want != "" && !strings.EqualFold(httpx.RequestHost(r, a.trustProxy), want) {
			// Cookies are per host: the sign-in must start where the
			// authorization server sends the browser back, from the
			// package's sign-in route (or the app's sign-in page).
			target := a.SignInURL(next)
			if a.signInPage == a.base+"signin" {
				q := url.Values{"identifier": {identifier}}
				if ret := returnOf(next); ret != "" {
					q.Set("next", ret)
				}
				target = a.base + "signin?" + q.Encode()
			}
			http.Redirect(w, r, a.origin(want)+target, http.StatusSeeOther)
			return
		}
	case http.MethodGet, http.MethodHead:
		if a.toCanonical(w, r) {
			return
		}
		q := r.URL.Query()
		if !q.Has("identifier") {
			if a.signInPage != a.base+"signin" {
				http.Redirect(w, r, a.SignInURL(q.Get("next")), http.StatusSeeOther)
				return
			}
			a.signInForm(w, r, returnOf(q.Get("next")))
			return
		}
		identifier, next = q.Get("identifier"), q.Get("next")
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := a.StartSignIn(w, r, identifier, &StartOptions{Next: next}); err != nil {
		a.WriteError(w, r, err)
	}
}

// SignInURL is the sign-in page (Options.SignInPage) that returns to
// next (see SafeReturn) once signed in.
func (a *Auth) SignInURL(next string) string {
	u := a.signInPage
	if next = returnOf(next); next != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + url.Values{"next": {next}}.Encode()
	}
	return u
}

// StartSignIn starts a sign-in as identifier (a handle, a DID, or a
// server's address: https://bsky.social, or with Prompt "create" the
// server that creates the account) and sends the browser to the
// account's authorization server, with the login's state in a cookie
// that binds the login to this browser (atoauth.CallbackOptions.State).
// It asks for Options.SignInScope, and passes the browser's
// Accept-Language as ui_locales. A request that wants JSON gets 200
// {"redirect": URL} instead of the redirect. An unsafe request must come
// from the app's origin; the sign-ins of a client address are limited
// (Options.SignInLimit).
//
// On failure it writes nothing (but headers) and returns an *Error
// (CodeInvalidIdentifier, CodeSignInFailed, CodeTooManyAccounts,
// CodeRateLimited, …) for the app to answer, with WriteError or a page
// of its own.
func (a *Auth) StartSignIn(w http.ResponseWriter, r *http.Request, identifier string, opts *StartOptions) error {
	if opts == nil {
		opts = &StartOptions{}
	}
	if unsafeMethod(r) {
		if e := a.checkOrigin(r); e != nil {
			return e
		}
	}
	if e := a.allow(w, r); e != nil {
		return e
	}
	input := httpx.NormalizeIdentifier(identifier)
	ret := returnOf(opts.Next)
	if a.maxAccounts > 1 {
		if cur := a.currentCookie(r); cur != "" && 1+len(a.listedAccounts(r, cur)) >= a.maxAccounts {
			e := errTooManyAccounts(a.maxAccounts)
			e.Return = ret
			return e
		}
	}
	if input == "" {
		return &Error{Code: CodeInvalidIdentifier, Status: http.StatusBadRequest, Title: "Sign-in could not start",
			Message: "Enter your handle (like alice.bsky.social), your DID, or your server's address.", Return: ret}
	}
	st := loginState{Return: ret, App: opts.AppState}
	return a.start(w, r, st, opts.Prompt, input, func(ctx context.Context, so *atoauth.StartOptions) (*atoauth.Authorization, error) {
		so.Scope = a.signInScope
		return a.client.Start(ctx, input, so)
	})
}

// allow applies the sign-in rate limit: on refusal it sets Retry-After
// and returns the error.
func (a *Auth) allow(w http.ResponseWriter, r *http.Request) *Error {
	if a.limiter == nil {
		return nil
	}
	ok, wait := a.limiter.allow(httpx.LimitKey(httpx.ClientAddr(r, a.trustProxy)))
	if ok {
		return nil
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	a.log.WarnContext(r.Context(), "sign-in rate limited", "client", httpx.ClientAddr(r, a.trustProxy))
	return &Error{Code: CodeRateLimited, Status: http.StatusTooManyRequests, Title: "Too many sign-in attempts",
		Message: "Please wait a minute before trying again."}
}

// startOptions are the options every login of a request starts with:
// the browser's languages for the server's pages and, for the loopback
// client, the redirect URI with the app's port.
func (a *Auth) startOptions(r *http.Request) *atoauth.StartOptions {
	opts := &atoauth.StartOptions{UILocales: atoauth.UILocalesFromAcceptLanguage(r.Header.Get("Accept-Language"))}
	if !a.loopback {
		return opts
	}
	// A loopback client registers a port-less redirect URI, so that its
	// client_id (and every session) survives a change of port and is
	// shared by several instances; the login names the real one.
	host := a.canonicalHost(r)
	name, port, err := net.SplitHostPort(host)
	if err == nil && strings.EqualFold("["+name+"]", a.loopbackHost) {
		name = a.loopbackHost
	}
	if err == nil && strings.EqualFold(name, a.loopbackHost) {
		opts.RedirectURI = "http://" + a.loopbackHost + ":" + port + a.loopbackPath
	}
	return opts
}

// start begins a login with begin and sends the browser to the
// authorization server, with the login's state in a cookie (and, for a
// step-up, the session it replaces in another) and st kept with the
// login.
func (a *Auth) start(w http.ResponseWriter, r *http.Request, st loginState, prompt, input string,
	begin func(context.Context, *atoauth.StartOptions) (*atoauth.Authorization, error)) error {
	so := a.startOptions(r)
	so.Prompt = prompt
	if so.AppState = st.encode(); len(so.AppState) > atoauth.MaxAppState {
		return &Error{Code: CodeBadRequest, Status: http.StatusBadRequest, Title: "Sign-in could not start",
			Message: "The sign-in could not start: the app's state for it is too large.", Return: st.Return}
	}
	ctx, cancel := context.WithTimeout(r.Context(), signInTimeout)
	defer cancel()
	auth, err := begin(ctx, so)
	if err != nil {
		a.log.InfoContext(r.Context(), "sign-in could not start", "err", err)
		e := explainStart(err, input)
		e.Return = st.Return
		return e
	}
	maxAge := time.Until(auth.ExpiresAt)
	a.setCookie(w, a.stateCookie, auth.State, maxAge)
	if st.StepUp != "" {
		a.setCookie(w, a.stepUpCookie, st.StepUp, maxAge)
	} else if httpx.CookieValue(r, a.stepUpCookie) != "" {
		a.clearCookie(w, a.stepUpCookie) // a sign-in, not a step-up
	}
	a.redirect(w, r, auth.URL)
	return nil
}

// Callback completes a sign-in or a step-up at the client's redirect
// URI. Only a callback whose state matches the browser's state cookie
// consumes it: anyone can send the browser to the callback (a
// cross-site link carries the cookie), and such a request must not
// cancel the sign-in in progress. A sign-in adds the account to the
// browser's accounts (the current one, see Options.MaxAccounts) and
// returns to its next path; a step-up replaces the browser's current
// session under the same id — only if it is still the current one —
// and returns to its path. Failures are Errors (CodeInvalidState,
// CodeDenied, CodeSignInFailed, CodeTooManyAccounts) with the return
// path and the app's state.
func (a *Auth) Callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := httpx.CookieValue(r, a.stateCookie)
	if got := q.Get("state"); state != "" && subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 {
		a.log.InfoContext(r.Context(), "sign-in callback without the state of the sign-in in progress", "state_present", got != "")
		e := explainCallback(atoauth.ErrInvalidState)
		e.Err = nil
		a.fail(w, r, e)
		return
	}
	if state == "" {
		// Not started here, or the cookie expired. An error response from
		// the server is still worth explaining.
		if code := q.Get("error"); code != "" {
			a.callbackFailed(w, r, &atoauth.CallbackError{Code: cleanCode(code)}, loginState{})
			return
		}
		a.fail(w, r, &Error{Code: CodeInvalidState, Status: http.StatusBadRequest, Title: "Sign-in not recognised",
			Message: "This sign-in was not started in this browser, or it took too long. Please sign in again."})
		return
	}
	a.clearCookie(w, a.stateCookie)
	// A step-up names the session it replaces in a cookie set with the
	// state: it must still be the browser's current session.
	replace := httpx.CookieValue(r, a.stepUpCookie)
	if replace != "" {
		a.clearCookie(w, a.stepUpCookie)
		if replace != httpx.CookieValue(r, a.sessionCookie) {
			a.stepUpRefused(w, r)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), callbackTimeout)
	defer cancel()
	s, raw, err := a.client.CallbackWithAppState(ctx, q, &atoauth.CallbackOptions{State: state, Replace: replace})
	st := parseLoginState(raw)
	if replace != "" || st.StepUp != "" {
		if st.StepUp != replace {
			// Not the step-up this browser started: a sign-in that
			// created a session is undone.
			if err == nil && replace == "" {
				a.undo(ctx, r, s, "undoing a step-up for another session")
			}
			a.stepUpRefused(w, r)
			return
		}
		if err != nil {
			a.callbackFailed(w, r, err, st)
			return
		}
		a.log.InfoContext(r.Context(), "step-up granted", "did", s.DID().String(), "handle", s.Handle().String())
		a.done(w, r, &Event{Kind: EventSteppedUp, Session: s, Account: s.Info(), AppState: st.App, Redirect: a.next(st)})
		return
	}
	if err != nil {
		a.callbackFailed(w, r, err, st)
		return
	}
	ev := &Event{Kind: EventSignedIn, Session: s, Account: s.Info(), AppState: st.App, Redirect: a.next(st)}
	if e := a.addAccount(ctx, w, r, s, ev); e != nil {
		e.Return, e.AppState = st.Return, st.App
		a.fail(w, r, e)
		return
	}
	a.log.InfoContext(r.Context(), "signed in", "did", s.DID().String(), "handle", s.Handle().String())
	a.redirect(w, r, SafeReturn(ev.Redirect))
}

// next is where a login returns to.
func (a *Auth) next(st loginState) string {
	if st.Return != "" {
		return SafeReturn(st.Return)
	}
	return a.afterSignIn
}

// stepUpRefused answers the callback of a step-up that is not for the
// browser's current session.
func (a *Auth) stepUpRefused(w http.ResponseWriter, r *http.Request) {
	a.log.WarnContext(r.Context(), "step-up callback refused: not for the browser's current session")
	a.fail(w, r, &Error{Code: CodeInvalidState, Status: http.StatusBadRequest, Title: "Permission request not completed",
		Message: "This permission request was started for an account that is no longer the one in use in this browser (you switched account or signed out since), so it was not completed. Nothing changed. Switch back to that account and try again."})
}

// callbackFailed answers a sign-in or step-up that failed at its
// callback, with its return path and app state.
func (a *Auth) callbackFailed(w http.ResponseWriter, r *http.Request, err error, st loginState) {
	what := "sign-in failed"
	if st.StepUp != "" {
		what = "step-up failed"
	}
	var ce *atoauth.CallbackError
	if errors.As(err, &ce) && ce.Code == "access_denied" {
		what = strings.Replace(what, "failed", "declined", 1)
	}
	a.log.InfoContext(r.Context(), what, "err", err)
	e := explainCallback(err)
	e.Return, e.AppState = returnOf(st.Return), st.App
	a.fail(w, r, e)
}

// done calls the event hook, then redirects.
func (a *Auth) done(w http.ResponseWriter, r *http.Request, ev *Event) {
	if e := a.hook(w, r, ev); e != nil {
		a.fail(w, r, e)
		return
	}
	a.redirect(w, r, SafeReturn(ev.Redirect))
}
