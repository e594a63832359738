package atoauthhttp

import (
	"context"
	"crypto/subtle"
	"html/template"
	"net/http"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/scope"
)

// CSRF: an unsafe request (POST, PUT, PATCH, DELETE, …) of a signed-in
// browser must come from the app's own origin (http.CrossOriginProtection:
// Sec-Fetch-Site, else Origin against Host and Options.PublicURL) and
// carry the session's CSRF token, in the form field CSRFFormField or in
// the header CSRFHeader. The token derives from the session id, which
// only the HttpOnly session cookie holds: it needs no server-side state,
// so any instance of the app checks it, and it changes with each sign-in.
const (
	// CSRFFormField is the form field of the CSRF token (CSRFField
	// writes it).
	CSRFFormField = "csrf"
	// CSRFHeader is the header of the CSRF token, for fetch():
	//
	//	fetch("/notes", {method: "POST", headers: {"X-CSRF-Token": token}, body})
	//
	// where the page got token from CSRFToken (in a <meta> tag, say).
	CSRFHeader = "X-CSRF-Token"
)

type accountsKey struct{}

func withAccounts(r *http.Request, acc *Accounts) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), accountsKey{}, acc))
}

// AccountsFrom returns the browser's accounts that RequireSession or
// OptionalSession loaded for the request of ctx (false without them).
func AccountsFrom(ctx context.Context) (*Accounts, bool) {
	acc, ok := ctx.Value(accountsKey{}).(*Accounts)
	return acc, ok
}

// SessionFrom returns the signed-in session that RequireSession or
// OptionalSession loaded for the request of ctx: the browser's current
// account (false when signed out, or without the middleware).
func SessionFrom(ctx context.Context) (*atoauth.Session, bool) {
	acc, ok := AccountsFrom(ctx)
	if !ok || acc.Current == nil {
		return nil, false
	}
	return acc.Current, true
}

// CSRFToken returns the CSRF token of the session SessionFrom returns
// ("" without one): send it back in the form field CSRFFormField or the
// header CSRFHeader with every unsafe request.
func CSRFToken(ctx context.Context) string {
	s, ok := SessionFrom(ctx)
	if !ok {
		return ""
	}
	return csrfToken(s.ID())
}

// CSRFField returns a hidden form field with the CSRF token of the
// request of ctx ("" without a session), for html/template:
//
//	<form method="post" action="/notes">{{.CSRF}} …</form>
//
// with .CSRF set to atoauthhttp.CSRFField(r.Context()).
func CSRFField(ctx context.Context) template.HTML {
	tok := CSRFToken(ctx)
	if tok == "" {
		return ""
	}
	return template.HTML(`<input type="hidden" name="` + CSRFFormField + `" value="` + template.HTMLEscapeString(tok) + `">`)
}

// Session returns the browser's current session for r and its CSRF
// token: the session the middleware loaded, or else read from the
// cookies, which are then left as they are (it only reads the request).
// It fails with an *Error: CodeNotSignedIn, or CodeServer when the store
// failed. A layer of its own over the package (an API for scripts, a
// proxy) uses it where RequireSession does not fit.
func (a *Auth) Session(r *http.Request) (sess *atoauth.Session, csrf string, err error) {
	acc, err := a.accounts(nil, r)
	if err != nil {
		return nil, "", errStore(err)
	}
	if acc.Current == nil {
		return nil, "", errNotSignedIn("")
	}
	return acc.Current, csrfToken(acc.Current.ID()), nil
}

// accounts returns the accounts in r's context, or loads them (with w,
// rewriting the cookies when sessions were found ended).
func (a *Auth) accounts(w http.ResponseWriter, r *http.Request) (*Accounts, error) {
	if acc, ok := AccountsFrom(r.Context()); ok {
		return acc, nil
	}
	return a.load(w, r)
}

// check loads the browser's accounts into the request and, for an
// unsafe request, checks its origin and, when signed in, its CSRF token.
// With require, a signed-out browser is an error; so is, for an unsafe
// request, a current account that just ended (the request was made for
// it, not for the account now current).
func (a *Auth) check(w http.ResponseWriter, r *http.Request, require bool) (*Accounts, *http.Request, *Error) {
	unsafe := unsafeMethod(r)
	if unsafe {
		if e := a.checkOrigin(r); e != nil {
			return nil, r, e
		}
	}
	acc, err := a.accounts(w, r)
	if err != nil {
		a.log.ErrorContext(r.Context(), "loading the session", "err", err)
		return nil, r, errStore(err)
	}
	r = withAccounts(r, acc)
	if acc.Current == nil && !require {
		return acc, r, nil
	}
	if acc.Current == nil || acc.CurrentEnded && unsafe {
		ret := ""
		if !unsafe {
			ret = returnOf(r.URL.RequestURI())
		}
		return acc, r, errNotSignedIn(ret)
	}
	if unsafe {
		if e := a.checkForm(r, acc); e != nil {
			return acc, r, e
		}
	}
	return acc, r, nil
}

