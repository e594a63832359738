package atoauthhttp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/internal/httpx"
)

// A browser may be signed in to several accounts (Options.MaxAccounts).
// The session cookie names the current account's session; the accounts
// cookie lists the sessions of its other accounts, most recently used
// first: opaque session ids only, separated by ".". Forms name an
// account by its DID (Switch), never by its session id. Each account's
// session is independent: signing one out leaves the others, and the
// next listed becomes current.

// Accounts is what a browser is signed in to, as a request found it.
// RequireSession and OptionalSession put it in the request's context
// (AccountsFrom).
type Accounts struct {
	// Current is the current account's session; nil when the browser is
	// signed out.
	Current *atoauth.Session
	// Others are the browser's other accounts, most recently used first:
	// what a switcher offers. Name them by DID in pages (Switch takes
	// the DID), never by their session id.
	Others []atoauth.SessionInfo
	// Ended are the ids of the browser's sessions that this request found
	// ended (signed out elsewhere, revoked, expired, …): the browser
	// forgets them. An app that records why sessions end
	// (atoauth.SessionEvents.Deleted) can say why.
	Ended []string
	// CurrentEnded tells that the current account's session was among
	// them (it is Ended[0]): the browser is signed out, or, when
	// Current is set, the next of its accounts is current now — and an
	// unsafe request, made for the account that ended, is refused with
	// CodeNotSignedIn.
	CurrentEnded bool
}

// sessionIDRE is what a session id looks like (atoauth's are 43
// base64url characters); anything else in a cookie is ignored.
var sessionIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// listedAccounts are the other accounts' session ids in the browser's
// accounts cookie: well-formed, distinct, not the current one, at most
// maxAccounts-1.
func (a *Auth) listedAccounts(r *http.Request, current string) []string {
	v := httpx.CookieValue(r, a.accountsCookie)
	if v == "" {
		return nil
	}
	var out []string
	for _, id := range strings.SplitN(v, ".", a.maxAccounts+1) {
		if sessionIDRE.MatchString(id) && id != current && !slices.Contains(out, id) && len(out) < a.maxAccounts-1 {
			out = append(out, id)
		}
	}
	return out
}

// currentCookie is the browser's current session id ("" for none).
func (a *Auth) currentCookie(r *http.Request) string {
	if cur := httpx.CookieValue(r, a.sessionCookie); sessionIDRE.MatchString(cur) {
		return cur
	}
	return ""
}

// setAccounts makes current the browser's current session and others
// its other accounts.
func (a *Auth) setAccounts(w http.ResponseWriter, current string, others []string) {
	a.setCookie(w, a.sessionCookie, current, a.sessionMaxAge)
	if len(others) == 0 {
		a.clearCookie(w, a.accountsCookie)
		return
	}
	a.setCookie(w, a.accountsCookie, strings.Join(others, "."), a.sessionMaxAge)
}

// clearAccounts signs the browser out of every account (the sessions
// themselves are left as they are).
func (a *Auth) clearAccounts(w http.ResponseWriter, r *http.Request) {
	a.clearCookie(w, a.sessionCookie)
	if httpx.CookieValue(r, a.accountsCookie) != "" {
		a.clearCookie(w, a.accountsCookie)
	}
}

// gone tells whether loading a session found none this client can use:
// it was deleted, or another client made it (the app ran with another
// scope or public URL then; that session stays in the store).
func gone(err error) bool {
	return errors.Is(err, atoauth.ErrSessionNotFound) || errors.Is(err, atoauth.ErrOtherClient)
}

