package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
	"github.com/atoauth/atoauth/atoauthhttp"
	"github.com/atoauth/atoauth/internal/httpx"
)

// Signing in and out, CSRF, the return path and the browser's accounts
// are atoauthhttp's: the app mounts its handlers, wraps its pages in its
// middleware, answers its errors with the app's pages (authError) and
// turns its events into the app's notices (authEvent).

// session is the signed-in account of a request.
type session struct {
	s    *atoauth.Session
	id   string
	info atoauth.SessionInfo
	csrf string
	// others are the browser's other accounts.
	others []atoauth.SessionInfo
	// notice explains an account this request found gone ("" for none);
	// switched: the current account was gone, and another is current now.
	notice   string
	switched bool
	// opts configures the agents; small is an agent with the smallest
	// response cap.
	opts  *agent.Options
	small *agent.Agent
}

// agent returns an agent for the session whose calls read at most limit
// bytes of an answer (see the response caps).
func (s *session) agent(limit int64) *agent.Agent {
	o := *s.opts
	o.XRPC.MaxResponseBytes = limit
	ag, err := agent.New(s.s, &o)
	if err != nil { // not after New checked the options; never a larger cap
		return s.small
	}
	return ag
}

func (s *session) account() *accountView {
	v := &accountView{Handle: s.info.Handle.String(), DID: s.info.DID.String(), CanAdd: 1+len(s.others) < maxAccounts}
	for _, o := range s.others {
		v.Others = append(v.Others, otherAccountView{Handle: o.Handle.String(), DID: o.DID.String()})
	}
	return v
}

// view returns a view for a signed-in page.
func (s *session) view(title, nav string, data any) *view {
	return &view{Title: title, Nav: nav, Account: s.account(), CSRF: s.csrf, Notice: notices[s.notice], Data: data}
}

// agentOptions are the options of the sessions' agents, without their
// response cap (each page sets the one it needs: see session.agent).
func (a *App) agentOptions() *agent.Options {
	o := &agent.Options{}
	o.XRPC.ProxyMemory = &a.proxyMemory
	if a.services != nil {
		o.XRPC.Services = a.services
	}
	return o
}

// pageContext bounds the calls of a page that reads (Options.PageTimeout).
func (a *App) pageContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.pageTimeout)
}

// postContext bounds the calls of a form that writes
// (Options.PostTimeout).
func (a *App) postContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.postTimeout)
}

// sessionOf is the signed-in session of a request the middleware let
// through (nil when signed out).
func (a *App) sessionOf(r *http.Request) (*session, error) {
	acc, ok := atoauthhttp.AccountsFrom(r.Context())
	if !ok || acc.Current == nil {
		return nil, nil
	}
	opts := a.agentOptions()
	o := *opts
	o.XRPC.MaxResponseBytes = capProfile
	small, err := agent.New(acc.Current, &o)
	if err != nil {
		return nil, err
	}
	return &session{s: acc.Current, id: acc.Current.ID(), info: acc.Current.Info(), csrf: atoauthhttp.CSRFToken(r.Context()),
		others: acc.Others, notice: a.endedNotice(acc), switched: acc.CurrentEnded, opts: opts, small: small}, nil
}

// endedNotice is the notice that explains the sessions a request found
// ended ("" for none): why the current one ended when the app knows it
// (Notices), else "session-ended" ("session-ended-switched" when another
// account is current now); else why another account ended, when known.
func (a *App) endedNotice(acc *atoauthhttp.Accounts) string {
	var cur, others string
	for i, id := range acc.Ended {
		n := a.notices.notice(id)
		if i == 0 && acc.CurrentEnded {
			cur = orDefault(n, "session-ended")
		} else if others == "" {
			others = n
		}
	}
	notice := orDefault(cur, others)
	if notice == "session-ended" && acc.Current != nil {
		notice = "session-ended-switched"
	}
	return notice
}

// signedIn wraps a handler that needs a session in
// atoauthhttp.RequireSession: without one, GETs go to the sign-in page
// (which returns to them) and POSTs too, with a notice (see authError);
// POSTs must come from this origin with the session's form token.
func (a *App) signedIn(h func(w http.ResponseWriter, r *http.Request, s *session)) http.Handler {
	inner := a.auth.RequireSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := a.sessionOf(r)
		if err != nil || s == nil {
			a.storeFailed(w, r, err)
			return
		}
		h(w, r, s)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody(r.URL.Path))
		}
		inner.ServeHTTP(w, r)
	})
}

