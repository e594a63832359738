package xrpc

import (
	"encoding/json"
	"mime"
	"strings"

	"github.com/atoauth/atoauth/scope"
)

// Authorizer decides whether the granted permissions cover a
// requirement. [Client] asks it before every call that needs a permission
// and fails fast with a *[ScopeMissingError] when it says no.
//
// scope.Set is the built-in implementation, used with the granted scope
// of an Auth that implements auth.Permissions: it decides as the
// reference PDS does (scope.Set.Allows). Options.Authorizer can replace
// it.
type Authorizer interface {
	Allows(r scope.Requirement) bool
}

// AuthorizerFunc adapts a function to [Authorizer].
type AuthorizerFunc func(r scope.Requirement) bool

// Allows calls f(r).
func (f AuthorizerFunc) Allows(r scope.Requirement) bool { return f(r) }

// bodyRequirements derives the permissions a PDS write needs from its
// method and JSON input (atproto permission spec: createRecord needs
// create, putRecord create and update, deleteRecord delete, applyWrites
// one per write, uploadBlob the blob's MIME type).
func bodyRequirements(nsid, encoding string, body []byte) []scope.Requirement {
	switch nsid {
	case "com.atproto.repo.uploadBlob":
		mt, _, err := mime.ParseMediaType(encoding)
		if err != nil {
			mt = encoding
		}
		return []scope.Requirement{scope.NeedBlob(mt)}
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
		return []scope.Requirement{scope.NeedRepo(in.Collection, "create")}
	case "com.atproto.repo.putRecord":
		return []scope.Requirement{scope.NeedRepo(in.Collection, "create"), scope.NeedRepo(in.Collection, "update")}
	case "com.atproto.repo.deleteRecord":
		return []scope.Requirement{scope.NeedRepo(in.Collection, "delete")}
	}
	var out []scope.Requirement
	for _, w := range in.Writes {
		_, action, _ := strings.Cut(w.Type, "#")
		if action == scope.ActionCreate || action == scope.ActionUpdate || action == scope.ActionDelete {
			out = append(out, scope.NeedRepo(w.Collection, action))
		}
	}
	return out
}
