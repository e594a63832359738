package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
)

// session is the signed-in account of a request.
type session struct {
	s    *atoauth.Session
	id   string
	info atoauth.SessionInfo
	csrf string
	// others are the browser's other accounts (see currentSession).
	others []otherAccount
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
		v.Others = append(v.Others, otherAccountView{Handle: o.info.Handle.String(), DID: o.info.DID.String()})
	}
	return v
}

// view returns a view for a signed-in page.
func (s *session) view(title, nav string, data any) *view {
	return &view{Title: title, Nav: nav, Account: s.account(), CSRF: s.csrf, Notice: notices[s.notice], Data: data}
}

// csrfToken derives the form token of a session from its id: only a
// holder of the (HttpOnly) session cookie can know it, and it needs no
// server-side state, so it works across instances.
func csrfToken(sessionID string) string {
	sum := sha256.Sum256([]byte("atoauth web form token\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:24])
}

// errNoSession means the request carries no usable session cookie.
var errNoSession = errors.New("web: not signed in")

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

// signedIn wraps a handler that needs a session: without one, GETs go to
// the sign-in page and POSTs too, with a notice. POSTs must carry the
// session's form token.
func (a *App) signedIn(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody(r.URL.Path))
		}
		s, err := a.currentSession(w, r)
		get := r.Method == http.MethodGet || r.Method == http.MethodHead
		if errors.Is(err, errNoSession) {
			// To the sign-in page, which returns here (a GET) once signed
			// in.
			q := url.Values{}
			if n := signedOutNotice(err); n != "" {
				q.Set("notice", n)
			} else if !get {
				q.Set("notice", "session-ended")
			}
			if next := safeReturn(r.URL.RequestURI()); get && next != "/" {
				q.Set("next", next)
			}
			target := "/"
			if len(q) > 0 {
				target += "?" + q.Encode()
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if err != nil {
			a.storeFailed(w, r, err)
			return
		}
		if s.switched && !get {
			// The form was for the account that is gone, not for the one
			// current now.
			http.Redirect(w, r, "/?notice="+orDefault(s.notice, "session-ended"), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !a.checkCSRF(w, r, s) {
			return
		}
		h(w, r, s)
	}
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

// checkCSRF verifies the form token of a POST; on failure it answers 403.
func (a *App) checkCSRF(w http.ResponseWriter, r *http.Request, s *session) bool {
	var got string
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			a.formTooLarge(w, r, s, err)
			return false
		}
	}
	got = r.PostFormValue("csrf")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) == 1 {
		return true
	}
	a.logger(r).Info("form token mismatch", "path", r.URL.Path)
	a.renderError(w, r, http.StatusForbidden, errorPage{
		Heading: "This form has expired",
		Message: "The form was not sent from this app's current page (or you signed in again since). Go back, reload the page and try again.",
	}, s)
	return false
}

func (a *App) formTooLarge(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var mbe *http.MaxBytesError
	msg := "The form could not be read. Please try again."
	if errors.As(err, &mbe) {
		msg = "That is too much to upload at once: each image may be at most 1 MB."
	}
	a.renderError(w, r, http.StatusRequestEntityTooLarge, errorPage{Heading: "Could not read the form", Message: msg, Back: "/", BackLabel: "Back"}, s)
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

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	s, err := a.currentSession(w, r)
	switch {
	case errors.Is(err, errNoSession):
		p := signInPage{Next: returnField(r.URL.Query().Get("next"))}
		a.render(w, r, http.StatusOK, "signin", &view{Title: "Sign in", Notice: notices[signedOutNotice(err)], Data: p})
	case err != nil:
		a.storeFailed(w, r, err)
	default:
		var d *draft
		if fd := a.takeDraft(w, r, s, draftPost, draftDelete); fd != nil {
			d = homeDraftOf(fd, nil)
		}
		a.renderHome(w, r, s, http.StatusOK, "", d)
	}
}

// returnField is the sign-in form's hidden return path: "" for the home
// page or a path safeReturn refuses.
func returnField(next string) string {
	if next = safeReturn(next); next == "/" {
		return ""
	}
	return next
}

// allowSignIn applies the sign-in rate limit; on refusal it answers 429.
func (a *App) allowSignIn(w http.ResponseWriter, r *http.Request) bool {
	if a.limiter == nil {
		return true
	}
	ok, wait := a.limiter.allow(limitKey(a.clientAddr(r)))
	if ok {
		return true
	}
	secs := int(wait/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	a.logger(r).Warn("sign-in rate limited", "client", a.clientAddr(r))
	a.renderError(w, r, http.StatusTooManyRequests, errorPage{
		Heading: "Too many sign-in attempts",
		Message: "Please wait a minute before trying again.",
	}, nil)
	return false
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !a.allowSignIn(w, r) {
		return
	}
	input := normalizeIdentifier(r.PostFormValue("identifier"))
	p := signInPage{Input: input, Next: returnField(r.PostFormValue("next"))}
	// A browser with an account adds another: the sign-in page shows it.
	cur := cookieValue(r, a.sessionCookie)
	adding := sessionIDRE.MatchString(cur)
	title := "Sign in"
	if adding {
		p.Adding, title = true, "Add another account"
	}
	if adding && 1+len(a.listedAccounts(r, cur)) >= maxAccounts {
		a.render(w, r, http.StatusBadRequest, "signin", &view{Title: title, Error: tooManyAccounts, Data: p})
		return
	}
	if input == "" {
		a.render(w, r, http.StatusBadRequest, "signin", &view{Title: title,
			Error: "Enter your handle (like alice.bsky.social), your DID, or your server's address.", Data: p})
		return
	}
	a.start(w, r, input, "", appState{Return: p.Next}, func(msg string) {
		a.render(w, r, http.StatusBadRequest, "signin", &view{Title: title, Error: msg, Data: p})
	})
}

// startOptions are the options every login of a request starts with:
// the browser's languages for the server's pages and, for the loopback
// client, the redirect URI with the app's port.
func (a *App) startOptions(r *http.Request) *atoauth.StartOptions {
	opts := &atoauth.StartOptions{UILocales: atoauth.UILocalesFromAcceptLanguage(r.Header.Get("Accept-Language"))}
	if a.client.Metadata().TokenEndpointAuthMethod == "none" && strings.HasPrefix(a.client.ClientID(), atoauth.LoopbackClientID) && a.host != "" {
		// A loopback client registers a port-less redirect URI, so that
		// its client_id (and every session) survives a change of port and
		// is shared by several instances; the login names the real one.
		opts.RedirectURI = "http://" + a.host + LoopbackCallbackPath
	}
	return opts
}

// start begins a login asking for the sign-in scope and sends the
// browser to the authorization server, with the login's state in a
// cookie that binds it to this browser and st kept with the login.
func (a *App) start(w http.ResponseWriter, r *http.Request, identifier, prompt string, st appState, fail func(msg string)) {
	ctx, cancel := context.WithTimeout(r.Context(), signInTimeout)
	defer cancel()
	opts := a.startOptions(r)
	opts.Prompt, opts.Scope = prompt, a.signInScope
	if st != (appState{}) {
		opts.AppState = st.encode()
	}
	auth, err := a.client.Start(ctx, identifier, opts)
	if err != nil {
		a.logger(r).Info("sign-in could not start", "err", err)
		fail(explainStart(err, identifier))
		return
	}
	a.setCookie(w, a.stateCookie, auth.State, time.Until(auth.ExpiresAt))
	if cookieValue(r, a.stepUpCookie) != "" {
		a.clearCookie(w, a.stepUpCookie) // a sign-in, not a step-up
	}
	http.Redirect(w, r, auth.URL, http.StatusSeeOther)
}

// limitKey is the rate-limit key of a client address: the address, or
// for IPv6 its /64, which one subscriber usually holds whole.
func limitKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Is4() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// normalizeIdentifier trims what people paste: spaces, a leading "@".
func normalizeIdentifier(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "@")
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}

// signUpPage is the data of the create-account page.
type signUpPage struct {
	Server string
}

func (a *App) signupPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "signup", &view{Title: "Create an account", Data: signUpPage{Server: a.signUpServer}})
}

