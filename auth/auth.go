// Package auth is the seam between how a program authenticates to atproto
// servers and what it calls there. An [Auth] names the server calls go to
// and the *http.Client that authenticates them; packages xrpc and agent
// take one, whatever made it:
//
//   - *atoauth.Session, an OAuth session (the way for apps: DPoP-bound
//     tokens, granular permissions, no password ever seen);
//   - *password.Session, an app-password session (the legacy way, for
//     bots and scripts that have not moved to OAuth yet);
//   - [Public], no credentials, for the public API of an AppView or of
//     a PDS.
//
// An Auth may also say which account it acts for ([Account]) and what it
// was granted ([Permissions]); the xrpc pre-check and the agent use that
// when it is there.
//
// The package also holds the conditions every layer reports, so that one
// errors.Is test covers them whatever the layer: [ErrSessionExpired],
// [ErrScopeMissing] and [ErrIdentityMismatch]. Package atoauth exports
// the same values under the same names.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Auth is how calls reach and authenticate to a server. Implementations
// are safe for concurrent use.
type Auth interface {
	// Host is the origin calls go to, such as "https://pds.example.com"
	// (for a session: the account's PDS). It is read at each call: a
	// session's PDS may change when it is refreshed.
	Host() string
	// HTTPClient sends the calls, adding credentials to those for Host.
	HTTPClient() *http.Client
}

// Account is implemented by an Auth that acts for one account.
type Account interface {
	DID() syntax.DID
	Handle() syntax.Handle
}

// Permissions is implemented by an Auth whose granted permissions are
// known: the OAuth scope string as the authorization server returned it
// (atproto permission spec). A client can then refuse a call that would be
// refused anyway, before sending it.
type Permissions interface {
	Scope() string
}

// Conditions every layer reports. Test for them with errors.Is.
var (
	// ErrSessionExpired reports a session that has ended: its tokens were
	// refused and cannot be renewed. The person must sign in again.
	ErrSessionExpired = errors.New("atoauth: session expired or revoked; sign in again")

	// ErrScopeMissing reports that a permission a call needs was not
	// granted (found before sending it, or answered 403 ScopeMissingError
	// by the server).
	ErrScopeMissing = errors.New("atoauth: required scope not granted")

	// ErrIdentityMismatch reports an account that is not, or no longer,
	// where a session says: another account's token, or a DID document
	// that names another PDS or authorization server.
	ErrIdentityMismatch = errors.New("atoauth: token subject does not match the expected account")
)

// Hinter is implemented by the errors of this module that know what
// likely caused them and what to do about it: xrpc.Error, atoauth's
// OAuthError, CallbackError and RefreshError, discovery's ResolveError,
// MetadataError and IssuerMismatchError. A command line, a web page or a
// log can show the hint beside the error instead of keeping its own table
// of advice.
type Hinter interface {
	// Hint is one sentence: the likely cause and the fix, or "".
	Hint() string
}

// Hint returns the hint of the first error in err's chain that has one,
// or "".
func Hint(err error) string {
	for err != nil {
		if h, ok := err.(Hinter); ok {
			if s := h.Hint(); s != "" {
				return s
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if s := Hint(e); s != "" {
					return s
				}
			}
			return ""
		default:
			return ""
		}
	}
	return ""
}

// Public returns an Auth without credentials, for the public API of a
// server: an AppView's public endpoint ("https://public.api.bsky.app")
// answers app.bsky.* reads without a session. host must be an http(s)
// origin; hc nil means http.DefaultClient (give one with a timeout).
func Public(host string, hc *http.Client) (Auth, error) {
	origin, err := Origin(host)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return public{host: origin, hc: hc}, nil
}

type public struct {
	host string
	hc   *http.Client
}

func (p public) Host() string             { return p.host }
func (p public) HTTPClient() *http.Client { return p.hc }

// Origin checks that raw is an http(s) origin (a trailing "/" is
// accepted) and returns it in canonical form, "https://host[:port]".
func Origin(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("auth: %q is not an http(s) origin such as https://pds.example.com", safetext.Clean(raw, 100))
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host), nil
}