// maxBody caps request bodies: four images on a post, one avatar on the
// profile, small forms elsewhere.
func maxBody(path string) int64 {
	switch path {
	case "/post", "/stepup": // /stepup gets the composer's form again
		return agent.MaxImages*maxImageBytes + 64<<10
	case "/profile":
		return maxImageBytes + 64<<10
	}
	return 64 << 10
}

func (a *App) storeFailed(w http.ResponseWriter, r *http.Request, err error) {
	a.logger(r).Error("loading the session", "err", err)
	a.renderError(w, r, http.StatusServiceUnavailable, errorPage{
		Heading: "Temporarily unavailable",
		Message: "The app could not load your session. Please try again in a moment.",
	}, nil)
}

// signInPage is the data of the sign-in page.
type signInPage struct {
	Input string
	// Next is the path to return to once signed in ("" for the home
	// page), sent back in a hidden field.
	Next string
	// Adding: the browser is signed in, and adds another account.
	Adding bool
}

// home is the sign-in page for a signed-out browser, else the home page.
func (a *App) home(w http.ResponseWriter, r *http.Request) {
	acc, _ := atoauthhttp.AccountsFrom(r.Context())
	if acc == nil || acc.Current == nil {
		p := signInPage{Next: returnField(r.URL.Query().Get("next"))}
		n := ""
		if acc != nil {
			n = a.endedNotice(acc)
		}
		a.render(w, r, http.StatusOK, "signin", &view{Title: "Sign in", Notice: notices[n], Data: p})
		return
	}
	s, err := a.sessionOf(r)
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	var d *draft
	if fd := a.takeDraft(w, r, s, draftPost, draftDelete); fd != nil {
		d = homeDraftOf(fd, nil)
	}
	a.renderHome(w, r, s, http.StatusOK, "", d)
}

// returnField is the sign-in form's hidden return path: "" for the home
// page or a path atoauthhttp.SafeReturn refuses.
func returnField(next string) string {
	if next = atoauthhttp.SafeReturn(next); next == "/" {
		return ""
	}
	return next
}

// signUpPage is the data of the create-account page.
type signUpPage struct {
	Server string
}

func (a *App) signupPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "signup", &view{Title: "Create an account", Data: signUpPage{Server: a.signUpServer}})
}

