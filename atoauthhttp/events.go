package atoauthhttp

import (
	"errors"
	"net/http"

	"github.com/atoauth/atoauth"
)

// EventKind is what a handler did (see Event).
type EventKind int

// The kinds of Event.
const (
	// EventSignedIn: a sign-in completed; the new session is the
	// browser's current account.
	EventSignedIn EventKind = iota + 1
	// EventSteppedUp: a step-up completed; the new session replaced the
	// browser's current one, under the same id.
	EventSteppedUp
	// EventSignedOut: SignOut signed the browser's current account out.
	EventSignedOut
	// EventSignedOutEverywhere: SignOutEverywhere signed every session of
	// the account out.
	EventSignedOutEverywhere
	// EventSignedOutAccounts: SignOutAccounts signed the browser out of
	// all its accounts.
	EventSignedOutAccounts
	// EventSwitched: Switch made another of the browser's accounts
	// current.
	EventSwitched
)

func (k EventKind) String() string {
	switch k {
	case EventSignedIn:
		return "signed in"
	case EventSteppedUp:
		return "stepped up"
	case EventSignedOut:
		return "signed out"
	case EventSignedOutEverywhere:
		return "signed out everywhere"
	case EventSignedOutAccounts:
		return "signed out of all accounts"
	case EventSwitched:
		return "switched"
	}
	return "unknown event"
}

// Event is what a handler did, given to Options.OnEvent before the
// handler redirects. It never carries a token.
type Event struct {
	Kind EventKind
	// Account is the account of the event: signed in, stepped up, signed
	// out (for EventSignedOutAccounts, the current one), switched to.
	Account atoauth.SessionInfo
	// Session is the new session of EventSignedIn and EventSteppedUp (a
	// step-up keeps the id of the session it replaced); nil for the
	// other kinds.
	Session *atoauth.Session
	// AppState is the app's data of the sign-in or step-up
	// (StartOptions.AppState).
	AppState string
	// Remaining is, after EventSignedOut and EventSignedOutEverywhere,
	// how many of the browser's accounts are still signed in: 0 when
	// none is, else the next one is current.
	Remaining int
	// Err is, after a sign-out, the first revocation that failed: the
	// sessions were deleted here all the same, and their tokens expire
	// on their own at the server.
	Err error
	// Redirect is where the handler sends the browser next, a path of
	// the app (see SafeReturn); the hook may change it.
	Redirect string
}

// hook calls Options.OnEvent; its error is returned as an Error.
func (a *Auth) hook(w http.ResponseWriter, r *http.Request, ev *Event) *Error {
	if a.onEvent == nil {
		return nil
	}
	err := a.onEvent(w, r, ev)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if ev.Kind == EventSignedIn {
		return &Error{Code: CodeDenied, Status: http.StatusForbidden, Title: "Sign-in refused",
			Message: "This account may not sign in to this app.", Err: err}
	}
	return asError(err)
}
