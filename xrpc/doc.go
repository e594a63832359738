// Package xrpc is a typed client for atproto XRPC (https://atproto.com/specs/xrpc)
// over an atoauth session, or over any *http.Client.
//
// A [Client] made with Options.Session sends every call to the session's
// PDS through the session's authenticated client (DPoP, refresh, nonce
// retries with body replay), and nowhere else. The PDS is the one door
// (atproto OAuth spec): methods it does not implement itself are proxied by
// it to the service named in the atproto-proxy header. The Client sets that
// header from [Options.Services] — app.bsky.* to the Bluesky AppView and
// chat.bsky.* to Bluesky chat by default ([DefaultServices]), overridable
// per client and per call ([WithProxy]) — and never on PDS-local methods
// (com.atproto.*, app.bsky.actor.getPreferences and putPreferences).
//
// Before a call that needs a permission — a record write
// (repo:<collection>?action=…), a blob upload (blob:<mime>) or a proxied
// call (rpc:<nsid>?aud=<service>) — the Client compares it with the
// session's granted scope and fails fast with a *[ScopeMissingError], the
// same error the PDS's 403 ScopeMissingError becomes. The comparison is an
// [Authorizer]; [GrantedScope] decides with the scope package, as the
// reference PDS does (the full permission grammar and the transitional
// scopes).
//
// Error responses become *[Error] values that carry the status, the XRPC
// error name and message, the WWW-Authenticate challenge and the rate
// limit headers, match a sentinel ([ErrRecordNotFound], [ErrInvalidSwap],
// [ErrRateLimited], …) with errors.Is, and end with a one-line cause and
// fix.
//
// [Client.LexDo] implements indigo's lexutil.LexClient, so the generated
// functions of github.com/bluesky-social/indigo/api/atproto and api/bsky
// run over a Client unchanged.
package xrpc
