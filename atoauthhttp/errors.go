package atoauthhttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// ErrorCode names what went wrong, from a fixed list: an app may show
// its own page per code, and a script may branch on it.
type ErrorCode string

// The error codes. Each Error carries one, with a Status that is usually
// the one given here.
const (
	// CodeNotSignedIn: the request needs a signed-in account and the
	// browser has none (or the account a form was for is signed out).
	// 401; the default handler sends a GET for a page to the sign-in
	// page instead.
	CodeNotSignedIn ErrorCode = "not_signed_in"
	// CodeCSRF: an unsafe request (POST, …) of a signed-in browser
	// without the session's CSRF token, in the form field CSRFFormField
	// or the header CSRFHeader. 403.
	CodeCSRF ErrorCode = "csrf"
	// CodeCrossOrigin: an unsafe request sent from another origin, as
	// http.CrossOriginProtection tells from Sec-Fetch-Site and Origin.
	// 403.
	CodeCrossOrigin ErrorCode = "cross_origin"
	// CodeBadRequest: a request the package cannot read (a form too
	// large, 413, or malformed, a scope that does not parse). 400.
	CodeBadRequest ErrorCode = "bad_request"
	// CodeInvalidIdentifier: the sign-in form's handle, DID or server
	// address is empty, malformed or names no account. 400.
	CodeInvalidIdentifier ErrorCode = "invalid_identifier"
	// CodeInvalidState: a callback that is not for a sign-in in progress
	// in this browser: no state cookie, another state, a pending login
	// used already or expired, or a step-up for a session that is no
	// longer the browser's current one. 400.
	CodeInvalidState ErrorCode = "invalid_state"
	// CodeDenied: the person declined on their server's consent screen
	// (access_denied). 400.
	CodeDenied ErrorCode = "denied"
	// CodeSignInFailed: the account's servers could not start or
	// complete the sign-in: unreachable, misconfigured, or refusing it
	// (any other error code of the authorization server). 400 or 502.
	CodeSignInFailed ErrorCode = "sign_in_failed"
	// CodeAccountNotFound: Switch to an account this browser is not
	// signed in to. 400.
	CodeAccountNotFound ErrorCode = "account_not_found"
	// CodeTooManyAccounts: a sign-in past Options.MaxAccounts. 400.
	CodeTooManyAccounts ErrorCode = "too_many_accounts"
	// CodeMissingPermission: the session lacks a permission (see
	// RequirePermission and StepUp); Error.Scope, when set, is what a
	// step-up asks for. 403.
	CodeMissingPermission ErrorCode = "missing_permission"
	// CodeRateLimited: past Options.SignInLimit; the answer has
	// Retry-After. 429.
	CodeRateLimited ErrorCode = "rate_limited"
	// CodeServer: this app failed (its session store did not answer).
	// 500 or 503.
	CodeServer ErrorCode = "server"
)

// Error is what a handler or middleware of this package answers when it
// cannot do what was asked. Options.ErrorHandler writes it (by default
// as a small HTML page, or as JSON {"error": Code, "message": Message}
// for a request that wants JSON). Title and Message are plain words,
// safe to show to the person (whatever they quote from a server or from
// the request is cut and has its control characters escaped); Err is the
// technical cause, for logs, which may quote servers: escape it before
// showing it.
type Error struct {
	Code   ErrorCode
	Status int // the HTTP status to answer with
	// Title is a short heading ("Sign-in cancelled"); Message says what
	// happened and what to do, in a sentence or two.
	Title   string
	Message string
	// Err is the underlying error, when there is one.
	Err error
	// Return is the same-origin path (see SafeReturn) the failed request
	// was to return to — the page a signed-out visitor opened, the path
	// a sign-in or a step-up was to come back to —, or "" for none: a
	// way back.
	Return string
	// AppState is the app's data of the sign-in or step-up that failed
	// at its callback (StartOptions.AppState), or "".
	AppState string
	// Scope is, for CodeMissingPermission, what a step-up asks for to get
	// the missing permissions (a scope string for StepUp), or "" when
	// the client metadata declares no permission that grants them.
	Scope string
}

func (e *Error) Error() string {
	msg := "atoauthhttp: " + string(e.Code)
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	if e.Message != "" {
		return msg + ": " + e.Message
	}
	return msg
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// asError returns err as an *Error: itself when it is one, else a
// CodeServer error wrapping it.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeServer, Status: http.StatusInternalServerError, Title: "Something went wrong",
		Message: "The app ran into an error. Please try again.", Err: err}
}

// Errors that several handlers answer.
func errNotSignedIn(ret string) *Error {
	return &Error{Code: CodeNotSignedIn, Status: http.StatusUnauthorized, Title: "Sign in needed",
		Message: "Sign in to continue.", Return: ret}
}