// load reads the browser's accounts. Sessions that no longer load are
// dropped; when the current one is gone, the next listed account that
// loads becomes current. With w, the cookies are rewritten when that
// changed them. An error is the store's.
func (a *Auth) load(w http.ResponseWriter, r *http.Request) (*Accounts, error) {
	cur := httpx.CookieValue(r, a.sessionCookie)
	if len(cur) > 64 {
		cur = cur[:64]
	}
	listed := a.listedAccounts(r, cur)
	acc := &Accounts{}
	if cur == "" && len(listed) == 0 {
		return acc, nil
	}
	candidates := listed
	if cur != "" {
		candidates = append([]string{cur}, listed...)
	}
	var others []string
	for i, id := range candidates {
		s, err := a.client.Session(r.Context(), id)
		if gone(err) {
			acc.Ended = append(acc.Ended, id)
			if i == 0 && id == cur {
				acc.CurrentEnded = true
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if acc.Current == nil {
			acc.Current = s
			continue
		}
		acc.Others = append(acc.Others, s.Info())
		others = append(others, id)
	}
	if w != nil && len(acc.Ended) > 0 {
		if acc.Current == nil {
			a.clearAccounts(w, r)
		} else {
			a.setAccounts(w, acc.Current.ID(), others)
		}
	}
	return acc, nil
}

// otherIDs are the session ids of acc's other accounts.
func (acc *Accounts) otherIDs() []string {
	ids := make([]string, len(acc.Others))
	for i, o := range acc.Others {
		ids[i] = o.ID
	}
	return ids
}

// leave makes the browser leave acc's current account: the next listed
// account becomes current. It returns how many accounts remain.
func (a *Auth) leave(w http.ResponseWriter, r *http.Request, acc *Accounts) int {
	if len(acc.Others) == 0 {
		a.clearAccounts(w, r)
		return 0
	}
	ids := acc.otherIDs()
	a.setAccounts(w, ids[0], ids[1:])
	return len(ids)
}

// Forget makes the browser forget its current account without signing
// its session out — for a session found ended while a request used it
// (atoauth.ErrSessionExpired), say: the next of the browser's accounts
// becomes current. It needs the accounts RequireSession or
// OptionalSession loaded, and does nothing without them.
func (a *Auth) Forget(w http.ResponseWriter, r *http.Request) {
	if acc, ok := AccountsFrom(r.Context()); ok && acc.Current != nil {
		a.leave(w, r, acc)
	}
}

// csrfToken derives the CSRF token of a session from its id: only a
// holder of the (HttpOnly) session cookie can know it, and it needs no
// server-side state, so any instance of the app checks it.
func csrfToken(sessionID string) string {
	sum := sha256.Sum256([]byte("atoauthhttp csrf token\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(sum[:24])
}

// signOutTimeout bounds a sign-out's revocations at the authorization
// server; past it the sessions are deleted here all the same.
const signOutTimeout = 30 * time.Second

// signOut revokes session id's tokens and deletes it, within ctx's
// deadline: when the authorization server takes longer, the revocation
// is given up and the session is deleted here all the same.
func (a *Auth) signOut(ctx context.Context, id string) error {
	err := a.client.Logout(ctx, id)
	if err == nil || ctx.Err() == nil || errors.Is(err, atoauth.ErrSessionNotFound) {
		return err
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if derr := a.client.Store().DeleteSession(dctx, id); derr != nil && !errors.Is(derr, atoauth.ErrStoreNotFound) {
		return errors.Join(err, derr)
	}
	return err
}

// signOutAll signs the sessions ids out, and returns the first error but
// "not found".
func (a *Auth) signOutAll(ctx context.Context, r *http.Request, ids []string, what string) error {
	var first error
	for _, id := range ids {
		if err := a.signOut(ctx, id); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
			a.log.WarnContext(r.Context(), what+": revocation failed", "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// signedInForm loads the browser's accounts for a form that acts for
// the current account: an unsafe request, from this origin, of a
// signed-in browser, with the session's CSRF token. Else it answers the
// error and returns nil. The returned request carries the accounts.
func (a *Auth) signedInForm(w http.ResponseWriter, r *http.Request) (*Accounts, *http.Request) {
	if !postOnly(w, r) {
		return nil, r
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	acc, r, e := a.check(w, r, true)
	if e != nil {
		a.fail(w, r, e)
		return nil, r
	}
	return acc, r
}

// maxFormBody bounds the forms of the package's own handlers.
const maxFormBody = 64 << 10

// postOnly answers 405 to anything but a POST (a handler mounted on a
// router for every method, say), and tells whether r is a POST.
func postOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// SignOut signs the browser's current account out: it revokes the
// session's tokens at the authorization server (RFC 7009) and deletes
// it; the browser's next account, if any, becomes current. It needs a
// POST with the session's CSRF token. A browser that is not signed in
// only has its cookies cleared. The answer is a redirect to
// Options.AfterSignOut (see Event).
func (a *Auth) SignOut(w http.ResponseWriter, r *http.Request) {
	if !postOnly(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if e := a.checkOrigin(r); e != nil {
		a.fail(w, r, e)
		return
	}
	acc, err := a.accounts(w, r)
	if err != nil {
		a.fail(w, r, errStore(err))
		return
	}
	r = withAccounts(r, acc)
	if acc.Current == nil {
		a.redirect(w, r, a.afterSignOut)
		return
	}
	if acc.CurrentEnded { // the form was for the account that ended
		a.fail(w, r, errNotSignedIn(""))
		return
	}
	if e := a.checkForm(r, acc); e != nil {
		a.fail(w, r, e)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), signOutTimeout)
	defer cancel()
	info := acc.Current.Info()
	err = a.signOutAll(ctx, r, []string{info.ID}, "sign-out")
	remaining := a.leave(w, r, acc)
	a.log.InfoContext(r.Context(), "signed out", "did", info.DID.String())
	a.done(w, r, &Event{Kind: EventSignedOut, Account: info, Remaining: remaining, Err: err, Redirect: a.afterSignOut})
}

// SignOutEverywhere signs the current account out of this app
// everywhere: every session of its DID in the store (every browser,
// every instance sharing the store) is revoked and deleted. The
// browser's other accounts stay signed in. It needs a POST with the
// session's CSRF token; the answer is a redirect to
// Options.AfterSignOut.
func (a *Auth) SignOutEverywhere(w http.ResponseWriter, r *http.Request) {
	acc, r := a.signedInForm(w, r)
	if acc == nil {
		return
	}
	info := acc.Current.Info()
	list, err := a.client.Sessions(r.Context(), info.DID)
	if err != nil {
		a.fail(w, r, errStore(err))
		return
	}
	ids := []string{info.ID}
	for _, s := range list {
		if s.ID != info.ID {
			ids = append(ids, s.ID)
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), signOutTimeout)
	defer cancel()
	err = a.signOutAll(ctx, r, ids, "sign-out everywhere")
	remaining := a.leave(w, r, acc)
	a.log.InfoContext(r.Context(), "signed out everywhere", "did", info.DID.String(), "sessions", len(ids))
	a.done(w, r, &Event{Kind: EventSignedOutEverywhere, Account: info, Remaining: remaining, Err: err, Redirect: a.afterSignOut})
}

// SignOutAccounts signs the browser out of every account it is signed
// in to, revoking each session. It needs a POST with the current
// session's CSRF token; the answer is a redirect to Options.AfterSignOut.
func (a *Auth) SignOutAccounts(w http.ResponseWriter, r *http.Request) {
	acc, r := a.signedInForm(w, r)
	if acc == nil {
		return
	}
	info := acc.Current.Info()
	ctx, cancel := context.WithTimeout(r.Context(), signOutTimeout)
	defer cancel()
	err := a.signOutAll(ctx, r, append([]string{info.ID}, acc.otherIDs()...), "sign-out of all accounts")
	a.clearAccounts(w, r)
	a.log.InfoContext(r.Context(), "signed out of all accounts", "accounts", 1+len(acc.Others))
	a.done(w, r, &Event{Kind: EventSignedOutAccounts, Account: info, Err: err, Redirect: a.afterSignOut})
}

// Switch makes another of the browser's accounts current: the form field
// did names it (one of Accounts.Others), and only the accounts of this
// browser can be chosen. It needs a POST with the current session's
// CSRF token; the answer is a redirect to the form field next (see
// SafeReturn), or to Options.AfterSignIn.
func (a *Auth) Switch(w http.ResponseWriter, r *http.Request) {
	acc, r := a.signedInForm(w, r)
	if acc == nil {
		return
	}
	did := r.PostFormValue("did")
	i := slices.IndexFunc(acc.Others, func(o atoauth.SessionInfo) bool { return o.DID.String() == did })
	if i < 0 {
		a.log.InfoContext(r.Context(), "switch to an account not in this browser")
		a.fail(w, r, &Error{Code: CodeAccountNotFound, Status: http.StatusBadRequest, Title: "Account not found",
			Message: "That account is not signed in in this browser."})
		return
	}
	target := acc.Others[i]
	ids := append([]string{acc.Current.ID()}, slices.Delete(acc.otherIDs(), i, i+1)...)
	a.setAccounts(w, target.ID, ids)
	a.log.InfoContext(r.Context(), "switched account", "from", acc.Current.DID().String(), "to", target.DID.String())
	next := a.afterSignIn
	if ret := returnOf(r.PostFormValue("next")); ret != "" {
		next = ret
	}
	a.done(w, r, &Event{Kind: EventSwitched, Account: target, Redirect: next})
}

// addAccount makes the new session s current after a sign-in, keeping
// the browser's other accounts: a session of the same account (DID) is
// signed out and replaced, sessions that no longer load are dropped.
// Past MaxAccounts, the new session is signed out and nothing changes —
// but with MaxAccounts 1, it replaces the browser's account. The event
// hook runs before the cookies are set, and may refuse the sign-in.
func (a *Auth) addAccount(ctx context.Context, w http.ResponseWriter, r *http.Request, s *atoauth.Session, ev *Event) *Error {
	cur := a.currentCookie(r)
	var previous []string
	if cur != "" {
		previous = append(previous, cur)
	}
	previous = append(previous, a.listedAccounts(r, cur)...)
	var keep, replace []string
	for _, id := range previous {
		if id == s.ID() {
			continue
		}
		old, err := a.client.Session(ctx, id)
		switch {
		case gone(err):
		case err != nil:
			keep = append(keep, id) // the store failed: keep it for later
		case old.DID() == s.DID():
			replace = append(replace, id)
		default:
			keep = append(keep, id)
		}
	}
	if 1+len(keep) > a.maxAccounts {
		if a.maxAccounts > 1 {
			a.undo(ctx, r, s, "signing out a session past the account limit")
			return errTooManyAccounts(a.maxAccounts)
		}
		replace, keep = append(replace, keep...), nil
	}
	if err := a.hook(w, r, ev); err != nil {
		a.undo(ctx, r, s, "signing out a refused session")
		return err
	}
	// A failure is logged; the new session is signed in all the same.
	_ = a.signOutAll(ctx, r, replace, "ending the browser's previous session")
	a.setAccounts(w, s.ID(), keep)
	return nil
}

// undo signs out a session just created that the browser will not use.
func (a *Auth) undo(ctx context.Context, r *http.Request, s *atoauth.Session, what string) {
	if err := a.signOut(ctx, s.ID()); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
		a.log.WarnContext(r.Context(), what, "err", err)
	}
}
