package xrpc

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/atoauth/atoauth/auth"
	"github.com/atoauth/atoauth/dpop"
	"github.com/atoauth/atoauth/internal/safetext"
	"github.com/atoauth/atoauth/scope"
)

// Sentinel errors. A failed call returns an *[Error] (or a
// *[ScopeMissingError]) that matches the sentinel for its cause through
// errors.Is. Two causes reuse the sentinels of package atoauth, so that one
// test covers every layer: [auth.ErrScopeMissing] for a permission the
// session lacks, and [auth.ErrSessionExpired] for a token the PDS keeps
// rejecting after a refresh (sign in again).
var (
	// ErrRecordNotFound reports a record that does not exist (XRPC error
	// "RecordNotFound", com.atproto.repo.getRecord).
	ErrRecordNotFound = errors.New("xrpc: record not found")

	// ErrRepoNotFound reports a repo (DID or handle) that the PDS does not
	// host ("RepoNotFound", or "Could not find repo").
	ErrRepoNotFound = errors.New("xrpc: repo not found")

	// ErrInvalidSwap reports a compare-and-swap write (swapRecord,
	// swapCommit) whose expected CID no longer matches ("InvalidSwap").
	ErrInvalidSwap = errors.New("xrpc: swap failed: the record or repo changed")

	// ErrRateLimited reports HTTP 429 ("RateLimitExceeded"). The *Error
	// carries the server's RateLimit and RetryAfter.
	ErrRateLimited = errors.New("xrpc: rate limited")

	// ErrTokenMisuse reports the PDS's legacy-token check failing on an
	// OAuth token: "InvalidToken" with "Bad token scope" or "Malformed
	// token". It means the token went out as "Authorization: Bearer", or
	// to a host that is not the account's PDS. atoauth never does either.
	ErrTokenMisuse = errors.New("xrpc: OAuth access token sent as a Bearer token or to the wrong host")

	// ErrAuthRequired reports a request that reached the server without
	// credentials ("AuthenticationRequired"), usually because it was not
	// sent to the session's PDS: atoauth only authenticates requests there.
	ErrAuthRequired = errors.New("xrpc: the request carried no credentials")

	// ErrNonceLoop reports a PDS that still answered use_dpop_nonce after
	// the retry with its new nonce (RFC 9449 §9).
	ErrNonceLoop = errors.New("xrpc: the server kept asking for a new DPoP nonce")

	// ErrNoService reports a method the PDS could not route to a service:
	// no atproto-proxy header and no default service ("No service
	// configured for …"), a service reference it could not resolve, or an
	// upstream (AppView, chat) it could not reach.
	ErrNoService = errors.New("xrpc: no service reachable through the PDS")

	// ErrTooLarge reports a request or response body over a limit: the
	// server's ("PayloadTooLarge", "BlobTooLarge", HTTP 413) or this
	// package's (Options.MaxResponseBytes).
	ErrTooLarge = errors.New("xrpc: body too large")
)

// Error is an XRPC error response: a non-2xx status with, usually, a JSON
// body {"error": name, "message": text} (atproto XRPC spec, "Error
// Responses"). Name, Message and the WWW-Authenticate parameters come from
// the server and have been cleaned of control characters and shortened;
// nothing in an Error comes from the request's credentials.
//
// Error matches, through errors.Is, the sentinel of its cause (see
// [ErrRecordNotFound] and the others), and its message ends with a
// one-line cause and fix when the cause is known ([Error.Hint]).
type Error struct {
	// NSID is the method called.
	NSID string
	// StatusCode is the HTTP status.
	StatusCode int
	// Name is the XRPC error name, e.g. "InvalidRequest"; "" when the body
	// had none.
	Name string
	// Message is the server's human-readable message; "" when none.
	Message string
	// Service is the atproto-proxy service the call was routed to
	// ("did:web:api.bsky.app#bsky_appview"); "" for PDS-local calls.
	Service string
	// WWWAuthenticate holds the response's WWW-Authenticate challenges
	// (RFC 9110 §11.6.1), e.g. DPoP error="invalid_token".
	WWWAuthenticate []dpop.Challenge
	// RateLimit holds the response's ratelimit-* headers, when present.
	RateLimit RateLimit
	// RetryAfter is the response's Retry-After, as a duration (0 if none).
	RetryAfter time.Duration
}

