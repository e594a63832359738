// Package scope reads, writes and checks atproto OAuth scopes: the
// granular permissions of the permission spec
// (https://atproto.com/specs/permission) and the transitional scopes of
// the OAuth profile (https://atproto.com/specs/oauth).
//
// A scope string is a space-separated list of tokens. [Parse] reads one
// strictly (every token must be valid; use it for what an application
// asks for), [ParseGranted] leniently (tokens it cannot read grant
// nothing; use it for what a server granted). Each token is a
// [Permission]:
//
//   - [Static]: "atproto" (required), "transition:generic" (what an app
//     password may do), "transition:chat.bsky", "transition:email";
//   - [RepoPermission]: repo:<collection|*>[?action=create|update|delete];
//   - [RPCPermission]: rpc:<nsid|*>?aud=<did#service|*> (not both "*");
//   - [BlobPermission]: blob:<mime glob> (image/*, video/mp4, */*);
//   - [AccountPermission]: account:<email|repo|status>[?action=read|manage];
//   - [IdentityPermission]: identity:<handle|*>;
//   - [IncludeScope]: include:<nsid>[?aud=<did#service>], a permission set
//     the authorization server expands ([IncludeScope.Expand]).
//
// Parameters may be positional (repo:app.bsky.feed.post) or named
// (repo?collection=app.bsky.feed.post), lists repeat their key
// (repo?collection=a.b.c&collection=d.e.f), and values are
// percent-encoded (the "#" of an aud is written %23). Build permissions
// with [Repo], [RPC], [Blob], [Account], [Identity] and [Include], and a
// scope string with [NewSet] and [Set.String], which formats each
// permission in normal form and sorts them.
//
// [Set.Allows] answers whether a granted scope permits a concrete
// operation, a [Requirement] ([NeedRepo], [NeedBlob], [NeedRPC],
// [NeedAccount], [NeedIdentity]), exactly as the reference PDS decides
// it.
//
// The parser, the normal form and Allows agree with the reference
// implementation, @atproto/oauth-scopes, on a corpus of scope strings and
// requirements (scope/testdata; the differential test runs it through
// Node). The normal form differs where the reference's does not read back
// to the same permission: atoauth keeps "%" as %25 and, in a query, "+"
// as %2B, and writes blob?accept=a&accept=a as blob:a.
package scope