// signup starts a login with prompt=create at the chosen server: the
// server shows its sign-up page, then the consent screen, and the new
// account comes back signed in.
func (a *App) signup(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !a.allowSignIn(w, r) {
		return
	}
	server := strings.TrimSpace(r.PostFormValue("server"))
	if server == "" {
		server = a.signUpServer
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	a.start(w, r, server, "create", appState{}, func(msg string) {
		a.render(w, r, http.StatusBadRequest, "signup", &view{Title: "Create an account", Error: msg, Data: signUpPage{Server: server}})
	})
}

// callback completes a sign-in or a step-up. Only a callback whose state
// matches the browser's state cookie consumes it: anyone can send the
// browser to the callback (a cross-site link carries the cookie), and
// such a request must not cancel the sign-in in progress. A sign-in adds
// the account to the browser's accounts (see addAccount) and returns to
// the path kept in its app state; a step-up replaces the browser's
// current session under the same id and returns to its form.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	state := cookieValue(r, a.stateCookie)
	if got := r.URL.Query().Get("state"); state != "" && subtle.ConstantTimeCompare([]byte(got), []byte(state)) != 1 {
		a.logger(r).Info("sign-in callback without the state of the sign-in in progress", "state_present", got != "")
		p, status := explainCallback(atoauth.ErrInvalidState)
		p.Detail = ""
		p.Back, p.BackLabel = "/", "Back to sign-in"
		a.renderError(w, r, status, p, nil)
		return
	}
	if state == "" {
		// Not started here, or the cookie expired. An error response from
		// the server is still worth explaining.
		if code := r.URL.Query().Get("error"); code != "" {
			a.callbackFailed(w, r, &atoauth.CallbackError{Code: cleanCode(code)}, "")
			return
		}
		a.renderError(w, r, http.StatusBadRequest, errorPage{
			Heading:   "Sign-in not recognised",
			Message:   "This sign-in was not started in this browser, or it took too long. Please sign in again.",
			BackLabel: "Sign in again",
		}, nil)
		return
	}
	a.clearCookie(w, a.stateCookie)
	// A step-up names the session it replaces in a cookie set with the
	// state: it must still be the browser's current session.
	replace := cookieValue(r, a.stepUpCookie)
	if replace != "" {
		a.clearCookie(w, a.stepUpCookie)
		if replace != cookieValue(r, a.sessionCookie) {
			a.stepUpRefused(w, r)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), callbackTimeout)
	defer cancel()
	s, raw, err := a.client.CallbackWithAppState(ctx, r.URL.Query(), &atoauth.CallbackOptions{State: state, Replace: replace})
	st := parseAppState(raw)
	if replace != "" || st.StepUp != "" {
		if st.StepUp != replace {
			// Not the step-up this browser started: a sign-in that
			// created a session is undone.
			if err == nil && replace == "" {
				if err := a.signOut(ctx, r, s.ID()); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
					a.logger(r).Warn("undoing a step-up for another session", "err", err)
				}
			}
			a.stepUpRefused(w, r)
			return
		}
		a.stepUpReturn(w, r, st, err)
		return
	}
	if err != nil {
		a.callbackFailed(w, r, err, st.Return)
		return
	}
	if err := a.addAccount(ctx, w, r, s); err != nil {
		a.renderError(w, r, http.StatusBadRequest, errorPage{Heading: "Too many accounts", Message: tooManyAccounts}, nil)
		return
	}
	a.logger(r).Info("signed in", "did", s.DID(), "handle", s.Handle())
	http.Redirect(w, r, safeReturn(st.Return), http.StatusSeeOther)
}

