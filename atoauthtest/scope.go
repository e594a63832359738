package atoauthtest

import (
	"net/url"
	"slices"
	"strings"

	"github.com/atoauth/atoauth/scope"
)

// Scope values of the atproto profile.
const (
	ScopeAtproto           = "atproto"
	ScopeTransitionGeneric = "transition:generic"
	ScopeTransitionChat    = "transition:chat.bsky"
	ScopeTransitionEmail   = "transition:email"
)

var supportedStaticScopes = []string{ScopeAtproto, ScopeTransitionGeneric, ScopeTransitionChat, ScopeTransitionEmail}

// supportedScope reports whether s is a scope value the server understands:
// a static scope or a granular permission (repo, rpc, blob, account,
// identity, include), checked loosely.
func supportedScope(s string) bool {
	if slices.Contains(supportedStaticScopes, s) {
		return true
	}
	resource, _, _ := splitScope(s)
	switch resource {
	case "repo", "rpc", "blob", "account", "identity", "include":
		return true
	}
	return false
}

// splitScope splits "resource[:positional][?query]".
func splitScope(s string) (resource, positional string, query url.Values) {
	rest := s
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		query, _ = url.ParseQuery(rest[i+1:])
		rest = rest[:i]
	}
	if query == nil {
		query = url.Values{}
	}
	resource, positional, _ = strings.Cut(rest, ":")
	if p, err := url.PathUnescape(positional); err == nil {
		positional = p
	}
	return resource, positional, query
}

// permissions is what a granted scope string allows on the PDS, decided
// as the reference PDS decides it (scope.Set.Allows).
type permissions struct{ set scope.Set }

func parsePermissions(granted string) permissions {
	return permissions{set: scope.ParseGranted(granted)}
}

// allowsRepo reports whether action (create, update or delete) on
// collection is allowed.
func (p permissions) allowsRepo(collection, action string) bool {
	return p.set.Allows(scope.NeedRepo(collection, action))
}

// allowsRPC reports whether calling method lxm at the service aud
// ("did#service_id") through the PDS is allowed. transition:generic allows
// every method except chat.bsky.*, which needs transition:chat.bsky.
func (p permissions) allowsRPC(lxm, aud string) bool {
	return p.set.Allows(scope.NeedRPC(lxm, aud))
}

// rpcScope formats the permission for calling lxm at aud, as the
// reference PDS names it in ScopeMissingError messages.
func rpcScope(lxm, aud string) string { return scope.NeedRPC(lxm, aud).String() }

// allowsBlob reports whether uploading a blob of the given MIME type is
// allowed.
func (p permissions) allowsBlob(mimeType string) bool {
	return p.set.Allows(scope.NeedBlob(mimeType))
}

// readsEmail reports whether the account's email address may be read.
func (p permissions) readsEmail() bool {
	return p.set.Allows(scope.NeedAccount(scope.AttrEmail, scope.ActionRead))
}

// scopeSubset reports whether every value of sub is in set.
func scopeSubset(sub, set []string) bool {
	for _, s := range sub {
		if !slices.Contains(set, s) {
			return false
		}
	}
	return true
}