// RateLimit is what a server said about its rate limits in the
// ratelimit-limit, ratelimit-remaining, ratelimit-reset and
// ratelimit-policy response headers (the reference PDS sends them on
// rate-limited routes and with every 429).
type RateLimit struct {
	// Limit is the number of requests allowed per window (0: unknown).
	Limit int
	// Remaining is the number of requests left in the window.
	Remaining int
	// Reset is when the window resets (zero: unknown).
	Reset time.Time
	// Policy is the raw ratelimit-policy value, e.g. "100;w=300".
	Policy string
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "xrpc: %s answered HTTP %d", e.NSID, e.StatusCode)
	if e.Name != "" {
		fmt.Fprintf(&b, ": %s", e.Name)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s)", e.Message)
	}
	if e.Service != "" {
		fmt.Fprintf(&b, " [via %s]", e.Service)
	}
	if h := e.Hint(); h != "" {
		b.WriteString(": ")
		b.WriteString(h)
	}
	return b.String()
}

// Is reports whether target is the sentinel of e's cause.
func (e *Error) Is(target error) bool {
	s := e.sentinel()
	return s != nil && s == target
}

// AuthError returns the error parameter of the response's DPoP or Bearer
// WWW-Authenticate challenge, such as "invalid_token" or
// "use_dpop_nonce", or "".
func (e *Error) AuthError() string {
	for _, c := range e.WWWAuthenticate {
		if strings.EqualFold(c.Scheme, "DPoP") || strings.EqualFold(c.Scheme, "Bearer") {
			if v := c.Params["error"]; v != "" {
				return v
			}
		}
	}
	return ""
}

// sentinel classifies e.
func (e *Error) sentinel() error {
	challenge := e.AuthError()
	switch {
	case e.StatusCode == http.StatusTooManyRequests || e.Name == "RateLimitExceeded":
		return ErrRateLimited
	case e.Name == "RecordNotFound":
		return ErrRecordNotFound
	case e.Name == "InvalidSwap":
		return ErrInvalidSwap
	case e.Name == "RepoNotFound" || (e.Name == "InvalidRequest" && strings.HasPrefix(e.Message, "Could not find repo")):
		return ErrRepoNotFound
	case e.Name == "InvalidToken" && (e.Message == "Bad token scope" || e.Message == "Malformed token"):
		return ErrTokenMisuse
	case challenge == dpop.ErrorUseDPoPNonce:
		return ErrNonceLoop
	case e.StatusCode == http.StatusUnauthorized && challenge == "invalid_token":
		return auth.ErrSessionExpired
	case e.StatusCode == http.StatusUnauthorized && (e.Name == "AuthenticationRequired" || e.Name == "AuthMissing"):
		return ErrAuthRequired
	case e.StatusCode == http.StatusRequestEntityTooLarge || e.Name == "PayloadTooLarge" || e.Name == "BlobTooLarge":
		return ErrTooLarge
	case e.noService():
		return ErrNoService
	}
	return nil
}

func (e *Error) noService() bool {
	if e.Name == "InvalidRequest" {
		for _, p := range []string{"No service configured for", "could not resolve proxy did", "no did specified in proxy header", "no service id specified in proxy header", "invalid proxy header"} {
			if strings.HasPrefix(e.Message, p) {
				return true
			}
		}
	}
	// The reference PDS answers 502 UpstreamFailure when the service is
	// down (its default AppView included), and 500 InternalServerError
	// when it cannot resolve a named service's DID at all.
	return e.Name == "UpstreamFailure" || e.Name == "UpstreamTimeout" ||
		e.Service != "" && (e.StatusCode == http.StatusBadGateway || e.StatusCode == http.StatusGatewayTimeout ||
			(e.StatusCode == http.StatusInternalServerError && e.Name == "InternalServerError"))
}

// pdsHasNoService tells whether e, the answer to a call sent without an
// atproto-proxy header, says that the PDS has no service for it: 400
// InvalidRequest "No service configured for …" (the reference PDS
// without an AppView), or 404 or 501, the answer of a PDS that forwards
// nothing without the header.
func (e *Error) pdsHasNoService() bool {
	return e.Service == "" && (e.Name == "InvalidRequest" && strings.HasPrefix(e.Message, "No service configured for") ||
		e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusNotImplemented)
}

