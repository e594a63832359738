// Package atoauth signs people in with their AT Protocol account (Bluesky
// and every other PDS) through OAuth, and then acts for them.
//
// It implements the client side of the atproto OAuth profile
// (https://atproto.com/specs/oauth): discovery from handle or DID to the
// PDS and its authorization server, pushed authorization requests (RFC
// 9126) with PKCE S256 (RFC 7636), DPoP-bound tokens (RFC 9449) with
// server nonces, the iss check on the callback (RFC 9207), verification
// that the token's subject is really hosted by the issuing server,
// single-use rotating refresh tokens, revocation (RFC 7009), and public,
// confidential (private_key_jwt, RFC 7523) and loopback development
// clients.
//
// A [Client] starts logins ([Client.Start]) and completes them
// ([Client.Callback]). The result is a [Session], whose
// [Session.HTTPClient] is an ordinary *http.Client that signs every
// request to the person's PDS with a DPoP proof and an
// "Authorization: DPoP" access token, refreshes the token when needed and
// never sends credentials to any other origin.
//
// Sessions and pending logins live in a [Store]; [NewMemoryStore] is an
// in-memory implementation, and the sqlite and postgres subpackages
// persist them.
package atoauth
