package atoauth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/internal/safetext"
)

// Sentinel errors. Test for them with errors.Is; the structured errors
// below match the relevant sentinel through their Is or Unwrap methods.
var (
	// ErrInvalidConfig reports a Config that cannot work. The wrapping
	// *ConfigError names the field and the rule.
	ErrInvalidConfig = errors.New("atoauth: invalid client configuration")

	// ErrInvalidStartOptions reports StartOptions that cannot be sent to
	// an authorization server (a prompt, display, ui_locales, login_hint
	// or redirect URI it would refuse, an app state too large): Start
	// refuses them before anything is resolved or sent.
	ErrInvalidStartOptions = errors.New("atoauth: invalid StartOptions")

	// ErrInvalidState reports a callback whose state is unknown, expired
	// or already used (atproto OAuth spec, "Authorization Request"), or
	// that does not belong to the browser that started the login.
	ErrInvalidState = errors.New("atoauth: unknown, expired or already used login state")

	// ErrCallbackIssuer reports a callback whose iss parameter is missing
	// or is not the authorization server the login went to (RFC 9207: a
	// mix-up attack, or a redirect from another server). It is not
	// discovery.ErrIssuerMismatch, an account whose PDS names another
	// authorization server (reported as ErrIdentityMismatch).
	ErrCallbackIssuer = errors.New("atoauth: the callback's issuer is not the login's")

	// ErrIdentityMismatch reports a token whose sub is not the account the
	// login was started for, or whose DID document does not lead back to
	// the issuing server (atproto OAuth spec, "Identity Authentication").
	// It is auth.ErrIdentityMismatch, which other layers report too.
	ErrIdentityMismatch = auth.ErrIdentityMismatch

	// ErrInvalidTokenResponse reports a token response that breaks the
	// atproto profile (token_type not DPoP, sub not a DID, missing fields).
	ErrInvalidTokenResponse = errors.New("atoauth: invalid token response")

	// ErrScopeMissing reports that a granted scope lacks a permission that
	// is required, such as the mandatory "atproto" scope. It is
	// auth.ErrScopeMissing, which xrpc's pre-check and the PDS's 403
	// ScopeMissingError match too.
	ErrScopeMissing = auth.ErrScopeMissing

	// ErrSessionNotFound reports a session id that the store does not hold.
	ErrSessionNotFound = errors.New("atoauth: session not found")

	// ErrSessionExpired reports a session that has ended and has been
	// deleted: the refresh token was rejected, revoked or has expired, the
	// account moved to another server, the client key it is bound to was
	// removed, or the PDS refused a freshly refreshed token (see
	// RefreshError). The person must sign in again. It is
	// auth.ErrSessionExpired, which xrpc reports too.
	ErrSessionExpired = auth.ErrSessionExpired

	// ErrClientKeyRemoved reports a session (or a login) bound to a
	// client key (private_key_jwt) that Config.Keys no longer holds. The
	// authorization server binds a confidential session to its key
	// (atproto OAuth spec, "Confidential Client Authentication"), so the
	// session cannot be refreshed: it ends (ErrSessionExpired).
	ErrClientKeyRemoved = errors.New("atoauth: the client key the session is bound to is no longer configured")

	// ErrTokenRejected reports a PDS that refuses a session's token even
	// right after a refresh (HTTP 401 invalid_token twice): the PDS does
	// not accept this issuer's tokens for the account any more (the
	// account moved, or the PDS was reconfigured). The session ends
	// (ErrSessionExpired), as with the reference client.
	ErrTokenRejected = errors.New("atoauth: the PDS refuses the session's token right after a refresh")

	// ErrStoreNotFound is what a Store returns for a missing (or expired)
	// item: it is for Store implementations. Callers of Client see
	// ErrSessionNotFound for a missing session and ErrInvalidState for a
	// missing login.
	ErrStoreNotFound = errors.New("atoauth: not in the store")
)

// ConfigError describes one rule of the client configuration that a
// Config breaks. It matches ErrInvalidConfig.
type ConfigError struct {
	Field  string // the Config or metadata field, e.g. "RedirectURIs"
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("atoauth: invalid client configuration: %s: %s", e.Field, e.Reason)
}

// Unwrap lets errors.Is match ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// OAuthError is an error response from an authorization server endpoint
// (RFC 6749 §5.2, RFC 9126 §2.3, RFC 7009 §2.2.1). Code is the RFC error
// code such as "invalid_grant"; Description is the server's text, which is
// untrusted and has been cleaned of control characters and shortened.
type OAuthError struct {
	Endpoint    string // "par", "token", "refresh" or "revoke"
	StatusCode  int
	Code        string
	Description string
}

