package xrpc

import (
	"encoding/json"
	"mime"
	"net/url"
	"slices"
	"strings"
)

// Requirement is one permission a call needs, in the terms of the atproto
// permission spec (https://atproto.com/specs/permission): a repo write, a
// blob upload, or a call proxied to a service.
type Requirement struct {
	// Resource is "repo", "blob" or "rpc".
	Resource string
	// Collection is the record collection NSID (repo).
	Collection string
	// Action is "create", "update" or "delete" (repo).
	Action string
	// MIME is the blob's MIME type, e.g. "image/png" (blob).
	MIME string
	// LXM is the method NSID (rpc).
	LXM string
	// Aud is the service reference "did#service_id" (rpc).
	Aud string
}

// RepoRequirement is the permission to apply action ("create", "update" or
// "delete") to records of collection.
func RepoRequirement(collection, action string) Requirement {
	return Requirement{Resource: "repo", Collection: collection, Action: action}
}

// BlobRequirement is the permission to upload a blob of the given MIME
// type.
func BlobRequirement(mimeType string) Requirement {
	return Requirement{Resource: "blob", MIME: mimeType}
}

// RPCRequirement is the permission to call method lxm at the service aud
// ("did#service_id") through the PDS.
func RPCRequirement(lxm, aud string) Requirement {
	return Requirement{Resource: "rpc", LXM: lxm, Aud: aud}
}

// String formats r as the permission that grants exactly it, in scope
// syntax: "repo:app.bsky.feed.post?action=create", "blob:image/png",
// "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview".
func (r Requirement) String() string {
	switch r.Resource {
	case "repo":
		return "repo:" + r.Collection + "?action=" + r.Action
	case "blob":
		return "blob:" + r.MIME
	case "rpc":
		return "rpc:" + r.LXM + "?aud=" + escapeAud(r.Aud)
	}
	return r.Resource
}

// escapeAud percent-encodes what cannot stand in a scope's query value.
func escapeAud(s string) string {
	return strings.NewReplacer("%", "%25", "#", "%23", "&", "%26", " ", "%20", "+", "%2B").Replace(s)
}

// Authorizer decides whether the granted permissions cover a requirement.
// [Client] asks it before every call that needs a permission and fails
// fast with a *[ScopeMissingError] when it says no.
//
// The built-in implementation is [GrantedScope]; a full implementation of
// the permission grammar (include: sets, account: and identity:) can
// replace it through Options.Authorizer.
type Authorizer interface {
	Allows(r Requirement) bool
}

// AuthorizerFunc adapts a function to [Authorizer].
type AuthorizerFunc func(r Requirement) bool

// Allows calls f(r).
func (f AuthorizerFunc) Allows(r Requirement) bool { return f(r) }

// GrantedScope returns an [Authorizer] for a granted scope string, as the
// authorization server returned it. It understands the transitional scopes
// (transition:generic: every repo write, every blob and every rpc call
// except chat.bsky.*; transition:chat.bsky: chat.bsky.* calls) and the
// simple forms of repo:, blob: and rpc: permissions (positional and query
// forms, repeated keys, "*" wildcards, MIME globs such as image/*,
// percent-encoded aud). Entries it cannot read grant nothing. Servers
// return include: permission sets expanded; one that arrives unexpanded
// is read as the most it could grant — repo and rpc permissions in its
// own namespace (include:app.bsky.authFullApp: app.bsky.*) — so that the
// pre-check never refuses what the server may allow.
func GrantedScope(scope string) Authorizer { return parseGranted(scope) }

type granted struct {
	generic, chat bool
	repos         []repoGrant
	blobs         []string
	rpcs          []rpcGrant
	includes      []string // namespaces ("app.bsky.") of unexpanded include: sets
}

type repoGrant struct{ collections, actions []string }

type rpcGrant struct {
	lxms []string
	aud  string
}

// allActions lists the repo actions; a repo permission without an action
// parameter grants all of them.
func allActions() []string { return []string{"create", "update", "delete"} }

func isRepoAction(a string) bool { return a == "create" || a == "update" || a == "delete" }

