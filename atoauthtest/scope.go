package atoauthtest

import (
	"net/url"
	"slices"
	"strings"
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

// permissions is what a granted scope string allows on the PDS (basic
// support of the granular permission syntax).
type permissions struct {
	generic bool
	chat    bool
	email   bool
	repo    []repoPermission
	blob    []string // MIME globs
	rpc     []rpcPermission
}

type rpcPermission struct {
	lxms []string // NSIDs or "*"
	aud  string   // "did#service_id" or "*"
}

type repoPermission struct {
	collections []string // NSIDs or "*"
	actions     []string // empty: all
}

func parsePermissions(scope string) permissions {
	var p permissions
	for _, s := range strings.Fields(scope) {
		switch s {
		case ScopeTransitionGeneric:
			p.generic = true
			continue
		case ScopeTransitionEmail:
			p.email = true
			continue
		case ScopeTransitionChat:
			p.chat = true
			continue
		}
		resource, positional, q := splitScope(s)
		switch resource {
		case "repo":
			rp := repoPermission{collections: q["collection"], actions: q["action"]}
			if positional != "" {
				rp.collections = append(rp.collections, positional)
			}
			p.repo = append(p.repo, rp)
		case "blob":
			globs := q["accept"]
			if positional != "" {
				globs = append(globs, positional)
			}
			p.blob = append(p.blob, globs...)
		case "account":
			if positional == "email" {
				p.email = true
			}
		case "rpc":
			lxms := q["lxm"]
			if positional != "" {
				lxms = append(lxms, positional)
			}
			if len(lxms) == 0 || len(q["aud"]) != 1 || (q.Get("aud") == "*" && slices.Contains(lxms, "*")) {
				continue // invalid: the reference server ignores it
			}
			p.rpc = append(p.rpc, rpcPermission{lxms: lxms, aud: q.Get("aud")})
		}
	}
	return p
}

// allowsRepo reports whether action (create, update or delete) on
// collection is allowed.
func (p permissions) allowsRepo(collection, action string) bool {
	if p.generic {
		return true
	}
	for _, rp := range p.repo {
		if !slices.Contains(rp.collections, "*") && !slices.Contains(rp.collections, collection) {
			continue
		}
		if len(rp.actions) == 0 || slices.Contains(rp.actions, action) {
			return true
		}
	}
	return false
}

// allowsRPC reports whether calling method lxm at the service aud
// ("did#service_id") through the PDS is allowed. transition:generic allows
// every method except chat.bsky.*, which needs transition:chat.bsky.
func (p permissions) allowsRPC(lxm, aud string) bool {
	chat := strings.HasPrefix(lxm, "chat.bsky.")
	if (p.generic && !chat) || (p.chat && chat) {
		return true
	}
	for _, rp := range p.rpc {
		if (rp.aud == "*" || rp.aud == aud) && (slices.Contains(rp.lxms, "*") || slices.Contains(rp.lxms, lxm)) {
			return true
		}
	}
	return false
}

// rpcScope formats the permission for calling lxm at aud, as the
// reference PDS names it in ScopeMissingError messages.
func rpcScope(lxm, aud string) string {
	return "rpc:" + lxm + "?aud=" + strings.ReplaceAll(aud, "#", "%23")
}

// allowsBlob reports whether uploading a blob of the given MIME type is
// allowed.
func (p permissions) allowsBlob(mimeType string) bool {
	if p.generic {
		return true
	}
	for _, g := range p.blob {
		if mimeMatches(g, mimeType) {
			return true
		}
	}
	return false
}

func mimeMatches(glob, mimeType string) bool {
	if glob == "*/*" || glob == mimeType {
		return true
	}
	if prefix, ok := strings.CutSuffix(glob, "/*"); ok {
		t, _, _ := strings.Cut(mimeType, "/")
		return t == prefix
	}
	return false
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
