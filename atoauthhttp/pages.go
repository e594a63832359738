package atoauthhttp

import (
	"bytes"
	"html/template"
	"net/http"
)

// DefaultError answers e as the package does without
// Options.ErrorHandler; a handler of the app may end with it for the
// codes it does not answer itself:
//
//   - CodeNotSignedIn for a GET or HEAD of a page: a redirect to the
//     sign-in page that returns to e.Return (SignInURL);
//   - a request that wants JSON (its Accept header names JSON before
//     HTML, or it comes from fetch): e.Status with {"error": e.Code,
//     "message": e.Message}, and for CodeMissingPermission "scope" and
//     "step_up" (the path to POST the step-up to), for CodeNotSignedIn
//     "sign_in" (the sign-in page);
//   - any other: e.Status with a minimal HTML page (its text escaped) with
//     a way on: a link back, the sign-in page, or for
//     CodeMissingPermission with a Scope a button that asks for it.
func (a *Auth) DefaultError(w http.ResponseWriter, r *http.Request, e *Error) {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	if e.Code == CodeNotSignedIn && get && !wantsJSON(r) {
		http.Redirect(w, r, a.SignInURL(e.Return), http.StatusSeeOther)
		return
	}
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if wantsJSON(r) {
		out := map[string]string{"error": string(e.Code), "message": e.Message}
		switch e.Code {
		case CodeMissingPermission:
			if e.Scope != "" {
				out["scope"], out["step_up"] = e.Scope, a.base+"stepup"
			}
		case CodeNotSignedIn:
			out["sign_in"] = a.SignInURL(e.Return)
		}
		writeJSON(w, status, out)
		return
	}
	p := errorPage{Title: e.Title, Message: e.Message, Back: "/", BackLabel: "Back"}
	if p.Title == "" {
		p.Title = "Something went wrong"
	}
	if e.Return != "" {
		p.Back = e.Return
	}
	switch e.Code {
	case CodeNotSignedIn, CodeInvalidState, CodeDenied, CodeSignInFailed:
		p.Back, p.BackLabel = a.SignInURL(e.Return), "Sign in"
	case CodeMissingPermission:
		if tok := CSRFToken(r.Context()); e.Scope != "" && tok != "" {
			p.StepUp = &stepUpForm{Action: a.base + "stepup", CSRF: tok, Scope: e.Scope, Next: e.Return}
		}
	}
	writePage(w, status, errorTmpl, p)
}

// errorPage is the data of the default error page.
type errorPage struct {
	Title, Message  string
	Back, BackLabel string
	StepUp          *stepUpForm
}

type stepUpForm struct {
	Action, CSRF, Scope, Next string
}

// signInPage is the data of the default sign-in page.
type signInPage struct {
	Action, Next string
}

// signInForm shows the default sign-in page.
func (a *Auth) signInForm(w http.ResponseWriter, r *http.Request, next string) {
	writePage(w, http.StatusOK, signInTmpl, signInPage{Action: a.base + "signin", Next: next})
}

// writePage writes a page of the package: personal, never cached, and
// with nothing to run.
func writePage(w http.ResponseWriter, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if h.Get("Content-Security-Policy") == "" {
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

const pageHead = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}input,button{font:inherit;padding:.4rem .6rem}</style>
`

var errorTmpl = template.Must(template.New("error").Parse(pageHead + `<title>{{.Title}}</title>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- with .StepUp}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="scope" value="{{.Scope}}">
{{- if .Next}}
<input type="hidden" name="next" value="{{.Next}}">
{{- end}}
<button type="submit">Allow this</button>
</form>
{{- end}}
<p><a href="{{.Back}}">{{.BackLabel}}</a></p>
`))

var signInTmpl = template.Must(template.New("signin").Parse(pageHead + `<title>Sign in</title>
<h1>Sign in with your Bluesky account</h1>
<form method="post" action="{{.Action}}">
{{- if .Next}}
<input type="hidden" name="next" value="{{.Next}}">
{{- end}}
<p><label for="identifier">Your handle, DID or server address</label><br>
<input id="identifier" name="identifier" placeholder="alice.bsky.social" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus></p>
<p><button type="submit">Sign in</button></p>
</form>
`))