func parseGranted(scope string) *granted {
	g := &granted{}
	for _, s := range strings.Fields(scope) {
		switch s {
		case "transition:generic":
			g.generic = true
			continue
		case "transition:chat.bsky":
			g.chat = true
			continue
		}
		resource, positional, q, ok := splitPermission(s)
		if !ok {
			continue
		}
		switch resource {
		case "repo":
			colls := append(positionalList(positional), q["collection"]...)
			acts := q["action"]
			if len(acts) == 0 {
				acts = allActions()
			}
			if len(colls) == 0 || slices.ContainsFunc(acts, func(a string) bool { return !isRepoAction(a) }) {
				continue
			}
			g.repos = append(g.repos, repoGrant{collections: colls, actions: acts})
		case "blob":
			g.blobs = append(g.blobs, append(positionalList(positional), q["accept"]...)...)
		case "rpc":
			lxms := append(positionalList(positional), q["lxm"]...)
			if len(lxms) == 0 || len(q["aud"]) != 1 {
				continue
			}
			aud := q["aud"][0]
			if aud == "*" && slices.Contains(lxms, "*") {
				continue // the spec forbids wildcards in both
			}
			g.rpcs = append(g.rpcs, rpcGrant{lxms: lxms, aud: aud})
		case "include":
			// A permission set only grants resources under its own
			// namespace (atproto permission spec, "Permission Sets").
			if i := strings.LastIndexByte(positional, '.'); i > 0 {
				g.includes = append(g.includes, positional[:i+1])
			}
		}
	}
	return g
}

// splitPermission splits "resource[:positional][?query]".
func splitPermission(s string) (resource, positional string, q url.Values, ok bool) {
	rest, query, _ := strings.Cut(s, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", "", nil, false
	}
	resource, positional, _ = strings.Cut(rest, ":")
	if positional, err = url.PathUnescape(positional); err != nil {
		return "", "", nil, false
	}
	return resource, positional, q, true
}

func positionalList(p string) []string {
	if p == "" {
		return nil
	}
	return []string{p}
}

// Allows implements Authorizer.
func (g *granted) Allows(r Requirement) bool {
	switch r.Resource {
	case "repo":
		if g.generic {
			return true
		}
		for _, rg := range g.repos {
			if (slices.Contains(rg.collections, "*") || slices.Contains(rg.collections, r.Collection)) && slices.Contains(rg.actions, r.Action) {
				return true
			}
		}
		return g.included(r.Collection)
	case "blob":
		if g.generic {
			return true
		}
		for _, glob := range g.blobs {
			if mimeMatch(glob, r.MIME) {
				return true
			}
		}
	case "rpc":
		chat := strings.HasPrefix(r.LXM, "chat.bsky.")
		if (g.generic && !chat) || (g.chat && chat) {
			return true
		}
		for _, rg := range g.rpcs {
			if (rg.aud == "*" || rg.aud == r.Aud) && (slices.Contains(rg.lxms, "*") || slices.Contains(rg.lxms, r.LXM)) {
				return true
			}
		}
		return g.included(r.LXM)
	}
	return false
}

// included reports whether nsid lies in the namespace of an unexpanded
// include: permission set.
func (g *granted) included(nsid string) bool {
	for _, ns := range g.includes {
		if strings.HasPrefix(nsid, ns) {
			return true
		}
	}
	return false
}

// mimeMatch matches a MIME type against "*/*", "type/*" or an exact type.
func mimeMatch(glob, mimeType string) bool {
	glob, mimeType = strings.ToLower(glob), strings.ToLower(mimeType)
	if glob == "*/*" || glob == mimeType {
		return true
	}
	if prefix, ok := strings.CutSuffix(glob, "/*"); ok {
		t, _, _ := strings.Cut(mimeType, "/")
		return t == prefix
	}
	return false
}

// bodyRequirements derives the permissions a PDS write needs from its
// method and JSON input (atproto permission spec: createRecord needs
// create, putRecord create and update, deleteRecord delete, applyWrites
// one per write, uploadBlob the blob's MIME type).
func bodyRequirements(nsid, encoding string, body []byte) []Requirement {
	switch nsid {
	case "com.atproto.repo.uploadBlob":
		mt, _, err := mime.ParseMediaType(encoding)
		if err != nil {
			mt = encoding
		}
		return []Requirement{BlobRequirement(mt)}
	case "com.atproto.repo.createRecord", "com.atproto.repo.putRecord", "com.atproto.repo.deleteRecord", "com.atproto.repo.applyWrites":
	default:
		return nil
	}
	var in struct {
		Collection string `json:"collection"`
		Writes     []struct {
			Type       string `json:"$type"`
			Collection string `json:"collection"`
		} `json:"writes"`
	}
	if body == nil || json.Unmarshal(body, &in) != nil {
		return nil
	}
	switch nsid {
	case "com.atproto.repo.createRecord":
		return []Requirement{RepoRequirement(in.Collection, "create")}
	case "com.atproto.repo.putRecord":
		return []Requirement{RepoRequirement(in.Collection, "create"), RepoRequirement(in.Collection, "update")}
	case "com.atproto.repo.deleteRecord":
		return []Requirement{RepoRequirement(in.Collection, "delete")}
	}
	var out []Requirement
	for _, w := range in.Writes {
		_, action, _ := strings.Cut(w.Type, "#")
		if isRepoAction(action) {
			out = append(out, RepoRequirement(w.Collection, action))
		}
	}
	return out
}
