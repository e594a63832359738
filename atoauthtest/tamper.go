package atoauthtest

import (
	"time"

	"github.com/bluesky-social/indigo/atproto/syntax"
)

// Tamper holds the misbehaviour knobs of a [Network]. The zero value means
// "behave correctly". Set them with [Network.SetTamper] or
// [Network.UpdateTamper] at any time; each request uses the knobs as they
// were when it arrived.
//
// Functions that edit JSON documents receive the document in generic form
// (objects are map[string]any, arrays []any, numbers float64) and may
// change, add or delete entries in place. They run on server goroutines.
type Tamper struct {
	// ASMetadata edits /.well-known/oauth-authorization-server.
	ASMetadata func(m map[string]any)
	// ResourceMetadata edits the PDS's /.well-known/oauth-protected-resource.
	ResourceMetadata func(m map[string]any)
	// RedirectMetadata makes both metadata endpoints answer 302 to another
	// path of the same server that serves the (possibly tampered) document:
	// a client that follows redirects succeeds, a correct one fails.
	RedirectMetadata bool
	// OversizeMetadata pads both metadata documents past 1 MiB (with a
	// leading "_padding" string member, so the JSON stays valid).
	OversizeMetadata bool
	// MetadataContentType, when non-empty, replaces the Content-Type of both
	// metadata documents (e.g. "text/html").
	MetadataContentType string
	// MetadataStatus, when non-zero, replaces the 200 status of both
	// metadata documents (e.g. 203 or 500); the body is unchanged.
	MetadataStatus int

	// DIDDocument edits DID documents served by the PLC directory.
	DIDDocument func(did syntax.DID, doc map[string]any)
	// ResolveHandle replaces the answer of resolveHandle: it receives the
	// normalized handle and the DID the network would answer ("" if none) and
	// returns the DID to answer ("" → 400 "Unable to resolve handle").
	ResolveHandle func(handle syntax.Handle, did syntax.DID) syntax.DID

	// CallbackIss overrides the iss parameter of the authorization redirect:
	// nil sends the issuer, a pointer to "" omits iss, anything else is sent
	// as is.
	CallbackIss *string
	// TokenResponse edits successful token endpoint responses (both grant
	// types): token_type, sub, scope, expires_in, ...
	TokenResponse func(m map[string]any)
	// TokenDelay delays successful token responses after the tokens have been
	// minted (and the old refresh token consumed). A client that gives up
	// during the delay loses the new tokens, as it would on a real network.
	TokenDelay time.Duration
	// RevokeNoContent answers revocation requests with 204 instead of 200.
	RevokeNoContent bool
	// TokenError, when set, is asked about every token endpoint request
	// (with its grant_type) before anything else is checked; a non-nil
	// answer is sent instead of processing the request, so nothing is
	// spent: e.g. {Status: 401, Code: "invalid_client"} or {Status: 503}.
	TokenError func(grantType string) *ErrorAnswer

	// Hostile makes the PDS answer XRPC calls as an attacker's PDS would:
	// huge, trickled, redirected, HTML, control characters, duplicate keys,
	// deep nesting (see [Hostile]).
	Hostile *Hostile

	// RejectAccessTokens makes the PDS answer 401 invalid_token to every
	// access token, as a PDS that no longer trusts the issuer would: the
	// token endpoint still issues tokens, the PDS refuses them all.
	RejectAccessTokens bool

	// NoNonceRotation freezes both DPoP nonces (they are still required).
	// By default each origin's nonce rotates on every response.
	NoNonceRotation bool
	// NonceWindow, when positive, rotates each origin's nonce by time, as
	// the reference server (@atproto/oauth-provider) does every 60 s: all
	// responses in window k (of the network's clock, counted from the Unix
	// epoch) carry the nonce of window k+1, which is accepted until window
	// k+2 ends, so 2 to 3 windows after it is first sent. NoNonceRotation
	// takes precedence. See [ReferenceNonceWindow].
	NonceWindow time.Duration
	// OmitDPoPNonce removes the DPoP-Nonce header from every response of the
	// authorization server and the PDS (nonces are still checked).
	OmitDPoPNonce bool

	// RateLimit, when set, is asked about every XRPC request of the PDS
	// (with the method's NSID) before anything else is checked; a non-nil
	// answer is sent as HTTP 429 {"error":"RateLimitExceeded"} with the
	// answer's ratelimit-* and Retry-After headers.
	RateLimit func(nsid string) *RateLimitAnswer
	// ServiceUnreachable makes the PDS answer every proxied call (after
	// authentication, routing and the scope check) with 502
	// UpstreamFailure "Upstream service unreachable", as the reference PDS
	// does when it cannot reach the AppView or chat service.
	ServiceUnreachable bool
}

