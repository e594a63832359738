package web

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/atoauth/atoauth"
	"github.com/atoauth/atoauth/xrpc"
)

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.As(err, &de)
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
