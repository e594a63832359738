package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
)

// session is the signed-in account of a request.
type session struct {
	s    *atoauth.Session
	info atoauth.SessionInfo
	csrf string
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
	return &accountView{Handle: s.info.Handle.String(), DID: s.info.DID.String()}
}

// view returns a view for a signed-in page.
func (s *session) view(title, nav string, data any) *view {
	return &view{Title: title, Nav: nav, Account: s.account(), CSRF: s.csrf, Data: data}
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

// currentSession loads the session named by the cookie. A cookie naming
// a session that no longer exists, or one another client made (the app ran
// with another scope or public URL then), is cleared and gives
// errNoSession; the other client's session stays in the store.
func (a *App) currentSession(w http.ResponseWriter, r *http.Request) (*session, error) {
	id := cookieValue(r, a.sessionCookie)
	if id == "" {
		return nil, errNoSession
	}
	s, err := a.client.Session(r.Context(), id)
	if errors.Is(err, atoauth.ErrSessionNotFound) || errors.Is(err, atoauth.ErrOtherClient) {
		a.clearCookie(w, a.sessionCookie)
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	opts := a.agentOptions()
	o := *opts
	o.XRPC.MaxResponseBytes = capProfile
	small, err := agent.New(s, &o)
	if err != nil {
		return nil, err
	}
	return &session{s: s, info: s.Info(), csrf: csrfToken(id), opts: opts, small: small}, nil
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

// signedIn wraps a handler that needs a session: without one, GETs go to
// the sign-in page and POSTs too, with a notice. POSTs must carry the
// session's form token.
func (a *App) signedIn(h func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody(r.URL.Path))
		}
		s, err := a.currentSession(w, r)
		if errors.Is(err, errNoSession) {
			target := "/"
			if r.Method != http.MethodGet && r.Method != http.MethodHead || cookieValue(r, a.sessionCookie) != "" {
				target = "/?notice=session-ended"
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if err != nil {
			a.storeFailed(w, r, err)
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
	case "/post":
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
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	s, err := a.currentSession(w, r)
	switch {
	case errors.Is(err, errNoSession):
		a.render(w, r, http.StatusOK, "signin", &view{Title: "Sign in", Data: signInPage{}})
	case err != nil:
		a.storeFailed(w, r, err)
	default:
		a.renderHome(w, r, s, http.StatusOK, "", nil)
	}
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
	if input == "" {
		a.render(w, r, http.StatusBadRequest, "signin", &view{Title: "Sign in",
			Error: "Enter your handle (like alice.bsky.social), your DID, or your server's address.", Data: signInPage{}})
		return
	}
	a.start(w, r, input, "", func(msg string) {
		a.render(w, r, http.StatusBadRequest, "signin", &view{Title: "Sign in", Error: msg, Data: signInPage{Input: input}})
	})
}

// start begins a login and sends the browser to the authorization
// server, with the login's state in a cookie that binds it to this
// browser.
func (a *App) start(w http.ResponseWriter, r *http.Request, identifier, prompt string, fail func(msg string)) {
	ctx, cancel := context.WithTimeout(r.Context(), signInTimeout)
	defer cancel()
	opts := &atoauth.StartOptions{Prompt: prompt}
	if a.client.Metadata().TokenEndpointAuthMethod == "none" && strings.HasPrefix(a.client.ClientID(), atoauth.LoopbackClientID) && a.host != "" {
		// A loopback client registers a port-less redirect URI, so that
		// its client_id (and every session) survives a change of port and
		// is shared by several instances; the login names the real one.
		opts.RedirectURI = "http://" + a.host + LoopbackCallbackPath
	}
	auth, err := a.client.Start(ctx, identifier, opts)
	if err != nil {
		a.logger(r).Info("sign-in could not start", "err", err)
		fail(explainStart(err, identifier))
		return
	}
	a.setCookie(w, a.stateCookie, auth.State, time.Until(auth.ExpiresAt))
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
	a.start(w, r, server, "create", func(msg string) {
		a.render(w, r, http.StatusBadRequest, "signup", &view{Title: "Create an account", Error: msg, Data: signUpPage{Server: server}})
	})
}

// callback completes a sign-in. Only a callback whose state matches the
// browser's state cookie consumes it: anyone can send the browser to the
// callback (a cross-site link carries the cookie), and such a request
// must not cancel the sign-in in progress.
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
			a.callbackFailed(w, r, &atoauth.CallbackError{Code: cleanCode(code)})
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
	ctx, cancel := context.WithTimeout(r.Context(), callbackTimeout)
	defer cancel()
	s, err := a.client.Callback(ctx, r.URL.Query(), &atoauth.CallbackOptions{State: state})
	if err != nil {
		a.callbackFailed(w, r, err)
		return
	}
	// One account per browser: a previous session of this browser ends.
	if old := cookieValue(r, a.sessionCookie); old != "" && old != s.ID() {
		if err := a.signOut(ctx, r, old); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
			a.logger(r).Warn("ending the previous session", "err", err)
		}
	}
	a.setCookie(w, a.sessionCookie, s.ID(), a.sessionMaxAge)
	a.logger(r).Info("signed in", "did", s.DID(), "handle", s.Handle())
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *App) callbackFailed(w http.ResponseWriter, r *http.Request, err error) {
	a.logger(r).Info("sign-in failed", "err", err)
	p, status := explainCallback(err)
	p.Back, p.BackLabel = "/", "Back to sign-in"
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

// logout signs out: it revokes the session's tokens at the server and
// deletes the session. It works without a session too (clearing a stale
// cookie), but a live session needs the form token.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	s, err := a.currentSession(w, r)
	if errors.Is(err, errNoSession) {
		http.Redirect(w, r, "/?notice=signed-out", http.StatusSeeOther)
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
	if err := a.signOut(ctx, r, s.s.ID()); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
		a.logger(r).Warn("sign-out: revocation failed", "err", err)
		notice = "revoke-failed"
	}
	a.clearCookie(w, a.sessionCookie)
	a.logger(r).Info("signed out", "did", s.info.DID)
	http.Redirect(w, r, "/?notice="+notice, http.StatusSeeOther)
}

// logoutAll signs out every session of the account in this app: in every
// browser, on every instance sharing the store.
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
	a.clearCookie(w, a.sessionCookie)
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