// ErrorAnswer is an error answer of [Tamper.TokenError]: HTTP Status
// with the JSON body {"error": Code, "error_description": Description}
// (an empty Code sends a plain-text body instead, as a proxy's error page
// would).
type ErrorAnswer struct {
	Status      int
	Code        string
	Description string
}

// RateLimitAnswer is a 429 answer of [Tamper.RateLimit].
type RateLimitAnswer struct {
	// Limit is sent as ratelimit-limit (default 100) and, with Window, as
	// ratelimit-policy "<limit>;w=<seconds>".
	Limit int
	// Window is the rate-limit window (default 5 minutes).
	Window time.Duration
	// Reset is sent as ratelimit-reset, a Unix time in seconds, like the
	// reference PDS (default: now + Window).
	Reset time.Time
	// RetryAfter, when positive, is sent as Retry-After in whole seconds
	// (rounded up).
	RetryAfter time.Duration
}

// Counters counts what the network has seen. Obtain a snapshot with
// [Network.Counters]; the fields only grow.
type Counters struct {
	// ASMetadata counts authorization server metadata requests.
	ASMetadata int
	// ResourceMetadata counts protected-resource metadata requests.
	ResourceMetadata int
	// DIDResolutions counts DID documents requested from the PLC directory.
	DIDResolutions int
	// HandleResolutions counts com.atproto.identity.resolveHandle requests.
	HandleResolutions int
	// ClientMetadataFetches counts client metadata documents and jwks_uri
	// documents fetched by the authorization server.
	ClientMetadataFetches int

	// PAR counts successful pushed authorization requests.
	PAR int
	// Authorizations counts redirects issued by the authorization endpoint
	// (approved or denied).
	Authorizations int
	// TokenRequests counts every request to the token endpoint, failed ones
	// included.
	TokenRequests int
	// CodeExchanges counts successful authorization_code grants.
	CodeExchanges int
	// Refreshes counts successful refresh_token grants.
	Refreshes int
	// RefreshReplays counts refresh tokens presented after they were used
	// (each one ended its session).
	RefreshReplays int
	// Revocations counts successful revocation requests.
	Revocations int
	// ASNonceChallenges counts use_dpop_nonce errors of the authorization
	// server.
	ASNonceChallenges int

	// PDSRequests counts every request the PDS received.
	PDSRequests int
	// PDSAuthenticated counts PDS requests whose access token and DPoP proof
	// (or app-password session token) were accepted.
	PDSAuthenticated int
	// LegacyRefreshes counts app-password sessions refreshed
	// (com.atproto.server.refreshSession).
	LegacyRefreshes int
	// PDSNonceChallenges counts use_dpop_nonce errors of the PDS.
	PDSNonceChallenges int
	// RateLimited counts 429 answers sent because of [Tamper.RateLimit].
	RateLimited int

	// Proxied counts calls the PDS forwarded to a service of the network
	// (the fake AppView or chat service).
	Proxied int
	// ProxiedByDefault counts calls that named no service (no
	// atproto-proxy header) and were routed to the network's AppView, the
	// PDS's default.
	ProxiedByDefault int
	// ProxyHeaderOnLocal counts calls to methods the PDS implements itself
	// (com.atproto.*) that carried an atproto-proxy header anyway. The
	// PDS serves them locally, as the reference PDS does; a client that
	// routes correctly keeps this at zero.
	ProxyHeaderOnLocal int
}
