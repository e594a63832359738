// Package xrpc is a typed client for atproto XRPC (https://atproto.com/specs/xrpc)
// over any auth.Auth: an OAuth session (*atoauth.Session), an
// app-password session (*password.Session), or a public API
// (auth.Public).
//
// A [Client] sends every call to Auth.Host() — for a session, the
// account's PDS — through Auth.HTTPClient() (for an OAuth session: DPoP,
// refresh, nonce retries with body replay), and nowhere else. The PDS is
// the one door (atproto OAuth spec): methods it does not implement itself
// are proxied by it to the service named in the atproto-proxy header, or
// to its default AppView. The Client routes as the official TypeScript
// client does ([Client], [DefaultServices]): app.bsky.* to the PDS's
// AppView, chat.bsky.* to Bluesky chat, overridable per client
// ([Options.Services]) and per call ([WithProxy]) — and never with a
// header on PDS-local methods (com.atproto.*, app.bsky.actor.getPreferences
// and putPreferences).
//
// Before a call that needs a permission — a record write
// (repo:<collection>?action=…), a blob upload (blob:<mime>) or a proxied
// call (rpc:<nsid>?aud=<service>) — the Client compares it with the
// granted scope of an Auth that implements auth.Permissions, and fails
// fast with a *[ScopeMissingError], the same error the PDS's 403
// ScopeMissingError becomes. The comparison is an [Authorizer]; by
// default scope.Set.Allows, the one permission rule of the module, which
// decides as the reference PDS does (the full permission grammar and the
// transitional scopes).
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