// signUpServer is the server a sign-up form names, as a URL.
func (a *App) signUpServerOf(r *http.Request) string {
	server := strings.TrimSpace(r.PostFormValue("server"))
	if server == "" {
		server = a.signUpServer
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	return server
}

// signup starts a login with prompt=create at the chosen server: the
// server shows its sign-up page, then the consent screen, and the new
// account comes back signed in.
func (a *App) signup(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := a.auth.StartSignIn(w, r, a.signUpServerOf(r), &atoauthhttp.StartOptions{Prompt: "create"}); err != nil {
		a.auth.WriteError(w, r, err)
	}
}

// authError answers the errors of atoauthhttp with the app's pages.
func (a *App) authError(w http.ResponseWriter, r *http.Request, e *atoauthhttp.Error) {
	acc, _ := atoauthhttp.AccountsFrom(r.Context())
	s, _ := a.sessionOf(r)
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	page := errorPage{Heading: e.Title, Message: e.Message}
	switch e.Code {
	case atoauthhttp.CodeNotSignedIn:
		// To the sign-in page, which returns here (a GET) once signed
		// in; a form of an account that is signed out says why.
		q := url.Values{}
		if acc != nil {
			if n := a.endedNotice(acc); n != "" {
				q.Set("notice", n)
			}
		}
		if !get && !q.Has("notice") {
			q.Set("notice", "session-ended")
		}
		if get && e.Return != "" {
			q.Set("next", e.Return)
		}
		target := "/"
		if len(q) > 0 {
			target += "?" + q.Encode()
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	case atoauthhttp.CodeCrossOrigin, atoauthhttp.CodeServer:
		s = nil
	case atoauthhttp.CodeBadRequest:
		var mbe *http.MaxBytesError
		if e.Status == http.StatusRequestEntityTooLarge || errors.As(e, &mbe) {
			page.Message = "That is too much to upload at once: each image may be at most 1 MB."
		}
		page.Back, page.BackLabel = "/", "Back"
	case atoauthhttp.CodeAccountNotFound:
		page.Message = "That account is not signed in in this browser. Add it with “Add another account”."
	}
	if ok := a.startFailed(w, r, e); ok {
		return
	}
	if a.isCallback(r) {
		if st := parseAppState(e.AppState); st.Form != "" && (e.Code == atoauthhttp.CodeDenied || e.Code == atoauthhttp.CodeSignInFailed) {
			a.stepUpReturn(w, r, st, e, string(e.Code))
			return
		}
		s = nil
		page.Detail = callbackDetail(e.Err)
		page.Back, page.BackLabel = "/", "Back to sign-in"
		if next := returnField(e.Return); next != "" {
			page.Back = "/?" + url.Values{"next": {next}}.Encode()
		}
	}
	a.renderError(w, r, e.Status, page, s)
}

// startFailed shows a sign-in or sign-up that could not start on its
// form, with what was typed, and tells whether it did.
func (a *App) startFailed(w http.ResponseWriter, r *http.Request, e *atoauthhttp.Error) bool {
	switch e.Code {
	case atoauthhttp.CodeInvalidIdentifier, atoauthhttp.CodeSignInFailed, atoauthhttp.CodeBadRequest, atoauthhttp.CodeTooManyAccounts:
	default:
		return false
	}
	switch r.URL.Path {
	case "/login":
		p := signInPage{Input: httpx.NormalizeIdentifier(r.PostFormValue("identifier")), Next: returnField(r.PostFormValue("next"))}
		title := "Sign in"
		if sessionIDRE.MatchString(httpx.CookieValue(r, a.sessionCookie)) {
			p.Adding, title = true, "Add another account"
		}
		a.logger(r).Info("sign-in could not start", "code", string(e.Code))
		a.render(w, r, http.StatusBadRequest, "signin", &view{Title: title, Error: e.Message, Data: p})
		return true
	case "/signup":
		a.render(w, r, http.StatusBadRequest, "signup", &view{Title: "Create an account", Error: e.Message, Data: signUpPage{Server: a.signUpServerOf(r)}})
		return true
	}
	return false
}

// isCallback tells whether r is for the client's redirect URI.
func (a *App) isCallback(r *http.Request) bool {
	for _, p := range a.callbacks {
		if r.URL.Path == p {
			return true
		}
	}
	return false
}

// callbackDetail is the technical cause of a failed callback, for a
// bug report: the server's error code and description, or the error's
// message (which may quote servers), cut and with controls escaped.
func callbackDetail(err error) string {
	var ce *atoauth.CallbackError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		d := "error=" + line(64, ce.Code)
		if ce.Description != "" {
			d += ": " + line(maxMessageRunes, ce.Description)
		}
		return d
	}
	return detail(err)
}

// authEvent turns what atoauthhttp did into the app's notices: the
// redirect after a sign-out or a switch says what happened, a step-up
// returns to its form, which fills itself in from the draft.
func (a *App) authEvent(w http.ResponseWriter, r *http.Request, ev *atoauthhttp.Event) error {
	notice := ""
	switch ev.Kind {
	case atoauthhttp.EventSteppedUp:
		st := parseAppState(ev.AppState)
		if v := a.draftValue(r); v == "" || draftDigest(v) != st.Draft {
			a.clearDraft(w, r) // not this step-up's
		}
		a.logger(r).Info("step-up granted", "form", st.Form)
		ev.Redirect += "?notice=stepup-granted"
		return nil
	case atoauthhttp.EventSignedOut:
		notice = "signed-out"
		if ev.Remaining > 0 {
			notice = "signed-out-switched"
		}
	case atoauthhttp.EventSignedOutEverywhere:
		notice = "signed-out-all"
	case atoauthhttp.EventSignedOutAccounts:
		notice = "signed-out-accounts"
	case atoauthhttp.EventSwitched:
		notice = "switched"
	default:
		return nil
	}
	if ev.Err != nil {
		notice = "revoke-failed"
	}
	ev.Redirect = "/?notice=" + notice
	return nil
}

// idHandler adds the request id (ServeHTTP's) to the records of the
// atoauthhttp handlers, which log with the request's context.
type idHandler struct{ slog.Handler }

func (h idHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		rec.AddAttrs(slog.String("id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h idHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return idHandler{h.Handler.WithAttrs(attrs)}
}

func (h idHandler) WithGroup(name string) slog.Handler { return idHandler{h.Handler.WithGroup(name)} }
