// Package atoauthtest is a hermetic, strict fake of the atproto network for
// tests of OAuth clients.
//
// [NewNetwork] ([Start] outside tests) starts cooperating services, each on
// its own [httptest.Server] (plain http on 127.0.0.1, so each has its own
// origin):
//
//   - an OAuth authorization server ([Network.AS]) implementing the atproto
//     profile: client ID metadata documents and loopback clients, PAR, PKCE
//     S256, DPoP with server nonces, private_key_jwt client authentication,
//     rotating single-use refresh tokens and RFC 7009 revocation;
//   - a PDS ([Network.PDS]), the resource server: protected-resource
//     metadata, DPoP-bound access tokens, the com.atproto.repo methods
//     (createRecord, putRecord and deleteRecord with swapRecord and
//     swapCommit, applyWrites, getRecord, listRecords, describeRepo,
//     uploadBlob; records and blobs kept in memory), sync.getBlob,
//     server.getSession, and scope enforcement (repo:, blob:, rpc: and the
//     transitional scopes). It also answers
//     com.atproto.identity.resolveHandle for every account of the network,
//     so it doubles as the handle resolver;
//   - behind the PDS, a fake AppView and chat service, reached only as on
//     the real network: the PDS forwards every method it does not
//     implement to the service named by the request's atproto-proxy
//     header ("did:web:api.bsky.app#bsky_appview" answers
//     app.bsky.actor.getProfile, app.bsky.feed.getAuthorFeed and
//     app.bsky.feed.getTimeline from the PDS's repositories;
//     "did:web:api.bsky.chat#bsky_chat" answers chat.bsky.convo.listConvos),
//     after checking the rpc permission. The PDS has no default service, so
//     a proxied call without the header fails with "No service configured
//     for …", and [Counters] tell how many calls were proxied and how many
//     PDS-local calls carried the header needlessly;
//   - a PLC directory ([Network.PLC]): GET /{did} returns the DID document.
//
// The fake is deliberately strict: every rule of the atproto OAuth profile
// that a client could break is checked and answered with the error the
// reference implementation gives, so a client that passes against it has
// proven each of its own checks. Conversely, [Tamper] makes the servers
// misbehave in controlled ways, so that each check a client performs on what
// the servers send can be exercised by a negative test.
//
// # Talking to the fake
//
// A client under test is pointed at the network like this:
//
//   - DID resolution: PLC directory URL = n.PLC.URL;
//   - handle resolution: call com.atproto.identity.resolveHandle on n.PDS.URL
//     (there is no DNS and no https://<handle>/.well-known/atproto-did);
//   - the PDS is n.PDS.URL and the issuer is n.AS.URL. Both are http://
//     origins on 127.0.0.1 with a port, so the client needs a development
//     mode that allows plain http and loopback addresses for these;
//   - public clients use a loopback client_id ("http://localhost?..."; see
//     [LoopbackClientID]), which needs no fetch. Confidential and other
//     https clients publish their metadata on a [ClientHost] (or any TLS
//     server) and the network fetches it with [Options.ClientHTTPClient].
//
// A login is PAR → [Network.Approve] (which plays the browser and the user)
// → token request. Approve returns the redirect the browser would follow;
// feed it to the client's callback handler.
//
// Most tests of code that works with a session start from an [Env]: a
// network, a client and a signed-in account, from [NewEnv] in a test or
// [Network.SignIn] elsewhere. [Clock] is a fake clock for the Clock hooks
// of the network and the client, and [Buffer] a log sink that servers
// may write while the test reads it.
//
// # Nonces
//
// The authorization server and the PDS keep separate DPoP nonce sequences.
// By default the nonce rotates on every response of the origin (every
// response carries a DPoP-Nonce header) and a proof is accepted with one of
// the 256 latest nonces issued within the last 3 minutes (never one that
// was not issued); [Tamper.NoNonceRotation] freezes it, and
// [Tamper.NonceWindow] rotates it by time as the reference server does
// (the same nonce on every response for a minute, each accepted for 2 to 3
// minutes after it is first sent). The browser-facing authorization
// endpoint neither rotates nor sends nonces.
// As on the reference server, a refresh token is marked used before the DPoP
// proof of the refresh request is checked: a refresh sent with a stale nonce
// burns the refresh token, and the retry is answered "refresh token
// replayed" (which also ends the session).
package atoauthtest