func errCrossOrigin(err error) *Error {
	return &Error{Code: CodeCrossOrigin, Status: http.StatusForbidden, Title: "Request refused",
		Message: "This form was sent from another site, so it was ignored. If you meant to do this, go back, reload the page and try again.", Err: err}
}

func errCSRF() *Error {
	return &Error{Code: CodeCSRF, Status: http.StatusForbidden, Title: "This form has expired",
		Message: "The form was not sent from this app's current page (or you signed in again since). Go back, reload the page and try again."}
}

func errStore(err error) *Error {
	return &Error{Code: CodeServer, Status: http.StatusServiceUnavailable, Title: "Temporarily unavailable",
		Message: "The app could not load your session. Please try again in a moment.", Err: err}
}

func errForm(err error) *Error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Code: CodeBadRequest, Status: http.StatusRequestEntityTooLarge, Title: "Could not read the form",
			Message: "That is too much to send at once.", Err: err}
	}
	return &Error{Code: CodeBadRequest, Status: http.StatusBadRequest, Title: "Could not read the form",
		Message: "The form could not be read. Please try again.", Err: err}
}

func errTooManyAccounts(max int) *Error {
	return &Error{Code: CodeTooManyAccounts, Status: http.StatusBadRequest, Title: "Too many accounts",
		Message: fmt.Sprintf("This browser is signed in to %d accounts, the most it can be. Sign out of one of them first.", max)}
}

// maxMessageRunes bounds what a message quotes of a server's text.
const maxMessageRunes = 300

// explainStart turns the error of a sign-in that could not start into an
// Error whose message names the cause in plain words.
func explainStart(err error, input string) *Error {
	e := &Error{Code: CodeSignInFailed, Status: http.StatusBadGateway, Title: "Sign-in could not start", Err: err}
	bad := func(msg string) *Error {
		e.Code, e.Status, e.Message = CodeInvalidIdentifier, http.StatusBadRequest, msg
		return e
	}
	var oe *atoauth.OAuthError
	switch {
	case errors.Is(err, discovery.ErrInvalidIdentifier):
		return bad(fmt.Sprintf("“%s” is not a handle (like alice.bsky.social), a DID (did:plc:…) or a server address (https://bsky.social).", line(80, input)))
	case errors.Is(err, discovery.ErrHandleNotFound):
		return bad(fmt.Sprintf("No account has the handle “%s”. Check the spelling: a handle looks like alice.bsky.social.", line(80, input)))
	case errors.Is(err, discovery.ErrHandleMismatch):
		return bad(fmt.Sprintf("The handle “%s” is not confirmed by its account, so it cannot be trusted. Sign in with your DID or your server's address instead.", line(80, input)))
	case errors.Is(err, discovery.ErrDIDNotFound):
		return bad(fmt.Sprintf("No account with the DID “%s” exists.", line(80, input)))
	case errors.Is(err, atoauth.ErrInvalidStartOptions):
		e.Code, e.Status, e.Message = CodeBadRequest, http.StatusBadRequest, "The sign-in could not start: this app asked for it in a way the server would refuse."
	case errors.Is(err, discovery.ErrNoPDS), errors.Is(err, discovery.ErrInvalidDIDDocument):
		e.Message = "Your account's identity document does not name a usable server, so there is nowhere to sign in."
	case errors.Is(err, discovery.ErrInvalidMetadata):
		e.Message = "Your account's server is not set up for OAuth sign-in correctly (its OAuth metadata failed a check). Try again later, or tell the server's operator."
	case errors.Is(err, discovery.ErrIssuerMismatch):
		e.Message = "Your account's server points to a sign-in service that does not vouch for it, so signing in there would not be safe."
	case errors.Is(err, context.DeadlineExceeded):
		e.Message = "Your account's server took too long to answer. Please try again in a moment."
	case handleUnchecked(err):
		e.Message = fmt.Sprintf("The handle “%s” could not be checked: its domain did not answer. Your connection may be down, or the handle misspelled. Please try again.", line(80, input))
	case errors.Is(err, discovery.ErrUnreachable), isNetError(err):
		e.Message = "Your account's server could not be reached. It may be down, or the address may be wrong. Please try again in a moment."
	case errors.As(err, &oe) && oe.Code == "invalid_client_metadata":
		e.Message = "Your server could not use this app's registration (its client metadata). This is the app's fault, not yours: please tell its operator."
	case errors.As(err, &oe) && oe.Description != "":
		e.Message = fmt.Sprintf("Your server refused to start the sign-in: %s (%s).", line(maxMessageRunes, oe.Description), line(64, oe.Code))
	case errors.As(err, &oe):
		e.Message = fmt.Sprintf("Your server refused to start the sign-in (%s).", line(64, oe.Code))
	default:
		e.Message = "The sign-in could not start. Check what you typed and try again."
	}
	return e
}

