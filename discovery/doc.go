// Package discovery resolves where an atproto OAuth login goes and verifies
// that an authorization server speaks for an account, following the atproto
// OAuth specification ("Identity Authentication", "Server Metadata"), the
// atproto handle and DID specifications, RFC 9728 (OAuth 2.0 Protected
// Resource Metadata) and RFC 8414 (OAuth 2.0 Authorization Server Metadata).
//
// [Resolver.ResolveLogin] turns what a person typed (handle, DID, PDS or
// entryway URL) into a [Target]; [Resolver.VerifyIssuer] checks a token's
// "sub" against its issuer. [NewDirectory] is the identity directory used
// underneath, and [ParseResourceMetadata] and [ParseAuthServerMetadata]
// validate metadata documents on their own.
//
// Everything here is fetched with the hardened client of package safehttp:
// every URL is chosen by whoever controls a handle, DID document or server.
package discovery