// stepUpRefused answers the callback of a step-up that is not for the
// browser's current session.
func (a *App) stepUpRefused(w http.ResponseWriter, r *http.Request) {
	a.logger(r).Warn("step-up callback refused: not for the browser's current session")
	a.renderError(w, r, http.StatusBadRequest, errorPage{
		Heading: "Permission request not completed",
		Message: "This permission request was started for an account that is no longer the one in use in this browser (you switched account or signed out since), so it was not completed. Nothing changed. Switch back to that account and try again.",
	}, nil)
}

// callbackFailed explains a sign-in that failed; the way back keeps the
// path the sign-in was to return to.
func (a *App) callbackFailed(w http.ResponseWriter, r *http.Request, err error, next string) {
	a.logger(r).Info("sign-in failed", "err", err)
	p, status := explainCallback(err)
	p.Back, p.BackLabel = "/", "Back to sign-in"
	if next = returnField(next); next != "" {
		p.Back = "/?" + url.Values{"next": {next}}.Encode()
	}
	a.renderError(w, r, status, p, nil)
}

// cleanCode keeps an OAuth error code's allowed characters (RFC 6749
// §4.1.2.1: printable ASCII without '"' and '\').
func cleanCode(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// logout signs the current account out: it revokes the session's
// tokens at the server and deletes the session; the browser's next
// account, if any, becomes current. It works without a session too
// (clearing a stale cookie), but a live session needs the form token.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	s, err := a.currentSession(w, r)
	if errors.Is(err, errNoSession) {
		http.Redirect(w, r, "/?notice=signed-out", http.StatusSeeOther)
		return
	}
	if s.switched { // the account of the form is gone already
		http.Redirect(w, r, "/?notice="+orDefault(s.notice, "session-ended"), http.StatusSeeOther)
		return
	}
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	if !a.checkCSRF(w, r, s) {
		return
	}
	ctx, cancel := a.postContext(r)
	defer cancel()
	notice := "signed-out"
	if err := a.signOut(ctx, r, s.id); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
		a.logger(r).Warn("sign-out: revocation failed", "err", err)
		notice = "revoke-failed"
	}
	if a.leave(w, r, s) && notice == "signed-out" {
		notice = "signed-out-switched"
	}
	a.logger(r).Info("signed out", "did", s.info.DID)
	http.Redirect(w, r, "/?notice="+notice, http.StatusSeeOther)
}