// handleUnchecked tells whether err is a handle lookup that could not be
// made (not one that found no account, nor a server that did not answer
// once the handle was resolved).
func handleUnchecked(err error) bool {
	var re *discovery.ResolveError
	if !errors.As(err, &re) || re.Kind != discovery.ErrUnreachable {
		return false
	}
	_, perr := syntax.ParseHandle(re.Input)
	return perr == nil
}

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.As(err, &de)
}

// callbackErrors explain the error codes an authorization server sends
// back instead of a code (RFC 6749 §4.1.2.1, OpenID Connect Core
// §3.1.2.6): title and message.
var callbackErrors = map[string][2]string{
	"access_denied": {"Sign-in cancelled",
		"You declined to let this app use your account. Nothing was shared. You can sign in again whenever you like."},
	"login_required": {"Sign-in needed",
		"Your server needs you to sign in there first. Please start again."},
	"consent_required": {"Approval needed",
		"Your server needs you to approve this app. Please start again and approve it."},
	"interaction_required": {"Sign-in needed",
		"Your server needs you to finish signing in on its pages. Please start again."},
	"account_selection_required": {"Choose an account",
		"Your server needs you to choose an account. Please start again."},
	"invalid_request": {"Sign-in failed",
		"Your server rejected the sign-in request. Please start again; if it keeps happening, tell the app's operator."},
	"unauthorized_client": {"This app is not allowed",
		"Your server does not allow this app to sign you in."},
	"invalid_scope": {"Sign-in failed",
		"Your server did not accept the permissions this app asked for."},
	"unsupported_response_type": {"Sign-in failed",
		"Your server does not support the way this app signs in."},
	"server_error": {"Your server had a problem",
		"Your server ran into an error during sign-in. Please try again in a moment."},
	"temporarily_unavailable": {"Your server is busy",
		"Your server is temporarily unavailable. Please try again in a moment."},
}

// explainCallback turns a failed callback into an Error.
func explainCallback(err error) *Error {
	e := &Error{Code: CodeSignInFailed, Status: http.StatusBadRequest, Err: err}
	var ce *atoauth.CallbackError
	var oe *atoauth.OAuthError
	switch {
	case errors.As(err, &ce):
		t, ok := callbackErrors[ce.Code]
		if !ok {
			t = [2]string{"Sign-in failed", "Your server ended the sign-in with an error."}
		}
		e.Title, e.Message = t[0], t[1]
		if ce.Code == "access_denied" {
			e.Code = CodeDenied
		}
	case errors.Is(err, atoauth.ErrInvalidState):
		e.Code, e.Title, e.Message = CodeInvalidState, "Sign-in link expired",
			"This sign-in was already used, took too long, or was started in another browser or tab. Please sign in again."
	case errors.Is(err, atoauth.ErrCallbackIssuer), errors.Is(err, atoauth.ErrIdentityMismatch), errors.Is(err, discovery.ErrIssuerMismatch):
		e.Title, e.Message = "Sign-in refused",
			"The server that answered is not the one that hosts this account, so the sign-in was refused to keep the account safe."
	case errors.Is(err, atoauth.ErrScopeMissing):
		e.Title, e.Message = "Permission missing",
			"Your server did not grant the basic permission this app needs to know who you are."
	case errors.As(err, &oe) && oe.Code == "invalid_grant":
		e.Title, e.Message = "Sign-in link expired",
			"Your server no longer accepts this sign-in (it was used already or took too long). Please sign in again."
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, discovery.ErrUnreachable), isNetError(err):
		e.Status, e.Title, e.Message = http.StatusBadGateway, "Your server did not answer",
			"The sign-in could not be completed because your server could not be reached. Please try again in a moment."
	default:
		e.Status, e.Title, e.Message = http.StatusBadGateway, "Sign-in failed", "The sign-in could not be completed. Please try again."
	}
	return e
}

// cleanCode keeps an OAuth error code's allowed characters (RFC 6749
// §4.1.2.1: printable ASCII without '"' and '\'), at most 64.
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

// line makes text fit for one line of a message: cut to n runes (with
// "…"), with controls, bidi overrides and invalid UTF-8 shown escaped.
func line(n int, s string) string {
	i := 0
	for range n {
		if i >= len(s) {
			return safetext.Line(s)
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	if i < len(s) {
		s = s[:i] + "…"
	}
	return safetext.Line(s)
}
