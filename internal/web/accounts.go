package web

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/agent"
)

// Several accounts in one browser. The session cookie names the current
// account's session, as with one account; the accounts cookie lists the
// sessions of the browser's other accounts, most recently used first:
// opaque session ids only, separated by ".", at most maxAccounts-1 of
// them. Pages show the other accounts' handles (read from the store) in
// a switcher; forms name an account by its DID, never by its session id,
// so no page holds a session id. Switching needs the current session's
// form token. Each account's session is independent: signing one out
// leaves the others, and the next listed becomes current.

// maxAccounts is how many accounts one browser may be signed in to.
const maxAccounts = 5

// sessionIDRE is what a session id looks like (atoauth's are 43
// base64url characters); anything else in a cookie is ignored.
var sessionIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// listedAccounts are the other accounts' session ids in the browser's
// accounts cookie: well-formed, distinct, not the current one, at most
// maxAccounts-1.
func (a *App) listedAccounts(r *http.Request, current string) []string {
	v := cookieValue(r, a.accountsCookie)
	if v == "" {
		return nil
	}
	var out []string
	for _, id := range strings.SplitN(v, ".", maxAccounts+1) {
		if sessionIDRE.MatchString(id) && id != current && !slices.Contains(out, id) && len(out) < maxAccounts-1 {
			out = append(out, id)
		}
	}
	return out
}

// setAccounts makes current the browser's current session and others
// its other accounts.
func (a *App) setAccounts(w http.ResponseWriter, current string, others []string) {
	a.setCookie(w, a.sessionCookie, current, a.sessionMaxAge)
	if len(others) == 0 {
		a.clearCookie(w, a.accountsCookie)
		return
	}
	a.setCookie(w, a.accountsCookie, strings.Join(others, "."), a.sessionMaxAge)
}

// clearAccounts signs the browser out of every account (the sessions
// themselves are left as they are).
func (a *App) clearAccounts(w http.ResponseWriter, r *http.Request) {
	a.clearCookie(w, a.sessionCookie)
	if cookieValue(r, a.accountsCookie) != "" {
		a.clearCookie(w, a.accountsCookie)
	}
}

// otherAccount is one of the browser's other accounts.
type otherAccount struct {
	id   string
	info atoauth.SessionInfo
}

// signedOutError is errNoSession with the notice that explains why (""
// for none).
type signedOutError struct{ notice string }

func (e *signedOutError) Error() string        { return errNoSession.Error() }
func (e *signedOutError) Is(target error) bool { return target == errNoSession }

// signedOutNotice is the notice of a signed-out request ("" for none).
func signedOutNotice(err error) string {
	var so *signedOutError
	if errors.As(err, &so) {
		return so.notice
	}
	return ""
}

// gone tells whether loading a session found none this app can use: it
// was deleted, or another client made it (the app ran with another scope
// or public URL then; that session stays in the store).
func gone(err error) bool {
	return errors.Is(err, atoauth.ErrSessionNotFound) || errors.Is(err, atoauth.ErrOtherClient)
}

