package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/discovery"
	"github.com/atoauth/atoauth/xrpc"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// explainStart turns the error of a login that could not start into a
// sentence for the sign-in page.
func explainStart(err error, input string) string {
	var oe *atoauth.OAuthError
	switch {
	case errors.Is(err, discovery.ErrInvalidIdentifier):
		return fmt.Sprintf("“%s” is not a handle (like alice.bsky.social), a DID (did:plc:…) or a server address (https://bsky.social).", short(80, input))
	case errors.Is(err, discovery.ErrHandleNotFound):
		return fmt.Sprintf("No account has the handle “%s”. Check the spelling: a handle looks like alice.bsky.social.", short(80, input))
	case errors.Is(err, discovery.ErrHandleMismatch):
		return fmt.Sprintf("The handle “%s” is not confirmed by its account, so it cannot be trusted. Sign in with your DID or your server's address instead.", short(80, input))
	case errors.Is(err, discovery.ErrDIDNotFound):
		return fmt.Sprintf("No account with the DID “%s” exists.", short(80, input))
	case errors.Is(err, discovery.ErrNoPDS), errors.Is(err, discovery.ErrInvalidDIDDocument):
		return "Your account's identity document does not name a usable server, so there is nowhere to sign in."
	case errors.Is(err, discovery.ErrInvalidMetadata):
		return "Your account's server is not set up for OAuth sign-in correctly (its OAuth metadata failed a check). Try again later, or tell the server's operator."
	case errors.Is(err, discovery.ErrIssuerMismatch):
		return "Your account's server points to a sign-in service that does not vouch for it, so signing in there would not be safe."
	case errors.Is(err, context.DeadlineExceeded):
		return "Your account's server took too long to answer. Please try again in a moment."
	case handleUnchecked(err):
		return fmt.Sprintf("The handle “%s” could not be checked: its domain did not answer. Your connection may be down, or the handle misspelled. Please try again.", short(80, input))
	case errors.Is(err, discovery.ErrUnreachable), isNetError(err):
		return "Your account's server could not be reached. It may be down, or the address may be wrong. Please try again in a moment."
	case errors.As(err, &oe) && oe.Code == "invalid_client_metadata":
		return "Your server could not use this app's registration (its client metadata). This is the app's fault, not yours: please tell its operator."
	case errors.As(err, &oe):
		if oe.Description != "" {
			return fmt.Sprintf("Your server refused to start the sign-in: %s (%s).", line(maxMessageRunes, oe.Description), line(64, oe.Code))
		}
		return fmt.Sprintf("Your server refused to start the sign-in (%s).", line(64, oe.Code))
	}
	return "The sign-in could not start. Check what you typed and try again."
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
// back instead of a code (RFC 6749 §4.1.2.1, OpenID Connect §3.1.2.6).
var callbackErrors = map[string]errorPage{
	"access_denied": {Heading: "Sign-in cancelled",
		Message: "You declined to let this app use your account. Nothing was shared. You can sign in again whenever you like."},
	"login_required": {Heading: "Sign-in needed",
		Message: "Your server needs you to sign in there first. Please start again."},
	"consent_required": {Heading: "Approval needed",
		Message: "Your server needs you to approve this app. Please start again and approve it."},
	"interaction_required": {Heading: "Sign-in needed",
		Message: "Your server needs you to finish signing in on its pages. Please start again."},
	"account_selection_required": {Heading: "Choose an account",
		Message: "Your server needs you to choose an account. Please start again."},
	"invalid_request": {Heading: "Sign-in failed",
		Message: "Your server rejected the sign-in request. Please start again; if it keeps happening, tell the app's operator."},
	"unauthorized_client": {Heading: "This app is not allowed",
		Message: "Your server does not allow this app to sign you in."},
	"invalid_scope": {Heading: "Sign-in failed",
		Message: "Your server did not accept the permissions this app asked for."},
	"unsupported_response_type": {Heading: "Sign-in failed",
		Message: "Your server does not support the way this app signs in."},
	"server_error": {Heading: "Your server had a problem",
		Message: "Your server ran into an error during sign-in. Please try again in a moment."},
	"temporarily_unavailable": {Heading: "Your server is busy",
		Message: "Your server is temporarily unavailable. Please try again in a moment."},
}

// explainCallback turns a failed callback into an error page and status.
func explainCallback(err error) (errorPage, int) {
	var ce *atoauth.CallbackError
	var oe *atoauth.OAuthError
	switch {
	case errors.As(err, &ce):
		p, ok := callbackErrors[ce.Code]
		if !ok {
			p = errorPage{Heading: "Sign-in failed", Message: "Your server ended the sign-in with an error."}
		}
		p.Detail = "error=" + line(64, ce.Code)
		if ce.Description != "" {
			p.Detail += ": " + line(maxMessageRunes, ce.Description)
		}
		return p, http.StatusBadRequest
	case errors.Is(err, atoauth.ErrInvalidState):
		return errorPage{Heading: "Sign-in link expired",
			Message: "This sign-in was already used, took too long, or was started in another browser or tab. Please sign in again.",
			Detail:  detail(err)}, http.StatusBadRequest
	case errors.Is(err, atoauth.ErrCallbackIssuer), errors.Is(err, atoauth.ErrIdentityMismatch), errors.Is(err, discovery.ErrIssuerMismatch):
		return errorPage{Heading: "Sign-in refused",
			Message: "The server that answered is not the one that hosts this account, so the sign-in was refused to keep the account safe.",
			Detail:  detail(err)}, http.StatusBadRequest
	case errors.Is(err, atoauth.ErrScopeMissing):
		return errorPage{Heading: "Permission missing",
			Message: "Your server did not grant the basic permission this app needs to know who you are.",
			Detail:  detail(err)}, http.StatusBadRequest
	case errors.As(err, &oe) && oe.Code == "invalid_grant":
		return errorPage{Heading: "Sign-in link expired",
			Message: "Your server no longer accepts this sign-in (it was used already or took too long). Please sign in again.",
			Detail:  detail(err)}, http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, discovery.ErrUnreachable), isNetError(err):
		return errorPage{Heading: "Your server did not answer",
			Message: "The sign-in could not be completed because your server could not be reached. Please try again in a moment.",
			Detail:  detail(err)}, http.StatusBadGateway
	}
	return errorPage{Heading: "Sign-in failed",
		Message: "The sign-in could not be completed. Please try again.",
		Detail:  detail(err)}, http.StatusBadGateway
}