// logoutAll signs out every session of the account in this app: in every
// browser, on every instance sharing the store. The browser's other
// accounts stay signed in.
func (a *App) logoutAll(w http.ResponseWriter, r *http.Request, s *session) {
	list, err := a.client.Sessions(r.Context(), s.info.DID)
	if err != nil {
		a.storeFailed(w, r, err)
		return
	}
	ctx, cancel := a.postContext(r)
	defer cancel()
	notice := "signed-out-all"
	for _, other := range list {
		if err := a.signOut(ctx, r, other.ID); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
			a.logger(r).Warn("sign-out everywhere: revocation failed", "err", err)
			notice = "revoke-failed"
		}
	}
	a.leave(w, r, s)
	a.logger(r).Info("signed out everywhere", "did", s.info.DID, "sessions", len(list))
	http.Redirect(w, r, "/?notice="+notice, http.StatusSeeOther)
}

// signOut revokes session id's tokens and deletes it, within ctx's
// deadline: when the authorization server takes longer, the revocation is
// given up and the session is deleted here all the same.
func (a *App) signOut(ctx context.Context, r *http.Request, id string) error {
	err := a.client.Logout(ctx, id)
	if err == nil || ctx.Err() == nil || errors.Is(err, atoauth.ErrSessionNotFound) {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if derr := a.client.Store().DeleteSession(dctx, id); derr != nil && !errors.Is(derr, atoauth.ErrStoreNotFound) {
		return errors.Join(err, derr)
	}
	return err
}