// currentSession loads the browser's current session and its other
// accounts. Sessions that no longer load are dropped from the cookies;
// when the current one is gone, the next listed account that loads
// becomes current (session.switched), with a notice saying why the
// other ended when this app knows it (Notices). Without any, the
// cookies are cleared and the error matches errNoSession, with the
// notice: the cause when known, else "session-ended" when the browser
// had a current session.
func (a *App) currentSession(w http.ResponseWriter, r *http.Request) (*session, error) {
	cur := cookieValue(r, a.sessionCookie)
	if len(cur) > 64 {
		cur = cur[:64]
	}
	listed := a.listedAccounts(r, cur)
	if cur == "" && len(listed) == 0 {
		return nil, &signedOutError{}
	}
	ctx := r.Context()
	candidates := listed
	if cur != "" {
		candidates = append([]string{cur}, listed...)
	}
	var (
		current      *atoauth.Session
		others       []otherAccount
		changed      bool
		curNotice    string
		othersNotice string
	)
	for i, id := range candidates {
		s, err := a.client.Session(ctx, id)
		if gone(err) {
			changed = true
			notice := a.notices.notice(id)
			if i == 0 && id == cur {
				curNotice = orDefault(notice, "session-ended")
			} else if othersNotice == "" {
				othersNotice = notice
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if current == nil {
			current = s
			continue
		}
		others = append(others, otherAccount{id: id, info: s.Info()})
	}
	notice := orDefault(curNotice, othersNotice)
	if current == nil {
		a.clearAccounts(w, r)
		return nil, &signedOutError{notice: notice}
	}
	if notice == "session-ended" { // and another account is current now
		notice = "session-ended-switched"
	}
	if changed {
		ids := make([]string, len(others))
		for i, o := range others {
			ids[i] = o.id
		}
		a.setAccounts(w, current.ID(), ids)
	}
	opts := a.agentOptions()
	o := *opts
	o.XRPC.MaxResponseBytes = capProfile
	small, err := agent.New(current, &o)
	if err != nil {
		return nil, err
	}
	return &session{s: current, id: current.ID(), info: current.Info(), csrf: csrfToken(current.ID()), opts: opts, small: small,
		others: others, notice: notice, switched: current.ID() != cur}, nil
}

// otherIDs are the session ids of s's other accounts.
func (s *session) otherIDs() []string {
	ids := make([]string, len(s.others))
	for i, o := range s.others {
		ids[i] = o.id
	}
	return ids
}

// leave makes the browser leave s's account: the next listed account
// becomes current, and it tells whether there was one.
func (a *App) leave(w http.ResponseWriter, r *http.Request, s *session) bool {
	if len(s.others) == 0 {
		a.clearAccounts(w, r)
		return false
	}
	ids := s.otherIDs()
	a.setAccounts(w, ids[0], ids[1:])
	return true
}

// switchAccount makes another of the browser's accounts current. The
// form names it by DID, and only the accounts of this browser's list
// can be chosen; the form token is the current session's.
func (a *App) switchAccount(w http.ResponseWriter, r *http.Request, s *session) {
	did := r.PostFormValue("did")
	i := slices.IndexFunc(s.others, func(o otherAccount) bool { return o.info.DID.String() == did })
	if i < 0 {
		a.logger(r).Info("switch to an account not in this browser")
		a.renderError(w, r, http.StatusBadRequest, errorPage{Heading: "Account not found",
			Message: "That account is not signed in in this browser. Add it with “Add another account”."}, s)
		return
	}
	target := s.others[i]
	ids := append([]string{s.id}, slices.Delete(s.otherIDs(), i, i+1)...)
	a.setAccounts(w, target.id, ids)
	a.logger(r).Info("switched account", "from", s.info.DID, "to", target.info.DID)
	http.Redirect(w, r, "/?notice=switched", http.StatusSeeOther)
}

// addAccountPage is the sign-in page for another account, shown beside
// the current one.
func (a *App) addAccountPage(w http.ResponseWriter, r *http.Request, s *session) {
	if 1+len(s.others) >= maxAccounts {
		a.renderError(w, r, http.StatusBadRequest, errorPage{Heading: "Too many accounts",
			Message: tooManyAccounts}, s)
		return
	}
	a.render(w, r, http.StatusOK, "signin", s.view("Add another account", "", signInPage{Adding: true}))
}

const tooManyAccounts = "This browser is signed in to 5 accounts, the most it can be. Sign out of one of them first."

// errTooManyAccounts: a sign-in would add a sixth account.
var errTooManyAccounts = errors.New("web: too many accounts in this browser")

// addAccount makes the new session s current after a sign-in, keeping
// the browser's other accounts: a session of the same account (DID) is
// signed out and replaced, sessions that no longer load are dropped.
// Past maxAccounts, the new session is signed out and nothing changes.
func (a *App) addAccount(ctx context.Context, w http.ResponseWriter, r *http.Request, s *atoauth.Session) error {
	cur := cookieValue(r, a.sessionCookie)
	var previous []string
	if sessionIDRE.MatchString(cur) {
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
	if 1+len(keep) > maxAccounts {
		if err := a.signOut(ctx, r, s.ID()); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
			a.logger(r).Warn("signing out a session past the account limit", "err", err)
		}
		return errTooManyAccounts
	}
	for _, id := range replace {
		if err := a.signOut(ctx, r, id); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
			a.logger(r).Warn("ending the account's previous session", "err", err)
		}
	}
	a.setAccounts(w, s.ID(), keep)
	return nil
}

// logoutAccounts signs out of every account of this browser.
func (a *App) logoutAccounts(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := a.postContext(r)
	defer cancel()
	notice := "signed-out-accounts"
	for _, id := range append([]string{s.id}, s.otherIDs()...) {
		if err := a.signOut(ctx, r, id); err != nil && !errors.Is(err, atoauth.ErrSessionNotFound) {
			a.logger(r).Warn("sign-out of all accounts: revocation failed", "err", err)
			notice = "revoke-failed"
		}
	}
	a.clearAccounts(w, r)
	a.logger(r).Info("signed out of all accounts", "accounts", 1+len(s.others))
	http.Redirect(w, r, "/?notice="+notice, http.StatusSeeOther)
}