// summary is e in a few words: "HTTP 400 InvalidRequest: No service
// configured for app.bsky.actor.getProfile".
func (e *Error) summary() string {
	s := fmt.Sprintf("HTTP %d", e.StatusCode)
	if e.Name != "" {
		s += " " + e.Name
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Hint returns a one-line cause and fix for a known failure, or "".
func (e *Error) Hint() string {
	switch e.sentinel() {
	case ErrRateLimited:
		h := "rate limited"
		if !e.RateLimit.Reset.IsZero() {
			h += " until " + e.RateLimit.Reset.UTC().Format(time.RFC3339)
		}
		if e.RetryAfter > 0 {
			h += fmt.Sprintf(" (Retry-After %s)", e.RetryAfter)
		}
		return h + ": wait before trying again; queries are retried automatically only when the server sends a short Retry-After, writes never are"
	case ErrRecordNotFound:
		return "there is no record at that collection and record key (never created, deleted, or in another repo)"
	case ErrInvalidSwap:
		return "the record or repo changed since it was read: read it again, re-apply the change and retry"
	case ErrRepoNotFound:
		return "this PDS does not host that repo; the account may live on another PDS, have moved, or be deactivated"
	case ErrTokenMisuse:
		return "an OAuth access token was sent as \"Authorization: Bearer\" or to a host other than the account's PDS; OAuth tokens need \"Authorization: DPoP\" with a DPoP proof, sent to the PDS — use the session's HTTPClient, which does both"
	case ErrNonceLoop:
		return "the PDS asked for a new DPoP nonce again after the retry; something between client and PDS may drop the DPoP-Nonce header, or the server's clock jumped"
	case auth.ErrSessionExpired:
		return "the PDS rejected the access token even after a refresh: the session is dead; sign in again"
	case ErrAuthRequired:
		return "the request reached the server without credentials; atoauth only authenticates requests to the session's PDS (Session.PDS()), so send calls there"
	case ErrTooLarge:
		return "the body is larger than the server accepts"
	case ErrNoService:
		switch {
		case strings.HasPrefix(e.Message, "No service configured for"):
			return "the PDS has no default service for this method and the call named none: route it with the atproto-proxy header (Options.Services or WithProxy; --appview or ATOAUTH_APPVIEW on the command line)"
		case e.Service == scope.BskyAppView && (e.Name == "InvalidRequest" || e.StatusCode == http.StatusInternalServerError):
			return "the PDS cannot resolve Bluesky's AppView (a network of its own?): name the network's AppView (Options.Services, --appview, ATOAUTH_APPVIEW), or name none and let the PDS use its default"
		case e.Name == "InvalidRequest":
			return "the PDS could not resolve the service named in the atproto-proxy header: check its DID and #service id"
		case e.Service == "":
			return "the PDS could not reach its default AppView: check that it runs, or name another with the atproto-proxy header (Options.Services, --appview)"
		}
		return "the PDS could not reach the service (AppView or chat) named in the atproto-proxy header " + e.Service + ": check that DID and #service id, and that the service runs"
	}
	switch {
	case e.AuthError() == dpop.ErrorInvalidDPoPProof:
		return "the PDS rejected the DPoP proof; check the system clock"
	case e.Name == "InvalidToken" && e.Message == "Bad token method":
		return "account-management methods (email, app passwords, handle, PLC operations) cannot be called with an OAuth token"
	case e.Name == "MethodNotImplemented" && e.Service != "":
		return "the service named in the atproto-proxy header does not implement this method; check the service reference"
	case e.Name == "MethodNotImplemented":
		return "the PDS does not implement this method; if it belongs to a service (AppView, chat, labeler), route it with the atproto-proxy header"
	}
	return ""
}

// ScopeMissingError reports a call that needs a permission the session
// was not granted: either found before sending (ClientSide, nothing was
// sent) by comparing the call's requirement with the granted scope, or
// answered by the PDS with 403 "ScopeMissingError" (atproto permission
// spec). It matches [auth.ErrScopeMissing]; the server's *[Error] is
// reachable with errors.As.
type ScopeMissingError struct {
	// NSID is the method called.
	NSID string
	// Permission is the missing permission in scope syntax, e.g.
	// "repo:app.bsky.feed.post?action=create" or
	// "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview".
	Permission string
	// Request is a scope string that grants everything the call lacks:
	// what to ask for in a step-up. Checked before sending, it covers
	// every missing requirement of the call ([scope.Cover]: a profile
	// write, which needs create and update, gives
	// "repo:app.bsky.actor.profile?action=create&action=update" even though
	// Permission names only the first); answered by the PDS, which names
	// one permission, it is Permission in normal form ("" when the PDS
	// named no valid permission).
	Request string
	// ClientSide is true when the check ran before sending.
	ClientSide bool
	// Err is the server's answer; nil when ClientSide.
	Err *Error
}

// Error implements the error interface.
func (e *ScopeMissingError) Error() string {
	where := "checked before sending; nothing was sent"
	if !e.ClientSide {
		where = "the PDS answered 403 ScopeMissingError"
	}
	perm := e.Permission
	if perm == "" {
		perm = "(unnamed)"
	}
	call := "xrpc: "
	if e.NSID != "" {
		call += e.NSID + ": "
	}
	return fmt.Sprintf("%smissing permission %s (%s): %s", call, perm, where, scopeMissingHint)
}

const scopeMissingHint = "the session was not granted it; sign in again asking for it (it must also be declared in the client metadata scope), or step up"

// Hint says what to do about a missing permission (auth.Hinter).
func (e *ScopeMissingError) Hint() string { return scopeMissingHint }

// Unwrap returns [auth.ErrScopeMissing] and, for a server answer, the
// *Error.
func (e *ScopeMissingError) Unwrap() []error {
	if e.Err == nil {
		return []error{auth.ErrScopeMissing}
	}
	return []error{auth.ErrScopeMissing, e.Err}
}

// maxErrorBody caps how much of an error response is read.
const maxErrorBody = 64 << 10

// responseError builds the error for a non-2xx response whose body (at
// most maxErrorBody bytes) has been read.
func responseError(nsid, service string, resp *http.Response, body []byte, now time.Time) error {
	e := &Error{NSID: nsid, StatusCode: resp.StatusCode, Service: service}
	var eb struct {
		Error   any `json:"error"`
		Message any `json:"message"`
	}
	if err := jsonUnmarshal(body, &eb); err == nil {
		if s, ok := eb.Error.(string); ok {
			e.Name = cleanText(s)
		}
		if s, ok := eb.Message.(string); ok {
			e.Message = cleanText(s)
		}
	}
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		chs, _ := dpop.ParseWWWAuthenticate(v)
		for _, c := range chs {
			for k, pv := range c.Params {
				c.Params[k] = cleanText(pv)
			}
			e.WWWAuthenticate = append(e.WWWAuthenticate, c)
		}
	}
	if e.Name == "" {
		// A bare DPoP challenge: name the error after it.
		e.Name = e.AuthError()
	}
	e.RateLimit = parseRateLimit(resp.Header, now)
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	if e.Name == "ScopeMissingError" {
		perm := missingScope(e.Message)
		sme := &ScopeMissingError{NSID: nsid, Permission: perm, Err: e}
		if set, err := scope.Parse(perm); err == nil && len(set) == 1 {
			sme.Request = set.String()
		}
		return sme
	}
	return e
}

// missingScope extracts the permission from the reference PDS's message
// `Missing required scope "repo:…"`.
func missingScope(msg string) string {
	i := strings.IndexByte(msg, '"')
	j := strings.LastIndexByte(msg, '"')
	if i >= 0 && j > i {
		return msg[i+1 : j]
	}
	return ""
}

func parseRateLimit(h http.Header, now time.Time) RateLimit {
	var rl RateLimit
	rl.Limit, _ = strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Limit")))
	rl.Remaining, _ = strconv.Atoi(strings.TrimSpace(h.Get("RateLimit-Remaining")))
	rl.Limit, rl.Remaining = max(rl.Limit, 0), max(rl.Remaining, 0) // a negative count means nothing
	rl.Policy = cleanText(h.Get("RateLimit-Policy"))
	if n, err := strconv.ParseInt(strings.TrimSpace(h.Get("RateLimit-Reset")), 10, 64); err == nil && n >= 0 {
		if n > 1_000_000_000 {
			// The reference implementation sends a Unix time.
			rl.Reset = time.Unix(n, 0)
		} else {
			// The IETF RateLimit draft sends seconds from now.
			rl.Reset = now.Add(time.Duration(n) * time.Second)
		}
	}
	return rl
}

// parseRetryAfter reads Retry-After (RFC 9110 §10.2.3): delay-seconds or
// an HTTP-date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0
		}
		if n > 1<<31 {
			n = 1 << 31
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// cleanText makes untrusted server text safe to show in an error: what
// could act on a terminal or reorder text (control, bidi and separator
// characters, invalid UTF-8) is dropped, and the result is capped at 300
// bytes.
func cleanText(s string) string { return safetext.Clean(s, 300) }