func (e *OAuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "atoauth: %s endpoint answered HTTP %d", e.Endpoint, e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, " (%s)", e.Description)
	}
	if hint := oauthHint(e.Code); hint != "" {
		b.WriteString(": ")
		b.WriteString(hint)
	}
	return b.String()
}

// Hint says what an authorization server's error code usually means and
// what to do (auth.Hinter).
func (e *OAuthError) Hint() string { return oauthHint(e.Code) }

func oauthHint(code string) string {
	switch code {
	case "invalid_client_metadata":
		return "the server rejected the client metadata document; check it with `atoauth doctor <client_id>`: it must answer 200 without redirect, as application/json, with client_id equal to its URL and every scope declared"
	case "invalid_client":
		return "the server could not authenticate the client: unknown client_id, a bad or missing client assertion, or a kid not in the JWKS (publish a new key before it signs)"
	case "invalid_scope":
		return "every requested scope must be declared in the client metadata scope, character for character"
	case "invalid_grant":
		return "the code or refresh token is not valid any more (used, expired, revoked, or bound to another DPoP or client key): sign in again"
	case "use_dpop_nonce":
		return "the server kept asking for a new DPoP nonce; something may drop the DPoP-Nonce header"
	case "invalid_dpop_proof":
		return "the server rejected the DPoP proof (check the system clock)"
	case "invalid_redirect_uri":
		return "the redirect_uri is not one of the client's: loopback clients use http://127.0.0.1 or http://[::1], never localhost; web clients https"
	case "access_denied":
		return "the person declined; nothing is broken, offer to sign in again"
	}
	return ""
}

// CallbackError is an error that the authorization server sent back to
// the redirect URI instead of a code (RFC 6749 §4.1.2.1), such as
// "access_denied" when the person declined. Its text is untrusted and has
// been cleaned.
type CallbackError struct {
	Code        string
	Description string
}

// Hint says what an error sent back to the redirect URI usually means.
func (e *CallbackError) Hint() string { return oauthHint(e.Code) }

func (e *CallbackError) Error() string {
	if e.Description == "" {
		return "atoauth: authorization failed: " + e.Code
	}
	return fmt.Sprintf("atoauth: authorization failed: %s (%s)", e.Code, e.Description)
}

// RefreshError reports a refresh that did not complete, or a session
// that ended while it was being used.
//
// Temporary is true when the failure may pass (network error, timeout,
// HTTP 5xx or 429, a store that did not answer): the session is kept and
// can be used again later. Otherwise the failure is definitive: the
// session has been deleted from the store, the error matches
// ErrSessionExpired (the person must sign in again), and Err says why —
// the refresh token refused (an *OAuthError with Code "invalid_grant"),
// the account now hosted elsewhere (ErrIdentityMismatch), the client key
// removed, a token the PDS rejects right after a refresh, and so on.
type RefreshError struct {
	SessionID string
	Temporary bool
	Err       error
}

func (e *RefreshError) Error() string {
	if e.Temporary {
		return fmt.Sprintf("atoauth: refresh of session %s failed (temporary; the session is kept): %v", shortID(e.SessionID), e.Err)
	}
	return fmt.Sprintf("atoauth: session %s ended; sign in again: %v", shortID(e.SessionID), e.Err)
}

// Unwrap returns the cause.
func (e *RefreshError) Unwrap() error { return e.Err }

// Hint says whether to try again or sign in again, with the cause's own
// hint when it has one.
func (e *RefreshError) Hint() string {
	if h := auth.Hint(e.Err); h != "" {
		return h
	}
	if e.Temporary {
		return "the session is kept: try again later"
	}
	return "the session has ended: sign in again"
}

// Is makes a definitive RefreshError match ErrSessionExpired.
func (e *RefreshError) Is(target error) bool { return target == ErrSessionExpired && !e.Temporary }

// shortID shortens a session id for messages: the full id is a bearer
// credential for a browser cookie, so only a prefix is ever shown.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// cleanText makes untrusted server text safe to show in an error: what
// could act on a terminal or reorder text (control, bidi and separator
// characters, invalid UTF-8) is dropped, and the result is capped at 300
// bytes.
func cleanText(s string) string { return safetext.Clean(s, 300) }
