package xrpc

import (
	"encoding/json"
	"mime"
	"strings"

	"github.com/atoauth/atoauth/scope"
)

// Requirement is one permission a call needs, in the terms of the atproto
// permission spec (https://atproto.com/specs/permission): a repo write, a
// blob upload, or a call proxied to a service. It is [scope.Requirement];
// its String method names the permission as the reference PDS does.
type Requirement = scope.Requirement

// RepoRequirement is the permission to apply action ("create", "update" or
// "delete") to records of collection.
func RepoRequirement(collection, action string) Requirement {
	return scope.NeedRepo(collection, action)
}

// BlobRequirement is the permission to upload a blob of the given MIME
// type.
func BlobRequirement(mimeType string) Requirement { return scope.NeedBlob(mimeType) }

// RPCRequirement is the permission to call method lxm at the service aud
// ("did#service_id") through the PDS.
func RPCRequirement(lxm, aud string) Requirement { return scope.NeedRPC(lxm, aud) }

// Authorizer decides whether the granted permissions cover a requirement.
// [Client] asks it before every call that needs a permission and fails
// fast with a *[ScopeMissingError] when it says no.
//
// The built-in implementation is [GrantedScope]; Options.Authorizer can
// replace it.
type Authorizer interface {
	Allows(r Requirement) bool
}

// AuthorizerFunc adapts a function to [Authorizer].
type AuthorizerFunc func(r Requirement) bool

// Allows calls f(r).
func (f AuthorizerFunc) Allows(r Requirement) bool { return f(r) }

// GrantedScope returns an [Authorizer] for a granted scope string, as the
// authorization server returned it. It decides as the reference PDS does
// ([scope.Set.Allows]: the full permission grammar and the transitional
// scopes; entries it cannot read grant nothing) with one allowance:
// servers return include: permission sets expanded, but one that arrives
// unexpanded is read as the most it could grant — repo and rpc
// permissions in its own namespace (include:app.bsky.authFullApp:
// app.bsky.*) — so that the pre-check never refuses what the server may
// allow.
func GrantedScope(granted string) Authorizer { return parseGranted(granted) }

type granted struct {
	set      scope.Set
	includes []string // namespaces ("app.bsky.") of unexpanded include: sets
}

func parseGranted(s string) *granted {
	g := &granted{set: scope.ParseGranted(s)}
	for _, p := range g.set {
		if inc, ok := p.(scope.IncludeScope); ok {
			if i := strings.LastIndexByte(inc.NSID, '.'); i > 0 {
				g.includes = append(g.includes, inc.NSID[:i+1])
			}
		}
	}
	return g
}

// Allows implements Authorizer.
func (g *granted) Allows(r Requirement) bool {
	if g.set.Allows(r) {
		return true
	}
	switch r.Resource {
	case "repo":
		return g.included(r.Collection)
	case "rpc":
		return g.included(r.LXM)
	}
	return false
}

// included reports whether nsid lies in the namespace of an unexpanded
// include: permission set.
func (g *granted) included(nsid string) bool {
	for _, ns := range g.includes {
		if len(nsid) > len(ns) && strings.HasPrefix(nsid, ns) {
			return true
		}
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
		if action == scope.ActionCreate || action == scope.ActionUpdate || action == scope.ActionDelete {
			out = append(out, RepoRequirement(w.Collection, action))
		}
	}
	return out
}