// detail is the technical cause of err for an error page: its message,
// which may quote servers, cut and with controls escaped.
func detail(err error) string { return text(2*maxMessageRunes, err.Error()) }

// explainAction turns the error of a call to the PDS into a sentence.
func explainAction(err error, what string) string {
	var sme *xrpc.ScopeMissingError
	var xe *xrpc.Error
	var re *atoauth.RefreshError
	switch {
	case errors.As(err, &sme):
		return fmt.Sprintf("Could not %s: this app was not given the permission (%s). Sign out, then sign in again and approve it.", what, sme.Permission)
	case errors.Is(err, xrpc.ErrInvalidSwap):
		return fmt.Sprintf("Could not %s: it was changed elsewhere in the meantime. Review the current version and try again.", what)
	case errors.Is(err, xrpc.ErrRateLimited):
		return fmt.Sprintf("Could not %s: your server says you are doing that too often. Please wait and try again.", what)
	case responseTooLarge(err):
		return fmt.Sprintf("Could not %s: your server's answer was far larger than this page shows, so the app stopped reading it.", what)
	case errors.Is(err, xrpc.ErrTooLarge):
		return fmt.Sprintf("Could not %s: it is larger than your server accepts.", what)
	case errors.Is(err, xrpc.ErrNoService):
		return fmt.Sprintf("Could not %s: your server could not reach the service that answers it.", what)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("Could not %s: your server did not answer in time. Please try again in a moment.", what)
	case errors.As(err, &re) && re.Temporary, isNetError(err):
		return fmt.Sprintf("Could not %s: your server could not be reached. Please try again in a moment.", what)
	case errors.As(err, &xe) && xe.Message != "":
		return fmt.Sprintf("Could not %s: your server said “%s”.", what, line(maxMessageRunes, xe.Message))
	}
	return fmt.Sprintf("Could not %s. Please try again.", what)
}

// sessionEnded tells whether err means the person must sign in again.
func sessionEnded(err error) bool {
	return errors.Is(err, atoauth.ErrSessionExpired) || errors.Is(err, atoauth.ErrSessionNotFound)
}

// sessionEndNotice names the notice that explains why a session ended.
func sessionEndNotice(err error) string {
	var oe *atoauth.OAuthError
	switch {
	case errors.Is(err, atoauth.ErrIdentityMismatch):
		return "session-moved"
	case errors.Is(err, atoauth.ErrTokenRejected):
		return "session-refused"
	case errors.Is(err, atoauth.ErrClientKeyRemoved):
		return "session-key"
	case errors.As(err, &oe) && oe.Code == "invalid_grant":
		return "session-revoked"
	}
	return "session-ended"
}