// checkForm checks the CSRF token of an unsafe request of acc's current
// session: the header, or else the form field (a multipart form is read
// with at most 1 MiB in memory, the rest in temporary files: bound the
// body before, with http.MaxBytesReader).
func (a *Auth) checkForm(r *http.Request, acc *Accounts) *Error {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		var err error
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			err = r.ParseMultipartForm(1 << 20)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			return errForm(err)
		}
		got = r.PostFormValue(CSRFFormField)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(acc.Current.ID()))) != 1 {
		a.log.InfoContext(r.Context(), "CSRF token mismatch", "path", r.URL.Path)
		return errCSRF()
	}
	return nil
}

// RequireSession lets through requests of a signed-in browser only, with
// its session (SessionFrom, CSRFToken, AccountsFrom) in the request's
// context. A signed-out browser gets CodeNotSignedIn (by default, a GET
// for a page is sent to the sign-in page, which returns to it). Unsafe
// requests must come from the app's origin (else CodeCrossOrigin) with
// the session's CSRF token (else CodeCSRF); see CSRFHeader. GET and HEAD
// requests for another host than the canonical one are redirected there
// (see Options.CanonicalHost).
func (a *Auth) RequireSession(next http.Handler) http.Handler {
	return a.middleware(next, true)
}

// OptionalSession is RequireSession for pages that signed-out visitors
// may see too: it loads the browser's session, if any, into the
// request's context, and lets every request through — but an unsafe
// request must come from the app's origin and, when signed in, carry
// the CSRF token.
func (a *Auth) OptionalSession(next http.Handler) http.Handler {
	return a.middleware(next, false)
}

func (a *Auth) middleware(next http.Handler, require bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.toCanonical(w, r) {
			return
		}
		_, r, e := a.check(w, r, require)
		if e != nil {
			a.fail(w, r, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequirePermission returns middleware that lets through requests whose
// session (as RequireSession requires it) is granted every one of reqs
// (atoauth.Session.Can). Otherwise it answers CodeMissingPermission with
// Error.Scope set to what a step-up asks for (StepUpScope of
// scope.Cover(reqs)): by default a page whose button asks for it (a form
// to BasePath+"stepup" that returns to the page), or for JSON
// {"error": "missing_permission", "message": …, "scope": …, "step_up":
// BasePath+"stepup"}, to POST as the form fields scope and next with the
// CSRF token. Without a declared permission that grants them, Scope is "".
func (a *Auth) RequirePermission(reqs ...scope.Requirement) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			acc, ok := AccountsFrom(r.Context())
			if !ok || acc.Current == nil || acc.CurrentEnded && unsafeMethod(r) {
				if a.toCanonical(w, r) {
					return
				}
				var e *Error
				if acc, r, e = a.check(w, r, true); e != nil {
					a.fail(w, r, e)
					return
				}
			}
			if !acc.Current.Can(reqs...) {
				ret := ""
				if !unsafeMethod(r) {
					ret = returnOf(r.URL.RequestURI())
				}
				a.fail(w, r, a.missingPermission(scope.Cover(reqs...), ret))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// missingPermission is the Error of a session that lacks the
// permissions missing.
func (a *Auth) missingPermission(missing scope.Set, ret string) *Error {
	var words []string
	for _, p := range missing {
		words = append(words, strings.TrimSuffix(p.Describe(), "."))
	}
	e := &Error{Code: CodeMissingPermission, Status: http.StatusForbidden, Title: "This needs your permission", Return: ret}
	ask, undeclared := a.StepUpScope(missing)
	if len(undeclared) > 0 {
		e.Message = "This app does not have your permission to do that (" + strings.Join(words, "; ") + "), and it is not configured to ask for it."
		return e
	}
	e.Scope = ask
	e.Message = "This app does not have your permission to do that yet (" + strings.Join(words, "; ") + "). Allow it, then try again."
	return e
}
